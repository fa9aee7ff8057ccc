// A stream worker: fetches batches from the stream's durable pull consumer, writes each
// batch in one transaction, commits, then acknowledges.
//
// PostgreSQL-style code (ereport, SPI, subtransactions); nats.c through status-code
// functions, here and on the prefetch thread that fetches and maps the next batch while
// this one is written (prefetch.hpp); the pure C++ core (routing, ids, options, the
// prefetcher) through noexcept helpers that keep their C++ objects to themselves.
#include "writer/message_writer.hpp"
#include "streams/jetstream_client.hpp"
#include "workers/prefetch.hpp"
#include "workers/shmem.hpp"

#include "nomnom/message_id.hpp"
#include "nomnom/stream_options.hpp"

extern "C" {
#include "access/xlog.h"
#include "commands/extension.h"
#include "mb/pg_wchar.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/json.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
}

#include <cstdio>
#include <cstring>
#include <new>

namespace {

// ---------------------------------------------------------------------------------------
// The C++ core, behind noexcept helpers: results go into caller-owned buffers.

bool cpp_parse_options(const char* json, nomnom::StreamOptions** out, char* err,
                       size_t errlen) noexcept {
    try {
        auto* options = new nomnom::StreamOptions();
        std::string error;
        if (!nomnom::parse_stream_options(json, *options, error)) {
            snprintf(err, errlen, "%s", error.c_str());
            delete options;
            return false;
        }
        *out = options;
        return true;
    } catch (...) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
}

// Reads a message's facts (see MessageFacts) on the backend's thread.
bool cpp_read_facts(natsMsg* msg, const char* stream, const nomnom::StreamOptions* options,
                    uint64 options_generation, nomnom::MessageFacts* facts) noexcept {
    try {
        nomnom::read_facts(msg, stream, *options, *facts);
        facts->options_generation = options_generation;
        return facts->known;
    } catch (...) {
        return false;
    }
}

bool cpp_dlq_subject(const char* entity, char* out, size_t outlen) noexcept {
    try {
        snprintf(out, outlen, "%s", nomnom::dlq_subject(entity).c_str());
        return true;
    } catch (...) {
        return false;
    }
}

bool cpp_prefetch_create(nomnom::Prefetcher** prefetch,
                         std::vector<nomnom::PremappedMessage>** premapped,
                         nomnom::TreeSnapshot** trees) noexcept {
    try {
        *prefetch = new nomnom::Prefetcher();
        *premapped = new std::vector<nomnom::PremappedMessage>();
        *trees = new nomnom::TreeSnapshot();
        return true;
    } catch (...) {
        return false;
    }
}

bool cpp_prefetch_start(nomnom::Prefetcher* prefetch, natsSubscription* sub, int batch_size,
                        int wait_ms, const char* stream, const nomnom::StreamOptions* options,
                        uint64 options_generation, const nomnom::TreeSnapshot* trees) noexcept {
    try {
        prefetch->start(sub, batch_size, wait_ms, stream, *options, options_generation, *trees);
        return true;
    } catch (...) {
        return false;
    }
}

natsStatus cpp_prefetch_finish(nomnom::Prefetcher* prefetch, natsMsgList* list,
                               std::vector<nomnom::PremappedMessage>* premapped) noexcept {
    try {
        return prefetch->finish(list, *premapped);
    } catch (...) {
        premapped->clear();
        return NATS_NO_MEMORY;
    }
}

void cpp_prefetch_abandon(nomnom::Prefetcher* prefetch) noexcept {
    if (!prefetch->running())
        return;
    natsMsgList list = {nullptr, 0};
    try {
        std::vector<nomnom::PremappedMessage> unused;
        prefetch->finish(&list, unused);
    } catch (...) {
    }
    for (int i = 0; i < list.Count; i++)
        natsMsg_Nak(list.Msgs[i], nullptr);
    natsMsgList_Destroy(&list);
}

// The trees the batch was written with become the next prefetch's (the old ones stay when
// memory is short).
void cpp_remember_trees(const std::vector<nomnom::PremappedMessage>* premapped,
                        nomnom::TreeSnapshot* trees) noexcept {
    try {
        *trees = nomnom::written_trees(*premapped);
    } catch (...) {
    }
}

// ---------------------------------------------------------------------------------------
// Worker state

enum Outcome { OUTCOME_NONE, OUTCOME_WRITTEN, OUTCOME_DUPLICATE, OUTCOME_DEAD, OUTCOME_RETRY };

struct Item {
    natsMsg* msg;
    const char* subject;
    const char* body;
    int body_len;
    char entity[NAMEDATALEN * 2];
    char id_text[37];
    pg_uuid_t id;
    uint64 stream_seq;
    int delivered;
    TimestampTz received_at;
    Outcome outcome;
    char* error;  // palloc'd in the batch context
    bool settled; // acknowledged, terminated or nak'd
    nomnom::PremappedMessage* premapped; // its mapping from the prefetch, or NULL
};

struct Worker {
    int slot_index;
    NomnomWorkerSlot* slot;
    char stream[NAMEDATALEN * 2];
    int index;
    nomnom::StreamOptions* options; // heap (new): not on a stack a longjmp could skip
    char** subjects;
    int nsubjects;
    char connection_key[1024];
    uint64 generation;

