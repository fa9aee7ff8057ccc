// A stream worker: its state, and the steps of its loop (README.md in this folder says how
// the loop goes, which threads there are, and why a message is written exactly once).
//
// PostgreSQL-style code (ereport, SPI, transactions); nats.c through the status-code
// functions of streams/jetstream_client.hpp; the pure C++ core and the prefetch thread's
// objects through the guard of pg/pg_guard.hpp (run_guarded, catch_into).
//
// The files: worker_config.cpp (the stream's row), worker_connection.cpp (NATS: connect,
// subscribe, fetch, what to do when that fails), worker_batch.cpp (one batch: its
// transaction, its acknowledgements, its counters), worker_loop.cpp (the main function and
// the loop, a list of these steps).
#pragma once

#include <vector>

#include "nomnom/backoff.hpp"
#include "pg/pg_prelude.hpp"
#include "streams/jetstream_client.hpp"
#include "workers/prefetch.hpp"
#include "workers/shmem.hpp"

namespace nomnom::worker {

// What became of a message of the batch.
enum Outcome { OUTCOME_NONE, OUTCOME_WRITTEN, OUTCOME_DUPLICATE, OUTCOME_DEAD, OUTCOME_RETRY };

// One message of the batch, in the batch's memory context.
struct Item {
    natsMsg* msg;
    const char* subject;
    const char* body;
    int body_len;
    char entity[NAMEDATALEN * 2];
    char id_text[37];
    pg_uuid_t id;
    uint64 stream_seq;
    int delivered;
    TimestampTz received_at;
    Outcome outcome;
    char* error;                         // palloc'd in the batch context
    bool settled;                        // acknowledged, terminated or nak'd
    bool dead_before; // already in nomnom.dead_letters: only its DLQ publish is left to do
    nomnom::PremappedMessage* premapped; // its mapping from the prefetch, or NULL
};

// One turn of the loop: what its steps hand on to each other. Zeroed when the round ends.
struct Round {
    natsMsgList fetched;     // what the fetch brought; destroyed when the round ends
    natsStatus fetch_status; // the fetch's status
    int64 marked_ms;         // when `fetched` was marked in progress last, or its fetch started
    bool in_progress;        // `fetched` is held by the InProgressKeeper (hold_batch)
    Item* items;             // the batch being written, one per fetched message (prepare_batch)
    int nitems;
    int64 pending;                 // the consumer's pending count after the batch; -1 when unknown
    bool committed;                // the batch's transaction committed
    bool pipelined;                // committed without waiting for its WAL flush
    XLogRecPtr durable_lsn;        // what must be durable before any of it is acknowledged
    char* batch_error;             // why it did not
    uint64 written, dead, retried; // counted by acknowledge_batch
    char* last_error;              // the last message's problem, for the slot
    long wait_ms;                  // set by a step that ends the round early: wait this long first
};

// A pipelined batch waiting for its commit to be durable: its messages (destroyed once
// acknowledged), the WAL position its acknowledgements wait for, and when its messages were
// marked in progress last (kept in progress until then: hold_batch).
struct HeldBatch {
    natsMsgList msgs;
    XLogRecPtr lsn;
    int64 marked_ms;
};

// The most pipelined batches a worker holds (nomnom.commits_in_flight's maximum, 8 in
// gucs.cpp); the consumer's max_ack_pending leaves room for them (jetstream_client.hpp).
constexpr int kMaxHeldBatches = kNnMaxHeldBatches;

// The worker's state: one per process, in TopMemoryContext, handed to every step (and to the
// exit callback through its Datum).
struct Worker {
    int slot_index;
    NomnomWorkerSlot* slot;
    char stream[NAMEDATALEN * 2];
    int index;

    // Configuration (worker_config.cpp)
    nomnom::StreamOptions* options; // heap (new): not on a stack a longjmp could skip
    char** subjects;
    int nsubjects;
    char connection_key[4096]; // what the connection depends on; a change reconnects
    char run_as[NAMEDATALEN];  // the role it connected as ("": none, the bootstrap superuser)
    uint64 generation;         // nomnom_shared->config_generation when the row was read
    bool reconnect;            // the configuration changed where NATS is concerned

    // Connection (worker_connection.cpp)
    NatsEvents* events;
    natsConnection* nc;
    jsCtx* js;
    natsSubscription* sub;
    bool disconnected;
    int64 next_connect; // monotonic_ms() before which no connection is tried
    int connect_failures;
    int64 last_pending_check; // monotonic_ms()
    int stalled_checks; // idle checks that saw undelivered messages
    uint64 repulls;     // pulls issued again: no idle heartbeat, or a consumer leader change
    int repulls_in_row; // of those, since the last pull that ended well
    int64 max_ack_pending; // the consumer's, read when subscribing (0: unknown; -1: no limit)

    // The next batch, fetched and mapped while this one is written (heap, C++ objects).
    nomnom::Prefetcher* prefetch;
    std::vector<nomnom::PremappedMessage>* premapped; // the current batch's mappings
    nomnom::TreeSnapshot* trees;                      // what the next prefetch maps with
    uint64 remapped; // messages mapped ahead that the writer did not take (remember_trees)

    // Entity events (worker_events.cpp)
    bool events_pending;          // the outbox may hold this stream's events
    int64 next_events_ms;         // monotonic_ms() before which not again (a failure)
    NnPublisher* event_publisher; // for the connection; destroyed after it is closed

    // The batch (worker_batch.cpp)
    SPIPlanPtr status_plan;
    // The pipelined batches whose commits are not known durable yet, oldest first, each
    // with the WAL position to wait for: acknowledged once that is flushed (and on the
    // synchronous standbys), without waiting while fewer than nomnom.commits_in_flight are
    // held: README.md, "The pipelined commit".
    HeldBatch held[kMaxHeldBatches];
    int nheld;
    MemoryContext batch_context; // reset when the round ends
    nomnom::Backoff batch_backoff; // batch-level failures in a row (worker_batch.cpp)
    Round round;
};

// A step of the loop (worker_loop.cpp lists them in order). Returns false to end the round
// early, having set w.round.wait_ms when the next round should wait.
using Step = bool (*)(Worker& w);

// worker_config.cpp
void load_config(Worker& w); // re-reads the stream's row; exits when the worker is not wanted
bool follow_configuration(Worker& w);
bool apply_late_changes(Worker& w);

// worker_connection.cpp
bool connect_to_nats(Worker& w);
bool fetch_batch(Worker& w);
bool handle_fetch_failure(Worker& w);
bool check_idle_consumer(Worker& w);
bool prefetch_next(Worker& w);
bool remember_trees(Worker& w);
void disconnect_nats(Worker& w, int flush_ms);
void set_state(Worker& w, const char* state);
void set_error(Worker& w, const char* state, const char* error);

// worker_events.cpp
bool publish_events(Worker& w);

// worker_batch.cpp
bool write_batch(Worker& w);
bool acknowledge_if_idle(Worker& w);
bool acknowledge_batch(Worker& w);
void release_durable_acks(Worker& w, bool exiting, bool writing = false);
void release_durable_now(Worker& w, int keep_at_most, bool writing);
bool report_batch(Worker& w);
void nak_unsettled(Worker& w, int64 delay_ms);
void nak_fetched(Worker& w);

} // namespace nomnom::worker
