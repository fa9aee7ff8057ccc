// Shared memory of the launcher and the workers; post-commit notification of catalog changes.
#include "workers/shmem.hpp"

#include "workers/nats_state.hpp"

extern "C" {
#include "storage/ipc.h"
#include "storage/shmem.h"
}

NomnomShared* nomnom_shared = nullptr;

static shmem_request_hook_type prev_shmem_request_hook = nullptr;
static shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

static Size nomnom_slots_size(void) {
    return MAXALIGN(add_size(offsetof(NomnomShared, slots),
                             mul_size(sizeof(NomnomWorkerSlot), nomnom_max_workers_guc)));
}

static Size nomnom_shmem_size(void) {
    return add_size(nomnom_slots_size(),
                    mul_size(sizeof(NomnomProcessing), nomnom_max_workers_guc));
}

static void nomnom_shmem_request(void) {
    if (prev_shmem_request_hook)
        prev_shmem_request_hook();
    RequestAddinShmemSpace(nomnom_shmem_size());
    RequestNamedLWLockTranche("nomnom", 1);
}

static void nomnom_shmem_startup(void) {
    if (prev_shmem_startup_hook)
        prev_shmem_startup_hook();
    bool found = false;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    nomnom_shared =
        static_cast<NomnomShared*>(ShmemInitStruct("nomnom", nomnom_shmem_size(), &found));
    if (!found) {
        memset(nomnom_shared, 0, nomnom_shmem_size());
        nomnom_shared->lock = &(GetNamedLWLockTranche("nomnom"))->lock;
        pg_atomic_init_u64(&nomnom_shared->config_generation, 1);
        pg_atomic_init_u32(&nomnom_shared->launcher_starts, 0);
        nomnom_shared->launcher = nullptr;
        nomnom_shared->nslots = nomnom_max_workers_guc;
        nomnom_shared->processing = reinterpret_cast<NomnomProcessing*>(
            reinterpret_cast<char*>(nomnom_shared) + nomnom_slots_size());
        for (int i = 0; i < nomnom_shared->nslots; i++) {
            SpinLockInit(&nomnom_shared->slots[i].mutex);
            NomnomWorkerSlot* slot = &nomnom_shared->slots[i];
            pg_atomic_init_u64(&slot->num_pending, PG_UINT64_MAX);
            pg_atomic_init_u64(&slot->num_ack_pending, PG_UINT64_MAX);
            pg_atomic_init_u64(&slot->num_redelivered, PG_UINT64_MAX);
            pg_atomic_init_u64(&slot->rate_1m_milli, PG_UINT64_MAX);
            pg_atomic_init_u64(&nomnom_shared->processing[i].generation, 0);
            pg_atomic_init_u64(&slot->nats_generation, 0);
            slot->nats_status = -1; // NN_NATS_NONE
        }
    }
    LWLockRelease(AddinShmemInitLock);
}

void nomnom_shmem_register(void) {
    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = nomnom_shmem_request;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = nomnom_shmem_startup;
}

void nomnom_slot_set_state(NomnomWorkerSlot* slot, const char* state, const char* error) {
    if (slot == nullptr)
        return;
    TimestampTz now = GetCurrentTimestamp();
    SpinLockAcquire(&slot->mutex);
    strlcpy(slot->state, state, sizeof slot->state);
    if (error != nullptr) {
        strlcpy(slot->last_error, error, sizeof slot->last_error);
        slot->last_error_at = now;
    }
    SpinLockRelease(&slot->mutex);
}

// Catalog changes reach the launcher and the workers only once committed.
static bool notify_pending = false;
static bool xact_callback_registered = false;

static void nomnom_xact_callback(XactEvent event, void*) {
    if (!notify_pending)
        return;
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) {
        notify_pending = false;
        if (nomnom_shared != nullptr) {
            pg_atomic_fetch_add_u64(&nomnom_shared->config_generation, 1);
            PGPROC* launcher = nomnom_shared->launcher;
            if (launcher != nullptr)
                SetLatch(&launcher->procLatch);
        }
    } else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
        notify_pending = false;
    }
}

