// The launcher: reads the stream catalog in nomnom.database and keeps the workers each
// stream asks for running (dynamic background workers, one slot each in shared memory).
// PostgreSQL-style code.
#include "workers/shmem.hpp"

#include "nomnom/backoff.hpp"
#include "pg/background.hpp"
#include "pg/pg_guard.hpp"

#include "nomnom/stream_options.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
}

#include <csignal>

namespace {

// The launcher's bgw_restart_time.
constexpr int kLauncherRestartSeconds = 5;
// How long a restart watch signals the postmaster before it gives up.
constexpr int64 kRestartWatchMs = 120 * 1000;

struct WantedWorker {
    char stream[NAMEDATALEN * 2];
    int index;
    Oid role; // run_as (InvalidOid: none recorded, the stream runs as the bootstrap superuser)
    // Why the stream's row cannot be used ("" when it can): the stream is skipped, its one
    // slot shows state 'skipped' with this as last_error.
    char problem[NN_ERROR_LEN];
};

// What the launcher could not use in the catalog, logged when it changes (not every second).
char* reported_problems = nullptr;

void report_problems(const char* problems) {
    if (reported_problems != nullptr && strcmp(reported_problems, problems) == 0)
        return;
    if (problems[0] != '\0')
        ereport(LOG, (errmsg("nomnom launcher: %s", problems)));
    if (reported_problems != nullptr)
        pfree(reported_problems);
    reported_problems = MemoryContextStrdup(TopMemoryContext, problems);
}

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
        StringInfoData pids;
        initStringInfo(&pids);
        LWLockAcquire(nomnom_shared->lock, LW_EXCLUSIVE);
        for (int i = 0; i < nomnom_shared->nslots; i++) {
            NomnomWorkerSlot* slot = &nomnom_shared->slots[i];
            if (!slot->in_use)
                continue;
            if (slot->pid != 0 && kill(slot->pid, 0) == 0) {
                kill(slot->pid, SIGTERM);
                appendStringInfo(&pids, "%s%d", any ? ", " : "", static_cast<int>(slot->pid));
                any = true;
            } else {
                slot->in_use = false;
                slot->pid = 0;
            }
        }
        LWLockRelease(nomnom_shared->lock);
        if (!any) {
            pfree(pids.data);
            return;
        }
        // A new launcher logs nothing else before its start line: say what it waits for.
        if (attempt == 10)
            ereport(LOG, (errmsg("nomnom launcher: waiting for the workers of an earlier "
                                 "launcher to stop (PIDs %s)",
                                 pids.data)));
        pfree(pids.data);
        nomnom::wait_on_latch(100);
        CHECK_FOR_INTERRUPTS();
    }
}

// Why a stream's row cannot be used ("" when it can), and how many workers it wants: the
// options must be what a worker accepts (the core's parser, as the worker reads them), the
// name must fit a slot, and the run_as role must exist and be able to log in.
void judge_stream(const char* name, const char* options_text, const char* run_as, bool has_role,
                  bool can_login, int* workers, char* problem, size_t problem_len) {
    problem[0] = '\0';
    *workers = 0;
    if (strlen(name) >= sizeof(WantedWorker::stream)) {
        snprintf(problem, problem_len, "stream name longer than %d bytes",
                 static_cast<int>(sizeof(WantedWorker::stream)) - 1);
        return;
    }
    if (run_as != nullptr && !has_role) {
        snprintf(problem, problem_len, "its run_as role \"%s\" does not exist", run_as);
        return;
    }
    if (run_as != nullptr && !can_login) {
        snprintf(problem, problem_len, "its run_as role \"%s\" cannot log in", run_as);
        return;
    }
    nomnom::run_guarded([&] {
        nomnom::StreamOptions options;
        std::string error;
        if (nomnom::parse_stream_options(options_text ? options_text : "{}", options, error))
            *workers = options.workers;
        else
            snprintf(problem, problem_len, "invalid stream options: %s", error.c_str());
    });
}

