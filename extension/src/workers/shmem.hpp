// Shared state of the launcher and the stream workers. PostgreSQL-style code.
#pragma once

#include "gucs.hpp"
#include "pg/pg_prelude.hpp"

extern "C" {
#include "port/atomics.h"
#include "utils/uuid.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/spin.h"
}

#define NN_STATE_LEN 24
// Batch commit latency histogram: the bucket bounds in seconds (nomnom.stream_status
// commit_latency_buckets, the bridge's nomnom_stream_batch_commit_duration_seconds).
#define NN_COMMIT_BUCKETS 13
#define NN_COMMIT_BUCKET_BOUNDS                                                                 \
    { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }
// The most messages a batch holds (stream option batch_size's maximum).
#define NN_MAX_BATCH 10000
#define NN_ERROR_LEN 512
#define NN_SERVER_LEN 256

// One running (or restarting) worker: stream name + worker index. Owned by the launcher;
// the worker writes its state and counters under `mutex`.
struct NomnomWorkerSlot {
    bool in_use;
    Oid database; // where the stream is defined
    char stream[NAMEDATALEN * 2];
    int worker_index;
    pid_t pid;
    char state[NN_STATE_LEN];
    char last_error[NN_ERROR_LEN];
    TimestampTz last_error_at;
    uint64 consumed;
    uint64 completed;
    uint64 failed;
    uint64 dead_lettered;
    int64 pending; // -1: unknown
    TimestampTz last_batch_at;
    // Batch commit latency (under `mutex`): counts per bucket (not cumulative), sum, count.
    uint64 commit_buckets[NN_COMMIT_BUCKETS];
    uint64 commit_sum_us;
    uint64 commit_count;
    slock_t mutex;

    // The consumer's info, written by the worker's lag thread (workers/lag_monitor.hpp)
    // while the backend may be stuck in a write: atomics, so no lock is shared with it.
    // UINT64_MAX: unknown. rate_1m_milli: messages a second over the last minute, x1000.
    pg_atomic_uint64 num_pending;
    pg_atomic_uint64 num_ack_pending;
    pg_atomic_uint64 num_redelivered;
    pg_atomic_uint64 rate_1m_milli;

    // The worker's NATS connection (workers/nats_state.hpp): its status and the server it
    // is (or was last) connected to, written by the worker and nats.c's callbacks, read
    // without a lock (a seqlock: nats_generation is odd while they are rewritten).
    pg_atomic_uint64 nats_generation;
    int32 nats_status; // NN_NATS_NONE, or a natsConnStatus
    char nats_server[NN_SERVER_LEN];
};

// The message ids of the batch a worker is writing, one area a slot (outside the slot:
// it is large, and read without the slot's spinlock). A seqlock: `generation` is odd while
// the worker rewrites it; readers retry until they see the same even value around a copy.
struct NomnomProcessing {
    pg_atomic_uint64 generation;
    uint32 count; // 0: no batch being written
    pg_uuid_t ids[NN_MAX_BATCH];
};

struct NomnomShared {
    LWLock* lock;                       // slot allocation
    pg_atomic_uint64 config_generation; // bumped after a committed catalog change
    PGPROC* launcher;                   // NULL when no launcher runs
    // Launchers in a row that could not connect to nomnom.database (dropped, or not accepting
    // connections); from the second on, the next one waits for it connected to no database
    // (launcher.cpp).
    int launcher_connect_failures;
    // Launcher processes started so far, counted first thing in each: a launcher's restart
    // watch (launcher.cpp) sees from it that the postmaster started one again.
    pg_atomic_uint32 launcher_starts;
    int nslots;
    NomnomProcessing* processing; // nslots of them, after the slots
    NomnomWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
};

extern NomnomShared* nomnom_shared; // NULL unless nomnom is in shared_preload_libraries

// _PG_init, while preloading: requests the shared memory and registers the launcher.
void nomnom_workers_register(void);

void nomnom_shmem_register(void);

// Sets the state (and, when error != NULL, the last error) of a slot.
void nomnom_slot_set_state(NomnomWorkerSlot* slot, const char* state, const char* error);

// Resets a slot's consumer info and commit histogram (the launcher, for a new worker).
void nomnom_slot_reset_metrics(NomnomWorkerSlot* slot);

// The worker of slot `index` writes a batch of these message ids (n <= NN_MAX_BATCH; more
// are cut); n = 0 when it is done with it. nomnom.message_processing reads them.
void nomnom_slot_set_processing(int index, const pg_uuid_t* ids, int n);

// Adds one batch's commit latency to the slot's histogram.
void nomnom_slot_observe_commit(NomnomWorkerSlot* slot, double seconds);

// Calls fn(copy, slot) for each slot in use by a stream of this database, while holding
// nomnom_shared->lock shared (no slot is given out or taken back meanwhile): `copy` is the
// slot as it was under its spinlock, `slot` the live one, for the atomics the lag thread
// writes without that lock. Nothing when nomnom is not preloaded. PostgreSQL-style: fn may
// palloc and ereport (an error's abort releases the lock).
template <typename Fn> void nomnom_for_each_slot(Fn&& fn) {
    if (nomnom_shared == nullptr)
        return;
    LWLockAcquire(nomnom_shared->lock, LW_SHARED);
    for (int i = 0; i < nomnom_shared->nslots; i++) {
        NomnomWorkerSlot* slot = &nomnom_shared->slots[i];
        NomnomWorkerSlot copy;
        SpinLockAcquire(&slot->mutex);
        memcpy(&copy, slot, sizeof copy);
        SpinLockRelease(&slot->mutex);
        if (copy.in_use && copy.database == MyDatabaseId)
            fn(static_cast<const NomnomWorkerSlot&>(copy), *slot);
    }
    LWLockRelease(nomnom_shared->lock);
}

// Asks for a notification of the launcher and workers when the current transaction commits.
void nomnom_notify_after_commit(void);

extern "C" {
PGDLLEXPORT void nomnom_launcher_main(Datum arg);
PGDLLEXPORT void nomnom_launcher_restart_main(Datum arg);
PGDLLEXPORT void nomnom_worker_main(Datum arg);
}
