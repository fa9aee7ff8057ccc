#include "streams/jetstream_client.hpp"

#include "nomnom/nats_connect.hpp"
#include "nomnom/stream_options.hpp"
#include "pg/signal_safe_thread.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

void report_change(natsConnection* nc, NatsEvents* events) {
    if (events->changed != nullptr)
        events->changed(nc, events->changed_arg);
}
void on_disconnected(natsConnection* nc, void* closure) {
    static_cast<NatsEvents*>(closure)->disconnected.store(true);
    report_change(nc, static_cast<NatsEvents*>(closure));
}
void on_reconnected(natsConnection* nc, void* closure) {
    static_cast<NatsEvents*>(closure)->reconnected.store(true);
    report_change(nc, static_cast<NatsEvents*>(closure));
}
void on_closed(natsConnection* nc, void* closure) {
    static_cast<NatsEvents*>(closure)->closed.store(true);
    report_change(nc, static_cast<NatsEvents*>(closure));
}

std::string describe(natsStatus s) {
    char buffer[512];
    nn_describe(s, buffer, sizeof buffer);
    return buffer;
}

void set_error(char* err, size_t errlen, const std::string& text) {
    snprintf(err, errlen, "%s", text.c_str());
}

std::string join(const std::vector<std::string>& items) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); i++) {
        if (i)
            out += ", ";
        out += items[i];
    }
    return out + "]";
}

struct StreamShape {
    std::vector<std::string> subjects;
    std::string storage;
    int64_t replicas;
    int64_t max_age_ms;
    int64_t max_bytes;
    int64_t duplicate_window_ms;

    std::string text() const {
        return "subjects " + join(subjects) + ", storage " + storage + ", replicas " +
               std::to_string(replicas) + ", max_age " + std::to_string(max_age_ms) +
               " ms, max_bytes " + std::to_string(max_bytes) + ", duplicate_window " +
               std::to_string(duplicate_window_ms) + " ms";
    }
};

StreamShape shape_of(const jsStreamConfig* cfg) {
    StreamShape shape;
    for (int i = 0; i < cfg->SubjectsLen; i++)
        shape.subjects.emplace_back(cfg->Subjects[i]);
    shape.storage = cfg->Storage == js_MemoryStorage ? "memory" : "file";
    shape.replicas = cfg->Replicas;
    shape.max_age_ms = cfg->MaxAge / 1000000;
    shape.max_bytes = cfg->MaxBytes;
    shape.duplicate_window_ms = cfg->Duplicates / 1000000;
    return shape;
}

// Why JetStream refused a stream's configuration, naming the limit: "max_bytes N is beyond
// what the servers can hold" or "replicas N is more than the cluster can place", then
// JetStream's own reason and code.
std::string refusal(natsStatus s, jsErrCode code, const jsStreamConfig& cfg) {
    std::string reason = describe(s);
    if (code != 0)
        reason += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
    std::string lower;
    for (char ch : reason)
        lower.push_back(static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch));
    const char* storage = cfg.Storage == js_MemoryStorage ? "memory" : "file";
    if (code == JSClusterNoPeersErr || code == JSStreamReplicasNotSupportedErr ||
        lower.find("replicas") != std::string::npos || lower.find("peers") != std::string::npos)
        return "replicas " + std::to_string(cfg.Replicas) +
               " is more than the NATS cluster can place: " + reason;
    if (code == JSInsufficientResourcesErr || code == JSStorageResourcesExceededErr ||
        code == JSMemoryResourcesExceededErr || lower.find("resources") != std::string::npos ||
        lower.find("max_bytes") != std::string::npos ||
        lower.find("maximum bytes") != std::string::npos)
        return "max_bytes " + std::to_string(cfg.MaxBytes) + " (" + storage +
               " storage, replicas " + std::to_string(cfg.Replicas) +
               ") is beyond what JetStream's limits allow: " + reason;
    return reason;
}