// Reads the wanted workers (a stream that cannot run: one entry with its problem); false
// when the extension is not installed in this database. The problems go to `problems`
// (palloc'd, "" when none) for the log.
bool read_wanted(WantedWorker** wanted, int* nwanted, char** problems) {
    *wanted = nullptr;
    *nwanted = 0;
    StringInfoData out;
    initStringInfo(&out);
    MemoryContext caller_context = CurrentMemoryContext;
    bool installed = nomnom::in_catalog_transaction("nomnom launcher: reading nomnom.streams", [&] {
        // The catalog itself (not the view), each row judged alone: nothing one row holds
        // can keep the other streams from running.
        int rc = SPI_execute("SELECT c.name, nomnom.effective_stream_options(c.options)::text, "
                             "       c.options->>'run_as', r.oid, r.rolcanlogin "
                             "FROM nomnom.stream_catalog c LEFT JOIN pg_catalog.pg_roles r "
                             "  ON r.rolname = c.options->>'run_as' "
                             "WHERE NOT c.paused ORDER BY c.name",
                             true, 0);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "nomnom launcher: reading nomnom.stream_catalog failed: %s",
                 SPI_result_code_string(rc));
        uint64 nrows = SPI_processed;
        int* counts = static_cast<int*>(palloc0(sizeof(int) * (nrows + 1)));
        char** row_problems = static_cast<char**>(palloc0(sizeof(char*) * (nrows + 1)));
        int total = 0;
        for (uint64 r = 0; r < nrows; r++) {
            HeapTuple tuple = SPI_tuptable->vals[r];
            TupleDesc desc = SPI_tuptable->tupdesc;
            bool no_role, no_login;
            char* name = SPI_getvalue(tuple, desc, 1);
            char* run_as = SPI_getvalue(tuple, desc, 3);
            (void)SPI_getbinval(tuple, desc, 4, &no_role);
            Datum login = SPI_getbinval(tuple, desc, 5, &no_login);
            row_problems[r] = static_cast<char*>(palloc(NN_ERROR_LEN));
            judge_stream(name, SPI_getvalue(tuple, desc, 2), run_as, !no_role,
                         !no_login && DatumGetBool(login), &counts[r], row_problems[r],
                         NN_ERROR_LEN);
            if (row_problems[r][0] != '\0') {
                appendStringInfo(&out, "%sstream \"%s\" skipped: %s", out.len ? "; " : "", name,
                                 row_problems[r]);
                counts[r] = strlen(name) < sizeof(WantedWorker::stream) ? 1 : 0; // its slot
            }
            total += counts[r];
        }
        // Allocated in TopMemoryContext: it outlives the transaction.
        *wanted = static_cast<WantedWorker*>(
            MemoryContextAllocZero(TopMemoryContext, sizeof(WantedWorker) * (total + 1)));
        for (uint64 r = 0; r < nrows; r++) {
            HeapTuple tuple = SPI_tuptable->vals[r];
            TupleDesc desc = SPI_tuptable->tupdesc;
            bool no_role;
            char* name = SPI_getvalue(tuple, desc, 1);
            char* run_as = SPI_getvalue(tuple, desc, 3);
            Datum role = SPI_getbinval(tuple, desc, 4, &no_role);
            for (int k = 0; k < counts[r]; k++) {
                WantedWorker& entry = (*wanted)[*nwanted];
                strlcpy(entry.stream, name, sizeof entry.stream);
                entry.index = k;
                entry.role = run_as != nullptr && !no_role ? DatumGetObjectId(role) : InvalidOid;
                strlcpy(entry.problem, row_problems[r], sizeof entry.problem);
                (*nwanted)++;
            }
        }
    });
    MemoryContextSwitchTo(caller_context);
    *problems = out.data;
    return installed;
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

// Claims slot i for a stream that cannot run (WantedWorker::problem): no worker, state
// 'skipped', the problem as its last_error, so that stream_status says why.
void mark_skipped(int i, const WantedWorker& wanted) {
    NomnomWorkerSlot* slot = &nomnom_shared->slots[i];
    TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(nomnom_shared->lock, LW_EXCLUSIVE);
    SpinLockAcquire(&slot->mutex);
    if (!slot->in_use || strcmp(slot->stream, wanted.stream) != 0 ||
        slot->worker_index != wanted.index) {
        strlcpy(slot->stream, wanted.stream, sizeof slot->stream);
        slot->worker_index = wanted.index;
        slot->consumed = slot->completed = slot->failed = slot->dead_lettered = 0;
        slot->pending = -1;
        slot->last_batch_at = 0;
        slot->last_error[0] = '\0';
    }
    if (strcmp(slot->last_error, wanted.problem) != 0) {
        snprintf(slot->last_error, sizeof slot->last_error, "%s", wanted.problem);
        slot->last_error_at = now;
    }
    strlcpy(slot->state, "skipped", sizeof slot->state);
    slot->in_use = true;
    slot->database = MyDatabaseId;
    slot->pid = 0;
    SpinLockRelease(&slot->mutex);
    LWLockRelease(nomnom_shared->lock);
}

