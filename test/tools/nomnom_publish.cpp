// nomnom-publish: publishes generated TPC-H-style orders (1-7 line items each) to JetStream
// and prints the totals a consumer must end up with, so tests can assert exact numbers.
//
//   nomnom-publish --url U --subject S --count N --generate tpch --seed 1
//                  [--start K] [--dup-every K] [--malformed-every K] [--unknown-every K]
//                  [--invalid-every K] [--msg-id-prefix P | --no-msg-id] [--dry-run]
//                  [--copy-dir DIR]
//   nomnom-publish --url U --subject S --body DOCUMENT [--msg-id ID]   (one given message)
// --header NAME:VALUE (repeatable) adds a header to every message, e.g. Nomnom-Entity:Order.
//
// Prints one line:  orders=N line_items=M sum_extended_price=X.YY published=P
//                   duplicates_sent=D dead_letters=E jetstream_duplicates=S errors=F
// orders/line_items/sum_extended_price are what the tables hold once every message is
// written; dead_letters is how many messages are bad on purpose (malformed JSON, an
// unknown entity, a document missing a required field).
// --copy-dir writes orders.csv and order_line_items.csv of the same rows (for COPY).
#include <nats/nats.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Args {
    std::string url = "nats://127.0.0.1:4222";
    std::string subject = "messages.ingest.Order";
    std::string unknown_subject = "messages.ingest.Unknown";
    long count = 1000;
    long start = 0;
    uint64_t seed = 1;
    long dup_every = 0;
    long malformed_every = 0;
    long unknown_every = 0;
    long invalid_every = 0;
    std::string msg_id_prefix;
    bool no_msg_id = false;
    bool dry_run = false;
    std::string copy_dir;
    bool single = false; // --body: publish one given document instead of generating
    std::string body;
    std::string msg_id;
    std::vector<std::pair<std::string, std::string>> headers; // --header K:V, on every message
};

struct Rng {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    long range(long lo, long hi) {
        return lo + static_cast<long>(next() % static_cast<uint64_t>(hi - lo + 1));
    }
};

std::string cents(int64_t value) {
    char buffer[64];
    snprintf(buffer, sizeof buffer, "%s%" PRId64 ".%02" PRId64, value < 0 ? "-" : "",
             (value < 0 ? -value : value) / 100, (value < 0 ? -value : value) % 100);
    return buffer;
}

std::string date(Rng& rng) {
    char buffer[16];
    snprintf(buffer, sizeof buffer, "%04ld-%02ld-%02ld", rng.range(1992, 1998), rng.range(1, 12),
             rng.range(1, 28));
    return buffer;
}

struct Order {
    std::string key;
    std::string json;
    std::vector<std::string> line_csv;
    std::string order_csv;
    int lines = 0;
    int64_t extended_cents = 0;
};

// Order number `i` of the run with `seed`: the same i and seed always give the same order.
Order make_order(uint64_t seed, long i, const std::string& key_prefix) {
    Rng rng{seed * 1000003ULL + static_cast<uint64_t>(i) * 7919ULL};
    Order o;
    char key[128];
    snprintf(key, sizeof key, "%s%08ld", key_prefix.c_str(), i);
    o.key = key;
    const char* statuses[] = {"O", "F", "P"};
    const char* priorities[] = {"1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"};
    std::string customer = "C" + std::to_string(rng.range(1, 150000));
    std::string status = statuses[rng.range(0, 2)];
    std::string order_date = date(rng);
    std::string priority = priorities[rng.range(0, 4)];
    std::string clerk = "Clerk#" + std::to_string(rng.range(100000000, 100000999));
    o.lines = static_cast<int>(rng.range(1, 7));
    std::string items;
    int64_t total = 0;
    for (int n = 1; n <= o.lines; n++) {
        long quantity = rng.range(1, 50);
        int64_t price = rng.range(90000, 209900); // cents per unit
        int64_t extended = quantity * price / 100;
        long discount = rng.range(0, 10);
        long tax = rng.range(0, 8);
        std::string part = "P" + std::to_string(rng.range(1, 200000));
        std::string supplier = "S" + std::to_string(rng.range(1, 10000));
        std::string ship = date(rng), commit = date(rng), receipt = date(rng);
        const char* flag = rng.range(0, 1) ? "N" : "R";
        const char* line_status = rng.range(0, 1) ? "O" : "F";
        char buffer[1024];
        snprintf(
            buffer, sizeof buffer,
            "%s{\"line_number\":%d,\"part_key\":\"%s\",\"supplier_key\":\"%s\",\"quantity\":%ld,"
            "\"extended_price\":%s,\"discount\":0.%02ld,\"tax\":0.%02ld,\"return_flag\":\"%s\","
            "\"line_status\":\"%s\",\"ship_date\":\"%s\",\"commit_date\":\"%s\",\"receipt_date\":"
            "\"%s\"}",
            n > 1 ? "," : "", n, part.c_str(), supplier.c_str(), quantity, cents(extended).c_str(),
            discount, tax, flag, line_status, ship.c_str(), commit.c_str(), receipt.c_str());
        items += buffer;
        snprintf(buffer, sizeof buffer, "%s,%d,%s,%s,%ld,%s,0.%02ld,0.%02ld,%s,%s,%s,%s,%s",
                 o.key.c_str(), n, part.c_str(), supplier.c_str(), quantity,
                 cents(extended).c_str(), discount, tax, flag, line_status, ship.c_str(),
                 commit.c_str(), receipt.c_str());
        o.line_csv.push_back(buffer);
        total += extended;
        o.extended_cents += extended;
    }
    char buffer[1024];
    snprintf(
        buffer, sizeof buffer,
        "{\"order_key\":\"%s\",\"customer_key\":\"%s\",\"order_status\":\"%s\",\"total_price\":%s,"
        "\"order_date\":\"%s\",\"order_priority\":\"%s\",\"clerk\":\"%s\",\"ship_priority\":0,"
        "\"comment\":\"generated order %ld\",\"line_items\":[",
        o.key.c_str(), customer.c_str(), status.c_str(), cents(total).c_str(), order_date.c_str(),
        priority.c_str(), clerk.c_str(), i);
    o.json = std::string(buffer) + items + "]}";
    snprintf(buffer, sizeof buffer, "%s,%s,%s,%s,%s,%s,%s,0,generated order %ld", o.key.c_str(),
             customer.c_str(), status.c_str(), cents(total).c_str(), order_date.c_str(),
             priority.c_str(), clerk.c_str(), i);
    o.order_csv = buffer;
    return o;
}

