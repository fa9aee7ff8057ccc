// A worker's batch: its messages written in one transaction (set-wise first, then one by one
// when that fails), dead letters and failure statuses in the same transaction, then each
// message acknowledged, terminated or nak'd, then the slot's counters.
#include "workers/worker.hpp"

#include <exception>

#include "nomnom/stream_options.hpp"
#include "pg/background.hpp"
#include "pg/pg_guard.hpp"
#include "pg/role_scope.hpp"
#include "pg/spi_session.hpp"
#include "pg/subtransaction.hpp"
#include "streams/dead_letters.hpp"
#include "workers/in_progress.hpp"
#include "writer/message_writer.hpp"

#include "gucs.hpp"

extern "C" {
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "pgstat.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/pmsignal.h"
#include "utils/guc.h"
#include "utils/timeout.h"
}

namespace nomnom::worker {
namespace {

bool is_permanent(int sqlerrcode) {
    int category = ERRCODE_TO_CATEGORY(sqlerrcode);
    return category == ERRCODE_DATA_EXCEPTION ||                        // 22
           category == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||        // 23
           category == ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION || // 42 (unknown entity...)
           category == ERRCODE_FEATURE_NOT_SUPPORTED ||                 // 0A
           category == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||                // 54
           sqlerrcode == ERRCODE_INVALID_PARAMETER_VALUE;
}

// An error that says nothing about the message being written: the database cannot write at
// all for now (a full disk, an I/O error, a lock it waited for longer than lock_timeout, a
// shutdown). Every message would fail alike, so a batch that meets one is not written one
// message at a time; it is written again later, whole (write_batch).
bool is_batch_level(int sqlerrcode) {
    int category = ERRCODE_TO_CATEGORY(sqlerrcode);
    return (category == ERRCODE_INSUFFICIENT_RESOURCES && // 53: disk full, too many connections
            sqlerrcode != ERRCODE_OUT_OF_MEMORY) ||       // (a smaller write may fit in memory)
           category == ERRCODE_SYSTEM_ERROR ||            // 58: I/O error
           category == ERRCODE_CONNECTION_EXCEPTION ||    // 08
           sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||    // 55P03: lock_timeout
           sqlerrcode == ERRCODE_OBJECT_IN_USE ||
           sqlerrcode == ERRCODE_ADMIN_SHUTDOWN || sqlerrcode == ERRCODE_CRASH_SHUTDOWN ||
           sqlerrcode == ERRCODE_CANNOT_CONNECT_NOW;
}

// The SQLSTATE of what a write threw (0 when it is not known).
int thrown_sqlerrcode(const std::exception_ptr& thrown) {
    try {
        std::rethrow_exception(thrown);
    } catch (const PgError& error) {
        return error.sqlerrcode();
    } catch (const DataError& error) {
        return error.sqlerrcode();
    } catch (...) {
        return 0;
    }
}

// Marks the batch's messages in progress while it is written (in_progress.hpp). One per
// process, like the lag thread.
nomnom::InProgressKeeper in_progress;

// The stream's lock_timeout for this transaction (SET LOCAL), and its statement_timeout armed
// for what follows (PostgreSQL arms that timer only for a client's statements).
void set_write_timeouts(const Worker& w) {
    char value[32];
    snprintf(value, sizeof value, "%ld", static_cast<long>(w.options->lock_timeout_ms));
    (void)set_config_option("lock_timeout", value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
                            true, 0, false);
    if (w.options->statement_timeout_ms > 0)
        enable_timeout_after(STATEMENT_TIMEOUT, static_cast<int>(w.options->statement_timeout_ms));
}

// After the transaction: the statement timer off. One that fired after the last check for
// interrupts must not cancel what runs next.
void clear_statement_timeout() {
    disable_timeout(STATEMENT_TIMEOUT, false);
    if (get_timeout_indicator(STATEMENT_TIMEOUT, true))
        QueryCancelPending = false;
}

// The pause before a batch that failed as a whole is written again: 200 ms, doubled after
// each failure in a row, at most 10 s (monotonic clock).
constexpr int64 kBatchRetryFirstMs = 200;
constexpr int64 kBatchRetryMaxMs = 10000;

// A message that could not be written: dead letter when the error is permanent or this was
// its last attempt, else a retry.
void set_failure(Worker& w, Item* item, int sqlerrcode, const char* message, const char* detail) {
    StringInfoData text;
    initStringInfo(&text);
    appendStringInfo(&text, "%s: %s", unpack_sql_state(sqlerrcode), message ? message : "error");
    if (detail)
        appendStringInfo(&text, " (%s)", detail);
    item->error = MemoryContextStrdup(w.batch_context, text.data);
    pfree(text.data);
    bool last_attempt = item->delivered >= w.options->max_deliver;
    item->outcome = (is_permanent(sqlerrcode) || last_attempt) ? OUTCOME_DEAD : OUTCOME_RETRY;
}

void fill_message(const Worker& w, const Item* item, MessageToWrite* m) {
    m->entity = item->entity;
    m->body = item->body;
    m->body_len = item->body_len;
    m->message_id = item->id;
    m->stream = w.stream;
    m->subject = item->subject;
    m->stream_seq = static_cast<int64>(item->stream_seq);
    m->received_at = item->received_at;
    m->track_status = w.options->track_status;
    m->attempts = item->delivered;
    m->publish_entities = w.options->publish_entities;
    m->premapped = item->premapped;
}

DeadLetter dead_letter(const Worker& w, const Item* item) {
    return DeadLetter{item->msg,        w.stream,        item->subject, item->entity,
                      item->body,       item->body_len,  &item->id,     item->id_text,
                      item->stream_seq, item->delivered, item->error};
}

int64 retry_delay_ms(int delivered) {
    int64 delay = 500;
    for (int i = 1; i < delivered && delay < 30000; i++)
        delay *= 2;
    return Min(delay, 30000);
}

// TimestampTz from Unix nanoseconds.
TimestampTz from_unix_ns(int64 ns) {
    return static_cast<TimestampTz>(ns / 1000) -
           (static_cast<TimestampTz>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
}

// Reads what the batch needs from each message: routing, id, metadata (mostly read ahead by
// the prefetch thread).
void prepare_items(Worker& w) {
    natsMsgList* list = &w.round.fetched;
    Round& round = w.round;
    round.pending = -1;
    round.items =
        static_cast<Item*>(MemoryContextAllocZero(w.batch_context, sizeof(Item) * list->Count));
    round.nitems = list->Count;
    for (int i = 0; i < list->Count; i++) {
        Item* item = &round.items[i];
        natsMsg* msg = list->Msgs[i];
        item->msg = msg;
        if (static_cast<size_t>(i) >= w.premapped->size()) // the prefetch ran out of memory
            ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
        item->premapped = &(*w.premapped)[i];
        item->subject = natsMsg_GetSubject(msg);
        item->body = natsMsg_GetData(msg);
        item->body_len = natsMsg_GetDataLength(msg);
        if (item->body == nullptr)
            item->body = "";
        // Read here when the prefetch could not, or routed it with options changed since.
        nomnom::MessageFacts* facts = &item->premapped->facts;
        if (!facts->known || facts->options_generation != w.generation) {
            bool known = false;
            run_guarded([&] {
                nomnom::read_facts(msg, w.stream, *w.options, *facts);
                facts->options_generation = w.generation;
                known = facts->known;
            });
            if (!known)
                ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
        }
        strlcpy(item->entity, facts->entity.c_str(), sizeof item->entity);
        memcpy(item->id_text, facts->id_text, sizeof item->id_text);
        item->id = facts->id;
        item->stream_seq = facts->stream_seq;
        item->delivered = facts->delivered;
        item->received_at =
            facts->timestamp_ns > 0 ? from_unix_ns(facts->timestamp_ns) : GetCurrentTimestamp();
        if (facts->pending >= 0)
            round.pending = facts->pending;
    }
}

// message_status for a failed or dead-lettered message (never over a completed one).
void write_status(Worker& w, const Item* item, const char* status) {
    if (!w.options->track_status)
        return;
    if (w.status_plan == nullptr) {
        Oid types[9] = {UUIDOID, TEXTOID, TEXTOID, TEXTOID,       TEXTOID,
                        INT4OID, TEXTOID, INT8OID, TIMESTAMPTZOID};
        w.status_plan = prepare_kept_plan(
            "INSERT INTO nomnom.message_status AS s "
            "(message_id, stream, subject, entity, status, attempts, error, stream_seq, "
            "received_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (message_id) DO UPDATE SET stream = EXCLUDED.stream, subject = "
            "EXCLUDED.subject, "
            "entity = EXCLUDED.entity, status = EXCLUDED.status, attempts = EXCLUDED.attempts, "
            "error = EXCLUDED.error, stream_seq = EXCLUDED.stream_seq, completed_at = NULL "
            "WHERE s.status <> 'completed'",
            9, types);
    }
    Datum values[9];
    char nulls[9];
    memset(nulls, ' ', sizeof nulls);
    values[0] = UUIDPGetDatum(const_cast<pg_uuid_t*>(&item->id));
    values[1] = CStringGetTextDatum(w.stream);
    values[2] = CStringGetTextDatum(item->subject);
    values[3] = CStringGetTextDatum(item->entity);
    values[4] = CStringGetTextDatum(status);
    values[5] = Int32GetDatum(item->delivered);
    values[6] = CStringGetTextDatum(item->error ? item->error : "");
    values[7] = Int64GetDatum(static_cast<int64>(item->stream_seq));
    values[8] = TimestampTzGetDatum(item->received_at);
    // nomnom's bookkeeping: written as its owner, whatever role the worker runs as.
    SavedUser saved = become_owner();
    int rc = SPI_execute_plan(w.status_plan, values, nulls, false, 0);
    restore(saved);
    if (rc != SPI_OK_INSERT)
        elog(ERROR, "nomnom worker: writing message_status failed: %s", SPI_result_code_string(rc));
}

// A message delivered more often than max_deliver was never settled by a worker: one crashed
// on it, or died before acknowledging it. It is not written again (a message that crashes the
// worker would crash it forever): acknowledged when its id is completed, else dead-lettered.
void settle_overdelivered(Worker& w, Item* items, int n) {
    for (int i = 0; i < n; i++) {
        Item* item = &items[i];
        if (item->delivered <= w.options->max_deliver || item->outcome != OUTCOME_NONE)
            continue;
        Oid types[1] = {UUIDOID};
        Datum values[1] = {UUIDPGetDatum(&item->id)};
        SavedUser saved = become_owner(); // message_status is nomnom's
        spi_execute_expect(
            "SELECT 1 FROM nomnom.message_status WHERE message_id = $1 AND status = 'completed'", 1,
            types, values, nullptr, true, 1, SPI_OK_SELECT,
            "nomnom worker: reading message_status");
        restore(saved);
        if (SPI_processed > 0) {
            item->outcome = OUTCOME_DUPLICATE;
            continue;
        }
        item->error =
            psprintf("delivered %d times without being acknowledged (max_deliver %d): not "
                     "written again, the worker may have failed on it",
                     item->delivered, w.options->max_deliver);
        item->error = MemoryContextStrdup(w.batch_context, item->error);
        item->outcome = OUTCOME_DEAD;
    }
}

// A redelivered message that is already in nomnom.dead_letters: its dead letter was
// committed but its publish to the DLQ stream failed (a full DLQ, say), so it was nak'd to
// try the DLQ again. It is not written again and its dead letter keeps its own error;
// only the attempt is counted, and acknowledge_batch publishes it to the DLQ once more.
// (A replayed dead letter is a new message, delivered once, its row gone by then.)
void settle_dead_lettered(Worker& w, Item* items, int n) {
    for (int i = 0; i < n; i++) {
        Item* item = &items[i];
        if (item->delivered <= 1 || item->outcome != OUTCOME_NONE)
            continue;
        Oid types[2] = {UUIDOID, INT4OID};
        Datum values[2] = {UUIDPGetDatum(&item->id), Int32GetDatum(item->delivered)};
        SavedUser saved = become_owner(); // dead_letters is nomnom's
        spi_execute_expect("UPDATE nomnom.dead_letters SET attempts = GREATEST(attempts, $2) "
                           "WHERE message_id = $1 RETURNING error",
                           2, types, values, nullptr, false, 1, SPI_OK_UPDATE_RETURNING,
                           "nomnom worker: reading dead_letters");
        restore(saved);
        if (SPI_processed == 0)
            continue;
        char* error = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        item->error = MemoryContextStrdup(w.batch_context, error ? error : "error");
        item->outcome = OUTCOME_DEAD;
        item->dead_before = true;
    }
}

// What the writer said of a message written set-wise or alone.
void take_outcome(Worker& w, Item* item, const MessageOutcome& outcome) {
    switch (outcome.kind) {
    case NOMNOM_WRITTEN:
        item->outcome = OUTCOME_WRITTEN;
        break;
    case NOMNOM_DUPLICATE:
        item->outcome = OUTCOME_DUPLICATE;
        break;
    case NOMNOM_REJECTED:
        set_failure(w, item, outcome.sqlerrcode, outcome.error, nullptr);
        break;
    }
}

// Writes the messages not decided yet (see settle_overdelivered): the whole batch set-wise
// (one claim and one statement per table) in one subtransaction; messages the writer rejects
// (bad JSON, missing field, unknown entity) come back as such without stopping the others.
// When the batch raises an error, one subtransaction a message, so one bad message sinks
// nothing else.
void write_undecided(Worker& w, Item* items, int n) {
    MessageToWrite* messages = static_cast<MessageToWrite*>(palloc(sizeof(MessageToWrite) * n));
    MessageOutcome* outcomes = static_cast<MessageOutcome*>(palloc0(sizeof(MessageOutcome) * n));
    Item** undecided = static_cast<Item**>(palloc(sizeof(Item*) * n));
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (items[i].outcome != OUTCOME_NONE)
            continue;
        fill_message(w, &items[i], &messages[count]);
        undecided[count++] = &items[i];
    }
    if (count == 0)
        return;
    run_guarded([&] {
        std::exception_ptr whole_batch; // the set-wise write's batch-level error
        set_wise_then_one_by_one(
            count,
            [&] {
                try {
                    nomnom::write_batch(messages, count, outcomes);
                    pg_call([&] {
                        for (int k = 0; k < count; k++)
                            take_outcome(w, undecided[k], outcomes[k]);
                    });
                } catch (...) {
                    if (is_batch_level(thrown_sqlerrcode(std::current_exception())))
                        whole_batch = std::current_exception();
                    throw;
                }
            },
            [&](size_t k) {
                if (whole_batch) // not one message at a time: failed() rethrows it
                    std::rethrow_exception(whole_batch);
                pg_call([&] { // statement_timeout_ms for this message's write
                    if (w.options->statement_timeout_ms > 0)
                        enable_timeout_after(STATEMENT_TIMEOUT,
                                             static_cast<int>(w.options->statement_timeout_ms));
                });
                nomnom::write_batch(&messages[k], 1, &outcomes[k]);
                pg_call([&] { take_outcome(w, undecided[k], outcomes[k]); });
            },
            [&](size_t k, std::exception_ptr thrown) {
                // The database cannot write now: the batch fails as a whole (write_batch).
                if (is_batch_level(thrown_sqlerrcode(thrown)))
                    std::rethrow_exception(thrown);
                PendingError error;
                catch_into(error, [&] { std::rethrow_exception(thrown); });
                pg_call([&] {
                    if (error.pg != nullptr)
                        set_failure(w, undecided[k], error.pg->sqlerrcode, error.pg->message,
                                    error.pg->detail);
                    else
                        set_failure(w, undecided[k], error.sqlerrcode, error.message, error.detail);
                });
            });
    });
}

// Inside the batch's transaction (SPI connected): every message written, dead-lettered or
// marked for a retry.
void write_items(Worker& w) {
    Item* items = w.round.items;
    int n = w.round.nitems;
    settle_dead_lettered(w, items, n);
    settle_overdelivered(w, items, n);
    write_undecided(w, items, n);
    for (int i = 0; i < n; i++) {
        Item* item = &items[i];
        if (item->outcome == OUTCOME_DEAD && !item->dead_before) {
            write_dead_letter(dead_letter(w, item));
            write_status(w, item, "dead_letter");
        } else if (item->outcome == OUTCOME_RETRY) {
            write_status(w, item, "failed");
        }
    }
}

// Acknowledgements (ack, term, nak) that failed, logged once for a batch: such a message is
// redelivered after ack_wait, and its id, once committed, acknowledged without writing again.
struct UnsettledLog {
    int count = 0;
    natsStatus status = NATS_OK; // of the first failure
    const char* what = nullptr;
    const char* id_text = nullptr;

