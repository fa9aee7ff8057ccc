#include "publisher.hpp"

#include "log.hpp"
#include "pub_ack.hpp"

#include <chrono>
#include <cstring>

namespace bridge {

// The acks one request is waiting for (under the publisher's mutex_).
struct Publisher::Group {
    std::condition_variable done;
    size_t remaining = 0;
    std::vector<uint64_t> ids; // its messages' reply ids, to let go of at a timeout
    std::vector<PublishOutcome> outcomes;
};

namespace {
std::string status_text(natsStatus s) {
    return nomnom::nats_status_text(s);
}

// JetStream's errors for a stream that cannot take more: a full stream with discard new
// (max_bytes, max_msgs, max_msgs_per_subject), or servers out of storage.
bool stream_full(int err_code, const std::string& text) {
    return err_code == JSStreamStoreFailedErr || err_code == JSInsufficientResourcesErr ||
           err_code == JSStorageResourcesExceededErr ||
           text.find("maximum bytes exceeded") != std::string::npos ||
           text.find("maximum messages") != std::string::npos ||
           text.find("insufficient") != std::string::npos;
}
} // namespace

Publisher::Publisher(nomnom::NatsConnectConfig nats, std::string stream, int64_t timeout_ms)
    : nats_(std::move(nats)), url_(nomnom::redact_urls(nats_.url)), stream_(std::move(stream)),
      timeout_ms_(timeout_ms) {}

Publisher::~Publisher() {
    stop();
}

bool Publisher::start(std::string& error) {
    nomnom::NatsConnectBehaviour how;
    how.name = "nomnom-bridge";
    // Never give up on the servers: the bridge answers 503 while NATS is away and resumes by
    // itself when any server of the list is back.
    how.reconnect = true;
    natsStatus s = nomnom::build_nats_options(nats_, how, &opts_, error);
    if (s != NATS_OK) {
        error = "NATS: " + error;
        return false;
    }
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(opts_, on_disconnected, this);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(opts_, on_reconnected, this);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(opts_, on_closed, this);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(opts_, on_error, this);
    if (s == NATS_OK) {
        // One attempt at every server first, so that refused credentials or a TLS failure
        // stop the bridge with the reason instead of a silent retry loop (a signed one is
        // tried again: nats.c drops 1 signature in 256, connect_nats).
        s = nomnom::connect_nats(&nc_, opts_, nats_);
        if (s == NATS_OK) {
            log::info("connected to NATS", {{"url", url_}});
        } else if (s == NATS_NO_SERVER || s == NATS_TIMEOUT || s == NATS_IO_ERROR) {
            nc_ = nullptr;
            // With a connected callback the first connect is asynchronous; without one,
            // nats.c would retry inside natsConnection_Connect and, with MaxReconnect -1,
            // never return. It returns NATS_NOT_YET_CONNECTED and a usable connection.
            s = natsOptions_SetRetryOnFailedConnect(opts_, true, on_connected, this);
            if (s == NATS_OK)
                s = natsConnection_Connect(&nc_, opts_);
            if (s == NATS_NOT_YET_CONNECTED) {
                log::warn("NATS not reachable yet; retrying in the background", {{"url", url_}});
                s = NATS_OK;
            } else if (s == NATS_OK) {
                log::info("connected to NATS", {{"url", url_}});
            }
        } else {
            error = "NATS at " + url_ + ": " + nomnom::describe_connect_failure(s, nats_);
            return false;
        }
    }
    natsInbox* inbox = nullptr;
    if (s == NATS_OK)
        s = natsInbox_Create(&inbox);
    if (s == NATS_OK) {
        reply_prefix_ = inbox;
        natsInbox_Destroy(inbox);
        // Sent to the server once connected, and again after every reconnect.
        s = natsConnection_Subscribe(&replies_, nc_, (reply_prefix_ + ".*").c_str(), on_reply,
                                     this);
    }
    if (s == NATS_OK) // bounded by kMaxInFlight, not by the library's limits
        s = natsSubscription_SetPendingLimits(replies_, -1, -1);
    jsOptions jso;
    if (s == NATS_OK)
        s = jsOptions_Init(&jso);
    if (s == NATS_OK) {
        jso.Wait = 1000; // stream-info requests for /ready and /health
        s = natsConnection_JetStream(&js_, nc_, &jso);
    }
    if (s != NATS_OK) {
        error = "NATS: " + status_text(s);
        return false;
    }
    return true;
}

void Publisher::stop() {
    stopping_ = true;
    // Every request has finished by now (the HTTP server is stopped first), so no request
    // waits on an ack the closed connection would never bring.
    if (js_ != nullptr) {
        jsCtx_Destroy(js_);
        js_ = nullptr;
    }
    if (nc_ != nullptr) {
        natsConnection_Close(nc_); // no more answers
        std::unique_lock<std::mutex> lock(closed_mutex_);
        closed_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return closed_; });
    }
    if (replies_ != nullptr) {
        natsSubscription_Destroy(replies_);
        replies_ = nullptr;
    }
    if (nc_ != nullptr) {
        natsConnection_Destroy(nc_);
        nc_ = nullptr;
    }
    if (opts_ != nullptr) {
        natsOptions_Destroy(opts_);
        opts_ = nullptr;
    }
    // Anything still listed was let go of by a timed-out request.
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_.clear();
}

