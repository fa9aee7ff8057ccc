// The launcher: reads the stream catalog in nomnom.database and keeps the workers each
// stream asks for running (dynamic background workers, one slot each in shared memory).
// PostgreSQL-style code.
#include "workers/shmem.hpp"

#include "nomnom/backoff.hpp"
#include "pg/background.hpp"

extern "C" {
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
}

#include <csignal>

namespace {

struct WantedWorker {
    char stream[NAMEDATALEN * 2];
    int index;
};

// Per-slot launcher-local state: the handle of the worker running it and restart pacing.
struct LauncherSlot {
    BackgroundWorkerHandle* handle;
    int64 last_start; // monotonic_ms() of the last start (0: none to wait for)
    int failures;
};

LauncherSlot* launcher_slots = nullptr;

// A background worker of this library, started once the database is consistent.
void fill_worker(BackgroundWorker* worker, const char* function, const char* type,
                 int restart_time, Datum arg, pid_t notify_pid) {
    memset(worker, 0, sizeof *worker);
    worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker->bgw_restart_time = restart_time;
    strlcpy(worker->bgw_library_name, "nomnom", BGW_MAXLEN);
    strlcpy(worker->bgw_function_name, function, BGW_MAXLEN);
    strlcpy(worker->bgw_name, type, BGW_MAXLEN);
    strlcpy(worker->bgw_type, type, BGW_MAXLEN);
    worker->bgw_main_arg = arg;
    worker->bgw_notify_pid = notify_pid;
}

void launcher_detach(int, Datum) {
    if (nomnom_shared != nullptr && nomnom_shared->launcher == MyProc)
        nomnom_shared->launcher = nullptr;
}

// Workers left from an earlier launcher (which exited) have no handle here: stop them, so
// that every running worker is one this launcher started.
void stop_orphans(void) {
    for (int attempt = 0; attempt < 100; attempt++) {
        bool any = false;
        LWLockAcquire(nomnom_shared->lock, LW_EXCLUSIVE);
        for (int i = 0; i < nomnom_shared->nslots; i++) {
            NomnomWorkerSlot* slot = &nomnom_shared->slots[i];
            if (!slot->in_use)
                continue;
            if (slot->pid != 0 && kill(slot->pid, 0) == 0) {
                kill(slot->pid, SIGTERM);
                any = true;
            } else {
                slot->in_use = false;
                slot->pid = 0;
            }
        }
        LWLockRelease(nomnom_shared->lock);
        if (!any)
            return;
        nomnom::wait_on_latch(100);
        CHECK_FOR_INTERRUPTS();
    }
}

// Reads the wanted workers; false when the extension is not installed in this database.
bool read_wanted(WantedWorker** wanted, int* nwanted) {
    *wanted = nullptr;
    *nwanted = 0;
    return nomnom::in_catalog_transaction("nomnom launcher: reading nomnom.streams", [&] {
        int rc = SPI_execute("SELECT name, greatest(0, (options->>'workers')::int) "
                             "FROM nomnom.streams WHERE NOT paused ORDER BY name",
                             true, 0);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "nomnom launcher: reading nomnom.streams failed: %s",
                 SPI_result_code_string(rc));
        int total = 0;
        for (uint64 r = 0; r < SPI_processed; r++) {
            bool isnull;
            Datum d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);
            total += isnull ? 0 : DatumGetInt32(d);
        }
        // Allocated in TopMemoryContext: it outlives the transaction.
        *wanted = static_cast<WantedWorker*>(
            MemoryContextAllocZero(TopMemoryContext, sizeof(WantedWorker) * (total + 1)));
        for (uint64 r = 0; r < SPI_processed; r++) {
            bool isnull;
            char* name = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
            Datum d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull);
            int n = isnull ? 0 : DatumGetInt32(d);
            for (int k = 0; k < n; k++) {
                strlcpy((*wanted)[*nwanted].stream, name, sizeof(WantedWorker::stream));
                (*wanted)[*nwanted].index = k;
                (*nwanted)++;
            }
        }
    });
}

bool is_running(int i) {
    if (launcher_slots[i].handle == nullptr)
        return false;
    pid_t pid;
    BgwHandleStatus status = GetBackgroundWorkerPid(launcher_slots[i].handle, &pid);
    if (status == BGWH_STOPPED || status == BGWH_POSTMASTER_DIED) {
        pfree(launcher_slots[i].handle);
        launcher_slots[i].handle = nullptr;
        launcher_slots[i].failures++; // once per exit: paces the restarts
        return false;
    }
    return true;
}

