// Entity events (DESIGN.md, "Entity events"): a batch of a stream with publish_entities
// writes every row it stores into nomnom.entity_outbox in its own transaction
// (writer/message_writer.cpp); once it has committed, this step publishes the stream's
// outbox to entities.<Entity> in seq order and deletes what JetStream acknowledged.
//
// A worker that dies between the commit and the publish leaves the events in the outbox: the
// next worker of the stream publishes them when it starts (events_pending is true at start).
// One that dies after JetStream stored them but before the delete publishes them again: they
// keep their Nats-Msg-Id, and JetStream drops the repeat within the duplicate window.
// The workers of one stream take turns (a transaction-level advisory lock), so the outbox
// goes out in order.
#include "workers/worker.hpp"

#include <cstring>

#include "gucs.hpp"
#include "nomnom/backoff.hpp"
#include "nomnom/stream_options.hpp"
#include "pg/role_scope.hpp"
#include "pg/spi_session.hpp"

extern "C" {
#include "pgstat.h"
#include "storage/ipc.h"
#include "utils/array.h"
}

namespace nomnom::worker {
namespace {

constexpr int kChunk = 2000;        // events a transaction
constexpr int kChunksPerStep = 10;  // then the loop goes on (signals, the next batch)
constexpr int kAckTimeoutMs = 5000; // JetStream's ack of each event
constexpr int kRetryMs = 1000;      // after a failed publish
constexpr int kBusyRetryMs = 200;   // another worker of the stream is publishing

bool test_fault(const char* name) {
    return nomnom_test_fault_guc != nullptr && strcmp(nomnom_test_fault_guc, name) == 0;
}

[[noreturn]] void exit_at_fault(Worker& w, const char* name, uint64 count) {
    ereport(LOG, (errmsg("nomnom worker %s/%d: nomnom.test_fault %s: exiting with %lu entity "
                         "events in the outbox",
                         w.stream, w.index, name, static_cast<unsigned long>(count))));
    proc_exit(1);
}

natsMsg* event_message(const char* subject, const char* msg_id, const char* message_id,
                       const char* entity, const char* payload) {
    natsMsg* msg = nullptr;
    natsStatus s =
        natsMsg_Create(&msg, subject, nullptr, payload, static_cast<int>(strlen(payload)));
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Nats-Msg-Id", msg_id);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Nomnom-Message-Id", message_id);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Nomnom-Entity", entity);
    if (s != NATS_OK) {
        natsMsg_Destroy(msg);
        return nullptr;
    }
    return msg;
}

// One transaction: up to kChunk events of the stream, published, the acknowledged ones
// deleted. Returns how many were read (-1: another worker holds the turn); `error` is set
// when some could not be published.
int publish_chunk(Worker& w, char** error) {
    int read = 0;
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    pgstat_report_activity(STATE_RUNNING, "nomnom worker: publishing entity events");
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "nomnom worker: SPI_connect failed");
    PushActiveSnapshot(GetTransactionSnapshot());
    // The outbox is nomnom's bookkeeping, not the run_as role's (an error leaves the switch
    // to the abort).
    SavedUser saved = become_owner();
    Oid types[1] = {TEXTOID};
    Datum values[1] = {CStringGetTextDatum(w.stream)};
    spi_execute_expect("SELECT pg_try_advisory_xact_lock(hashtext('nomnom.entity_outbox'), "
                       "hashtext($1))",
                       1, types, values, nullptr, false, 1, SPI_OK_SELECT,
                       "nomnom worker: taking the outbox's turn");
    bool is_null;
    bool turn =
        DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &is_null));
    if (turn) {
        spi_execute_expect(
            "SELECT seq, subject, msg_id, message_id::text, entity, payload::text "
            "FROM nomnom.entity_outbox WHERE stream = $1 ORDER BY seq LIMIT 2000", // kChunk
            1, types, values, nullptr, true, 0, SPI_OK_SELECT,
            "nomnom worker: reading the entity outbox");
        SPITupleTable* table = SPI_tuptable;
        read = static_cast<int>(SPI_processed);
        if (read > 0) {
            if (test_fault("exit_before_publish"))
                exit_at_fault(w, "exit_before_publish", read);
            natsMsg** msgs = static_cast<natsMsg**>(palloc0(sizeof(natsMsg*) * read));
            char* stored = static_cast<char*>(palloc0(read));
            Datum* seqs = static_cast<Datum*>(palloc(sizeof(Datum) * read));
            bool built = true;
            for (int i = 0; i < read; ++i) {
                HeapTuple row = table->vals[i];
                TupleDesc desc = table->tupdesc;
                seqs[i] = SPI_getbinval(row, desc, 1, &is_null);
                msgs[i] = event_message(SPI_getvalue(row, desc, 2), SPI_getvalue(row, desc, 3),
                                        SPI_getvalue(row, desc, 4), SPI_getvalue(row, desc, 5),
                                        SPI_getvalue(row, desc, 6));
                built = built && msgs[i] != nullptr;
            }
            char err[1024] = "";
            natsStatus s = NATS_NO_MEMORY;
            if (built) {
                s = nn_publish_many(w.event_publisher, msgs, read, kAckTimeoutMs, stored, err,
                                    sizeof err);
            } else {
                for (int i = 0; i < read; ++i)
                    natsMsg_Destroy(msgs[i]);
                snprintf(err, sizeof err, "out of memory building entity events");
            }
            if (s != NATS_OK)
                *error = MemoryContextStrdup(w.batch_context, err);
            if (test_fault("exit_after_publish"))
                exit_at_fault(w, "exit_after_publish", read);
            // Only what JetStream acknowledged; by seq, as a concurrent batch may commit
            // events with a lower seq after this read.
            int acked = 0;
            for (int i = 0; i < read; ++i)
                if (stored[i])
                    seqs[acked++] = seqs[i];
            if (acked > 0) {
                Oid delete_types[1] = {INT8ARRAYOID};
                Datum delete_values[1] = {PointerGetDatum(
                    construct_array(seqs, acked, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, 'd'))};
                spi_execute_expect("DELETE FROM nomnom.entity_outbox WHERE seq = ANY($1)", 1,
                                   delete_types, delete_values, nullptr, false, 0, SPI_OK_DELETE,
                                   "nomnom worker: deleting published entity events");
            }
        }
    }
    restore(saved);
    PopActiveSnapshot();
    SPI_finish();
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, nullptr);
    return turn ? read : -1;
}

} // namespace