    void note(natsStatus s, const char* action, const char* id) {
        if (s == NATS_OK)
            return;
        if (count++ == 0) {
            status = s;
            what = action;
            id_text = id;
        }
    }
    void report(const Worker& w) const {
        if (count == 0)
            return;
        char reason[512];
        nn_describe(status, reason, sizeof reason);
        ereport(LOG, (errmsg("nomnom worker %s/%d: could not %s message %s%s: %s", w.stream,
                             w.index, what, id_text,
                             count > 1 ? psprintf(" (and %d more)", count - 1) : "", reason)));
    }
};

void settle(Item* item, natsStatus s, const char* what, UnsettledLog& log) {
    item->settled = true;
    log.note(s, what, item->id_text);
}

// The end of the WAL inserted so far, as XLogFlush takes it: GetXLogInsertRecPtr points past
// a page's header when the last record ended at the page's end, and flushing that would
// ask for WAL not generated yet.
XLogRecPtr wal_inserted_end() {
    XLogRecPtr lsn = GetXLogInsertRecPtr();
    if (XLogSegmentOffset(lsn, wal_segment_size) == SizeOfXLogLongPHD)
        lsn -= SizeOfXLogLongPHD;
    else if (lsn % XLOG_BLCKSZ == SizeOfXLogShortPHD)
        lsn -= SizeOfXLogShortPHD;
    return lsn;
}

// The standbys' position that synchronous_commit waits for, or -1 for none.
int sync_rep_mode() {
    switch (synchronous_commit) {
    case SYNCHRONOUS_COMMIT_REMOTE_WRITE:
        return SYNC_REP_WAIT_WRITE;
    case SYNCHRONOUS_COMMIT_REMOTE_FLUSH:
        return SYNC_REP_WAIT_FLUSH;
    case SYNCHRONOUS_COMMIT_REMOTE_APPLY:
        return SYNC_REP_WAIT_APPLY;
    default:
        return SYNC_REP_NO_WAIT;
    }
}

// Whether commits wait for synchronous standbys (as SyncRepWaitForLSN decides; SyncRepLock
// held). Before the checkpointer has read synchronous_standby_names, the setting itself.
bool standbys_defined() {
#ifdef SYNC_STANDBY_DEFINED
    bits8 status = WalSndCtl->sync_standbys_status;
    if (!(status & SYNC_STANDBY_INIT))
        return SyncRepStandbyNames != nullptr && SyncRepStandbyNames[0] != '\0';
    return (status & SYNC_STANDBY_DEFINED) != 0;
#else
    return WalSndCtl->sync_standbys_defined;
#endif
}

// Makes the WAL up to `lsn` durable before a message is acknowledged: flushed here (at
// once when the WAL writer or a synchronous commit did it already), then, as
// synchronous_commit asks, confirmed by the synchronous standbys (as a commit waits). False
// when the standbys did not confirm it (the wait was cancelled; or, when exiting, not
// waited for): then nothing may be acknowledged.
bool durable(XLogRecPtr lsn, bool exiting) {
    if (XLogRecPtrIsInvalid(lsn))
        return true;
    XLogFlush(lsn);
    int mode = sync_rep_mode();
    if (mode == SYNC_REP_NO_WAIT || max_wal_senders == 0)
        return true;
    LWLockAcquire(SyncRepLock, LW_SHARED);
    bool wanted = standbys_defined();
    LWLockRelease(SyncRepLock);
    if (!wanted)
        return true;
    if (!exiting)
        SyncRepWaitForLSN(lsn, true); // returns early (with a warning) when cancelled
    LWLockAcquire(SyncRepLock, LW_SHARED);
    bool confirmed = !standbys_defined() || WalSndCtl->lsn[mode] >= lsn;
    LWLockRelease(SyncRepLock);
    return confirmed;
}

// Whether the WAL up to `lsn` is durable already, as `durable` would make it, without
// waiting: flushed (by the WAL writer, a commit, or an XLogFlush) and, as
// synchronous_commit asks, confirmed by the synchronous standbys.
bool durable_now(XLogRecPtr lsn) {
    if (XLogRecPtrIsInvalid(lsn))
        return true;
    if (GetFlushRecPtr(nullptr) < lsn)
        return false;
    int mode = sync_rep_mode();
    if (mode == SYNC_REP_NO_WAIT || max_wal_senders == 0)
        return true;
    LWLockAcquire(SyncRepLock, LW_SHARED);
    bool confirmed = !standbys_defined() || WalSndCtl->lsn[mode] >= lsn;
    LWLockRelease(SyncRepLock);
    return confirmed;
}

// How many pipelined batches may be held after the next commit (nomnom.commits_in_flight),
// as many as the consumer's max_ack_pending (shared by the stream's workers) leaves room
// for beside the batch written and the one fetched meanwhile: with more, the fetch would get
// nothing until acks that only come after it. A consumer made before this option (2 batches
// a worker), adopted as it is, gets 1: each pipelined commit waits for the last one's flush.
int commits_in_flight(const Worker& w) {
    int64 k = Max(1, Min(nomnom_commits_in_flight_guc, kMaxHeldBatches));
    if (w.max_ack_pending > 0) {
        int64 share = w.max_ack_pending / Max(1, w.options->workers);
        k = Max(1, Min(k, share / Max(1, w.options->batch_size) - 2));
    }
    return static_cast<int>(k);
}

// How the batch commits: pipelined (a full batch, more are likely waiting, of a stream that
// publishes no entity events: those must follow a durable commit; none with a dead letter,
// whose term must follow it too), and whether its commit waits for what its acknowledgements
// need (*waits): not when pipelined, when synchronous_commit is off, or when the batch has a
// duplicate, whose claim may be another worker's pipelined commit, not flushed yet.
bool pipelines(const Worker& w, bool* waits) {
    const Round& round = w.round;
    bool pipelined = nomnom_pipelined_commit_guc && round.nitems >= w.options->batch_size &&
                     !w.options->publish_entities;
    bool duplicates = false;
    for (int i = 0; i < round.nitems; i++) {
        if (round.items[i].outcome == OUTCOME_DEAD)
            pipelined = false;
        duplicates |= round.items[i].outcome == OUTCOME_DUPLICATE;
    }
    *waits = !pipelined && !duplicates && synchronous_commit > SYNCHRONOUS_COMMIT_OFF;
    return pipelined;
}

void release_in_progress(Worker& w);

// Marks the batch's messages in progress while it is written (`with_round`), and the held
// pipelined batches' while they wait for their commits to be durable (acknowledged during a
// write, or when idle: ack_held lets them go first). The next mark is due a period after the
// earliest of their last marks (or fetches), not a period from now: the time since then
// counts against their ack_wait already.
void hold_batch(Worker& w, bool with_round = true) {
    release_in_progress(w); // what the keeper marked so far is carried over
    if (w.nheld == 0 && (!with_round || w.round.fetched.Count == 0))
        return;
    natsMsgList lists[kMaxHeldBatches + 1];
    int nlists = 0;
    int64 marked = PG_INT64_MAX;
    for (int b = 0; b < w.nheld; b++) {
        lists[nlists++] = w.held[b].msgs;
        marked = Min(marked, w.held[b].marked_ms);
    }
    Round& round = w.round;
    round.in_progress = with_round && round.fetched.Count > 0;
    if (round.in_progress) {
        lists[nlists++] = round.fetched;
        marked = Min(marked, round.marked_ms);
    }
    in_progress.hold(lists, nlists, nomnom::in_progress_period_ms(w.options->ack_wait_ms), marked);
}

// The keeper lets go of what hold_batch gave it (before it is acknowledged, nak'd or
// destroyed); each batch it held keeps the time of its last mark, for the next hold_batch.
void release_in_progress(Worker& w) {
    int64 marked = in_progress.release(); // kNothingHeld: nothing changes
    if (w.round.in_progress)
        w.round.marked_ms = Max(w.round.marked_ms, marked);
    w.round.in_progress = false;
    for (int b = 0; b < w.nheld; b++)
        w.held[b].marked_ms = Max(w.held[b].marked_ms, marked);
}

// One attempt at the batch's transaction: true when it committed, else `*error` says why
// (in the batch's context) and `*sqlerrcode` with which SQLSTATE.
bool write_batch_once(Worker& w, char** error_text, int* sqlerrcode) {
    volatile bool committed = false;
    char* volatile batch_error = nullptr;
    volatile int error_code = 0;
    volatile bool pipelined = false;
    volatile bool waits = true;
    int64 batch_start = nomnom::monotonic_ms();

    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    pgstat_report_activity(STATE_RUNNING, "nomnom worker: writing a batch");
    PG_TRY();
    {
        set_write_timeouts(w);
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "nomnom worker: SPI_connect failed");
        PushActiveSnapshot(GetTransactionSnapshot());
        write_items(w);
        PopActiveSnapshot();
        SPI_finish();
        bool wait_flag = true;
        pipelined = pipelines(w, &wait_flag);
        waits = wait_flag;
        // The acknowledgements of the pipelined batches held, whose commits became durable
        // (by the WAL writer, mostly) while this batch was written. A pipelined commit waits
        // only when nomnom.commits_in_flight are held already (for the oldest); any other
        // waits for them all, as its commit would.
        if (pipelined)
            release_durable_now(w, commits_in_flight(w) - 1, true);
        else
            release_durable_acks(w, false, true);
        if (pipelined) // SET LOCAL: the commit record is written, not waited for
            (void)set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
                                    GUC_ACTION_LOCAL, true, 0, false);
        CommitTransactionCommand();
        committed = true;
        clear_statement_timeout();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(w.batch_context);
        clear_statement_timeout();
        ErrorData* error = CopyErrorData();
        FlushErrorState();
        AbortCurrentTransaction();
        error_code = error->sqlerrcode;
        batch_error =
            psprintf("writing a batch failed: %s: %s", unpack_sql_state(error->sqlerrcode),
                     error->message ? error->message : "error");
        FreeErrorData(error);
    }
    PG_END_TRY();
    MemoryContextSwitchTo(w.batch_context);
    if (committed)
        nomnom_slot_observe_commit(w.slot, (nomnom::monotonic_ms() - batch_start) / 1000.0);
    w.round.pipelined = committed && pipelined;
    // What must be durable before any of it is acknowledged: everything this transaction
    // saw committed ends before this point too.
    w.round.durable_lsn = committed && !waits ? wal_inserted_end() : InvalidXLogRecPtr;
    *error_text = batch_error;
    *sqlerrcode = error_code;
    return committed;
}