std::atomic<long> g_acked{0}, g_stored_duplicates{0}, g_errors{0};

void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void*) {
    if (pa != nullptr) {
        g_acked++;
        if (pa->Duplicate)
            g_stored_duplicates++;
    } else if (pae != nullptr) {
        g_errors++;
    }
    natsMsg_Destroy(msg);
}

[[noreturn]] void usage(const char* why) {
    fprintf(stderr, "nomnom-publish: %s\n", why);
    fprintf(
        stderr,
        "usage: nomnom-publish --url U --subject S --count N --generate tpch --seed S [--start K]\n"
        "       [--dup-every K] [--malformed-every K] [--unknown-every K] [--invalid-every K]\n"
        "       [--msg-id-prefix P | --no-msg-id] [--dry-run] [--copy-dir DIR]\n");
    exit(2);
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; i++) {
        std::string k = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(("missing value for " + k).c_str());
            return argv[++i];
        };
        if (k == "--url")
            a.url = value();
        else if (k == "--subject")
            a.subject = value();
        else if (k == "--unknown-subject")
            a.unknown_subject = value();
        else if (k == "--count")
            a.count = std::stol(value());
        else if (k == "--start")
            a.start = std::stol(value());
        else if (k == "--seed")
            a.seed = std::stoull(value());
        else if (k == "--generate") {
            if (value() != "tpch")
                usage("only --generate tpch is known");
        } else if (k == "--dup-every")
            a.dup_every = std::stol(value());
        else if (k == "--malformed-every")
            a.malformed_every = std::stol(value());
        else if (k == "--unknown-every")
            a.unknown_every = std::stol(value());
        else if (k == "--invalid-every")
            a.invalid_every = std::stol(value());
        else if (k == "--msg-id-prefix")
            a.msg_id_prefix = value();
        else if (k == "--no-msg-id")
            a.no_msg_id = true;
        else if (k == "--dry-run")
            a.dry_run = true;
        else if (k == "--copy-dir")
            a.copy_dir = value();
        else if (k == "--body") {
            a.single = true;
            a.body = value();
        } else if (k == "--msg-id")
            a.msg_id = value();
        else if (k == "--header") {
            std::string kv = value();
            size_t colon = kv.find(':');
            if (colon == std::string::npos || colon == 0)
                usage("--header wants NAME:VALUE");
            a.headers.emplace_back(kv.substr(0, colon), kv.substr(colon + 1));
        } else
            usage(("unknown argument " + k).c_str());
    }
    if (a.msg_id_prefix.empty())
        a.msg_id_prefix = "tpch-" + std::to_string(a.seed) + "-";
    return a;
}

} // namespace