void start_worker(int i, const char* stream, int index, Oid role) {
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
    memcpy(worker.bgw_extra + sizeof(Oid), &role, sizeof(Oid)); // the stream's run_as

    LWLockAcquire(nomnom_shared->lock, LW_EXCLUSIVE);
    // A slot that showed why its stream was skipped starts afresh too.
    bool fresh = !slot->in_use || strcmp(slot->stream, stream) != 0 ||
                 slot->worker_index != index || strcmp(slot->state, "skipped") == 0;
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
    char* problems = nullptr;
    read_wanted(&wanted, &nwanted, &problems);
    report_problems(problems);

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
            if (wanted[match].problem[0] != '\0') {
                // Its row cannot be used (now): no worker runs for it.
                if (running)
                    TerminateBackgroundWorker(launcher_slots[i].handle);
                else
                    mark_skipped(i, wanted[match]);
            } else if (!running) {
                // It stopped by itself (an error it could not carry on from): restart it.
                start_worker(i, wanted[match].stream, wanted[match].index, wanted[match].role);
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
        if (wanted[w].problem[0] != '\0')
            mark_skipped(free_slot, wanted[w]);
        else
            start_worker(free_slot, wanted[w].stream, wanted[w].index, wanted[w].role);
    }
    pfree(assigned);
    if (wanted != nullptr)
        pfree(wanted);
}

// Whether nomnom.database exists and accepts connections. Connected to no database:
// pg_database is a shared catalog.
bool database_usable(const char* name) {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    bool usable = false;
    Oid oid = get_database_oid(name, true);
    if (OidIsValid(oid)) {
        HeapTuple tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(oid));
        if (HeapTupleIsValid(tuple)) {
            usable = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple))->datallowconn;
            ReleaseSysCache(tuple);
        }
    }
    CommitTransactionCommand();
    return usable;
}

// A restart the postmaster can miss. PostgreSQL 15's postmaster computes select()'s timeout
// (DetermineSleepTime) with signals blocked and unblocks them just before select(): a
// SIGCHLD that arrives in between runs the reaper, which marks the launcher crashed, to be
// started again after bgw_restart_time, but select() then sleeps the timeout computed
// before, 60 s when no worker was waiting to restart, unless a connection or another signal
// wakes it. A server with nothing connecting (the launcher waiting for its database has no
// workers) then has no launcher for a minute: e2e 066 lost its launcher so once in a loaded
// run, and e2e 068 holds the postmaster there with gdb. (PostgreSQL 16's postmaster waits
// on a latch and has no such gap.) What that postmaster does not miss: its SIGUSR1 handler
// itself starts the workers that are due (maybe_start_bgworkers) when a process says the
// registered workers changed (PMSIGNAL_BACKGROUND_WORKER_CHANGE). So a launcher that exits
// with a status that has it restarted registers a watch, a worker connected to no database,
// which, once the restart is due and no new launcher has started, signals the postmaster
// every second, and says so in the log.
void start_restart_watch(int code, Datum) {
    if (code == 0 || nomnom_shared == nullptr || !PostmasterIsAlive())
        return;
    BackgroundWorker watch;
    fill_worker(&watch, "nomnom_launcher_restart_main", "nomnom launcher restart",
                BGW_NEVER_RESTART,
                UInt32GetDatum(pg_atomic_read_u32(&nomnom_shared->launcher_starts)), 0);
    watch.bgw_flags = BGWORKER_SHMEM_ACCESS; // connected to no database
    if (!RegisterDynamicBackgroundWorker(&watch, nullptr))
        ereport(LOG, (errmsg("nomnom launcher: no background worker left for the watch on its "
                             "restart"),
                      errhint("Raise max_worker_processes.")));
}

// The last two launchers could not connect to nomnom.database (it was dropped, or does not
// accept connections): instead of failing every 5 seconds, this one connects to no
// database, says so once and waits; once the database is there it exits, so that the
// postmaster starts the launcher again (bgw_restart_time) and it connects. (One failure is
// normal: a database created just after the server started.)
[[noreturn]] void wait_for_database(void) {
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
    pgstat_report_appname("nomnom launcher");
    ereport(LOG, (errmsg("nomnom launcher: database \"%s\" (nomnom.database) does not exist or "
                         "does not accept connections; waiting for it",
                         nomnom_database_guc),
                  errhint("Create the database, or set nomnom.database and restart.")));
    pgstat_report_activity(STATE_IDLE, "waiting for nomnom.database");
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        if (database_usable(nomnom_database_guc)) {
            nomnom_shared->launcher_connect_failures = 0;
            ereport(LOG, (errmsg("nomnom launcher: database \"%s\" is there again; restarting "
                                 "to connect to it",
                                 nomnom_database_guc)));
            proc_exit(1); // restarted after bgw_restart_time (start_restart_watch)
        }
        nomnom::wait_on_latch(1000);
    }
}

} // namespace