// Ensures one stream. `strict_subjects`: an existing stream with other subjects is an error
// in every mode, since messages would silently go elsewhere. `*created` (when given) is set
// when the stream did not exist and was made.
natsStatus ensure_stream(jsCtx* js, const char* name, const std::vector<std::string>& subjects,
                         const nomnom::StreamOptions& options, NnEnsureMode mode, bool is_dlq,
                         char* err, size_t errlen, bool* created = nullptr) {
    std::vector<const char*> subject_ptrs;
    for (const auto& s : subjects)
        subject_ptrs.push_back(s.c_str());
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    cfg.Subjects = subject_ptrs.data();
    cfg.SubjectsLen = static_cast<int>(subject_ptrs.size());
    cfg.Storage = options.storage == "memory" ? js_MemoryStorage : js_FileStorage;
    cfg.Replicas = options.replicas;
    if (!is_dlq) {
        cfg.MaxAge = options.max_age_ms * 1000000;
        cfg.MaxBytes = options.max_bytes;
        cfg.Duplicates = options.duplicate_window_ms * 1000000;
    }

    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&info, js, name, nullptr, &code);
    if (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr) {
        s = js_AddStream(&info, js, &cfg, nullptr, &code);
        if (created != nullptr)
            *created = s == NATS_OK;
        if (s != NATS_OK)
            set_error(err, errlen,
                      std::string("could not create JetStream stream \"") + name +
                          "\": " + refusal(s, code, cfg));
        if (info)
            jsStreamInfo_Destroy(info);
        return s;
    }
    if (s != NATS_OK) {
        set_error(err, errlen,
                  std::string("could not read JetStream stream \"") + name + "\": " + describe(s));
        return s;
    }

    StreamShape existing = shape_of(info->Config);
    StreamShape wanted = shape_of(&cfg);
    if (is_dlq) {
        wanted.max_age_ms = existing.max_age_ms;
        wanted.max_bytes = existing.max_bytes;
        wanted.duplicate_window_ms = existing.duplicate_window_ms;
    }
    jsStreamInfo_Destroy(info);
    info = nullptr;

    std::set<std::string> a(existing.subjects.begin(), existing.subjects.end());
    std::set<std::string> b(wanted.subjects.begin(), wanted.subjects.end());
    bool subjects_differ = a != b;
    bool fixed_differ = existing.storage != wanted.storage || existing.replicas != wanted.replicas;
    bool limits_differ = existing.max_age_ms != wanted.max_age_ms ||
                         existing.max_bytes != wanted.max_bytes ||
                         existing.duplicate_window_ms != wanted.duplicate_window_ms;

    if (subjects_differ || (mode == NN_ENSURE_VERIFY && (fixed_differ || limits_differ))) {
        if (mode == NN_ENSURE_ADOPT && !subjects_differ)
            return NATS_OK;
        std::string what = subjects_differ ? "subjects " + join(existing.subjects) + ", not " +
                                                 join(wanted.subjects) + " as requested"
                                           : "a different configuration";
        set_error(err, errlen,
                  std::string("JetStream stream \"") + name + "\" already exists with " + what +
                      "|existing: " + existing.text() + "; requested: " + wanted.text());
        return NATS_MISMATCH;
    }
    if (mode == NN_ENSURE_UPDATE && (fixed_differ || limits_differ) && !is_dlq) {
        s = js_UpdateStream(&info, js, &cfg, nullptr, &code);
        if (info)
            jsStreamInfo_Destroy(info);
        if (s != NATS_OK) {
            set_error(err, errlen,
                      std::string("could not update JetStream stream \"") + name + "\" to " +
                          wanted.text() + ": " + refusal(s, code, cfg));
            return s;
        }
    }
    return NATS_OK;
}

