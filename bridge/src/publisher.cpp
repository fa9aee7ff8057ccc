#include "publisher.hpp"

#include "log.hpp"

#include <chrono>
#include <condition_variable>

namespace bridge {

// The acks one request is waiting for.
struct Publisher::Group {
    std::mutex mutex;
    std::condition_variable done;
    size_t remaining = 0;
    std::vector<PublishOutcome> outcomes;
};

namespace {
std::string status_text(natsStatus s) {
    return nomnom::nats_status_text(s);
}

// JetStream's errors for a stream that cannot take more: a full stream with discard new
// (max_bytes, max_msgs, max_msgs_per_subject), or servers out of storage.
bool stream_full(const jsPubAckErr* pae) {
    std::string text = pae->ErrText != nullptr ? pae->ErrText : "";
    return pae->ErrCode == JSStreamStoreFailedErr || pae->ErrCode == JSInsufficientResourcesErr ||
           pae->ErrCode == JSStorageResourcesExceededErr ||
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
    jsOptions jso;
    if (s == NATS_OK)
        s = jsOptions_Init(&jso);
    if (s == NATS_OK) {
        jso.PublishAsync.AckHandler = on_ack;
        jso.PublishAsync.AckHandlerClosure = this;
        // Bounds memory when JetStream is slower than the clients; a request that cannot
        // get a slot within StallWait fails as not stored.
        jso.PublishAsync.MaxPending = 65536;
        jso.PublishAsync.StallWait = timeout_ms_;
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
    // Reverse order of creation. Every request has finished by now (the HTTP server is
    // stopped first), so no request waits on an ack the closed connection would never bring.
    if (js_ != nullptr) {
        jsCtx_Destroy(js_);
        js_ = nullptr;
    }
    if (nc_ != nullptr) {
        natsConnection_Close(nc_);
        natsConnection_Destroy(nc_);
        nc_ = nullptr;
    }
    if (opts_ != nullptr) {
        natsOptions_Destroy(opts_);
        opts_ = nullptr;
    }
    // Anything still listed was abandoned by a timed-out request and is the library's to free.
    std::lock_guard<std::mutex> lock(pending_mutex_);
    pending_.clear();
}

bool Publisher::connected() const {
    return nc_ != nullptr && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

std::vector<PublishOutcome> Publisher::publish(const std::vector<PublishItem>& items) {
    auto group = std::make_shared<Group>();
    group->outcomes.resize(items.size());
    group->remaining = items.size();

    jsPubOptions po;
    jsPubOptions_Init(&po);
    // The library times out an unacknowledged message itself and calls on_ack with an error,
    // so every published message reports back exactly once.
    po.MaxWait = timeout_ms_;

    auto fail_now = [&](size_t i, const std::string& error, int http_status = 503) {
        std::lock_guard<std::mutex> lock(group->mutex);
        group->outcomes[i].error = error;
        group->outcomes[i].http_status = http_status;
        --group->remaining;
    };
    auto payload_error = [](size_t size, int64_t limit) {
        return "the document is " + std::to_string(size) +
               " bytes with its headers, over the NATS server's max_payload of " +
               std::to_string(limit) + " bytes";
    };

    std::vector<natsMsg*> published; // the library's once marked sent (below)
    published.reserve(items.size());
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
        natsMsg* msg = nullptr;
        natsStatus s = natsMsg_Create(&msg, item.subject, nullptr, item.payload.data(),
                                      static_cast<int>(item.payload.size()));
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Nats-Msg-Id", item.message_id);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Nomnom-Entity", item.entity);
        if (s != NATS_OK) {
            natsMsg_Destroy(msg);
            fail_now(i, "cannot build the message: " + status_text(s));
            continue;
        }
        natsMsg* key = msg;
        {
            // Registered before publishing: the ack can arrive before js_PublishMsgAsync returns.
            std::lock_guard<std::mutex> lock(pending_mutex_);
            pending_[key] = Slot{group, i};
        }
        s = js_PublishMsgAsync(js_, &msg, &po);
        if (s == NATS_OK) {
            published.push_back(key);
        } else {
            // The library did not take the message (msg is still ours) and will not call on_ack.
            {
                std::lock_guard<std::mutex> lock(pending_mutex_);
                pending_.erase(key);
            }
            natsMsg_Destroy(msg);
            if (s == NATS_MAX_PAYLOAD)
                fail_now(i, payload_error(item.payload.size(), natsConnection_GetMaxPayload(nc_)),
                         413);
            else
                fail_now(i, "publish failed: " + status_text(s));
        }
    }

    {
        // From here on_ack destroys each message; one it reported already is ours to destroy.
        std::lock_guard<std::mutex> lock(pending_mutex_);
        for (natsMsg* key : published) {
            auto it = pending_.find(key);
            if (it == pending_.end())
                continue; // stop() let go of it
            if (it->second.acked) {
                pending_.erase(it);
                natsMsg_Destroy(key);
            } else {
                it->second.sent = true;
            }
        }
    }

    std::unique_lock<std::mutex> lock(group->mutex);
    // A margin over MaxWait: normally the library's own timeout reports first.
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_ + 1000);
    if (!group->done.wait_until(lock, deadline, [&] { return group->remaining == 0; })) {
        for (PublishOutcome& o : group->outcomes)
            if (!o.stored && o.error.empty())
                o.error = "timed out waiting for JetStream's ack";
    }
    if (group->remaining == 0)
        return std::move(group->outcomes); // every ack is in: nobody writes to it any more
    // Late acks still find the group (shared_ptr in pending_) and write into it: copy.
    return group->outcomes;
}

void Publisher::on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<Publisher*>(closure);
    Slot slot;
    bool ours = true; // to destroy here
    {
        std::lock_guard<std::mutex> lock(self->pending_mutex_);
        auto it = self->pending_.find(msg);
        if (it != self->pending_.end()) {
            if (it->second.sent) {
                slot = std::move(it->second);
                self->pending_.erase(it);
            } else {
                it->second.acked = true; // still being sent: publish() destroys it
                slot = it->second;
                ours = false;
            }
        }
    }
    if (slot.group) {
        std::lock_guard<std::mutex> lock(slot.group->mutex);
        PublishOutcome& o = slot.group->outcomes[slot.index];
        if (pa != nullptr) {
            o.stored = true;
            o.duplicate = pa->Duplicate;
            o.seq = pa->Sequence;
            o.stream = pa->Stream != nullptr ? pa->Stream : "";
        } else if (pae != nullptr) {
            o.error =
                "JetStream did not store the message: " +
                std::string(pae->ErrText != nullptr ? pae->ErrText : natsStatus_GetText(pae->Err));
            if (pae->ErrCode != 0)
                o.error += " (code " + std::to_string(pae->ErrCode) + ")";
            if (stream_full(pae))
                o.http_status = 507;
        } else {
            o.error = "JetStream gave no ack";
        }
        if (slot.group->remaining > 0 && --slot.group->remaining == 0)
            slot.group->done.notify_all();
    }
    if (ours)
        natsMsg_Destroy(msg); // ours again once the library calls back
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
}

void Publisher::on_error(natsConnection*, natsSubscription*, natsStatus err, void*) {
    log::warn("NATS asynchronous error", {{"error", nomnom::describe_connect_failure(err)}});
}

} // namespace bridge
