// Every nomnom.* GUC.
#include "gucs.hpp"

#include "pg/pg_prelude.hpp"

char* nomnom_database_guc = nullptr;
char* nomnom_nats_url_guc = nullptr;
int nomnom_max_workers_guc = 8;
bool nomnom_copy_insert_guc = true;
char* nomnom_test_fault_guc = nullptr;
bool nomnom_pipelined_commit_guc = true;
int nomnom_commits_in_flight_guc = 4;

// Defaults of the streams' NATS credential and TLS options (DESIGN.md, "Connecting to
// NATS"): file names, never secrets. Superuser-only, since they name files the server reads.
static char* nomnom_nats_connect_gucs[8];
static const struct {
    const char* name;
    const char* description;
} nomnom_nats_connect_guc_defs[8] = {
    {"nomnom.nats_user", "Default NATS user of nomnom streams (with nomnom.nats_password_file)."},
    {"nomnom.nats_password_file", "Default file holding the NATS user's password."},
    {"nomnom.nats_token_file", "Default file holding a NATS token."},
    {"nomnom.nats_nkey_seed_file", "Default file holding a NATS NKey seed."},
    {"nomnom.nats_creds_file", "Default NATS .creds file (user JWT and NKey seed)."},
    {"nomnom.nats_tls_ca_file", "Default CA file that signs the NATS servers' certificates."},
    {"nomnom.nats_tls_cert_file", "Default client certificate for mutual TLS with NATS."},
    {"nomnom.nats_tls_key_file", "Default private key of the NATS client certificate."},
};

void nomnom_define_gucs(void) {
    DefineCustomStringVariable(
        "nomnom.nats_url",
        "Default NATS server URL, or comma-separated server list, of nomnom streams.",
        "A stream's nats_url option overrides it; workers reconnect when it changes.",
        &nomnom_nats_url_guc, "nats://127.0.0.1:4222", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable(
        "nomnom.copy_insert", "Writes new rows the way COPY does, where a table allows it.",
        "Rows that need no ON CONFLICT go in by heap multi-insert, then their index entries; "
        "tables with INSERT triggers, row-level security or partitions take the INSERT.",
        &nomnom_copy_insert_guc, true, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable(
        "nomnom.test_fault", "For tests only: where a worker exits as if it had crashed.",
        "exit_before_publish: after a batch commits, before its entity events are published; "
        "exit_after_publish: after JetStream acknowledged them, before the outbox forgets them.",
        &nomnom_test_fault_guc, "", PGC_SUSET, GUC_NOT_IN_SAMPLE, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable(
        "nomnom.pipelined_commit",
        "Stream workers acknowledge a full batch once its commit is durable, not at the commit.",
        "A full batch commits without waiting for its WAL flush; its messages are acknowledged "
        "while the next batch is written, once the commit is flushed (and confirmed by the "
        "synchronous standbys synchronous_commit asks for). Off, each commit waits.",
        &nomnom_pipelined_commit_guc, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "nomnom.commits_in_flight",
        "Pipelined batches a stream worker may hold while their commits become durable.",
        "Each is acknowledged once its commit is flushed (the WAL writer flushes several at "
        "once), without waiting; at this many the next commit waits for the oldest. 1: each "
        "commit waits for the last batch's flush.",
        &nomnom_commits_in_flight_guc, 4, 1, 8, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    for (int i = 0; i < 8; i++)
        DefineCustomStringVariable(
            nomnom_nats_connect_guc_defs[i].name, nomnom_nats_connect_guc_defs[i].description,
            "A stream's option of the same name overrides it.", &nomnom_nats_connect_gucs[i], "",
            PGC_SUSET, 0, nullptr, nullptr, nullptr);
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
