// Every nomnom.* GUC.
#include "gucs.hpp"

#include "pg/pg_prelude.hpp"

char* nomnom_database_guc = nullptr;
char* nomnom_nats_url_guc = nullptr;
int nomnom_max_workers_guc = 8;
bool nomnom_copy_insert_guc = true;

void nomnom_define_gucs(void) {
    DefineCustomStringVariable(
        "nomnom.nats_url", "Default NATS server URL of nomnom streams.",
        "A stream's nats_url option overrides it; workers reconnect when it changes.",
        &nomnom_nats_url_guc, "nats://127.0.0.1:4222", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable(
        "nomnom.copy_insert", "Writes new rows the way COPY does, where a table allows it.",
        "Rows that need no ON CONFLICT go in by heap multi-insert, then their index entries; "
        "tables with INSERT triggers, row-level security or partitions take the INSERT.",
        &nomnom_copy_insert_guc, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
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
}