    NatsEvents* events;
    natsConnection* nc;
    jsCtx* js;
    natsSubscription* sub;
    bool disconnected;
    TimestampTz next_connect;
    int connect_failures;
    TimestampTz last_pending_check;
    int stalled_checks; // idle checks that saw undelivered messages

    Item* items; // the batch being written, for the exit callback
    int nitems;
    natsMsgList* fetched; // fetched, not yet in `items`: nak'd on exit
    // The next batch, fetched and mapped while this one is written (heap, C++ objects).
    nomnom::Prefetcher* prefetch;
    std::vector<nomnom::PremappedMessage>* premapped; // the current batch's mappings
    nomnom::TreeSnapshot* trees;                      // what the next prefetch maps with
    bool reconnect;       // the configuration changed where NATS is concerned

    SPIPlanPtr status_plan;
    SPIPlanPtr dead_letter_plan;
    MemoryContext batch_context;
};

Worker W;

void set_state(const char* state) {
    nomnom_slot_set_state(W.slot, state, nullptr);
}

void set_error(const char* state, const char* error) {
    nomnom_slot_set_state(W.slot, state, error);
}

// Waits for a running prefetch and naks what it fetched: redelivered at once.
void abandon_prefetch(void) {
    if (W.prefetch != nullptr)
        cpp_prefetch_abandon(W.prefetch);
}

void drop_subscription(void) {
    abandon_prefetch(); // its thread may be fetching from the subscription
    if (W.sub != nullptr) {
        natsSubscription_Destroy(W.sub);
        W.sub = nullptr;
    }
}

void disconnect_nats(int flush_ms) {
    drop_subscription();
    nn_disconnect(W.nc, W.js, flush_ms);
    W.nc = nullptr;
    W.js = nullptr;
}

// Nak whatever of the current batch is not settled: it is redelivered at once, and an id
// already committed is then acknowledged without writing again.
void nak_unsettled(int64 delay_ms) {
    for (int i = 0; i < W.nitems; i++) {
        Item* item = &W.items[i];
        if (!item->settled && item->msg != nullptr) {
            if (delay_ms > 0)
                natsMsg_NakWithDelay(item->msg, delay_ms, nullptr);
            else
                natsMsg_Nak(item->msg, nullptr);
            item->settled = true;
        }
    }
}

// Nak the messages of a fetch that were not handed to a batch yet.
void nak_fetched(void) {
    if (W.fetched == nullptr || W.nitems > 0)
        return;
    for (int i = 0; i < W.fetched->Count; i++)
        natsMsg_Nak(W.fetched->Msgs[i], nullptr);
    W.fetched = nullptr;
}

void worker_exit(int, Datum) {
    nak_fetched();
    nak_unsettled(0);
    disconnect_nats(1000);
    if (W.slot != nullptr) {
        SpinLockAcquire(&W.slot->mutex);
        W.slot->pid = 0;
        strlcpy(W.slot->state, "stopped", sizeof W.slot->state);
        SpinLockRelease(&W.slot->mutex);
    }
}

// ---------------------------------------------------------------------------------------
// Configuration

// Re-reads the stream's row. Exits when the stream is gone, paused, or needs fewer workers.
void load_config(void) {
    char err[1024];
    char* options_text = nullptr;
    char** subjects = nullptr;
    int nsubjects = 0;
    bool found = false;
    bool paused = false;

    W.generation = pg_atomic_read_u64(&nomnom_shared->config_generation);
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, "nomnom worker: reading nomnom.streams");
    bool installed = OidIsValid(get_extension_oid("nomnom", true));
    if (installed) {
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "nomnom worker: SPI_connect failed");
        Oid types[1] = {TEXTOID};
        Datum values[1] = {CStringGetTextDatum(W.stream)};
        int rc = SPI_execute_with_args(
            "SELECT options::text, paused, subjects FROM nomnom.streams WHERE name = $1", 1, types,
            values, nullptr, true, 1);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "nomnom worker: reading nomnom.streams failed: %s",
                 SPI_result_code_string(rc));
        if (SPI_processed == 1) {
            found = true;
            HeapTuple tuple = SPI_tuptable->vals[0];
            TupleDesc desc = SPI_tuptable->tupdesc;
            bool isnull;
            options_text = MemoryContextStrdup(TopMemoryContext, SPI_getvalue(tuple, desc, 1));
            paused = DatumGetBool(SPI_getbinval(tuple, desc, 2, &isnull));
            ArrayType* array = DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 3, &isnull));
            Datum* elems;
            bool* elem_nulls;
            deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls,
                              &nsubjects);
            subjects = static_cast<char**>(
                MemoryContextAllocZero(TopMemoryContext, sizeof(char*) * (nsubjects + 1)));
            for (int i = 0; i < nsubjects; i++)
                subjects[i] = MemoryContextStrdup(TopMemoryContext, TextDatumGetCString(elems[i]));
        }
        SPI_finish();
    }
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, nullptr);

    if (!installed || !found) {
        ereport(LOG, (errmsg("nomnom worker %s/%d: the stream is no longer defined; exiting",
                             W.stream, W.index)));
        proc_exit(0);
    }
    nomnom::StreamOptions* options = nullptr;
    if (!cpp_parse_options(options_text, &options, err, sizeof err))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("nomnom worker %s/%d: invalid stream options: %s", W.stream, W.index,
                               err)));
    if (paused || W.index >= options->workers) {
        delete options;
        ereport(LOG, (errmsg("nomnom worker %s/%d: the stream is %s; exiting", W.stream, W.index,
                             paused ? "paused" : "running fewer workers")));
        proc_exit(0);
    }

    char key[1024];
    int len = snprintf(key, sizeof key, "%s|%s|%s|%s|%d|%ld|%s", options->nats_url.c_str(),
                       options->consumer.c_str(), options->dlq_stream.c_str(),
                       options->storage.c_str(), options->replicas,
                       static_cast<long>(options->ack_wait_ms), options->track_status ? "t" : "f");
    for (int i = 0; i < nsubjects && len < static_cast<int>(sizeof key); i++)
        len += snprintf(key + len, sizeof key - len, "|%s", subjects[i]);
    if (strcmp(key, W.connection_key) != 0) {
        if (W.nc != nullptr)
            ereport(LOG, (errmsg("nomnom worker %s/%d: configuration changed; reconnecting",
                                 W.stream, W.index)));
        W.reconnect = true; // the loop disconnects, after settling what it holds
        strlcpy(W.connection_key, key, sizeof W.connection_key);
        W.next_connect = 0;
        W.connect_failures = 0;
    }
    delete W.options;
    W.options = options;
    if (W.subjects != nullptr) {
        for (int i = 0; i < W.nsubjects; i++)
            pfree(W.subjects[i]);
        pfree(W.subjects);
    }
    W.subjects = subjects;
    W.nsubjects = nsubjects;
    pfree(options_text);
}