// After a batch-level failure (not about its messages: a failed commit, a full disk, a lock
// held past lock_timeout): waits out the back-off, answering signals. False when the batch
// should not be written again now but nak'd (its messages redelivered): the configuration
// changed meanwhile.
bool wait_to_write_again(Worker& w, const char* batch_error) {
    release_durable_acks(w, false, true); // the last batch's, not held back by this pause
    int64 now = nomnom::monotonic_ms();
    int64 pause = nomnom::backoff_fail(w.batch_backoff, now, kBatchRetryFirstMs, kBatchRetryMaxMs);
    char* text = psprintf("%s; writing the batch again in %ld ms (failure %d in a row, not "
                          "counted against its messages' deliveries)",
                          batch_error, static_cast<long>(pause), w.batch_backoff.failures);
    set_error(w, "running", text);
    if (w.batch_backoff.failures == 1 || w.batch_backoff.failures % 10 == 0)
        ereport(LOG, (errmsg("nomnom worker %s/%d: %s", w.stream, w.index, text)));
    pfree(text);
    for (int i = 0; i < w.round.nitems; i++) { // what the aborted attempt decided is undone
        w.round.items[i].outcome = OUTCOME_NONE;
        w.round.items[i].error = nullptr;
    }
    while (int64 left = nomnom::backoff_remaining_ms(w.batch_backoff, nomnom::monotonic_ms())) {
        wait_on_latch(Min(left, 1000));
        CHECK_FOR_INTERRUPTS(); // SIGTERM exits: the exit callback naks the batch
        if (!PostmasterIsAlive())
            proc_exit(1);
        if (pg_atomic_read_u64(&nomnom_shared->config_generation) != w.generation)
            return false;
    }
    return true;
}

} // namespace

