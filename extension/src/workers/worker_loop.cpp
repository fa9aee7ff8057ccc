// A stream worker's main function and its loop: the steps of worker.hpp, in order.
#include "workers/worker.hpp"

#include "streams/options.hpp"

#include "nomnom/stream_options.hpp"
#include "pg/background.hpp"
#include "pg/pg_guard.hpp"
#include "workers/nats_state.hpp"

extern "C" {
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
}

#include <new>

namespace nomnom::worker {
namespace {

// Step: SIGTERM (CHECK_FOR_INTERRUPTS exits) and the postmaster's death.
bool answer_interrupts(Worker&) {
    CHECK_FOR_INTERRUPTS();
    if (!PostmasterIsAlive())
        proc_exit(1);
    return true;
}

// Every round runs these steps in order, until one returns false (worker.hpp). A new step
// goes where it belongs in this list, and into the file of its concern.
constexpr Step kRound[] = {
    answer_interrupts,    // SIGTERM, postmaster death
    follow_configuration, // SIGHUP or a committed catalog change: the stream's row again
    connect_to_nats,      // connection, subscription, the flags of nats.c's threads
    publish_events,       // entity events left in the outbox (at start, after a failure)
    fetch_batch,          // what the prefetch thread fetched and mapped (the idle wait)
    acknowledge_if_idle,  // nothing fetched: the last batch's pipelined acks now
    handle_fetch_failure, // the fetch failed: the connection or the consumer is gone
    check_idle_consumer,  // nothing fetched: has the pull stalled?
    apply_late_changes,   // a change committed while the fetch waited applies to the batch
    prefetch_next,        // the next batch, fetched and mapped while this one is written
    write_batch,          // one transaction: rows, dead letters, failure statuses; commit
    acknowledge_batch,    // ack, term or nak each message, once committed and durable
    publish_events,       // the committed batch's entity events, in order
    report_batch,         // the slot's counters
    remember_trees,       // the entity trees the next prefetch maps with
};

// After the steps: the fetched messages freed, the batch's memory reset, then the wait a
// step asked for.
void end_round(Worker& w) {
    long wait_ms = w.round.wait_ms;
    natsMsgList_Destroy(&w.round.fetched);
    memset(&w.round, 0, sizeof w.round);
    MemoryContextReset(w.batch_context);
    if (wait_ms > 0)
        wait_on_latch(wait_ms);
}

// On exit (also by ERROR or SIGTERM): what the worker holds is nak'd, the connection
// closed, the slot marked stopped.
void worker_exit(int, Datum arg) {
    Worker& w = *reinterpret_cast<Worker*>(DatumGetPointer(arg));
    release_durable_acks(w, true);
    nak_fetched(w);
    nak_unsettled(w, 0);
    disconnect_nats(w, 1000);
    if (w.slot != nullptr) {
        nomnom_slot_set_processing(w.slot_index, nullptr, 0);
        SpinLockAcquire(&w.slot->mutex);
        w.slot->pid = 0;
        strlcpy(w.slot->state, "stopped", sizeof w.slot->state);
        SpinLockRelease(&w.slot->mutex);
    }
}

// While the worker connects: a FATAL there (the database not accepting connections, the
// role or the database gone since the launcher looked) ends the process before any code of ours
// runs again, and the launcher restarts it with its backoff; the slot's last_error says
// why, from this log hook.
NomnomWorkerSlot* connecting_slot = nullptr;
emit_log_hook_type prev_emit_log_hook = nullptr;

void note_connect_failure(ErrorData* edata) {
    if (connecting_slot != nullptr && edata->elevel >= ERROR) {
        char text[NN_ERROR_LEN];
        snprintf(text, sizeof text, "could not connect to the database: %s",
                 edata->message != nullptr ? edata->message : "unknown error");
        nomnom_slot_set_state(connecting_slot, "starting", text);
    }
    if (prev_emit_log_hook != nullptr)
        prev_emit_log_hook(edata);
}

// The worker's state, its slot claimed; the C++ objects it holds made.
Worker* start_worker(int slot_index) {
    auto* w = static_cast<Worker*>(MemoryContextAllocZero(TopMemoryContext, sizeof(Worker)));
    w->slot_index = slot_index;
    if (nomnom_shared == nullptr || slot_index < 0 || slot_index >= nomnom_shared->nslots)
        ereport(ERROR, (errmsg("nomnom worker: no shared memory slot %d", slot_index)));
    w->slot = &nomnom_shared->slots[slot_index];
    LWLockAcquire(nomnom_shared->lock, LW_SHARED);
    strlcpy(w->stream, w->slot->stream, sizeof w->stream);
    w->index = w->slot->worker_index;
    LWLockRelease(nomnom_shared->lock);
    SpinLockAcquire(&w->slot->mutex);
    w->slot->pid = MyProcPid;
    strlcpy(w->slot->state, "starting", sizeof w->slot->state);
    SpinLockRelease(&w->slot->mutex);

    w->events = new (MemoryContextAlloc(TopMemoryContext, sizeof(NatsEvents))) NatsEvents();
    nats_state_attach(w->events, w->slot); // the slot's NATS server and status
    w->events_pending = true;              // whatever a crash left in the outbox, published first
    w->batch_context =
        AllocSetContextCreate(TopMemoryContext, "nomnom batch", ALLOCSET_DEFAULT_SIZES);
    run_guarded([&] {
        w->prefetch = new nomnom::Prefetcher();
        w->premapped = new std::vector<nomnom::PremappedMessage>();
        w->trees = new nomnom::TreeSnapshot();
    });
    return w;
}

} // namespace
} // namespace nomnom::worker

void nomnom_worker_main(Datum arg) {
    using namespace nomnom::worker;
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();

    Worker& w = *start_worker(DatumGetInt32(arg));
    before_shmem_exit(worker_exit, PointerGetDatum(&w));

    // The launcher passes the database and the stream's run_as role (InvalidOid: none, the
    // bootstrap superuser, as before run_as existed). Connected as that role, the rows are
    // written with its grants, row-level security and triggers.
    Oid database, role;
    memcpy(&database, MyBgworkerEntry->bgw_extra, sizeof(Oid));
    memcpy(&role, MyBgworkerEntry->bgw_extra + sizeof(Oid), sizeof(Oid));
    connecting_slot = w.slot;
    prev_emit_log_hook = emit_log_hook;
    emit_log_hook = note_connect_failure;
    BackgroundWorkerInitializeConnectionByOid(database, role, 0);
    emit_log_hook = prev_emit_log_hook;
    connecting_slot = nullptr;
    if (OidIsValid(role)) { // its name, to compare with the options' run_as
        StartTransactionCommand();
        strlcpy(w.run_as, GetUserNameFromId(role, false), sizeof w.run_as);
        CommitTransactionCommand();
    }
    pgstat_report_appname(MyBgworkerEntry->bgw_name);

    load_config(w);
    ereport(LOG, (errmsg("nomnom worker %s/%d started: consumer \"%s\" at %s", w.stream, w.index,
                         w.options->consumer.c_str(), nomnom::redacted_nats_url(*w.options))));
    for (;;) {
        for (Step step : kRound)
            if (!step(w))
                break;
        end_round(w);
    }
}