natsStatus ensure_consumer(jsCtx* js, const char* stream, const nomnom::StreamOptions& options,
                           NnEnsureMode mode, char* err, size_t errlen, int64_t* max_ack_pending) {
    jsConsumerConfig cfg;
    jsConsumerConfig_Init(&cfg);
    cfg.Durable = options.consumer.c_str();
    cfg.Description = "nomnom background workers";
    cfg.AckPolicy = js_AckExplicit;
    cfg.DeliverPolicy = js_DeliverAll;
    cfg.AckWait = options.ack_wait_ms * 1000000;
    // The worker enforces max_deliver itself (it dead-letters at the last attempt), so the
    // server never drops a message silently.
    cfg.MaxDeliver = -1;
    // Room for each worker's held pipelined batches, the one it writes and the next it fetches
    // (kNnMaxHeldBatches): with less, the prefetch waits for the held batches' acks.
    cfg.MaxAckPending = std::max<int64_t>(
        1000, int64_t(options.batch_size) * std::max(1, options.workers) * (kNnMaxHeldBatches + 2));
    cfg.MaxWaiting = 512;

    jsConsumerInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&info, js, stream, cfg.Durable, nullptr, &code);
    if (s == NATS_NOT_FOUND || code == JSConsumerNotFoundErr) {
        s = js_AddConsumer(&info, js, stream, &cfg, nullptr, &code);
        if (info)
            jsConsumerInfo_Destroy(info);
        if (s != NATS_OK)
            set_error(err, errlen,
                      "could not create durable consumer \"" + options.consumer +
                          "\" on JetStream stream \"" + stream + "\": " + describe(s));
        else if (max_ack_pending != nullptr)
            *max_ack_pending = cfg.MaxAckPending;
        return s;
    }
    if (s != NATS_OK) {
        set_error(err, errlen,
                  "could not read durable consumer \"" + options.consumer +
                      "\" of JetStream stream \"" + stream + "\": " + describe(s));
        return s;
    }
    bool differs = info->Config->AckWait != cfg.AckWait ||
                   info->Config->MaxDeliver != cfg.MaxDeliver ||
                   info->Config->MaxAckPending < cfg.MaxAckPending ||
                   info->Config->AckPolicy != js_AckExplicit;
    if (max_ack_pending != nullptr) // as it is, unless updated below
        *max_ack_pending = info->Config->MaxAckPending;
    jsConsumerInfo_Destroy(info);
    info = nullptr;
    if (differs && mode != NN_ENSURE_ADOPT) {
        s = js_UpdateConsumer(&info, js, stream, &cfg, nullptr, &code);
        if (info)
            jsConsumerInfo_Destroy(info);
        if (s != NATS_OK) {
            set_error(err, errlen,
                      "could not update durable consumer \"" + options.consumer +
                          "\" of JetStream stream \"" + stream + "\": " + describe(s));
            return s;
        }
        if (max_ack_pending != nullptr)
            *max_ack_pending = cfg.MaxAckPending;
    }
    return NATS_OK;
}

} // namespace

void nn_describe(natsStatus s, char* out, size_t outlen) noexcept {
    try {
        snprintf(out, outlen, "%s", nomnom::nats_status_text(s).c_str());
    } catch (...) {
        snprintf(out, outlen, "%s", natsStatus_GetText(s));
    }
}

int nn_connection_state(natsConnection* nc, char* server, size_t serverlen) noexcept {
    if (serverlen > 0)
        server[0] = '\0';
    if (nc == nullptr)
        return NATS_CONN_STATUS_DISCONNECTED;
    int status = natsConnection_Status(nc);
    char url[1024];
    if (status == NATS_CONN_STATUS_CONNECTED &&
        natsConnection_GetConnectedUrl(nc, url, sizeof url) == NATS_OK) {
        try {
            snprintf(server, serverlen, "%s", nomnom::redact_urls(url).c_str());
        } catch (...) {
            // out of memory: no server shown rather than one with its user info
        }
    }
    return status;
}

natsStatus nn_connect(const nomnom::StreamOptions& options, const char* name, NatsEvents* events,
                      int timeout_ms, natsConnection** nc, jsCtx** js, char* err,
                      size_t errlen) noexcept {
    *nc = nullptr;
    *js = nullptr;
    try {
        nomnom::BlockedSignals block; // nats_Open and the connection start threads
        nomnom::NatsConnectConfig config = nomnom::nats_connect_config(options);
        std::string url = nomnom::redact_urls(config.url);
        natsOptions* opts = nullptr;
        natsStatus s = nats_Open(-1);
        if (s != NATS_OK) {
            set_error(err, errlen, "could not start the NATS library: " + describe(s));
            return s;
        }
        nomnom::NatsConnectBehaviour how;
        how.name = name;
        how.timeout_ms = timeout_ms;
        how.reconnect = events != nullptr;
        std::string error;
        s = nomnom::build_nats_options(config, how, &opts, error);
        if (s != NATS_OK) {
            set_error(err, errlen, "cannot connect to NATS at " + url + ": " + error);
            return s;
        }
        if (events != nullptr) {
            s = natsOptions_SetReconnectBufSize(opts, 32 * 1024 * 1024);
            if (s == NATS_OK)
                s = natsOptions_SetDisconnectedCB(opts, on_disconnected, events);
            if (s == NATS_OK)
                s = natsOptions_SetReconnectedCB(opts, on_reconnected, events);
            if (s == NATS_OK)
                s = natsOptions_SetClosedCB(opts, on_closed, events);
        }
        if (s == NATS_OK)
            s = nomnom::connect_nats(nc, opts, config);
        if (s == NATS_OK) {
            jsOptions jo;
            jsOptions_Init(&jo);
            jo.Wait = 5000;
            s = natsConnection_JetStream(js, *nc, &jo);
        }
        if (s != NATS_OK) {
            set_error(err, errlen,
                      "could not connect to NATS at " + url + ": " +
                          nomnom::describe_connect_failure(s, config));
            if (*nc != nullptr)
                natsConnection_Destroy(*nc);
            *nc = nullptr;
            *js = nullptr;
        }
        natsOptions_Destroy(opts);
        return s;
    } catch (...) {
        snprintf(err, errlen, "out of memory");
        return NATS_NO_MEMORY;
    }
}