// Step: one transaction for the whole batch. An error that escapes the per-message handling
// rolls it all back. When it says nothing about the messages (is_batch_level, or any error
// outside the data classes of is_permanent: a failed commit, a full disk, a lost
// connection), the same messages are written again after a growing pause, held meanwhile:
// nothing is nak'd, so no delivery is counted against them. Otherwise every message is nak'd
// for a retry by acknowledge_batch.
bool write_batch(Worker& w) {
    MemoryContext old_context = MemoryContextSwitchTo(w.batch_context);
    prepare_items(w);

    // GET /ingest/status says `processing` for these until the transaction ends.
    int n = w.round.nitems;
    pg_uuid_t* ids = static_cast<pg_uuid_t*>(palloc(sizeof(pg_uuid_t) * Max(n, 1)));
    for (int i = 0; i < n; i++)
        ids[i] = w.round.items[i].id;
    nomnom_slot_set_processing(w.slot_index, ids, n);
    // The held batches whose commits became durable during the fetch, acknowledged.
    release_durable_now(w, kMaxHeldBatches, false);
    // Longer than ack_wait (a lock, the pauses below) must not mean redelivered meanwhile.
    hold_batch(w);

    char* batch_error = nullptr;
    int sqlerrcode = 0;
    bool committed;
    while (!(committed = write_batch_once(w, &batch_error, &sqlerrcode)) &&
           !is_permanent(sqlerrcode) && wait_to_write_again(w, batch_error)) {
    }
    if (committed && w.batch_backoff.failures > 0) {
        ereport(LOG, (errmsg("nomnom worker %s/%d: the batch was written after %d failures",
                             w.stream, w.index, w.batch_backoff.failures)));
        set_state(w, "running");
    }
    nomnom::backoff_reset(w.batch_backoff);
    release_in_progress(w); // before they are acknowledged
    nomnom_slot_set_processing(w.slot_index, nullptr, 0);
    pgstat_report_activity(STATE_IDLE, nullptr);
    pgstat_report_stat(false);
    w.round.committed = committed;
    w.round.batch_error = batch_error;
    MemoryContextSwitchTo(old_context);
    return true;
}