void nomnom_launcher_main(Datum arg) {
    pqsignal(SIGTERM, die);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();

    if (nomnom_shared == nullptr)
        ereport(ERROR, (errmsg("nomnom launcher: shared memory is missing"),
                        errhint("Add nomnom to shared_preload_libraries.")));
    pg_atomic_fetch_add_u32(&nomnom_shared->launcher_starts, 1);
    before_shmem_exit(start_restart_watch, (Datum)0); // runs last of the exit callbacks
    ereport(DEBUG1, (errmsg("nomnom launcher: started (failed connections before it: %d), "
                            "connecting to database \"%s\"",
                            nomnom_shared->launcher_connect_failures, nomnom_database_guc)));

    if (nomnom_shared->launcher_connect_failures >= 2)
        wait_for_database();
    // Counted before and cleared once connected: a FATAL while connecting leaves it counted.
    nomnom_shared->launcher_connect_failures++;
    BackgroundWorkerInitializeConnection(nomnom_database_guc, nullptr, 0);
    nomnom_shared->launcher_connect_failures = 0;
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
        // Nothing in the catalog may stop the launcher: an error while reconciling is logged
        // (once while it lasts), the workers that run go on, and the next round tries again.
        PG_TRY();
        { reconcile(); }
        PG_CATCH();
        {
            MemoryContextSwitchTo(loop_context);
            ErrorData* error = CopyErrorData();
            FlushErrorState();
            AbortCurrentTransaction();
            LWLockReleaseAll();
            pgstat_report_activity(STATE_IDLE, nullptr);
            MemoryContextSwitchTo(loop_context);
            report_problems(psprintf("reading the stream catalog failed: %s", error->message));
        }
        PG_END_TRY();
        MemoryContextSwitchTo(old);
        MemoryContextReset(loop_context);

        nomnom::wait_on_latch(1000);
    }
}

// The watch on a launcher's restart (start_restart_watch): `arg` is launcher_starts when the
// launcher exited. Ends once a launcher has started again.
void nomnom_launcher_restart_main(Datum arg) {
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    if (nomnom_shared == nullptr)
        proc_exit(0);
    uint32 starts = DatumGetUInt32(arg);
    // Started once the launcher exited (or about then): this start stands for its exit.
    int64 exited = nomnom::monotonic_ms();
    int64 due = exited + 1000L * (kLauncherRestartSeconds + 1);
    bool signalled = false;
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        int64 now = nomnom::monotonic_ms();
        double after = static_cast<double>(now - exited) / 1000.0;
        if (pg_atomic_read_u32(&nomnom_shared->launcher_starts) != starts) {
            if (signalled)
                ereport(LOG, (errmsg("nomnom launcher restart: the launcher started again "
                                     "%.1f s after it exited",
                                     after)));
            proc_exit(0);
        }
        if (now - exited >= kRestartWatchMs) {
            ereport(LOG, (errmsg("nomnom launcher restart: the launcher has not started again "
                                 "%.1f s after it exited; no longer signalling the postmaster",
                                 after)));
            proc_exit(0);
        }
        if (now >= due) {
            if (!signalled)
                ereport(LOG, (errmsg("nomnom launcher restart: the postmaster has not started "
                                     "the launcher again %.1f s after it exited "
                                     "(bgw_restart_time %d s); signalling it",
                                     after, kLauncherRestartSeconds)));
            signalled = true;
            SendPostmasterSignal(PMSIGNAL_BACKGROUND_WORKER_CHANGE);
        }
        nomnom::wait_on_latch(now >= due ? 1000 : 250);
    }
}

void nomnom_workers_register(void) {
    nomnom_shmem_register();
    BackgroundWorker worker;
    fill_worker(&worker, "nomnom_launcher_main", "nomnom launcher", kLauncherRestartSeconds,
                (Datum)0, 0);
    RegisterBackgroundWorker(&worker);
}