bool Publisher::connected() const {
    return nc_ != nullptr && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

uint64_t Publisher::take_id(Group* group, size_t index) {
    uint64_t id;
    if (!free_ids_.empty()) {
        id = free_ids_.back(); // the last freed first: the fewest distinct subjects
        free_ids_.pop_back();
    } else {
        id = next_id_++;
    }
    in_flight_.emplace(id, Slot{group, index});
    group->ids.push_back(id);
    return id;
}

std::vector<PublishOutcome> Publisher::publish(const std::vector<PublishItem>& items) {
    Group group;
    group.outcomes.resize(items.size());
    group.remaining = items.size();
    group.ids.reserve(items.size());

    auto fail_now = [&](size_t i, const std::string& error, int http_status = 503) {
        std::lock_guard<std::mutex> lock(mutex_);
        group.outcomes[i].error = error;
        group.outcomes[i].http_status = http_status;
        --group.remaining;
    };
    auto payload_error = [](size_t size, int64_t limit) {
        return "the document is " + std::to_string(size) +
               " bytes with its headers, over the NATS server's max_payload of " +
               std::to_string(limit) + " bytes";
    };

    std::string reply = reply_prefix_ + ".";
    const size_t reply_base = reply.size();
    char digits[24];
    for (size_t i = 0; i < items.size(); ++i) {
        const PublishItem& item = items[i];
        if (!connected()) {
            // Publishing now would only fill the reconnect buffer and time out later.
            fail_now(i, "NATS is not connected");
            continue;
        }
        int64_t max_payload = natsConnection_GetMaxPayload(nc_);
        if (max_payload > 0 && static_cast<int64_t>(item.payload.size()) > max_payload) {
            fail_now(i, payload_error(item.payload.size(), max_payload), 413);
            continue;
        }
        uint64_t id;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            if (in_flight_.size() >= kMaxInFlight &&
                !room_.wait_for(lock, std::chrono::milliseconds(timeout_ms_),
                                [&] { return in_flight_.size() < kMaxInFlight; })) {
                group.outcomes[i].error = "publish failed: " + std::to_string(kMaxInFlight) +
                                          " messages already wait for JetStream's ack";
                --group.remaining;
                continue;
            }
            id = take_id(&group, i);
        }
        int n = snprintf(digits, sizeof digits, "%llu", static_cast<unsigned long long>(id));
        reply.resize(reply_base);
        reply.append(digits, static_cast<size_t>(n));

        natsMsg* msg = nullptr;
        natsStatus s = natsMsg_Create(&msg, item.subject, reply.c_str(), item.payload.data(),
                                      static_cast<int>(item.payload.size()));
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Nats-Msg-Id", item.message_id);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Nomnom-Entity", item.entity);
        std::string what = "cannot build the message: ";
        if (s == NATS_OK) {
            s = natsConnection_PublishMsg(nc_, msg); // copies it into the connection's buffer
            what = "publish failed: ";
        }
        natsMsg_Destroy(msg);
        if (s != NATS_OK) {
            // No answer will come; the id is not used again, in case one does.
            std::lock_guard<std::mutex> lock(mutex_);
            if (in_flight_.erase(id) > 0) {
                PublishOutcome& o = group.outcomes[i];
                if (s == NATS_MAX_PAYLOAD) {
                    o.error = payload_error(item.payload.size(), natsConnection_GetMaxPayload(nc_));
                    o.http_status = 413;
                } else {
                    o.error = what + status_text(s);
                }
                --group.remaining;
            }
        }
    }

    std::unique_lock<std::mutex> lock(mutex_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
    if (!group.done.wait_until(lock, deadline, [&] { return group.remaining == 0; })) {
        // Let go of the ids still waiting: never used again, so a late answer matches nothing.
        for (uint64_t id : group.ids) {
            auto it = in_flight_.find(id);
            if (it == in_flight_.end() || it->second.group != &group)
                continue;
            group.outcomes[it->second.index].error = "timed out waiting for JetStream's ack";
            in_flight_.erase(it);
        }
        group.remaining = 0;
        room_.notify_all();
    }
    return std::move(group.outcomes);
}