// Step, once the batch's transaction is over: each message acknowledged (written, or already
// written before), terminated (dead-lettered and republished to the DLQ) or nak'd with a
// delay (to retry; all of them when the transaction failed).
bool acknowledge_batch(Worker& w) {
    MemoryContext old_context = MemoryContextSwitchTo(w.batch_context);
    Round& round = w.round;
    int n = round.nitems;
    if (!round.committed) {
        ereport(LOG, (errmsg("nomnom worker %s/%d: %s", w.stream, w.index, round.batch_error)));
        round.last_error = round.batch_error;
        nak_unsettled(w, 1000);
        round.retried = n;
        hold_batch(w, false); // the held batches, until their acknowledgements
        MemoryContextSwitchTo(old_context);
        return true;
    }
    if (round.pipelined) {
        // Acknowledged once the commit is durable: after a later commit, before the next
        // batch's, by acknowledge_if_idle (or when leaving); retries nak'd now.
        UnsettledLog log;
        for (int i = 0; i < n; i++) {
            Item* item = &round.items[i];
            if (item->outcome == OUTCOME_WRITTEN || item->outcome == OUTCOME_DUPLICATE) {
                item->settled = true;
                round.written++;
            } else {
                settle(item,
                       natsMsg_NakWithDelay(item->msg, retry_delay_ms(item->delivered), nullptr),
                       "nak", log);
                round.retried++;
                round.last_error = psprintf("message %s failed (attempt %d of %d), retrying: %s",
                                            item->id_text, item->delivered, w.options->max_deliver,
                                            item->error ? item->error : "");
            }
        }
        log.report(w);
        if (w.nheld == kMaxHeldBatches) // (write_batch_once left room; never more than this)
            release_durable_now(w, kMaxHeldBatches - 1, false);
        // The messages now wait in the worker, not the round.
        w.held[w.nheld++] = HeldBatch{round.fetched, round.durable_lsn, round.marked_ms};
        round.fetched = natsMsgList{nullptr, 0};
        release_durable_now(w, kMaxHeldBatches, false); // what is durable already, no wait
        hold_batch(w, false); // the held batches, until their acknowledgements
        MemoryContextSwitchTo(old_context);
        return true;
    }
    if (!durable(round.durable_lsn, false)) {
        // Not confirmed by the synchronous standbys (the wait was cancelled): nothing is
        // acknowledged; every message is redelivered after ack_wait, then a duplicate.
        ereport(LOG, (errmsg("nomnom worker %s/%d: a batch's commit was not confirmed by the "
                             "synchronous standbys; its %d messages are left to redelivery",
                             w.stream, w.index, n)));
        for (int i = 0; i < n; i++)
            round.items[i].settled = true;
        MemoryContextSwitchTo(old_context);
        return true;
    }
    UnsettledLog log;
    for (int i = 0; i < n; i++) {
        Item* item = &round.items[i];
        char err[1024];
        switch (item->outcome) {
        case OUTCOME_WRITTEN:
        case OUTCOME_DUPLICATE:
            settle(item, natsMsg_Ack(item->msg, nullptr), "acknowledge", log);
            round.written++;
            break;
        case OUTCOME_DEAD:
            if (publish_dead_letter(w.js, dead_letter(w, item), err, sizeof err)) {
                settle(item, natsMsg_Term(item->msg, nullptr), "terminate", log);
            } else if (item->delivered > w.options->max_deliver) {
                // Tried the DLQ at every delivery: the dead letter stays in the table only.
                settle(item, natsMsg_Term(item->msg, nullptr), "terminate", log);
                round.last_error = psprintf(
                    "could not republish dead letter %s to the DLQ (attempt %d, the last): %s; "
                    "it stays in nomnom.dead_letters",
                    item->id_text, item->delivered, err);
            } else {
                // Committed as a dead letter; redelivered later to republish it.
                settle(item,
                       natsMsg_NakWithDelay(item->msg, retry_delay_ms(item->delivered), nullptr),
                       "nak", log);
                round.last_error = psprintf("could not republish dead letter %s to the DLQ: %s",
                                            item->id_text, err);
            }
            if (!item->dead_before) // counted when it was dead-lettered
                round.dead++;
            if (round.last_error == nullptr)
                round.last_error =
                    psprintf("message %s dead-lettered: %s", item->id_text, item->error);
            break;
        case OUTCOME_RETRY:
        case OUTCOME_NONE:
            settle(item, natsMsg_NakWithDelay(item->msg, retry_delay_ms(item->delivered), nullptr),
                   "nak", log);
            round.retried++;
            round.last_error =
                psprintf("message %s failed (attempt %d of %d), retrying: %s", item->id_text,
                         item->delivered, w.options->max_deliver, item->error ? item->error : "");
            break;
        }
    }
    log.report(w);
    MemoryContextSwitchTo(old_context);
    return true;
}