// ---------------------------------------------------------------------------------------
// NATS

bool ensure_connected(void) {
    if (W.nc != nullptr && W.events->closed.load()) {
        disconnect_nats(0);
    }
    if (W.nc == nullptr) {
        TimestampTz now = GetCurrentTimestamp();
        if (now < W.next_connect)
            return false;
        char err[1024];
        char name[256];
        snprintf(name, sizeof name, "nomnom worker %s/%d", W.stream, W.index);
        set_state(W.connect_failures == 0 ? "connecting" : "disconnected");
        W.events->disconnected.store(false);
        W.events->reconnected.store(false);
        W.events->closed.store(false);
        natsStatus s = nn_connect(W.options->nats_url.c_str(), name, W.events, 2000, &W.nc, &W.js,
                                  err, sizeof err);
        if (s == NATS_OK) {
            s = nn_ensure_jetstream(W.js, W.stream, W.subjects, W.nsubjects, *W.options,
                                    NN_ENSURE_ADOPT, err, sizeof err);
            if (s == NATS_OK)
                s = nn_pull_subscribe(W.js, W.stream, W.options->consumer.c_str(), &W.sub, err,
                                      sizeof err);
            if (s != NATS_OK)
                disconnect_nats(0);
        }
        if (s != NATS_OK) {
            W.connect_failures++;
            int wait_ms = Min(250 * (1 << Min(W.connect_failures, 5)), 5000);
            W.next_connect = TimestampTzPlusMilliseconds(now, wait_ms);
            set_error("disconnected", err);
            if (W.connect_failures == 1 || W.connect_failures % 20 == 0)
                ereport(LOG, (errmsg("nomnom worker %s/%d: %s", W.stream, W.index, err)));
            return false;
        }
        if (W.connect_failures > 0)
            ereport(LOG, (errmsg("nomnom worker %s/%d: connected to %s", W.stream, W.index,
                                 W.options->nats_url.c_str())));
        W.connect_failures = 0;
        W.disconnected = false;
        set_state("running");
    }
    if (W.sub == nullptr) {
        char err[1024];
        natsStatus s = nn_ensure_jetstream(W.js, W.stream, W.subjects, W.nsubjects, *W.options,
                                           NN_ENSURE_ADOPT, err, sizeof err);
        if (s == NATS_OK)
            s = nn_pull_subscribe(W.js, W.stream, W.options->consumer.c_str(), &W.sub, err,
                                  sizeof err);
        if (s != NATS_OK) {
            set_error(natsConnection_Status(W.nc) == NATS_CONN_STATUS_CONNECTED ? "running"
                                                                                : "disconnected",
                      err);
            return false;
        }
    }
    // Flags set by nats.c's threads.
    if (W.events->disconnected.exchange(false)) {
        W.disconnected = true;
        char err[512];
        snprintf(err, sizeof err, "lost the connection to NATS at %s; reconnecting",
                 W.options->nats_url.c_str());
        set_error("disconnected", err);
    }
    if (W.events->reconnected.exchange(false)) {
        W.disconnected = false;
        set_state("running");
    }
    if (W.disconnected && natsConnection_Status(W.nc) == NATS_CONN_STATUS_CONNECTED) {
        W.disconnected = false;
        set_state("running");
    }
    return !W.disconnected;
}

