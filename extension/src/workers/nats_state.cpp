// A worker's NATS connection in its slot (nats_state.hpp says who writes and reads it).
#include "workers/nats_state.hpp"

#include <mutex>

#include "pg/pg_guard.hpp"
#include "streams/jetstream_client.hpp"
#include "workers/shmem.hpp"

extern "C" {
#include "funcapi.h"
#include "utils/builtins.h"
}

void nomnom_slot_set_nats(NomnomWorkerSlot* slot, int status, const char* server) {
    if (slot == nullptr)
        return;
    pg_atomic_fetch_add_u64(&slot->nats_generation, 1); // odd: being rewritten (a full barrier)
    slot->nats_status = status;
    if (server != nullptr)
        strlcpy(slot->nats_server, server, sizeof slot->nats_server);
    pg_write_barrier();
    pg_atomic_fetch_add_u64(&slot->nats_generation, 1); // even again
}

int nomnom_slot_get_nats(NomnomWorkerSlot* slot, char* server, size_t serverlen) {
    for (int attempt = 0; attempt < 1000; attempt++) {
        uint64 before = pg_atomic_read_u64(&slot->nats_generation);
        if (before & 1) {
            pg_spin_delay();
            continue;
        }
        pg_read_barrier();
        int status = slot->nats_status;
        char copy[NN_SERVER_LEN];
        memcpy(copy, slot->nats_server, sizeof copy);
        pg_read_barrier();
        if (pg_atomic_read_u64(&slot->nats_generation) == before) {
            copy[sizeof copy - 1] = '\0';
            strlcpy(server, copy, serverlen);
            return status;
        }
    }
    server[0] = '\0'; // a writer that keeps rewriting: say nothing rather than a torn value
    return NN_NATS_NONE;
}

const char* nomnom_nats_status_name(int status) {
    switch (status) {
    case NATS_CONN_STATUS_DISCONNECTED:
        return "disconnected";
    case NATS_CONN_STATUS_CONNECTING:
        return "connecting";
    case NATS_CONN_STATUS_CONNECTED:
        return "connected";
    case NATS_CONN_STATUS_CLOSED:
        return "closed";
    case NATS_CONN_STATUS_RECONNECTING:
        return "reconnecting";
    case NATS_CONN_STATUS_DRAINING_SUBS:
    case NATS_CONN_STATUS_DRAINING_PUBS:
        return "draining";
    default:
        return "disconnected"; // NN_NATS_NONE: no connection
    }
}

namespace nomnom::worker {
namespace {

// One worker a process: its slot, and the connection the callbacks may report on.
struct Reporter {
    std::mutex mutex;
    NomnomWorkerSlot* slot = nullptr;
    natsConnection* current = nullptr; // under mutex
};
Reporter reporter;

// Under reporter.mutex: the connection's status and server into the slot. While it
// reconnects, the server it lost stays shown.
void report(natsConnection* nc) {
    char server[NN_SERVER_LEN];
    int status = nn_connection_state(nc, server, sizeof server);
    nomnom_slot_set_nats(reporter.slot, status, server[0] != '\0' ? server : nullptr);
}

// nats.c's callback thread.
void on_change(natsConnection* nc, void*) {
    try {
        std::lock_guard<std::mutex> hold(reporter.mutex);
        if (nc == reporter.current)
            report(nc);
    } catch (...) {
        // a mutex that cannot be locked: the next event reports
    }
}

} // namespace

void nats_state_attach(NatsEvents* events, NomnomWorkerSlot* slot) {
    reporter.slot = slot;
    events->changed = on_change;
    events->changed_arg = nullptr;
    nomnom_slot_set_nats(slot, NN_NATS_NONE, "");
}

void nats_state_connecting() {
    std::lock_guard<std::mutex> hold(reporter.mutex);
    reporter.current = nullptr;
    nomnom_slot_set_nats(reporter.slot, NATS_CONN_STATUS_CONNECTING, "");
}

void nats_state_watch(natsConnection* nc) {
    std::lock_guard<std::mutex> hold(reporter.mutex);
    reporter.current = nc;
    report(nc);
}

void nats_state_unwatch() {
    std::lock_guard<std::mutex> hold(reporter.mutex);
    reporter.current = nullptr;
    nomnom_slot_set_nats(reporter.slot, NN_NATS_NONE, "");
}

} // namespace nomnom::worker

// Each worker of this database's streams: the NATS server it is connected to (user info
// redacted; while it reconnects, the one it lost) and the connection's state.
NOMNOM_FUNCTION(nomnom_worker_connections) {
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    InitMaterializedSRF(fcinfo, 0);
    nomnom_for_each_slot([&](const NomnomWorkerSlot& copy, NomnomWorkerSlot& slot) {
        char server[NN_SERVER_LEN];
        int status = nomnom_slot_get_nats(&slot, server, sizeof server); // its own seqlock
        Datum values[4];
        bool nulls[4] = {false};
        values[0] = CStringGetTextDatum(copy.stream);
        values[1] = Int32GetDatum(copy.worker_index);
        values[2] = CStringGetTextDatum(server);
        nulls[2] = server[0] == '\0';
        values[3] = CStringGetTextDatum(nomnom_nats_status_name(status));
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
    return (Datum)0;
}