void nomnom_notify_after_commit(void) {
    if (!xact_callback_registered) {
        RegisterXactCallback(nomnom_xact_callback, nullptr);
        xact_callback_registered = true;
    }
    notify_pending = true;
}

void nomnom_slot_reset_metrics(NomnomWorkerSlot* slot) {
    pg_atomic_write_u64(&slot->num_pending, PG_UINT64_MAX);
    pg_atomic_write_u64(&slot->num_ack_pending, PG_UINT64_MAX);
    pg_atomic_write_u64(&slot->num_redelivered, PG_UINT64_MAX);
    pg_atomic_write_u64(&slot->rate_1m_milli, PG_UINT64_MAX);
    nomnom_slot_set_nats(slot, NN_NATS_NONE, "");
    SpinLockAcquire(&slot->mutex);
    memset(slot->commit_buckets, 0, sizeof slot->commit_buckets);
    slot->commit_sum_us = 0;
    slot->commit_count = 0;
    SpinLockRelease(&slot->mutex);
}

void nomnom_slot_set_processing(int index, const pg_uuid_t* ids, int n) {
    if (nomnom_shared == nullptr || index < 0 || index >= nomnom_shared->nslots)
        return;
    NomnomProcessing* p = &nomnom_shared->processing[index];
    if (n > NN_MAX_BATCH)
        n = NN_MAX_BATCH;
    if (n <= 0 && p->count == 0)
        return;
    pg_atomic_fetch_add_u64(&p->generation, 1); // odd: being rewritten (a full barrier)
    p->count = static_cast<uint32>(n > 0 ? n : 0);
    if (n > 0)
        memcpy(p->ids, ids, sizeof(pg_uuid_t) * static_cast<size_t>(n));
    pg_write_barrier();
    pg_atomic_fetch_add_u64(&p->generation, 1); // even again
}

void nomnom_slot_observe_commit(NomnomWorkerSlot* slot, double seconds) {
    static const double bounds[NN_COMMIT_BUCKETS] = NN_COMMIT_BUCKET_BOUNDS;
    if (slot == nullptr)
        return;
    int b = 0;
    while (b < NN_COMMIT_BUCKETS && seconds > bounds[b])
        b++;
    SpinLockAcquire(&slot->mutex);
    if (b < NN_COMMIT_BUCKETS)
        slot->commit_buckets[b]++;
    slot->commit_sum_us += static_cast<uint64>(seconds * 1e6);
    slot->commit_count++;
    SpinLockRelease(&slot->mutex);
}

// Whether a worker in this database is writing the batch that holds message `id`.
static bool message_processing(const pg_uuid_t* id) {
    for (int i = 0; i < nomnom_shared->nslots; i++) {
        NomnomWorkerSlot* slot = &nomnom_shared->slots[i];
        if (!slot->in_use || slot->database != MyDatabaseId)
            continue;
        NomnomProcessing* p = &nomnom_shared->processing[i];
        for (int attempt = 0; attempt < 100; attempt++) {
            uint64 before = pg_atomic_read_u64(&p->generation);
            if (before & 1) {
                pg_spin_delay();
                continue;
            }
            pg_read_barrier();
            bool found = false;
            uint32 n = Min(p->count, (uint32)NN_MAX_BATCH);
            for (uint32 k = 0; k < n && !found; k++)
                found = memcmp(p->ids[k].data, id->data, UUID_LEN) == 0;
            pg_read_barrier();
            if (pg_atomic_read_u64(&p->generation) == before) {
                if (found)
                    return true;
                break;
            }
        }
    }
    return false;
}

extern "C" {
PGDLLEXPORT Datum nomnom_message_processing(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(nomnom_message_processing);
}

Datum nomnom_message_processing(PG_FUNCTION_ARGS) {
    if (nomnom_shared == nullptr)
        PG_RETURN_BOOL(false);
    PG_RETURN_BOOL(message_processing(PG_GETARG_UUID_P(0)));
}
