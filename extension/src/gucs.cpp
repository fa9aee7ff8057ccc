// GUCs, shared memory and the launcher's registration: what _PG_init does for the workers.
// Registers and defines only: no network, no threads in the postmaster.
#include "gucs.hpp"

#include "workers/shmem.hpp"

extern "C" {
#include "postmaster/bgworker.h"
}

char* nomnom_database_guc = nullptr;
char* nomnom_nats_url_guc = nullptr;
int nomnom_max_workers_guc = 8;

void nomnom_worker_init(void) {
    DefineCustomStringVariable(
        "nomnom.nats_url", "Default NATS server URL of nomnom streams.",
        "A stream's nats_url option overrides it; workers reconnect when it changes.",
        &nomnom_nats_url_guc, "nats://127.0.0.1:4222", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    // PostgreSQL allows PGC_POSTMASTER variables only while preloading: a library loaded
    // later by CREATE EXTENSION or a function call must not define them (that is FATAL).
    // Not preloaded, the prefix is not reserved either: nomnom.database and
    // nomnom.max_workers may be set in postgresql.conf for a later restart.
    if (!process_shared_preload_libraries_in_progress)
        return;
    DefineCustomStringVariable(
        "nomnom.database", "Database in which the nomnom launcher reads the stream catalog.",
        "The launcher starts the workers of the streams defined there (nomnom.create_stream).",
        &nomnom_database_guc, "postgres", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "nomnom.max_workers", "Maximum number of nomnom stream workers.",
        "Each worker is a background worker: max_worker_processes must leave room for them and "
        "the launcher.",
        &nomnom_max_workers_guc, 8, 1, 256, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("nomnom");

    nomnom_shmem_register();

    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = 5;
    strlcpy(worker.bgw_library_name, "nomnom", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "nomnom_launcher_main", BGW_MAXLEN);
    strlcpy(worker.bgw_name, "nomnom launcher", BGW_MAXLEN);
    strlcpy(worker.bgw_type, "nomnom launcher", BGW_MAXLEN);
    worker.bgw_main_arg = (Datum)0;
    worker.bgw_notify_pid = 0;
    RegisterBackgroundWorker(&worker);
}
