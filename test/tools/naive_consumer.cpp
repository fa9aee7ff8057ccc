// nomnom-naive-consumer: the benchmark's baseline. One transaction and one ack a message:
// fetch, BEGIN, SELECT nomnom.ingest(entity, body, id), COMMIT, ack.
//
//   nomnom-naive-consumer --url U --stream S [--subject messages.ingest.>] --consumer C --dsn DSN
//                         --count N [--idle-ms 5000]
//
// Creates the durable pull consumer when missing. Prints: consumed=N seconds=T rate=R
#include <libpq-fe.h>
#include <nats/nats.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
    std::string url = "nats://127.0.0.1:4222", stream = "MESSAGES", consumer = "naive",
                subject = "messages.ingest.>", dsn;
    long count = 0, idle_ms = 5000;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        if (k == "--url")
            url = argv[i + 1];
        else if (k == "--stream")
            stream = argv[i + 1];
        else if (k == "--consumer")
            consumer = argv[i + 1];
        else if (k == "--subject")
            subject = argv[i + 1];
        else if (k == "--dsn")
            dsn = argv[i + 1];
        else if (k == "--count")
            count = atol(argv[i + 1]);
        else if (k == "--idle-ms")
            idle_ms = atol(argv[i + 1]);
        else {
            fprintf(stderr, "nomnom-naive-consumer: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    PGconn* pg = PQconnectdb(dsn.c_str());
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "nomnom-naive-consumer: %s", PQerrorMessage(pg));
        return 1;
    }
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsSubscription* sub = nullptr;
    natsStatus s = natsConnection_ConnectTo(&nc, url.c_str());
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, nullptr);
    if (s == NATS_OK) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = stream.c_str();
        so.Config.AckPolicy = js_AckExplicit;
        so.Config.DeliverPolicy = js_DeliverAll;
        so.Config.MaxAckPending = 1000;
        s = js_PullSubscribe(&sub, js, subject.c_str(), consumer.c_str(), nullptr, &so, nullptr);
    }
    if (s != NATS_OK) {
        fprintf(stderr, "nomnom-naive-consumer: NATS: %s: %s\n", natsStatus_GetText(s),
                nats_GetLastError(nullptr));
        return 1;
    }
    long consumed = 0;
    auto start = std::chrono::steady_clock::now();
    auto last = start;
    while (count == 0 || consumed < count) {
        natsMsgList list = {nullptr, 0};
        s = natsSubscription_Fetch(&list, sub, 100, 500, nullptr);
        if (list.Count == 0) {
            natsMsgList_Destroy(&list);
            if (std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - last)
                    .count() > idle_ms)
                break;
            continue;
        }
        for (int i = 0; i < list.Count; i++) {
            natsMsg* msg = list.Msgs[i];
            const char* subject = natsMsg_GetSubject(msg);
            const char* entity = strrchr(subject, '.');
            entity = entity ? entity + 1 : subject;
            std::string body(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
            const char* id = nullptr;
            natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
            std::string uuid_sql;
            PGresult* r = PQexec(pg, "BEGIN");
            PQclear(r);
            const char* params[3] = {entity, body.c_str(), nullptr};
            r = PQexecParams(pg, "SELECT nomnom.ingest($1, $2, $3::uuid)", 3, nullptr, params,
                             nullptr, nullptr, 0);
            bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
            if (!ok)
                fprintf(stderr, "nomnom-naive-consumer: %s", PQerrorMessage(pg));
            PQclear(r);
            r = PQexec(pg, ok ? "COMMIT" : "ROLLBACK");
            PQclear(r);
            natsMsg_Ack(msg, nullptr);
            consumed++;
            (void)id;
        }
        natsMsgList_Destroy(&list);
        last = std::chrono::steady_clock::now();
    }
    double seconds = std::chrono::duration<double>(last - start).count();
    printf("consumed=%ld seconds=%.3f rate=%.1f\n", consumed, seconds,
           seconds > 0 ? consumed / seconds : 0.0);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    PQfinish(pg);
    return 0;
}