int main(int argc, char** argv) {
    Args a = parse(argc, argv);
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsStatus s = NATS_OK;
    if (!a.dry_run) {
        s = natsConnection_ConnectTo(&nc, a.url.c_str());
        if (s == NATS_OK) {
            jsOptions jo;
            jsOptions_Init(&jo);
            jo.PublishAsync.MaxPending = 4096;
            // Wait up to 10 s (not 200 ms) for acks when 4096 are pending: on a loaded machine
            // nats-server's fsync can hold them longer, and a stalled publish fails the run.
            jo.PublishAsync.StallWait = 10000;
            jo.PublishAsync.AckHandler = on_ack;
            jo.Wait = 10000;
            s = natsConnection_JetStream(&js, nc, &jo);
        }
        if (s != NATS_OK) {
            fprintf(stderr, "nomnom-publish: cannot connect to %s: %s\n", a.url.c_str(),
                    natsStatus_GetText(s));
            return 1;
        }
    }
    FILE* orders_csv = nullptr;
    FILE* lines_csv = nullptr;
    if (!a.copy_dir.empty()) {
        orders_csv = fopen((a.copy_dir + "/orders.csv").c_str(), "w");
        lines_csv = fopen((a.copy_dir + "/order_line_items.csv").c_str(), "w");
        if (!orders_csv || !lines_csv) {
            fprintf(stderr, "nomnom-publish: cannot write to %s\n", a.copy_dir.c_str());
            return 1;
        }
    }

    long published = 0, duplicates_sent = 0, dead_letters = 0, total_lines = 0;
    int64_t total_cents = 0;
    std::string key_prefix = "S" + std::to_string(a.seed) + "-";
    auto publish = [&](const std::string& subject, const std::string& body, const std::string& id) {
        published++;
        if (a.dry_run)
            return;
        natsMsg* msg = nullptr;
        natsStatus ps = natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(),
                                       static_cast<int>(body.size()));
        if (ps == NATS_OK && !id.empty())
            ps = natsMsgHeader_Set(msg, "Nats-Msg-Id", id.c_str());
        for (const auto& header : a.headers) {
            if (ps == NATS_OK)
                ps = natsMsgHeader_Add(msg, header.first.c_str(), header.second.c_str());
        }
        if (ps == NATS_OK)
            ps = js_PublishMsgAsync(js, &msg, nullptr);
        if (ps != NATS_OK) {
            fprintf(stderr, "nomnom-publish: publish failed: %s\n", natsStatus_GetText(ps));
            natsMsg_Destroy(msg);
            exit(1);
        }
    };
    if (a.single) {
        publish(a.subject, a.body, a.no_msg_id ? "" : a.msg_id);
        a.count = 0;
    }
    for (long i = a.start; !a.single && i < a.start + a.count; i++) {
        Order o = make_order(a.seed, i, key_prefix);
        std::string id = a.no_msg_id ? "" : a.msg_id_prefix + std::to_string(i);
        publish(a.subject, o.json, id);
        total_lines += o.lines;
        total_cents += o.extended_cents;
        if (orders_csv) {
            fprintf(orders_csv, "%s\n", o.order_csv.c_str());
            for (const auto& line : o.line_csv)
                fprintf(lines_csv, "%s\n", line.c_str());
        }
        long n = i - a.start + 1;
        if (a.dup_every > 0 && n % a.dup_every == 0) {
            publish(a.subject, o.json, id); // same id: written once
            duplicates_sent++;
        }
        if (a.malformed_every > 0 && n % a.malformed_every == 0) {
            std::string broken = o.json.substr(0, o.json.size() / 2);
            publish(a.subject, broken,
                    a.no_msg_id ? "" : a.msg_id_prefix + "malformed-" + std::to_string(i));
            dead_letters++;
        }
        if (a.unknown_every > 0 && n % a.unknown_every == 0) {
            publish(a.unknown_subject, o.json,
                    a.no_msg_id ? "" : a.msg_id_prefix + "unknown-" + std::to_string(i));
            dead_letters++;
        }
        if (a.invalid_every > 0 && n % a.invalid_every == 0) {
            std::string invalid = o.json;
            size_t at = invalid.find("\"order_date\"");
            invalid.replace(at, 12, "\"order_day\"");
            std::string other_key = key_prefix + "invalid-" + std::to_string(i);
            size_t key_at = invalid.find(o.key);
            invalid.replace(key_at, o.key.size(), other_key);
            publish(a.subject, invalid,
                    a.no_msg_id ? "" : a.msg_id_prefix + "invalid-" + std::to_string(i));
            dead_letters++;
        }
    }
    if (!a.dry_run) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 60000;
        s = js_PublishAsyncComplete(js, &po);
        if (s != NATS_OK)
            fprintf(stderr, "nomnom-publish: waiting for acks failed: %s\n", natsStatus_GetText(s));
    }
    if (orders_csv) {
        fclose(orders_csv);
        fclose(lines_csv);
    }
    printf("orders=%ld line_items=%ld sum_extended_price=%s published=%ld duplicates_sent=%ld "
           "dead_letters=%ld "
           "jetstream_duplicates=%ld errors=%ld\n",
           a.count, total_lines, cents(total_cents).c_str(), published, duplicates_sent,
           dead_letters, g_stored_duplicates.load(), g_errors.load());
    if (js)
        jsCtx_Destroy(js);
    if (nc)
        natsConnection_Destroy(nc);
    return (s == NATS_OK && g_errors.load() == 0) ? 0 : 1;
}