// Step: the batch's counters and last error into the worker's shared memory slot.
bool report_batch(Worker& w) {
    Round& round = w.round;
    TimestampTz now = GetCurrentTimestamp();
    SpinLockAcquire(&w.slot->mutex);
    w.slot->consumed += round.nitems;
    w.slot->completed += round.written;
    w.slot->dead_lettered += round.dead;
    w.slot->failed += round.retried;
    if (round.pending >= 0)
        w.slot->pending = round.pending;
    w.slot->last_batch_at = now;
    if (round.last_error != nullptr) {
        strlcpy(w.slot->last_error, round.last_error, sizeof w.slot->last_error);
        w.slot->last_error_at = now;
    }
    SpinLockRelease(&w.slot->mutex);
    return true;
}

// Naks whatever of the current batch is not settled: it is redelivered (after `delay_ms`),
// and an id already committed is then acknowledged without writing again.
void nak_unsettled(Worker& w, int64 delay_ms) {
    release_in_progress(w); // also on exit, before the connection goes
    UnsettledLog log;
    for (int i = 0; i < w.round.nitems; i++) {
        Item* item = &w.round.items[i];
        if (!item->settled && item->msg != nullptr) {
            settle(item,
                   delay_ms > 0 ? natsMsg_NakWithDelay(item->msg, delay_ms, nullptr)
                                : natsMsg_Nak(item->msg, nullptr),
                   "nak", log);
        }
    }
    log.report(w);
}