void nn_disconnect(natsConnection* nc, jsCtx* js, int flush_ms) noexcept {
    if (js != nullptr)
        jsCtx_Destroy(js);
    if (nc != nullptr) {
        if (flush_ms > 0 && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED)
            natsConnection_FlushTimeout(nc, flush_ms);
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
}

natsStatus nn_ensure_jetstream(jsCtx* js, const char* name, const char* const* subjects,
                               int nsubjects, const nomnom::StreamOptions& options,
                               NnEnsureMode mode, char* err, size_t errlen,
                               int64_t* max_ack_pending, bool* created) noexcept {
    if (created != nullptr)
        *created = false;
    try {
        std::vector<std::string> wanted(subjects, subjects + nsubjects);
        natsStatus s = ensure_stream(js, name, wanted, options, mode, false, err, errlen, created);
        if (s == NATS_OK && options.dlq_stream != name)
            s = ensure_stream(js, options.dlq_stream.c_str(), {"messages.dlq.>"}, options,
                              mode == NN_ENSURE_VERIFY ? NN_ENSURE_ADOPT : mode, true, err, errlen);
        // Entity events: their stream keeps the duplicate window (a republished event is
        // deduplicated by its Nats-Msg-Id), and is shared by the streams that publish there.
        if (s == NATS_OK && options.publish_entities && options.entities_stream != name)
            s = ensure_stream(js, options.entities_stream.c_str(), {nomnom::kEntitiesSubjects},
                              options, NN_ENSURE_ADOPT, false, err, errlen);
        if (s == NATS_OK)
            s = ensure_consumer(js, name, options, mode, err, errlen, max_ack_pending);
        return s;
    } catch (...) {
        snprintf(err, errlen, "out of memory");
        return NATS_NO_MEMORY;
    }
}

natsStatus nn_delete_stream(jsCtx* js, const char* name, char* err, size_t errlen) noexcept {
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_DeleteStream(js, name, nullptr, &code);
    if (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr)
        return NATS_OK;
    if (s != NATS_OK) {
        char reason[512];
        nn_describe(s, reason, sizeof reason);
        snprintf(err, errlen, "could not delete JetStream stream \"%s\": %s", name, reason);
    }
    return s;
}

natsStatus nn_pull_subscribe(jsCtx* js, const char* stream, const char* consumer,
                             natsSubscription** sub, char* err, size_t errlen) noexcept {
    nomnom::BlockedSignals block;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Consumer = consumer;
    so.ManualAck = true;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_PullSubscribe(sub, js, nullptr, consumer, nullptr, &so, &code);
    if (s != NATS_OK) {
        char reason[512];
        nn_describe(s, reason, sizeof reason);
        snprintf(err, errlen,
                 "could not subscribe to consumer \"%s\" of JetStream stream \"%s\": %s", consumer,
                 stream, reason);
        *sub = nullptr;
    }
    return s;
}

natsStatus nn_publish(jsCtx* js, natsMsg* msg, int timeout_ms, char* err, size_t errlen) noexcept {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = timeout_ms;
    jsPubAck* ack = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_PublishMsg(&ack, js, msg, &po, &code);
    if (ack != nullptr)
        jsPubAck_Destroy(ack);
    if (s != NATS_OK) {
        char reason[512];
        nn_describe(s, reason, sizeof reason);
        snprintf(err, errlen, "could not publish to \"%s\": %s", natsMsg_GetSubject(msg), reason);
    }
    return s;
}

struct NnPublisher {
    jsCtx* js = nullptr;
    std::mutex mutex;
    std::condition_variable done;
    // The messages of the current call still waiting for their ack -> their place; a late ack
    // of an earlier call finds nothing and is only freed.
    std::unordered_map<natsMsg*, int> waiting;
    char* stored = nullptr;
    std::string first_error;
    uint64_t call = 0;
};

namespace {
void on_publish_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* p = static_cast<NnPublisher*>(closure);
    {
        std::lock_guard<std::mutex> lock(p->mutex);
        auto it = p->waiting.find(msg);
        if (it != p->waiting.end()) {
            if (pa != nullptr) {
                p->stored[it->second] = 1;
            } else if (p->first_error.empty()) {
                p->first_error = "JetStream did not store the event on \"" +
                                 std::string(natsMsg_GetSubject(msg)) + "\": " +
                                 (pae != nullptr && pae->ErrText != nullptr
                                      ? pae->ErrText
                                      : natsStatus_GetText(pae != nullptr ? pae->Err : NATS_ERR));
            }
            p->waiting.erase(it);
            if (p->waiting.empty())
                p->done.notify_all();
        }
    }
    natsMsg_Destroy(msg);
}
} // namespace