void wait_ms(long ms) {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
}

// ---------------------------------------------------------------------------------------
// Writing a batch

bool is_permanent(int sqlerrcode) {
    int category = ERRCODE_TO_CATEGORY(sqlerrcode);
    return category == ERRCODE_DATA_EXCEPTION ||                        // 22
           category == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||        // 23
           category == ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION || // 42 (unknown entity...)
           category == ERRCODE_FEATURE_NOT_SUPPORTED ||                 // 0A
           category == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||                // 54
           sqlerrcode == ERRCODE_INVALID_PARAMETER_VALUE;
}

// A message that could not be written: dead letter when the error is permanent or this was
// its last attempt, else a retry.
void set_failure(Item* item, int sqlerrcode, const char* message, const char* detail) {
    StringInfoData text;
    initStringInfo(&text);
    appendStringInfo(&text, "%s: %s", unpack_sql_state(sqlerrcode), message ? message : "error");
    if (detail)
        appendStringInfo(&text, " (%s)", detail);
    item->error = MemoryContextStrdup(W.batch_context, text.data);
    pfree(text.data);
    bool last_attempt = item->delivered >= W.options->max_deliver;
    item->outcome = (is_permanent(sqlerrcode) || last_attempt) ? OUTCOME_DEAD : OUTCOME_RETRY;
}

void fill_message(const Item* item, MessageToWrite* m) {
    m->entity = item->entity;
    m->body = item->body;
    m->body_len = item->body_len;
    m->message_id = item->id;
    m->stream = W.stream;
    m->subject = item->subject;
    m->stream_seq = static_cast<int64>(item->stream_seq);
    m->received_at = item->received_at;
    m->track_status = W.options->track_status;
    m->attempts = item->delivered;
    m->premapped = item->premapped;
}

// A message delivered more often than max_deliver was never settled by a worker: one crashed
// on it, or died before acknowledging it. It is not written again (a message that crashes the
// worker would crash it forever): acknowledged when its id is completed, else dead-lettered.
void settle_overdelivered(Item* items, int n) {
    for (int i = 0; i < n; i++) {
        Item* item = &items[i];
        if (item->delivered <= W.options->max_deliver)
            continue;
        Oid types[1] = {UUIDOID};
        Datum values[1] = {UUIDPGetDatum(&item->id)};
        int rc = SPI_execute_with_args(
            "SELECT 1 FROM nomnom.message_status WHERE message_id = $1 AND status = 'completed'", 1,
            types, values, nullptr, true, 1);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "nomnom worker: reading message_status failed: %s",
                 SPI_result_code_string(rc));
        if (SPI_processed > 0) {
            item->outcome = OUTCOME_DUPLICATE;
            continue;
        }
        item->error =
            psprintf("delivered %d times without being acknowledged (max_deliver %d): not "
                     "written again, the worker may have failed on it",
                     item->delivered, W.options->max_deliver);
        item->error = MemoryContextStrdup(W.batch_context, item->error);
        item->outcome = OUTCOME_DEAD;
    }
}

// The fast path: the whole batch set-wise (nomnom_write_batch: one claim and one statement
// per table) in one subtransaction. Messages the writer rejects (bad JSON, missing field,
// unknown entity) come back as such without stopping the others. False, with nothing
// written, when the batch raised an error: the slow path then finds the culprit.
bool write_all(Item* items, int n) {
    MemoryContext old_context = CurrentMemoryContext;
    ResourceOwner old_owner = CurrentResourceOwner;
    // Only the messages not decided yet (see settle_overdelivered).
    MessageToWrite* messages = static_cast<MessageToWrite*>(palloc(sizeof(MessageToWrite) * n));
    MessageOutcome* outcomes = static_cast<MessageOutcome*>(palloc0(sizeof(MessageOutcome) * n));
    int* index = static_cast<int*>(palloc(sizeof(int) * n));
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (items[i].outcome != OUTCOME_NONE)
            continue;
        fill_message(&items[i], &messages[count]);
        index[count++] = i;
    }
    if (count == 0)
        return true;
    volatile bool ok = true;
    BeginInternalSubTransaction(nullptr);
    PG_TRY();
    {
        nomnom_write_batch(messages, count, outcomes);
        ReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(old_context);
        CurrentResourceOwner = old_owner;
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(old_context);
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(old_context);
        CurrentResourceOwner = old_owner;
        ok = false;
    }
    PG_END_TRY();
    for (int k = 0; k < count; k++) {
        Item* item = &items[index[k]];
        MessageOutcome* outcome = &outcomes[k];
        if (!ok)
            continue; // still OUTCOME_NONE: the slow path writes it
        switch (outcome->kind) {
        case NOMNOM_WRITTEN:
            item->outcome = OUTCOME_WRITTEN;
            break;
        case NOMNOM_DUPLICATE:
            item->outcome = OUTCOME_DUPLICATE;
            break;
        case NOMNOM_REJECTED:
            set_failure(item, outcome->sqlerrcode, outcome->error, nullptr);
            break;
        }
    }
    return ok;
}

