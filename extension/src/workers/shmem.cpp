// Shared memory of the launcher and the workers; post-commit notification of catalog changes.
#include "workers/shmem.hpp"

extern "C" {
#include "storage/ipc.h"
#include "storage/shmem.h"
}

NomnomShared* nomnom_shared = nullptr;

static shmem_request_hook_type prev_shmem_request_hook = nullptr;
static shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

static Size nomnom_shmem_size(void) {
    return add_size(offsetof(NomnomShared, slots),
                    mul_size(sizeof(NomnomWorkerSlot), nomnom_max_workers_guc));
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
        nomnom_shared->launcher = nullptr;
        nomnom_shared->nslots = nomnom_max_workers_guc;
        for (int i = 0; i < nomnom_shared->nslots; i++)
            SpinLockInit(&nomnom_shared->slots[i].mutex);
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
