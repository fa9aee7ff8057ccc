// Publishes documents to JetStream and waits for the acks of exactly those messages.
//
// All requests share one NATS connection and publish on it without waiting, so their
// messages and acks pipeline on the wire; each request then waits only for its own acks. A
// message counts as stored only when JetStream acknowledged it: a timeout, a negative ack or a
// dropped connection is "not stored", and the caller answers 503, never 202.
//
// The publishes are core NATS publishes with a reply subject of the bridge's own, one
// subscription taking every answer, and the answers matched here, not through nats.c's
// JetStream async publish (a hash entry, a timer entry and a JSON parse a message: half of
// what a document cost the bridge). A reply subject is the inbox prefix and an id; an id is
// used again only once its one answer came, so nats-server's subject cache keeps finding the
// same few subjects, and an answer that comes after its request gave up matches nothing.
#pragma once

#include "nomnom/nats_connect.hpp"

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bridge {

// Borrowed from the caller, who keeps them alive until publish() returns: a batch request
// publishes thousands of documents, and copying each one's strings showed in the profile.
struct PublishItem {
    const char* subject;
    const char* message_id; // Nats-Msg-Id: JetStream stores a repeated id once
    const char* entity;     // Nomnom-Entity
    std::string_view payload;
};

struct PublishOutcome {
    bool stored = false;
    bool duplicate = false;
    uint64_t seq = 0;
    std::string stream;
    std::string error; // set when !stored
    // The answer for a message that was not stored: 503 (retry: NATS away, an election, a
    // timeout), 507 (the stream is full: JetStream's reason in `error`), 413 (over the
    // server's max_payload).
    int http_status = 503;
};

class Publisher {
  public:
    Publisher(nomnom::NatsConnectConfig nats, std::string stream, int64_t timeout_ms);
    ~Publisher();
    Publisher(const Publisher&) = delete;
    Publisher& operator=(const Publisher&) = delete;

    // Creates the connection. NATS need not be up: the library keeps retrying in the
    // background and /ready reports it. False for a configuration error (a file that cannot
    // be read, ...) or when a server refused the credentials ("authorization failed").
    bool start(std::string& error);
    void stop();

    bool connected() const;

    // Publishes every item and waits (at most the publish timeout) for their acks;
    // one outcome per item, in order.
    std::vector<PublishOutcome> publish(const std::vector<PublishItem>& items);

    // True when the stream answers a stream-info request; `error` says why not.
    bool stream_ok(std::string& error);

    // How many messages may wait for their acks at once, over every request: bounds memory
    // when JetStream is slower than the clients (a publish waits up to the publish timeout
    // for room, then fails as not stored).
    static constexpr size_t kMaxInFlight = 65536;

  private:
    struct Group;
    struct Slot {
        Group* group;
        size_t index;
    };

    static void on_reply(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
    static void on_connected(natsConnection* nc, void* closure);
    static void on_disconnected(natsConnection* nc, void* closure);
    static void on_reconnected(natsConnection* nc, void* closure);
    static void on_closed(natsConnection* nc, void* closure);
    static void on_error(natsConnection* nc, natsSubscription* sub, natsStatus err, void* closure);

    // A reply id for a message of `group`: one whose answer came, or a new one (locked).
    uint64_t take_id(Group* group, size_t index);

    nomnom::NatsConnectConfig nats_;
    std::string url_; // redacted, for logs
    std::string stream_;
    int64_t timeout_ms_;

    natsOptions* opts_ = nullptr;
    natsConnection* nc_ = nullptr;
    natsSubscription* replies_ = nullptr; // reply_prefix_ + ".*"
    jsCtx* js_ = nullptr;                 // stream-info requests only
    std::string reply_prefix_;            // a fresh inbox: "_INBOX.<nuid>"
    std::atomic<bool> stopping_{false};   // a disconnect while stopping is not news
    // nats.c calls on_closed on a thread of its own after natsConnection_Close returns: stop()
    // waits for it, so that no callback runs on a destroyed Publisher.
    std::mutex closed_mutex_;
    std::condition_variable closed_cv_;
    bool closed_ = false;

    // Messages in flight by reply id, and the ids free to use again. One lock for both and
    // for the groups' outcomes, so an answer and its request's timeout never both decide.
    std::mutex mutex_;
    std::condition_variable room_; // an id came back while a publish waited for room
    std::unordered_map<uint64_t, Slot> in_flight_;
    std::vector<uint64_t> free_ids_;
    uint64_t next_id_ = 1;
};

} // namespace bridge
