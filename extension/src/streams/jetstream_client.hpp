// nats.c for nomnom: connections, JetStream streams and consumers, publishing.
//
// No PostgreSQL headers: these functions are called from PostgreSQL-style code, so they
// are exception-free and status-code based. Every function that fails writes a complete
// English message into `err` (what failed, the URL or stream, and nats.c's reason); the
// caller frees what it got, and only then reports the error.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace nomnom {
struct StreamOptions;
}

struct NatsEvents {
    std::atomic<bool> disconnected{false}; // set by the library's threads
    std::atomic<bool> reconnected{false};
    std::atomic<bool> closed{false};
    // Optional: called on nats.c's thread after each of those events, with the connection
    // (workers/nats_state.hpp: the slot's server and status). Must not block for long.
    void (*changed)(natsConnection* nc, void* arg) = nullptr;
    void* changed_arg = nullptr;
};

// The connection's status (a natsConnStatus) and, when connected, the URL of the server it
// is connected to with any user info redacted (else "").
int nn_connection_state(natsConnection* nc, char* server, size_t serverlen) noexcept;

// Connects with signals blocked while nats.c starts its threads, with the stream's
// connection options (nomnom::build_nats_options: server list, credentials, TLS). With
// `events`, the connection reconnects forever to any server of the list and the callbacks
// only set the atomic flags. A refused credential is an error saying "authorization failed";
// URLs in `err` are redacted.
natsStatus nn_connect(const nomnom::StreamOptions& options, const char* name, NatsEvents* events,
                      int timeout_ms, natsConnection** nc, jsCtx** js, char* err,
                      size_t errlen) noexcept;
// Destroys what nn_connect made (either may be NULL), after flushing for up to flush_ms.
void nn_disconnect(natsConnection* nc, jsCtx* js, int flush_ms) noexcept;

enum NnEnsureMode {
    NN_ENSURE_VERIFY, // create when missing; an existing stream that differs is an error
    NN_ENSURE_UPDATE, // create when missing; update what can be updated
    NN_ENSURE_ADOPT,  // create when missing; use an existing one as it is (workers)
};

// The most pipelined batches a worker holds unacknowledged while their commits become
// durable (nomnom.commits_in_flight's maximum, workers/worker.hpp). The consumer's
// max_ack_pending leaves each worker room for them, the batch it writes and the next one
// it fetches meanwhile: with less, that fetch waits for the held batches' acknowledgements.
constexpr int kNnMaxHeldBatches = 8;

// The stream `name` with `subjects`, the DLQ stream, and the durable consumer; the
// consumer's max_ack_pending as it now is into `*max_ack_pending` when given (-1: no limit);
// `*created` when given: whether the stream `name` did not exist and was made (also when a
// later step fails).
natsStatus nn_ensure_jetstream(jsCtx* js, const char* name, const char* const* subjects,
                               int nsubjects, const nomnom::StreamOptions& options,
                               NnEnsureMode mode, char* err, size_t errlen,
                               int64_t* max_ack_pending = nullptr,
                               bool* created = nullptr) noexcept;

natsStatus nn_delete_stream(jsCtx* js, const char* name, char* err, size_t errlen) noexcept;

// A pull subscription bound to the stream's durable consumer.
natsStatus nn_pull_subscribe(jsCtx* js, const char* stream, const char* consumer,
                             natsSubscription** sub, char* err, size_t errlen) noexcept;

// Publishes `msg` to JetStream and waits for its ack.
natsStatus nn_publish(jsCtx* js, natsMsg* msg, int timeout_ms, char* err, size_t errlen) noexcept;

// Publishing many messages at once (entity events): asynchronously on a JetStream context of
// its own, then waiting for every ack. Made for a connection, destroyed after it is closed
// (a late ack still finds it).
struct NnPublisher;
natsStatus nn_publisher_create(natsConnection* nc, NnPublisher** out, char* err,
                               size_t errlen) noexcept;
// Publishes msgs[0..n) (taking them: destroyed either way) and waits up to timeout_ms for
// every ack. stored[i] is 1 when JetStream stored message i or found it a duplicate (its
// Nats-Msg-Id seen within the duplicate window), else 0. NATS_OK when every one was stored;
// else `err` names the first failure.
natsStatus nn_publish_many(NnPublisher* publisher, natsMsg** msgs, int n, int timeout_ms,
                           char* stored, char* err, size_t errlen) noexcept;
void nn_publisher_destroy(NnPublisher* publisher) noexcept;

// Messages of a consumer not yet delivered, and delivered but not acknowledged.
natsStatus nn_consumer_pending(jsCtx* js, const char* stream, const char* consumer,
                               int64_t* undelivered, int64_t* unacknowledged) noexcept;

// nats.c's text for a status, with its last error when there is one.
void nn_describe(natsStatus s, char* out, size_t outlen) noexcept;
