// Publishes documents to JetStream and waits for the acks of exactly those messages.
//
// All requests share one NATS connection and publish asynchronously, so their messages
// and acks pipeline on the wire; each request then waits only for its own acks. A message
// counts as stored only when JetStream acknowledged it: a timeout, a negative ack or a
// dropped connection is "not stored", and the caller answers 503, never 202.
#pragma once

#include "nomnom/nats_connect.hpp"

#include <nats/nats.h>

#include <atomic>
#include <cstdint>
#include <memory>
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

  private:
    struct Group;
    struct Slot {
        std::shared_ptr<Group> group;
        size_t index;
        // js_PublishMsgAsync has returned. Until then the message is still being sent: nats.c
        // 3.4 starts the ack timeout when it registers the message, before it takes the
        // connection's lock to write it, so a publish held up longer than that timeout gets
        // its on_ack (a timeout) while it still reads the message.
        bool sent = false;
        bool acked = false; // on_ack came before `sent`: publish() destroys the message
    };

    static void on_ack(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);
    static void on_connected(natsConnection* nc, void* closure);
    static void on_disconnected(natsConnection* nc, void* closure);
    static void on_reconnected(natsConnection* nc, void* closure);
    static void on_closed(natsConnection* nc, void* closure);
    static void on_error(natsConnection* nc, natsSubscription* sub, natsStatus err, void* closure);

    nomnom::NatsConnectConfig nats_;
    std::string url_; // redacted, for logs
    std::string stream_;
    int64_t timeout_ms_;

    natsOptions* opts_ = nullptr;
    natsConnection* nc_ = nullptr;
    jsCtx* js_ = nullptr;
    std::atomic<bool> stopping_{false}; // a disconnect while stopping is not news

    // Messages in flight, keyed by the natsMsg the library hands back to on_ack.
    std::mutex pending_mutex_;
    std::unordered_map<natsMsg*, Slot> pending_;
};

} // namespace bridge