natsStatus nn_publisher_create(natsConnection* nc, NnPublisher** out, char* err,
                               size_t errlen) noexcept {
    *out = nullptr;
    try {
        auto p = std::make_unique<NnPublisher>();
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.PublishAsync.AckHandler = on_publish_ack;
        jo.PublishAsync.AckHandlerClosure = p.get();
        jo.PublishAsync.MaxPending = 4096;
        jo.PublishAsync.StallWait = 5000;
        natsStatus s = natsConnection_JetStream(&p->js, nc, &jo);
        if (s != NATS_OK) {
            char reason[512];
            nn_describe(s, reason, sizeof reason);
            snprintf(err, errlen, "could not make a JetStream context for entity events: %s",
                     reason);
            return s;
        }
        *out = p.release();
        return NATS_OK;
    } catch (...) {
        snprintf(err, errlen, "out of memory");
        return NATS_NO_MEMORY;
    }
}

natsStatus nn_publish_many(NnPublisher* p, natsMsg** msgs, int n, int timeout_ms, char* stored,
                           char* err, size_t errlen) noexcept {
    try {
        memset(stored, 0, n);
        {
            std::lock_guard<std::mutex> lock(p->mutex);
            p->waiting.clear();
            p->stored = stored;
            p->first_error.clear();
        }
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = timeout_ms; // the library reports an unacknowledged message as failed
        std::string failure;
        // The first asynchronous publish starts the thread of the context's reply
        // subscription: with signals blocked, as every thread of the worker.
        nomnom::BlockedSignals block;
        for (int i = 0; i < n; ++i) {
            natsMsg* msg = msgs[i];
            msgs[i] = nullptr;
            if (!failure.empty()) {
                natsMsg_Destroy(msg);
                continue;
            }
            {
                // Registered first: the ack can come before js_PublishMsgAsync returns.
                std::lock_guard<std::mutex> lock(p->mutex);
                p->waiting[msg] = i;
            }
            natsMsg* key = msg;
            natsStatus s = js_PublishMsgAsync(p->js, &msg, &po);
            if (s != NATS_OK) {
                std::lock_guard<std::mutex> lock(p->mutex);
                p->waiting.erase(key);
                natsMsg_Destroy(msg); // not taken
                char reason[512];
                nn_describe(s, reason, sizeof reason);
                failure = std::string("could not publish an entity event: ") + reason;
            }
        }
        std::unique_lock<std::mutex> lock(p->mutex);
        bool all = p->done.wait_for(lock, std::chrono::milliseconds(timeout_ms + 1000),
                                    [&] { return p->waiting.empty(); });
        if (!all) {
            p->waiting.clear(); // late acks are only freed
            if (failure.empty())
                failure = "timed out waiting for JetStream's acks of entity events";
        }
        if (failure.empty())
            failure = p->first_error;
        p->stored = nullptr;
        for (int i = 0; i < n && failure.empty(); ++i)
            if (!stored[i])
                failure = "an entity event was not acknowledged";
        if (!failure.empty()) {
            snprintf(err, errlen, "%s", failure.c_str());
            return NATS_ERR;
        }
        return NATS_OK;
    } catch (...) {
        snprintf(err, errlen, "out of memory");
        return NATS_NO_MEMORY;
    }
}

void nn_publisher_destroy(NnPublisher* p) noexcept {
    if (p == nullptr)
        return;
    if (p->js != nullptr)
        jsCtx_Destroy(p->js);
    delete p;
}

natsStatus nn_consumer_pending(jsCtx* js, const char* stream, const char* consumer,
                               int64_t* undelivered, int64_t* unacknowledged) noexcept {
    jsConsumerInfo* info = nullptr;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 1000;
    natsStatus s = js_GetConsumerInfo(&info, js, stream, consumer, &jo, nullptr);
    if (s == NATS_OK) {
        *undelivered = static_cast<int64_t>(info->NumPending);
        *unacknowledged = info->NumAckPending;
        jsConsumerInfo_Destroy(info);
    }
    return s;
}