// The slow path: one subtransaction a message, so one bad message sinks nothing else.
void write_one(Item* item) {
    MemoryContext old_context = CurrentMemoryContext;
    ResourceOwner old_owner = CurrentResourceOwner;
    BeginInternalSubTransaction(nullptr);
    PG_TRY();
    {
        MessageToWrite m;
        fill_message(item, &m);
        item->outcome = nomnom_write_message(&m) ? OUTCOME_WRITTEN : OUTCOME_DUPLICATE;
        ReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(old_context);
        CurrentResourceOwner = old_owner;
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(W.batch_context);
        ErrorData* error = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(old_context);
        CurrentResourceOwner = old_owner;

        set_failure(item, error->sqlerrcode, error->message, error->detail);
        FreeErrorData(error);
    }
    PG_END_TRY();
}

// The message's headers as a JSON object (several values of a key: an array).
char* headers_json(natsMsg* msg) {
    StringInfoData out;
    initStringInfo(&out);
    appendStringInfoChar(&out, '{');
    const char** keys = nullptr;
    int nkeys = 0;
    if (natsMsgHeader_Keys(msg, &keys, &nkeys) == NATS_OK) {
        bool first = true;
        for (int k = 0; k < nkeys; k++) {
            const char** values = nullptr;
            int nvalues = 0;
            if (pg_verifymbstr(keys[k], strlen(keys[k]), true) &&
                natsMsgHeader_Values(msg, keys[k], &values, &nvalues) == NATS_OK) {
                if (!first)
                    appendStringInfoChar(&out, ',');
                first = false;
                escape_json(&out, keys[k]);
                appendStringInfoChar(&out, ':');
                if (nvalues != 1)
                    appendStringInfoChar(&out, '[');
                for (int v = 0; v < nvalues; v++) {
                    if (v)
                        appendStringInfoChar(&out, ',');
                    escape_json(&out, pg_verifymbstr(values[v], strlen(values[v]), true) ? values[v]
                                                                                         : "?");
                }
                if (nvalues != 1)
                    appendStringInfoChar(&out, ']');
            }
            free(values);
        }
        free(keys);
    }
    appendStringInfoChar(&out, '}');
    return out.data;
}

SPIPlanPtr prepare_kept(const char* sql, int nargs, Oid* types) {
    SPIPlanPtr plan = SPI_prepare(sql, nargs, types);
    if (plan == nullptr)
        elog(ERROR, "nomnom worker: cannot prepare \"%s\": %s", sql,
             SPI_result_code_string(SPI_result));
    SPI_keepplan(plan);
    return plan;
}