// Step: after a batch of a stream with publish_entities has committed, and whenever the
// outbox may hold events (at start, after a failed publish), the stream's outbox is published
// in order. A failure keeps the events for a retry a second later; the batch is never held
// back by it (its messages are acknowledged already).
bool publish_events(Worker& w) {
    if (w.round.committed && w.options->publish_entities)
        w.events_pending = true;
    if (!w.events_pending || w.nc == nullptr)
        return true;
    int64 now = nomnom::monotonic_ms();
    if (now < w.next_events_ms)
        return true;
    MemoryContext old_context = MemoryContextSwitchTo(w.batch_context);
    if (w.event_publisher == nullptr) {
        char err[512];
        if (nn_publisher_create(w.nc, &w.event_publisher, err, sizeof err) != NATS_OK) {
            w.next_events_ms = now + kRetryMs;
            set_error(w, "running", err);
            MemoryContextSwitchTo(old_context);
            return true;
        }
    }
    for (int chunk = 0; chunk < kChunksPerStep; ++chunk) {
        char* error = nullptr;
        int read = 0;
        PG_TRY();
        { read = publish_chunk(w, &error); }
        PG_CATCH();
        {
            MemoryContextSwitchTo(w.batch_context);
            ErrorData* data = CopyErrorData();
            FlushErrorState();
            AbortCurrentTransaction();
            error = psprintf("publishing entity events failed: %s", data->message);
            FreeErrorData(data);
            read = 0;
        }
        PG_END_TRY();
        MemoryContextSwitchTo(w.batch_context);
        if (error != nullptr) {
            ereport(LOG, (errmsg("nomnom worker %s/%d: %s", w.stream, w.index, error)));
            set_error(w, "running", error);
            w.next_events_ms = nomnom::monotonic_ms() + kRetryMs;
            break;
        }
        if (read < 0) { // another worker's turn: it may not see what this one just committed
            w.next_events_ms = nomnom::monotonic_ms() + kBusyRetryMs;
            break;
        }
        if (read < kChunk) {
            w.events_pending = false;
            break;
        }
    }
    pgstat_report_stat(false);
    MemoryContextSwitchTo(old_context);
    return true;
}

} // namespace nomnom::worker
