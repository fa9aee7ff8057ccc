// Shared state of the launcher and the stream workers. PostgreSQL-style code.
#pragma once

#include "gucs.hpp"
#include "pg/pg_prelude.hpp"

extern "C" {
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/spin.h"
}

#define NN_STATE_LEN 24
#define NN_ERROR_LEN 512

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
    slock_t mutex;
};

struct NomnomShared {
    LWLock* lock;                       // slot allocation
    pg_atomic_uint64 config_generation; // bumped after a committed catalog change
    PGPROC* launcher;                   // NULL when no launcher runs
    int nslots;
    NomnomWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
};

extern NomnomShared* nomnom_shared; // NULL unless nomnom is in shared_preload_libraries

// _PG_init, while preloading: requests the shared memory and registers the launcher.
void nomnom_workers_register(void);

void nomnom_shmem_register(void);

// Sets the state (and, when error != NULL, the last error) of a slot.
void nomnom_slot_set_state(NomnomWorkerSlot* slot, const char* state, const char* error);

// Asks for a notification of the launcher and workers when the current transaction commits.
void nomnom_notify_after_commit(void);

extern "C" {
PGDLLEXPORT void nomnom_launcher_main(Datum arg);
PGDLLEXPORT void nomnom_worker_main(Datum arg);
}