// message_status for a failed or dead-lettered message (never over a completed one).
void write_status(const Item* item, const char* status) {
    if (!W.options->track_status)
        return;
    if (W.status_plan == nullptr) {
        Oid types[9] = {UUIDOID, TEXTOID, TEXTOID, TEXTOID,       TEXTOID,
                        INT4OID, TEXTOID, INT8OID, TIMESTAMPTZOID};
        W.status_plan = prepare_kept(
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
    values[1] = CStringGetTextDatum(W.stream);
    values[2] = CStringGetTextDatum(item->subject);
    values[3] = CStringGetTextDatum(item->entity);
    values[4] = CStringGetTextDatum(status);
    values[5] = Int32GetDatum(item->delivered);
    values[6] = CStringGetTextDatum(item->error ? item->error : "");
    values[7] = Int64GetDatum(static_cast<int64>(item->stream_seq));
    values[8] = TimestampTzGetDatum(item->received_at);
    int rc = SPI_execute_plan(W.status_plan, values, nulls, false, 0);
    if (rc != SPI_OK_INSERT)
        elog(ERROR, "nomnom worker: writing message_status failed: %s", SPI_result_code_string(rc));
}

void write_dead_letter(const Item* item) {
    if (W.dead_letter_plan == nullptr) {
        Oid types[9] = {UUIDOID,  TEXTOID, TEXTOID, TEXTOID, TEXTOID,
                        BYTEAOID, TEXTOID, TEXTOID, INT4OID};
        W.dead_letter_plan =
            prepare_kept("INSERT INTO nomnom.dead_letters AS d "
                         "(message_id, stream, subject, entity, payload, payload_bytes, headers, "
                         "error, attempts, failed_at) "
                         "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, now()) "
                         "ON CONFLICT (message_id) DO UPDATE SET stream = EXCLUDED.stream, subject "
                         "= EXCLUDED.subject, "
                         "entity = EXCLUDED.entity, payload = EXCLUDED.payload, payload_bytes = "
                         "EXCLUDED.payload_bytes, "
                         "headers = EXCLUDED.headers, error = EXCLUDED.error, attempts = "
                         "EXCLUDED.attempts, failed_at = now()",
                         9, types);
    }
    Datum values[9];
    char nulls[9];
    memset(nulls, ' ', sizeof nulls);
    bool is_text = memchr(item->body, '\0', item->body_len) == nullptr &&
                   pg_verifymbstr(item->body, item->body_len, true);
    values[0] = UUIDPGetDatum(const_cast<pg_uuid_t*>(&item->id));
    values[1] = CStringGetTextDatum(W.stream);
    values[2] = CStringGetTextDatum(item->subject);
    values[3] = CStringGetTextDatum(item->entity);
    if (is_text) {
        values[4] = PointerGetDatum(cstring_to_text_with_len(item->body, item->body_len));
        nulls[5] = 'n';
    } else {
        nulls[4] = 'n';
        bytea* bytes = static_cast<bytea*>(palloc(VARHDRSZ + item->body_len));
        SET_VARSIZE(bytes, VARHDRSZ + item->body_len);
        memcpy(VARDATA(bytes), item->body, item->body_len);
        values[5] = PointerGetDatum(bytes);
    }
    values[6] = CStringGetTextDatum(headers_json(item->msg));
    values[7] = CStringGetTextDatum(item->error ? item->error : "error");
    values[8] = Int32GetDatum(item->delivered);
    int rc = SPI_execute_plan(W.dead_letter_plan, values, nulls, false, 0);
    if (rc != SPI_OK_INSERT)
        elog(ERROR, "nomnom worker: writing dead_letters failed: %s", SPI_result_code_string(rc));
}

// Republishes a dead letter to messages.dlq.<Entity> in the DLQ stream.
bool publish_dead_letter(const Item* item, char* err, size_t errlen) {
    char subject[NAMEDATALEN * 2 + 32];
    if (!cpp_dlq_subject(item->entity, subject, sizeof subject)) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    natsMsg* out = nullptr;
    natsStatus s = natsMsg_Create(&out, subject, nullptr, item->body, item->body_len);
    if (s == NATS_OK) {
        const char** keys = nullptr;
        int nkeys = 0;
        if (natsMsgHeader_Keys(item->msg, &keys, &nkeys) == NATS_OK) {
            for (int k = 0; k < nkeys; k++) {
                const char** values = nullptr;
                int nvalues = 0;
                if (strcmp(keys[k], "Nats-Msg-Id") != 0 &&
                    natsMsgHeader_Values(item->msg, keys[k], &values, &nvalues) == NATS_OK) {
                    for (int v = 0; v < nvalues; v++)
                        natsMsgHeader_Add(out, keys[k], values[v]);
                }
                free(values);
            }
            free(keys);
        }
        char value[1024];
        snprintf(value, sizeof value, "%s:%llu", item->id_text,
                 static_cast<unsigned long long>(item->stream_seq));
        natsMsgHeader_Set(out, "Nats-Msg-Id", value);
        natsMsgHeader_Set(out, "Nomnom-Message-Id", item->id_text);
        natsMsgHeader_Set(out, "Nomnom-Stream", W.stream);
        natsMsgHeader_Set(out, "Nomnom-Subject", item->subject);
        snprintf(value, sizeof value, "%llu", static_cast<unsigned long long>(item->stream_seq));
        natsMsgHeader_Set(out, "Nomnom-Stream-Seq", value);
        snprintf(value, sizeof value, "%s", item->error ? item->error : "error");
        for (char* c = value; *c; c++) {
            if (*c == '\r' || *c == '\n')
                *c = ' ';
        }
        natsMsgHeader_Set(out, "Nomnom-Error", value);
        s = nn_publish(W.js, out, 5000, err, errlen);
    } else {
        nn_describe(s, err, errlen);
    }
    if (out != nullptr)
        natsMsg_Destroy(out);
    return s == NATS_OK;
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
int64 prepare_items(natsMsgList* list) {
    int64 pending = -1;
    W.items =
        static_cast<Item*>(MemoryContextAllocZero(W.batch_context, sizeof(Item) * list->Count));
    W.nitems = list->Count;
    for (int i = 0; i < list->Count; i++) {
        Item* item = &W.items[i];
        natsMsg* msg = list->Msgs[i];
        item->msg = msg;
        if (static_cast<size_t>(i) >= W.premapped->size()) // the prefetch ran out of memory
            ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
        item->premapped = &(*W.premapped)[i];
        item->subject = natsMsg_GetSubject(msg);
        item->body = natsMsg_GetData(msg);
        item->body_len = natsMsg_GetDataLength(msg);
        if (item->body == nullptr)
            item->body = "";
        // Read here when the prefetch could not, or routed it with options changed since.
        nomnom::MessageFacts* facts = &item->premapped->facts;
        if ((!facts->known || facts->options_generation != W.generation) &&
            !cpp_read_facts(msg, W.stream, W.options, W.generation, facts))
            ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
        strlcpy(item->entity, facts->entity.c_str(), sizeof item->entity);
        memcpy(item->id_text, facts->id_text, sizeof item->id_text);
        item->id = facts->id;
        item->stream_seq = facts->stream_seq;
        item->delivered = facts->delivered;
        item->received_at =
            facts->timestamp_ns > 0 ? from_unix_ns(facts->timestamp_ns) : GetCurrentTimestamp();
        if (facts->pending >= 0)
            pending = facts->pending;
    }
    return pending;
}

// One batch: one transaction, then the acknowledgements.
void process_batch(natsMsgList* list) {
    MemoryContext old_context = MemoryContextSwitchTo(W.batch_context);
    volatile int64 pending = prepare_items(list);
    int n = W.nitems;
    volatile bool committed = false;
    char* volatile batch_error = nullptr;

    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    pgstat_report_activity(STATE_RUNNING, "nomnom worker: writing a batch");
    PG_TRY();
    {
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "nomnom worker: SPI_connect failed");
        PushActiveSnapshot(GetTransactionSnapshot());
        settle_overdelivered(W.items, n);
        if (!write_all(W.items, n)) {
            for (int i = 0; i < n; i++) {
                if (W.items[i].outcome == OUTCOME_NONE)
                    write_one(&W.items[i]);
            }
        }
        for (int i = 0; i < n; i++) {
            Item* item = &W.items[i];
            if (item->outcome == OUTCOME_DEAD) {
                write_dead_letter(item);
                write_status(item, "dead_letter");
            } else if (item->outcome == OUTCOME_RETRY) {
                write_status(item, "failed");
            }
        }
        PopActiveSnapshot();
        SPI_finish();
        CommitTransactionCommand();
        committed = true;
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(W.batch_context);
        ErrorData* error = CopyErrorData();
        FlushErrorState();
        AbortCurrentTransaction();
        batch_error =
            psprintf("writing a batch failed: %s: %s", unpack_sql_state(error->sqlerrcode),
                     error->message ? error->message : "error");
        FreeErrorData(error);
    }
    PG_END_TRY();
    MemoryContextSwitchTo(W.batch_context);
    pgstat_report_activity(STATE_IDLE, nullptr);
    pgstat_report_stat(false);

    uint64 written = 0, dead = 0, retried = 0;
    char* last_error = nullptr;
    if (!committed) {
        ereport(LOG, (errmsg("nomnom worker %s/%d: %s", W.stream, W.index, batch_error)));
        last_error = batch_error;
        nak_unsettled(1000);
        retried = n;
    } else {
        for (int i = 0; i < n; i++) {
            Item* item = &W.items[i];
            char err[1024];
            switch (item->outcome) {
            case OUTCOME_WRITTEN:
            case OUTCOME_DUPLICATE:
                natsMsg_Ack(item->msg, nullptr);
                written++;
                break;
            case OUTCOME_DEAD:
                if (publish_dead_letter(item, err, sizeof err)) {
                    natsMsg_Term(item->msg, nullptr);
                } else {
                    // Committed as a dead letter; redelivered later to republish it.
                    natsMsg_NakWithDelay(item->msg, retry_delay_ms(item->delivered), nullptr);
                    last_error = psprintf("could not republish dead letter %s to the DLQ: %s",
                                          item->id_text, err);
                }
                dead++;
                if (last_error == nullptr)
                    last_error =
                        psprintf("message %s dead-lettered: %s", item->id_text, item->error);
                break;
            case OUTCOME_RETRY:
            case OUTCOME_NONE:
                natsMsg_NakWithDelay(item->msg, retry_delay_ms(item->delivered), nullptr);
                retried++;
                last_error = psprintf("message %s failed (attempt %d of %d), retrying: %s",
                                      item->id_text, item->delivered, W.options->max_deliver,
                                      item->error ? item->error : "");
                break;
            }
            item->settled = true;
        }
    }

    TimestampTz now = GetCurrentTimestamp();
    SpinLockAcquire(&W.slot->mutex);
    W.slot->consumed += n;
    W.slot->completed += written;
    W.slot->dead_lettered += dead;
    W.slot->failed += retried;
    if (pending >= 0)
        W.slot->pending = pending;
    W.slot->last_batch_at = now;
    if (last_error != nullptr) {
        strlcpy(W.slot->last_error, last_error, sizeof W.slot->last_error);
        W.slot->last_error_at = now;
    }
    SpinLockRelease(&W.slot->mutex);

    W.items = nullptr;
    W.nitems = 0;
    MemoryContextSwitchTo(old_context);
}

// Fetching on the prefetch thread: at most a second per call, so that a signal is answered
// promptly whatever max_wait_ms.
bool start_prefetch(void) {
    return cpp_prefetch_start(W.prefetch, W.sub, W.options->batch_size,
                              Min(W.options->max_wait_ms, 1000), W.stream, W.options, W.generation,
                              W.trees);
}

// After an empty fetch: the consumer's pending count, at most every 2 seconds. A pull that
// keeps coming back empty while the consumer has undelivered messages has stalled (a lost
// pull request, a consumer re-created behind our back): subscribe again.
void check_idle_consumer(void) {
    TimestampTz now = GetCurrentTimestamp();
    if (W.last_pending_check != 0 && !TimestampDifferenceExceeds(W.last_pending_check, now, 2000))
        return;
    W.last_pending_check = now;
    int64_t undelivered = 0, unacknowledged = 0;
    if (nn_consumer_pending(W.js, W.stream, W.options->consumer.c_str(), &undelivered,
                            &unacknowledged) != NATS_OK)
        return;
    SpinLockAcquire(&W.slot->mutex);
    W.slot->pending = undelivered + unacknowledged;
    SpinLockRelease(&W.slot->mutex);
    W.stalled_checks = undelivered > 0 ? W.stalled_checks + 1 : 0;
    if (W.stalled_checks >= 3) {
        char err[256];
        snprintf(
            err, sizeof err,
            "the pull from consumer \"%s\" stalled with %lld messages pending; subscribing again",
            W.options->consumer.c_str(), static_cast<long long>(undelivered));
        ereport(LOG, (errmsg("nomnom worker %s/%d: %s", W.stream, W.index, err)));
        set_error("running", err);
        drop_subscription();
        W.stalled_checks = 0;
    }
}

} // namespace

void nomnom_worker_main(Datum arg) {
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();

    memset(&W, 0, sizeof W);
    W.slot_index = DatumGetInt32(arg);
    if (nomnom_shared == nullptr || W.slot_index < 0 || W.slot_index >= nomnom_shared->nslots)
        ereport(ERROR, (errmsg("nomnom worker: no shared memory slot %d", W.slot_index)));
    W.slot = &nomnom_shared->slots[W.slot_index];
    LWLockAcquire(nomnom_shared->lock, LW_SHARED);
    strlcpy(W.stream, W.slot->stream, sizeof W.stream);
    W.index = W.slot->worker_index;
    LWLockRelease(nomnom_shared->lock);
    SpinLockAcquire(&W.slot->mutex);
    W.slot->pid = MyProcPid;
    strlcpy(W.slot->state, "starting", sizeof W.slot->state);
    SpinLockRelease(&W.slot->mutex);

    W.events = new (MemoryContextAlloc(TopMemoryContext, sizeof(NatsEvents))) NatsEvents();
    W.batch_context =
        AllocSetContextCreate(TopMemoryContext, "nomnom batch", ALLOCSET_DEFAULT_SIZES);
    if (!cpp_prefetch_create(&W.prefetch, &W.premapped, &W.trees))
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
    before_shmem_exit(worker_exit, (Datum)0);

    Oid database;
    memcpy(&database, MyBgworkerEntry->bgw_extra, sizeof(Oid));
    BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
    pgstat_report_appname(MyBgworkerEntry->bgw_name);

    load_config();
    ereport(LOG, (errmsg("nomnom worker %s/%d started: consumer \"%s\" at %s", W.stream, W.index,
                         W.options->consumer.c_str(), W.options->nats_url.c_str())));

    for (;;) {
        CHECK_FOR_INTERRUPTS();
        if (!PostmasterIsAlive())
            proc_exit(1);
        bool reload = false;
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
            reload = true;
        }
        if (reload || pg_atomic_read_u64(&nomnom_shared->config_generation) != W.generation)
            load_config();
        if (W.reconnect) {
            disconnect_nats(1000);
            W.reconnect = false;
        }

        if (!ensure_connected()) {
            wait_ms(250);
            continue;
        }

        natsMsgList list = {nullptr, 0};
        if (!W.prefetch->running() && !start_prefetch()) {
            set_error("running", "could not start a thread to fetch messages; retrying");
            wait_ms(1000);
            continue;
        }
        natsStatus s = cpp_prefetch_finish(W.prefetch, &list, W.premapped);
        if (list.Count > 0) {
            W.stalled_checks = 0;
            // A change committed while the fetch waited applies to what it brought: a message
            // published after alter_stream returned is routed by the new options.
            W.fetched = &list;
            if (pg_atomic_read_u64(&nomnom_shared->config_generation) != W.generation)
                load_config(); // may exit: worker_exit naks the fetched messages
            if (W.reconnect) {
                nak_fetched();
                natsMsgList_Destroy(&list);
                continue;
            }
            start_prefetch(); // the next batch, while this one is written (or next time round)
            process_batch(&list);
            cpp_remember_trees(W.premapped, W.trees);
            W.fetched = nullptr;
            natsMsgList_Destroy(&list);
            MemoryContextReset(W.batch_context);
            continue;
        }
        natsMsgList_Destroy(&list);
        if (s == NATS_OK || s == NATS_TIMEOUT) {
            check_idle_consumer();
            continue;
        }
        // The fetch failed: lost connection (nats.c reconnects), or the consumer is gone.
        char reason[512];
        char err[768];
        nn_describe(s, reason, sizeof reason);
        if (natsConnection_Status(W.nc) != NATS_CONN_STATUS_CONNECTED) {
            W.disconnected = true;
            snprintf(err, sizeof err, "lost the connection to NATS at %s: %s",
                     W.options->nats_url.c_str(), reason);
            set_error("disconnected", err);
        } else {
            snprintf(err, sizeof err, "fetching from consumer \"%s\" failed: %s; subscribing again",
                     W.options->consumer.c_str(), reason);
            set_error("running", err);
            drop_subscription();
        }
        wait_ms(Min(W.options->max_wait_ms, 500));
    }
}
