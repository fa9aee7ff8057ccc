// Every nomnom.* GUC: defined by _PG_init (nomnom_define_gucs), read through these.
#pragma once

extern char* nomnom_database_guc;  // nomnom.database: where the launcher reads the catalog
extern char* nomnom_nats_url_guc;  // nomnom.nats_url: the default NATS URL of streams
extern int nomnom_max_workers_guc; // nomnom.max_workers: worker slots in shared memory
// nomnom.copy_insert: new rows are written COPY-style (writer/bulk_insert.hpp) where the
// table allows it
extern bool nomnom_copy_insert_guc;
// nomnom.pipelined_commit: a worker's full batch commits without waiting for its WAL flush;
// its acknowledgements wait for it, while the next batch is written (workers/README.md).
extern bool nomnom_pipelined_commit_guc;
// nomnom.commits_in_flight: how many pipelined batches a worker may hold unacknowledged
// while their commits become durable; 1 waits for the last one before each commit.
extern int nomnom_commits_in_flight_guc;

// nomnom.test_fault: for the tests only, a point where a worker exits as if it crashed
// (workers/worker_events.cpp): "" (none), "exit_before_publish", "exit_after_publish"
extern char* nomnom_test_fault_guc;

// Defines the GUCs; nomnom.database and nomnom.max_workers only while preloading.
void nomnom_define_gucs(void);