namespace {

// Acknowledges (when `ack`) and destroys the first `count` held batches: their commits are
// durable (the ones nak'd already are skipped by nats.c).
void ack_held(Worker& w, int count, bool ack) {
    if (count <= 0)
        return;
    release_in_progress(w); // before they are acknowledged or destroyed
    UnsettledLog log;
    int messages = 0;
    for (int b = 0; b < count; b++) {
        natsMsgList* list = &w.held[b].msgs;
        messages += list->Count;
        if (ack)
            for (int i = 0; i < list->Count; i++)
                log.note(natsMsg_Ack(list->Msgs[i], nullptr), "acknowledge",
                         "of a pipelined batch");
        natsMsgList_Destroy(list);
    }
    log.report(w);
    if (!ack)
        ereport(LOG, (errmsg("nomnom worker %s/%d: a batch's commit was not confirmed by the "
                             "synchronous standbys; its %d messages are left to redelivery",
                             w.stream, w.index, messages)));
    memmove(&w.held[0], &w.held[count], sizeof(HeldBatch) * (w.nheld - count));
    w.nheld -= count;
    memset(&w.held[w.nheld], 0, sizeof(HeldBatch) * count);
}

} // namespace

// The pipelined batches held (w.held): acknowledged once their commits are durable, waiting
// for the newest (one flush covers them all), then destroyed. Not acknowledged when the
// synchronous standbys did not confirm it, or when exiting with standbys to wait for: they
// are redelivered after ack_wait, and acknowledged then as duplicates. `writing`: the batch
// being written stays held in progress.
void release_durable_acks(Worker& w, bool exiting, bool writing) {
    if (w.nheld == 0)
        return;
    ack_held(w, w.nheld, durable(w.held[w.nheld - 1].lsn, exiting));
    if (writing)
        hold_batch(w);
}

