// nomnom-jstool: a bare nats.c JetStream client for tests and benchmarks (not installed).
//
//   nomnom-jstool create-stream URL NAME SUBJECT...   create (or keep) a file-backed stream
//                                   (JSTOOL_MAX_BYTES: with max_bytes and discard new;
//                                   JSTOOL_REPLICAS: with that many replicas)
//   nomnom-jstool purge URL NAME    remove every message of a stream
//   nomnom-jstool request URL SUBJECT [BODY]   a request (JetStream API calls); prints the reply
//   nomnom-jstool publish URL SUBJECT REPLY [BODY]   a plain message with a reply subject, sent
//                                   and flushed (e2e 046: a pull whose answer goes to a
//                                   worker's inbox, as one its fetch gave up on)
//   nomnom-jstool bench URL SUBJECT COUNT SIZE sync|async
//                                   publish COUNT messages of SIZE bytes with Nats-Msg-Id,
//                                   waiting for every ack; prints msgs/s
//
// The stream is normally created by nomnom.create_stream; this exists so the bridge's tests
// and the benchmark can run before (and without) the extension. URL may be a server list;
// credentials and TLS come from the bridge's variables (NATS_USER, NATS_PASSWORD_FILE,
// NATS_TOKEN_FILE, NATS_NKEY_SEED_FILE, NATS_CREDS_FILE, NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE,
// NATS_TLS_KEY_FILE) through the core's connection builder.
#include "nomnom/nats_connect.hpp"

#include <nats/nats.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int fail(const char* what, natsStatus s) {
    std::fprintf(stderr, "nomnom-jstool: %s: %s (%s)\n", what, natsStatus_GetText(s),
                 nats_GetLastError(nullptr));
    return 1;
}

int create_stream(jsCtx* js, const char* name, std::vector<const char*> subjects) {
    jsStreamConfig cfg;
    natsStatus s = jsStreamConfig_Init(&cfg);
    if (s != NATS_OK)
        return fail("stream config", s);
    cfg.Name = name;
    cfg.Subjects = subjects.data();
    cfg.SubjectsLen = static_cast<int>(subjects.size());
    cfg.Storage = js_FileStorage;
    // JSTOOL_MAX_BYTES: a stream that refuses messages once it holds that much (discard new),
    // for the tests of a full stream. JSTOOL_REPLICAS: its replicas (a cluster's tests).
    if (const char* max_bytes = std::getenv("JSTOOL_MAX_BYTES")) {
        cfg.MaxBytes = std::atoll(max_bytes);
        cfg.Discard = js_DiscardNew;
    }
    if (const char* replicas = std::getenv("JSTOOL_REPLICAS"))
        cfg.Replicas = std::atoi(replicas);
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    s = js_AddStream(&si, js, &cfg, nullptr, &jerr);
    if (s != NATS_OK && jerr == JSStreamNameExistErr) {
        std::printf("stream %s exists\n", name);
        return 0;
    }
    if (s != NATS_OK)
        return fail("add stream", s);
    std::printf("stream %s created\n", name);
    jsStreamInfo_Destroy(si);
    return 0;
}

int bench(jsCtx* js, const char* subject, long count, long size, bool async) {
    std::string payload(static_cast<size_t>(size), 'x');
    auto start = std::chrono::steady_clock::now();
    char id[64];
    natsStatus s = NATS_OK;
    for (long i = 0; i < count && s == NATS_OK; ++i) {
        natsMsg* msg = nullptr;
        std::snprintf(id, sizeof id, "jstool-%lld-%ld",
                      static_cast<long long>(start.time_since_epoch().count()), i);
        s = natsMsg_Create(&msg, subject, nullptr, payload.data(), static_cast<int>(size));
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
        if (s == NATS_OK) {
            if (async) {
                s = js_PublishMsgAsync(js, &msg, nullptr);
            } else {
                jsPubAck* pa = nullptr;
                s = js_PublishMsg(&pa, js, msg, nullptr, nullptr);
                jsPubAck_Destroy(pa);
            }
        }
        natsMsg_Destroy(msg);
    }
    if (s != NATS_OK)
        return fail("publish", s);
    if (async) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 60000;
        s = js_PublishAsyncComplete(js, &po);
        if (s != NATS_OK)
            return fail("waiting for acks", s);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %ld msgs of %ld bytes in %.3f s = %.0f msgs/s\n", async ? "async" : "sync",
                count, size, secs, static_cast<double>(count) / secs);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: nomnom-jstool create-stream URL NAME SUBJECT...\n"
                             "       nomnom-jstool bench URL SUBJECT COUNT SIZE sync|async\n");
        return 2;
    }
    std::string cmd = argv[1];
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    jsOptions jso;
    nomnom::NatsConnectConfig config;
    config.url = argv[2];
    auto env = [](const char* name, std::string& out) {
        if (const char* v = std::getenv(name))
            out = v;
    };
    env("NATS_USER", config.user);
    env("NATS_PASSWORD_FILE", config.password_file);
    env("NATS_TOKEN_FILE", config.token_file);
    env("NATS_NKEY_SEED_FILE", config.nkey_seed_file);
    env("NATS_CREDS_FILE", config.creds_file);
    env("NATS_TLS_CA_FILE", config.tls_ca_file);
    env("NATS_TLS_CERT_FILE", config.tls_cert_file);
    env("NATS_TLS_KEY_FILE", config.tls_key_file);
    nomnom::NatsConnectBehaviour how;
    how.name = "nomnom-jstool";
    how.reconnect = false;
    natsOptions* opts = nullptr;
    std::string error;
    natsStatus s = nats_Open(-1);
    if (s == NATS_OK && nomnom::build_nats_options(config, how, &opts, error) != NATS_OK) {
        std::fprintf(stderr, "nomnom-jstool: %s\n", error.c_str());
        return 1;
    }
    if (s == NATS_OK)
        s = nomnom::connect_nats(&nc, opts, config);
    natsOptions_Destroy(opts);
    if (s == NATS_OK)
        s = jsOptions_Init(&jso);
    if (s == NATS_OK) {
        jso.PublishAsync.MaxPending = 4096;
        s = natsConnection_JetStream(&js, nc, &jso);
    }
    int rc;
    if (s != NATS_OK)
        rc = fail("connect", s);
    else if (cmd == "create-stream")
        rc = create_stream(js, argv[3], std::vector<const char*>(argv + 4, argv + argc));
    else if (cmd == "request") {
        natsMsg* reply = nullptr;
        s = natsConnection_RequestString(&reply, nc, argv[3], argc > 4 ? argv[4] : "", 5000);
        if (s == NATS_OK) {
            std::printf("%.*s\n", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
            natsMsg_Destroy(reply);
            rc = 0;
        } else {
            rc = fail("request", s);
        }
    } else if (cmd == "publish" && argc >= 5) {
        s = natsConnection_PublishRequestString(nc, argv[3], argv[4], argc > 5 ? argv[5] : "");
        if (s == NATS_OK)
            s = natsConnection_Flush(nc);
        rc = s == NATS_OK ? 0 : fail("publish", s);
    } else if (cmd == "purge")
        rc = js_PurgeStream(js, argv[3], nullptr, nullptr) == NATS_OK ? 0 : fail("purge", NATS_ERR);
    else if (cmd == "bench" && argc == 7)
        rc = bench(js, argv[3], std::atol(argv[4]), std::atol(argv[5]),
                   std::strcmp(argv[6], "async") == 0);
    else
        rc = 2;
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_Close();
    return rc;
}