void Publisher::on_reply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<Publisher*>(closure);
    // "<prefix>.<id>": the subscription's subject guarantees the prefix.
    const char* subject = natsMsg_GetSubject(msg);
    const char* dot = strrchr(subject, '.');
    uint64_t id = 0;
    bool id_ok = dot != nullptr && dot[1] != '\0';
    for (const char* p = dot != nullptr ? dot + 1 : ""; id_ok && *p != '\0'; ++p) {
        id_ok = *p >= '0' && *p <= '9' && id < UINT64_MAX / 10;
        id = id * 10 + static_cast<uint64_t>(*p - '0');
    }

    // Read outside the lock; the outcome is written under it.
    PubAck ack;
    std::string error;
    bool no_responders = natsMsg_IsNoResponders(msg);
    bool parsed = false;
    if (id_ok && !no_responders) {
        const char* data = natsMsg_GetData(msg);
        parsed = parse_pub_ack(std::string_view(data != nullptr ? data : "",
                                                static_cast<size_t>(natsMsg_GetDataLength(msg))),
                               ack, error);
    }
    natsMsg_Destroy(msg);
    if (!id_ok)
        return;

    std::lock_guard<std::mutex> lock(self->mutex_);
    auto it = self->in_flight_.find(id);
    if (it == self->in_flight_.end())
        return; // its request gave up on it: the id is not used again
    Slot slot = it->second;
    self->in_flight_.erase(it);
    self->free_ids_.push_back(id); // its one answer came
    PublishOutcome& o = slot.group->outcomes[slot.index];
    if (no_responders) {
        o.error = std::string("JetStream did not store the message: ") +
                  natsStatus_GetText(NATS_NO_RESPONDERS);
    } else if (!parsed) {
        o.error = "JetStream gave no ack: " + error;
    } else if (ack.is_error) {
        o.error = "JetStream did not store the message: " +
                  (ack.description.empty() ? "error " + std::to_string(ack.code) : ack.description);
        if (ack.err_code != 0)
            o.error += " (code " + std::to_string(ack.err_code) + ")";
        if (stream_full(ack.err_code, ack.description))
            o.http_status = 507;
    } else {
        o.stored = true;
        o.duplicate = ack.duplicate;
        o.seq = ack.seq;
        o.stream = std::move(ack.stream);
    }
    if (--slot.group->remaining == 0)
        slot.group->done.notify_all();
    if (self->in_flight_.size() == kMaxInFlight - 1)
        self->room_.notify_all();
}

bool Publisher::stream_ok(std::string& error) {
    if (!connected()) {
        error = "NATS is not connected";
        return false;
    }
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, stream_.c_str(), nullptr, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return true;
    }
    error = "stream " + stream_ + ": " + status_text(s);
    if (s == NATS_NOT_FOUND)
        error = "stream " + stream_ + " does not exist (nomnom.create_stream creates it)";
    return false;
}

void Publisher::on_disconnected(natsConnection*, void* closure) {
    auto* self = static_cast<Publisher*>(closure);
    if (!self->stopping_.load())
        log::warn("disconnected from NATS; answering 503 until it is back", {{"url", self->url_}});
}

void Publisher::on_connected(natsConnection*, void* closure) {
    log::info("connected to NATS", {{"url", static_cast<Publisher*>(closure)->url_}});
}

void Publisher::on_reconnected(natsConnection*, void* closure) {
    log::info("reconnected to NATS", {{"url", static_cast<Publisher*>(closure)->url_}});
}

void Publisher::on_closed(natsConnection*, void* closure) {
    auto* self = static_cast<Publisher*>(closure);
    if (self->stopping_.load())
        log::debug("NATS connection closed");
    else
        log::error("NATS connection closed by the library; answering 503",
                   {{"url", self->url_},
                    {"error", nomnom::describe_connect_failure(NATS_CONNECTION_CLOSED)}});
    std::lock_guard<std::mutex> lock(self->closed_mutex_); // the last use of self
    self->closed_ = true;
    self->closed_cv_.notify_all();
}

void Publisher::on_error(natsConnection*, natsSubscription*, natsStatus err, void*) {
    log::warn("NATS asynchronous error", {{"error", nomnom::describe_connect_failure(err)}});
}

} // namespace bridge