// The held batches whose commits are durable now, acknowledged without waiting; then, when
// more than `keep_at_most` are left, waits for the WAL of the newest of the oldest ones
// beyond that bound (as release_durable_acks) and acknowledges those.
void release_durable_now(Worker& w, int keep_at_most, bool writing) {
    int before = w.nheld;
    int ready = 0;
    while (ready < w.nheld && durable_now(w.held[ready].lsn)) // positions grow: oldest first
        ready++;
    ack_held(w, ready, true);
    int over = w.nheld - Max(keep_at_most, 0);
    if (over > 0)
        ack_held(w, over, durable(w.held[over - 1].lsn, false));
    if (writing && w.nheld != before)
        hold_batch(w);
}

// Step: nothing was fetched (idle, or the fetch failed): the last batch's pipelined
// acknowledgements now, not after the next batch.
bool acknowledge_if_idle(Worker& w) {
    if (w.round.fetched.Count == 0)
        release_durable_acks(w, false);
    return true;
}

// Naks (and destroys) the messages of a fetch that were not handed to a batch yet.
void nak_fetched(Worker& w) {
    natsMsgList* list = &w.round.fetched;
    if (list->Count == 0 || w.round.nitems > 0)
        return;
    UnsettledLog log;
    for (int i = 0; i < list->Count; i++)
        log.note(natsMsg_Nak(list->Msgs[i], nullptr), "nak", "fetched");
    log.report(w);
    natsMsgList_Destroy(list);
}

} // namespace nomnom::worker
