// A worker's NATS side: connecting and subscribing (with a growing pause between failed
// attempts), the flags nats.c's threads set, fetching through the prefetch thread, what a
// failed or empty fetch means, and disconnecting.
#include "workers/worker.hpp"

#include "nomnom/stream_options.hpp"
#include "pg/background.hpp"
#include "pg/pg_guard.hpp"
#include "pg/role_scope.hpp"
#include "pg/spi_session.hpp"
#include "streams/options.hpp"
#include "workers/lag_monitor.hpp"
#include "workers/nats_state.hpp"

namespace nomnom::worker {
namespace {

// The consumer's info into the slot every 2 s, from a thread of its own, so that it stays
// fresh while the backend is stuck in a write (lag_monitor.hpp). One per process.
LagMonitor lag_monitor;

// Waits for a running prefetch and naks what it fetched: redelivered at once.
void abandon_prefetch(Worker& w) {
    if (w.prefetch == nullptr || !w.prefetch->running())
        return;
    natsMsgList list = {nullptr, 0};
    PendingError ignored;
    catch_into(ignored, [&] {
        std::vector<nomnom::PremappedMessage> unused;
        w.prefetch->finish(&list, unused);
    });
    for (int i = 0; i < list.Count; i++)
        natsMsg_Nak(list.Msgs[i], nullptr);
    natsMsgList_Destroy(&list);
}

void drop_subscription(Worker& w) {
    release_durable_acks(w, false); // acknowledged through the subscription
    abandon_prefetch(w);            // its thread may be fetching from the subscription
    if (w.sub != nullptr) {
        natsSubscription_Destroy(w.sub);
        w.sub = nullptr;
    }
}

// Ensures the streams and the consumer while the stream's catalog row, locked FOR KEY SHARE
// in a fresh snapshot, still exists: drop_stream's DELETE waits for that lock, and a worker
// that waited finds the row gone once the drop commits. So no worker re-creates a stream that
// drop_stream(name, true) deleted (it deletes before its commit, the worker's lock taken or
// not). Not found: NATS_NOT_FOUND, and load_config ends the worker once the drop's
// notification arrives.
natsStatus ensure_while_defined(Worker& w, char* err, size_t errlen, int64_t* max_ack_pending) {
    natsStatus s = NATS_NOT_FOUND;
    snprintf(err, errlen, "stream \"%s\" is no longer defined", w.stream);
    in_catalog_transaction("nomnom worker: verifying the JetStream stream", [&] {
        SavedUser saved = become_owner(); // the catalog is nomnom's
        Oid types[1] = {TEXTOID};
        Datum values[1] = {CStringGetTextDatum(w.stream)};
        spi_execute_expect("SELECT 1 FROM nomnom.stream_catalog WHERE name = $1 FOR KEY SHARE", 1,
                           types, values, nullptr, false, 1, SPI_OK_SELECT,
                           "nomnom worker: locking the stream's catalog row");
        restore(saved);
        if (SPI_processed == 1)
            s = nn_ensure_jetstream(w.js, w.stream, w.subjects, w.nsubjects, *w.options,
                                    NN_ENSURE_ADOPT, err, errlen, max_ack_pending);
    });
    return s;
}

// Ensures the streams and the consumer, then subscribes; false with `err` set when it fails.
natsStatus subscribe(Worker& w, char* err, size_t errlen) {
    int64_t max_ack_pending = 0;
    natsStatus s = ensure_while_defined(w, err, errlen, &max_ack_pending);
    w.max_ack_pending = s == NATS_OK ? max_ack_pending : 0;
    if (s == NATS_OK)
        s = nn_pull_subscribe(w.js, w.stream, w.options->consumer.c_str(), &w.sub, err, errlen);
    return s;
}

// Connects when there is no connection (not before w.next_connect after a failure).
bool connect(Worker& w) {
    int64 now = nomnom::monotonic_ms();
    if (now < w.next_connect)
        return false;
    char err[1024];
    char name[256];
    snprintf(name, sizeof name, "nomnom worker %s/%d", w.stream, w.index);
    set_state(w, w.connect_failures == 0 ? "connecting" : "disconnected");
    w.events->disconnected.store(false);
    w.events->reconnected.store(false);
    w.events->closed.store(false);
    nats_state_connecting();
    natsStatus s = nn_connect(*w.options, name, w.events, 2000, &w.nc, &w.js, err, sizeof err);
    if (s == NATS_OK) {
        s = subscribe(w, err, sizeof err);
        if (s != NATS_OK)
            disconnect_nats(w, 0);
    }
    if (s != NATS_OK) {
        w.connect_failures++;
        int wait_ms = Min(250 * (1 << Min(w.connect_failures, 5)), 5000);
        w.next_connect = now + wait_ms;
        nats_state_unwatch();
        set_error(w, "disconnected", err);
        if (w.connect_failures == 1 || w.connect_failures % 20 == 0)
            ereport(LOG, (errmsg("nomnom worker %s/%d: %s", w.stream, w.index, err)));
        return false;
    }
    if (w.connect_failures > 0)
        ereport(LOG, (errmsg("nomnom worker %s/%d: connected to %s", w.stream, w.index,
                             nomnom::redacted_nats_url(*w.options))));
    w.connect_failures = 0;
    w.disconnected = false;
    set_state(w, "running");
    nats_state_watch(w.nc);
    lag_monitor.start(w.js, w.stream, w.options->consumer, w.slot);
    return true;
}

// Fetching on the prefetch thread: at most a second per call, so that a signal is answered
// promptly whatever max_wait_ms. False when no thread could be started.
bool start_prefetch(Worker& w) {
    PendingError ignored;
    return catch_into(ignored, [&] {
        w.prefetch->start(w.sub, w.options->batch_size, Min(w.options->max_wait_ms, 1000), w.stream,
                          *w.options, w.generation, *w.trees);
    });
}

} // namespace

void set_state(Worker& w, const char* state) {
    nomnom_slot_set_state(w.slot, state, nullptr);
}

void set_error(Worker& w, const char* state, const char* error) {
    nomnom_slot_set_state(w.slot, state, error);
}

void disconnect_nats(Worker& w, int flush_ms) {
    lag_monitor.stop(); // it asks through w.js
    drop_subscription(w);
    nats_state_unwatch(); // before the connection goes: its late callbacks are ignored
    nn_disconnect(w.nc, w.js, flush_ms);
    w.nc = nullptr;
    w.js = nullptr;
    nn_publisher_destroy(w.event_publisher); // after the connection: no ack can come now
    w.event_publisher = nullptr;
}

// Step: a connection and a subscription, and the flags nats.c's threads set. Ends the round
// (to wait a little) while disconnected.
bool connect_to_nats(Worker& w) {
    w.round.wait_ms = 250;
    if (w.nc != nullptr && w.events->closed.load())
        disconnect_nats(w, 0);
    if (w.nc == nullptr && !connect(w))
        return false;
    if (w.sub == nullptr) {
        char err[1024];
        if (subscribe(w, err, sizeof err) != NATS_OK) {
            set_error(w,
                      natsConnection_Status(w.nc) == NATS_CONN_STATUS_CONNECTED ? "running"
                                                                                : "disconnected",
                      err);
            return false;
        }
    }
    if (w.events->disconnected.exchange(false)) {
        w.disconnected = true;
        char err[512];
        snprintf(err, sizeof err, "lost the connection to NATS at %s; reconnecting",
                 nomnom::redacted_nats_url(*w.options));
        set_error(w, "disconnected", err);
    }
    if (w.events->reconnected.exchange(false)) {
        w.disconnected = false;
        set_state(w, "running");
    }
    if (w.disconnected && natsConnection_Status(w.nc) == NATS_CONN_STATUS_CONNECTED) {
        w.disconnected = false;
        set_state(w, "running");
    }
    if (w.disconnected)
        return false;
    w.round.wait_ms = 0;
    return true;
}

// Step: the batch the prefetch thread fetched (and mapped), starting it first when it does
// not run. Ends the round (to wait a second) when no thread can be started.
bool fetch_batch(Worker& w) {
    if (!w.prefetch->running() && !start_prefetch(w)) {
        set_error(w, "running", "could not start a thread to fetch messages; retrying");
        w.round.wait_ms = 1000;
        return false;
    }
    natsMsgList list = {nullptr, 0};
    natsStatus s = NATS_NO_MEMORY;
    PendingError ignored;
    if (!catch_into(ignored, [&] { s = w.prefetch->finish(&list, *w.premapped); }))
        w.premapped->clear();
    w.round.fetched = list;
    w.round.fetch_status = s;
    w.round.marked_ms = w.prefetch->marked_ms(); // kept in progress from there (hold_batch)
    if (list.Count > 0 && message_level_is_interesting(DEBUG1)) {
        // What the prefetch thread mapped ahead (never a message delivered more than
        // max_deliver times), and with how many entity trees it could have.
        int ahead = 0, most_deliveries = 0;
        for (const nomnom::PremappedMessage& message : *w.premapped) {
            ahead += message.mapped_with != nullptr;
            most_deliveries = Max(most_deliveries, message.facts.delivered);
        }
        ereport(DEBUG1, (errmsg_internal("nomnom worker %s/%d: fetched %d messages (delivered at "
                                         "most %d times), %d mapped ahead with %d entity trees",
                                         w.stream, w.index, list.Count, most_deliveries, ahead,
                                         static_cast<int>(w.prefetch->tree_count()))));
    }
    if (list.Count > 0 || s == NATS_OK || s == NATS_TIMEOUT)
        w.repulls_in_row = 0;
    if (list.Count > 0)
        w.stalled_checks = 0;
    return true;
}

// Step: nothing fetched because the fetch failed: lost connection (nats.c reconnects); the
// pull lost (no idle heartbeat) or ended by a consumer leader change (pull again at once);
// or the consumer is gone (subscribe again). Ends the round, to wait a little.
bool handle_fetch_failure(Worker& w) {
    natsStatus s = w.round.fetch_status;
    if (w.round.fetched.Count > 0 || s == NATS_OK || s == NATS_TIMEOUT)
        return true;
    char reason[512];
    char err[768];
    snprintf(reason, sizeof reason, "%s", w.prefetch->error());
    if (reason[0] == '\0')
        nn_describe(s, reason, sizeof reason);
    bool connected = natsConnection_Status(w.nc) == NATS_CONN_STATUS_CONNECTED;
    if (connected &&
        (s == NATS_MISSED_HEARTBEAT || strstr(reason, "Leadership Change") != nullptr)) {
        // The pull is gone, the subscription is not: the next round pulls again at once;
        // after three such pulls in a row, the subscription is made again as well.
        if (++w.repulls_in_row >= 3) {
            drop_subscription(w);
            w.repulls_in_row = 0;
        }
        if (++w.repulls == 1 || w.repulls % 100 == 0)
            ereport(LOG, (errmsg("nomnom worker %s/%d: %s; pulling again (%llu times so far)",
                                 w.stream, w.index,
                                 s == NATS_MISSED_HEARTBEAT
                                     ? "the pull saw no idle heartbeat"
                                     : "the pull ended with a consumer leader change",
                                 static_cast<unsigned long long>(w.repulls))));
        w.round.wait_ms = 0;
        return false;
    }
    if (!connected) {
        w.disconnected = true;
        snprintf(err, sizeof err, "lost the connection to NATS at %s: %s",
                 nomnom::redacted_nats_url(*w.options), reason);
        set_error(w, "disconnected", err);
    } else {
        snprintf(err, sizeof err, "fetching from consumer \"%s\" failed: %s; subscribing again",
                 w.options->consumer.c_str(), reason);
        set_error(w, "running", err);
        drop_subscription(w);
    }
    w.round.wait_ms = Min(w.options->max_wait_ms, 500);
    return false;
}

// Step: nothing fetched (the fetch was the idle wait). The consumer's pending count, at most
// every 2 seconds: a pull that keeps coming back empty while the consumer has undelivered
// messages has stalled (a lost pull request, a consumer re-created behind our back):
// subscribe again. Ends the round.
bool check_idle_consumer(Worker& w) {
    if (w.round.fetched.Count > 0)
        return true;
    int64 now = nomnom::monotonic_ms();
    if (w.last_pending_check != 0 && now - w.last_pending_check < 2000)
        return false;
    w.last_pending_check = now;
    int64_t undelivered = 0, unacknowledged = 0;
    if (nn_consumer_pending(w.js, w.stream, w.options->consumer.c_str(), &undelivered,
                            &unacknowledged) != NATS_OK)
        return false;
    SpinLockAcquire(&w.slot->mutex);
    w.slot->pending = undelivered + unacknowledged;
    SpinLockRelease(&w.slot->mutex);
    w.stalled_checks = undelivered > 0 ? w.stalled_checks + 1 : 0;
    if (w.stalled_checks >= 3) {
        char err[256];
        snprintf(
            err, sizeof err,
            "the pull from consumer \"%s\" stalled with %lld messages pending; subscribing again",
            w.options->consumer.c_str(), static_cast<long long>(undelivered));
        ereport(LOG, (errmsg("nomnom worker %s/%d: %s", w.stream, w.index, err)));
        set_error(w, "running", err);
        drop_subscription(w);
        w.stalled_checks = 0;
    }
    return false;
}

// Step: the next batch is fetched while this one is written (or next time round, when no
// thread can be started now).
bool prefetch_next(Worker& w) {
    start_prefetch(w);
    return true;
}

// Step: the trees the batch was written with become the next prefetch's (the old ones stay
// when memory is short).
bool remember_trees(Worker& w) {
    // A mapping the writer did not take was made with a tree that is not the entity's
    // current one (redefined, its table changed, or the entity cache rebuilt: the writer
    // mapped the message again), or its message was not written. DEBUG1, for tests and
    // bench/README.md item 25.
    int untaken = 0;
    for (const nomnom::PremappedMessage& message : *w.premapped)
        untaken += message.mapped_with != nullptr;
    if (untaken > 0) {
        w.remapped += static_cast<uint64>(untaken);
        ereport(DEBUG1, (errmsg_internal("nomnom worker %s/%d: %d messages mapped ahead not taken "
                                         "by the writer (%llu so far)",
                                         w.stream, w.index, untaken,
                                         static_cast<unsigned long long>(w.remapped))));
    }
    PendingError ignored;
    catch_into(ignored, [&] { *w.trees = nomnom::written_trees(*w.premapped); });
    return true;
}

} // namespace nomnom::worker
