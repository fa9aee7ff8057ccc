// Which NATS server a worker is connected to, and the connection's state while it
// reconnects: nomnom.worker_connections(), the nats_server and nats_state columns of
// nomnom.stream_status.
//
// The worker's slot holds the status (a natsConnStatus) and the server's URL, user info
// redacted. Two threads of the worker write them: the backend when it connects and
// disconnects, and nats.c's callback thread when the connection is lost, comes back
// (possibly on another server of the cluster) or closes. A process-local mutex lets one
// write at a time; readers in other backends take no lock (a seqlock), so neither writer
// can wait on a reader. No PostgreSQL call is made while the mutex is held.
#pragma once

#include <nats/nats.h>

#include <cstddef>

struct NomnomWorkerSlot;
struct NatsEvents;

#define NN_NATS_NONE (-1) // no connection (not connected yet, or given up and dropped)

// The slot's status and server (server NULL: keep the one it has, e.g. while reconnecting).
void nomnom_slot_set_nats(NomnomWorkerSlot* slot, int status, const char* server);
// Reads them; returns the status (NN_NATS_NONE when none).
int nomnom_slot_get_nats(NomnomWorkerSlot* slot, char* server, size_t serverlen);
// The text nomnom.stream_status shows for a status.
const char* nomnom_nats_status_name(int status);

namespace nomnom::worker {

// The worker's reporter: `events` calls it back on nats.c's thread. watch() after a
// connection is made (it reports it at once), unwatch() before it is destroyed (the slot
// then says there is no connection, and late callbacks of the old one are ignored).
void nats_state_attach(NatsEvents* events, NomnomWorkerSlot* slot);
void nats_state_connecting();
void nats_state_watch(natsConnection* nc);
void nats_state_unwatch();

} // namespace nomnom::worker