void start_worker(int i, const char* stream, int index) {
    NomnomWorkerSlot* slot = &nomnom_shared->slots[i];
    int64 now = nomnom::monotonic_ms();
    // A worker that keeps failing restarts at most every few seconds: never a tight loop.
    int delay_ms =
        launcher_slots[i].failures == 0 ? 0 : Min(1000 * launcher_slots[i].failures, 10000);
    if (launcher_slots[i].last_start != 0 && now - launcher_slots[i].last_start < delay_ms)
        return;

    BackgroundWorker worker;
    fill_worker(&worker, "nomnom_worker_main", "nomnom worker", BGW_NEVER_RESTART,
                Int32GetDatum(i), MyProcPid);
    snprintf(worker.bgw_name, BGW_MAXLEN, "nomnom worker %s/%d", stream, index);
    memcpy(worker.bgw_extra, &MyDatabaseId, sizeof(Oid));

    LWLockAcquire(nomnom_shared->lock, LW_EXCLUSIVE);
    bool fresh = !slot->in_use || strcmp(slot->stream, stream) != 0 || slot->worker_index != index;
    if (fresh) {
        SpinLockAcquire(&slot->mutex);
        strlcpy(slot->stream, stream, sizeof slot->stream);
        slot->worker_index = index;
        slot->consumed = slot->completed = slot->failed = slot->dead_lettered = 0;
        slot->pending = -1;
        slot->last_batch_at = 0;
        slot->last_error[0] = '\0';
        slot->last_error_at = 0;
        SpinLockRelease(&slot->mutex);
        nomnom_slot_reset_metrics(slot);
    }
    nomnom_slot_set_processing(i, nullptr, 0); // what a dead worker was writing, it is not
    slot->in_use = true;
    slot->database = MyDatabaseId;
    slot->pid = 0;
    strlcpy(slot->state, "starting", sizeof slot->state);
    LWLockRelease(nomnom_shared->lock);

    launcher_slots[i].last_start = now;
    // The handle outlives this iteration's memory context.
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    bool registered = RegisterDynamicBackgroundWorker(&worker, &launcher_slots[i].handle);
    MemoryContextSwitchTo(old);
    if (!registered) {
        launcher_slots[i].handle = nullptr;
        launcher_slots[i].failures++;
        nomnom_slot_set_state(slot, "starting",
                              "could not start a background worker: raise max_worker_processes");
        ereport(WARNING, (errmsg("nomnom launcher: could not start worker %s/%d", stream, index),
                          errhint("Raise max_worker_processes.")));
    }
}

void reconcile(void) {
    WantedWorker* wanted = nullptr;
    int nwanted = 0;
    read_wanted(&wanted, &nwanted);

    bool* assigned = static_cast<bool*>(palloc0(sizeof(bool) * (nwanted + 1)));
    // Keep the slots that are still wanted, stop the others.
    for (int i = 0; i < nomnom_shared->nslots; i++) {
        NomnomWorkerSlot* slot = &nomnom_shared->slots[i];
        bool running = is_running(i);
        if (!slot->in_use && !running)
            continue;
        int match = -1;
        for (int w = 0; w < nwanted; w++) {
            if (!assigned[w] && slot->in_use && strcmp(wanted[w].stream, slot->stream) == 0 &&
                wanted[w].index == slot->worker_index) {
                match = w;
                break;
            }
        }
        if (match >= 0) {
            assigned[match] = true;
            if (!running) {
                // It stopped by itself (an error it could not carry on from): restart it.
                start_worker(i, wanted[match].stream, wanted[match].index);
            } else if (slot->pid != 0 && strcmp(slot->state, "running") == 0 &&
                       nomnom::monotonic_ms() - launcher_slots[i].last_start >= 10000) {
                launcher_slots[i].failures = 0; // ran fine for a while: restart at once next time
            }
        } else if (running) {
            TerminateBackgroundWorker(launcher_slots[i].handle);
        } else {
            LWLockAcquire(nomnom_shared->lock, LW_EXCLUSIVE);
            slot->in_use = false;
            slot->pid = 0;
            LWLockRelease(nomnom_shared->lock);
            launcher_slots[i].last_start = 0;
            launcher_slots[i].failures = 0;
        }
    }
    // Start the wanted workers that have no slot yet.
    for (int w = 0; w < nwanted; w++) {
        if (assigned[w])
            continue;
        int free_slot = -1;
        for (int i = 0; i < nomnom_shared->nslots; i++) {
            if (!nomnom_shared->slots[i].in_use && launcher_slots[i].handle == nullptr) {
                free_slot = i;
                break;
            }
        }
        if (free_slot < 0) {
            static int warned_for = -1; // warn once for the same shortage, not every second
            if (warned_for == nwanted)
                break;
            warned_for = nwanted;
            ereport(WARNING,
                    (errmsg("nomnom launcher: no free worker slot for stream \"%s\" worker %d",
                            wanted[w].stream, wanted[w].index),
                     errhint("Raise nomnom.max_workers (now %d).", nomnom_max_workers_guc)));
            break;
        }
        launcher_slots[free_slot].failures = 0;
        launcher_slots[free_slot].last_start = 0;
        start_worker(free_slot, wanted[w].stream, wanted[w].index);
    }
    pfree(assigned);
    if (wanted != nullptr)
        pfree(wanted);
}

} // namespace

void nomnom_launcher_main(Datum arg) {
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();

    if (nomnom_shared == nullptr)
        ereport(ERROR, (errmsg("nomnom launcher: shared memory is missing"),
                        errhint("Add nomnom to shared_preload_libraries.")));

    BackgroundWorkerInitializeConnection(nomnom_database_guc, nullptr, 0);
    pgstat_report_appname("nomnom launcher");

    before_shmem_exit(launcher_detach, (Datum)0);
    launcher_slots = static_cast<LauncherSlot*>(
        MemoryContextAllocZero(TopMemoryContext, sizeof(LauncherSlot) * nomnom_shared->nslots));
    nomnom_shared->launcher = MyProc;
    stop_orphans();

    ereport(LOG, (errmsg("nomnom launcher started in database \"%s\"", nomnom_database_guc)));
    MemoryContext loop_context =
        AllocSetContextCreate(TopMemoryContext, "nomnom launcher loop", ALLOCSET_DEFAULT_SIZES);
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        MemoryContext old = MemoryContextSwitchTo(loop_context);
        reconcile();
        MemoryContextSwitchTo(old);
        MemoryContextReset(loop_context);

        nomnom::wait_on_latch(1000);
    }
}

void nomnom_workers_register(void) {
    nomnom_shmem_register();
    BackgroundWorker worker;
    fill_worker(&worker, "nomnom_launcher_main", "nomnom launcher", 5, (Datum)0, 0);
    RegisterBackgroundWorker(&worker);
}
