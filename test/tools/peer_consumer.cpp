// nomnom-peer-consumer: the benchmark's peer row, the strong hand-written consumer a team
// would write instead of nomnom, for the bench's two tables (orders, order_line_items).
// Built on nats.c and libpq's COPY protocol, with the same exactly-once ledger as nomnom:
//
//  - a pull consumer; a second thread fetches the next batch and parses it (RapidJSON) into
//    COPY text while the current batch is written (one batch ahead, as nomnom's prefetch);
//  - each batch is one transaction: its message ids are claimed in nomnom.message_status
//    (the same rows nomnom writes: completed, attempts, stream sequence, received_at), its
//    orders and line items written, all three with COPY;
//  - a unique violation (an id already claimed, an order already there) rolls the batch
//    back, and it is written again through staging tables: the claim as nomnom's upsert
//    (ON CONFLICT ... WHERE status <> 'completed' RETURNING), then only the claimed
//    messages' rows, as upserts on the tables' unique keys;
//  - every message is acknowledged after the commit (a document it cannot write is
//    terminated after the commit).
//
//   nomnom-peer-consumer --url U --stream S --dsn DSN --count N [--batch 1000]
//                        [--consumer peer] [--create-like STREAM --subjects SUBJ]
//
// Reads the last N messages of the stream (a new durable consumer from sequence
// last - N + 1), and exits once all N are committed and acknowledged. --create-like makes
// the stream when it is missing, with the storage and duplicate window of STREAM.
// Prints: consumed=N written=W rejected=R fallbacks=F seconds=T rate=R
#include <libpq-fe.h>
#include <nats/nats.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nomnom/message_id.hpp"

namespace {

struct Args {
    std::string url = "nats://127.0.0.1:4222", stream = "MESSAGES", consumer = "peer", dsn;
    std::string create_like, subjects;
    long count = 0;
    int batch = 1000;
};

[[noreturn]] void die(const std::string& what) {
    fprintf(stderr, "nomnom-peer-consumer: %s\n", what.c_str());
    exit(1);
}

void check(natsStatus s, const char* what) {
    if (s != NATS_OK)
        die(std::string(what) + ": " + natsStatus_GetText(s) + " " + nats_GetLastError(nullptr));
}

// COPY text format: backslash, tab, newline and carriage return escaped.
void put_text(std::string& out, const char* s, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        char c = s[i];
        switch (c) {
        case '\\':
            out += "\\\\";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        default:
            out += c;
        }
    }
}

// One field of a document as a COPY value; false when a required one is missing or a value
// is not a scalar.
bool put_field(std::string& out, const rapidjson::Value& object, const char* name, bool required) {
    auto it = object.FindMember(name);
    if (it == object.MemberEnd() || it->value.IsNull()) {
        if (required)
            return false;
        out += "\\N";
        return true;
    }
    const rapidjson::Value& v = it->value;
    if (v.IsString()) // numbers too: parsed as their text (kParseNumbersAsStringsFlag)
        put_text(out, v.GetString(), v.GetStringLength());
    else if (v.IsBool())
        out += v.GetBool() ? "t" : "f";
    else
        return false;
    return true;
}

const char* const kOrderFields[] = {"order_key",   "customer_key",  "order_status",
                                    "total_price", "order_date",    "order_priority",
                                    "clerk",       "ship_priority", "comment"};
const bool kOrderRequired[] = {true, true, true, true, true, false, false, false, false};
const char* const kItemFields[] = {"line_number",    "part_key",  "supplier_key", "quantity",
                                   "extended_price", "discount",  "tax",          "return_flag",
                                   "line_status",    "ship_date", "commit_date",  "receipt_date"};
const bool kItemRequired[] = {true,  true,  false, true,  true,  false,
                              false, false, false, false, false, false};
const char kOrderColumns[] = "order_key, customer_key, order_status, total_price, order_date, "
                             "order_priority, clerk, ship_priority, comment";
const char kItemColumns[] = "order_key, line_number, part_key, supplier_key, quantity, "
                            "extended_price, discount, tax, return_flag, line_status, ship_date, "
                            "commit_date, receipt_date";
const char kStatusColumns[] = "message_id, stream, subject, entity, status, attempts, stream_seq, "
                              "received_at, completed_at";

struct Message {
    std::string id;     // the UUID nomnom would give it
    std::string status; // its message_status line, without completed_at
    std::string order;  // its orders line
    std::vector<std::string> items;
    bool ok = false;
};

struct Batch {
    natsMsgList list = {nullptr, 0};
    std::vector<Message> messages;
};

std::string timestamp_text(int64_t ns) {
    time_t secs = static_cast<time_t>(ns / 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%06ld+00", static_cast<long>((ns / 1000) % 1000000));
    return buf;
}

// The prefetch side: a message's id, ledger line and rows.
void parse_message(natsMsg* msg, const std::string& stream, rapidjson::Document& doc, Message& m) {
    const char* msg_id = nullptr;
    const char* nomnom_id = nullptr;
    natsMsgHeader_Get(msg, "Nats-Msg-Id", &msg_id);
    natsMsgHeader_Get(msg, "Nomnom-Message-Id", &nomnom_id);
    jsMsgMetaData* meta = nullptr;
    uint64_t seq = 0;
    int delivered = 1;
    int64_t ts = 0;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        seq = meta->Sequence.Stream;
        delivered = static_cast<int>(meta->NumDelivered);
        ts = meta->Timestamp;
        jsMsgMetaData_Destroy(meta);
    }
    m.id = nomnom::message_uuid(stream, seq, nomnom_id, msg_id);
    const char* subject = natsMsg_GetSubject(msg);
    const char* entity = strrchr(subject, '.');
    entity = entity ? entity + 1 : subject;
    m.status = m.id + '\t';
    put_text(m.status, stream.data(), stream.size());
    m.status += '\t';
    put_text(m.status, subject, strlen(subject));
    m.status += '\t';
    put_text(m.status, entity, strlen(entity));
    m.status += "\tcompleted\t" + std::to_string(delivered) + '\t' + std::to_string(seq) + '\t' +
                (ts > 0 ? timestamp_text(ts) : std::string("now"));
    m.ok = false;
    if (strcmp(entity, "Order") != 0)
        return;
    doc.Parse<rapidjson::kParseNumbersAsStringsFlag>(natsMsg_GetData(msg),
                                                     natsMsg_GetDataLength(msg));
    if (doc.HasParseError() || !doc.IsObject())
        return;
    m.order.clear();
    for (size_t f = 0; f < sizeof kOrderFields / sizeof *kOrderFields; ++f) {
        if (f)
            m.order += '\t';
        if (!put_field(m.order, doc, kOrderFields[f], kOrderRequired[f]))
            return;
    }
    m.order += '\n';
    const rapidjson::Value& key = doc["order_key"];
    m.items.clear();
    auto items = doc.FindMember("line_items");
    if (items != doc.MemberEnd() && items->value.IsArray()) {
        for (const rapidjson::Value& item : items->value.GetArray()) {
            if (!item.IsObject())
                return;
            std::string line;
            put_text(line, key.GetString(), key.GetStringLength());
            for (size_t f = 0; f < sizeof kItemFields / sizeof *kItemFields; ++f) {
                line += '\t';
                if (!put_field(line, item, kItemFields[f], kItemRequired[f]))
                    return;
            }
            line += '\n';
            m.items.push_back(std::move(line));
        }
    }
    m.ok = true;
}

// One batch ahead: the fetching thread hands parsed batches over through this.
class Handoff {
  public:
    void put(Batch* b) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return queue_.size() < 1; });
        queue_.push_back(b);
        cv_.notify_all();
    }
    Batch* take() {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        Batch* b = queue_.front();
        queue_.pop_front();
        cv_.notify_all();
        return b;
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Batch*> queue_;
};

class Db {
  public:
    explicit Db(const std::string& dsn) : pg_(PQconnectdb(dsn.c_str())) {
        if (PQstatus(pg_) != CONNECTION_OK)
            die(PQerrorMessage(pg_));
    }
    ~Db() { PQfinish(pg_); }
    // A command; false with the SQLSTATE in `state` when it fails.
    bool exec(const char* sql, std::string* state = nullptr) {
        PGresult* r = PQexec(pg_, sql);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        finish(r, ok, state);
        return ok;
    }
    bool copy(const std::string& sql, const std::string& data, std::string* state) {
        PGresult* r = PQexec(pg_, sql.c_str());
        if (PQresultStatus(r) != PGRES_COPY_IN) {
            finish(r, false, state);
            return false;
        }
        PQclear(r);
        if (PQputCopyData(pg_, data.data(), static_cast<int>(data.size())) != 1 ||
            PQputCopyEnd(pg_, nullptr) != 1)
            die(PQerrorMessage(pg_));
        r = PQgetResult(pg_);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        finish(r, ok, state);
        while ((r = PQgetResult(pg_)) != nullptr)
            PQclear(r);
        return ok;
    }

  private:
    void finish(PGresult* r, bool ok, std::string* state) {
        if (!ok) {
            const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            if (state)
                *state = code ? code : "";
            if (!state || *state != "23505")
                die(std::string("PostgreSQL: ") + PQresultErrorMessage(r));
        }
        PQclear(r);
    }
    PGconn* pg_;
};

std::string now_text() {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    return timestamp_text(ns);
}

// The usual case: every id and every row is new. False (rolled back) on a conflict.
bool write_copy(Db& db, const Batch& b) {
    std::string status, orders, items, completed = '\t' + now_text() + '\n';
    for (const Message& m : b.messages) {
        if (!m.ok)
            continue; // terminated after the commit, never claimed
        status += m.status + completed;
        orders += m.order;
        for (const std::string& line : m.items)
            items += line;
    }
    std::string state;
    db.exec("BEGIN");
    if (db.copy(std::string("COPY nomnom.message_status (") + kStatusColumns + ") FROM STDIN",
                status, &state) &&
        db.copy(std::string("COPY orders (") + kOrderColumns + ") FROM STDIN", orders, &state) &&
        db.copy(std::string("COPY order_line_items (") + kItemColumns + ") FROM STDIN", items,
                &state)) {
        db.exec("COMMIT");
        return true;
    }
    db.exec("ROLLBACK");
    return false;
}

// After a conflict: through staging tables, the claim as nomnom's upsert, then the claimed
// messages' rows as upserts (a later message of the batch wins over an earlier one).
void write_upsert(Db& db, const Batch& b) {
    static bool staged = false;
    if (!staged) {
        db.exec("CREATE TEMP TABLE peer_status (message_id uuid, stream text, subject text, "
                "entity text, status text, attempts int, stream_seq bigint, received_at "
                "timestamptz, completed_at timestamptz, pos serial) ON COMMIT DELETE ROWS");
        db.exec((std::string("CREATE TEMP TABLE peer_orders ON COMMIT DELETE ROWS AS SELECT "
                             "NULL::uuid AS message_id, 0 AS pos, ") +
                 kOrderColumns + " FROM orders WITH NO DATA")
                    .c_str());
        db.exec((std::string("CREATE TEMP TABLE peer_items ON COMMIT DELETE ROWS AS SELECT "
                             "NULL::uuid AS message_id, 0 AS pos, ") +
                 kItemColumns + " FROM order_line_items WITH NO DATA")
                    .c_str());
        db.exec("CREATE TEMP TABLE peer_claimed (message_id uuid) ON COMMIT DELETE ROWS");
        staged = true;
    }
    std::string status, orders, items, completed = '\t' + now_text() + '\n';
    for (size_t i = 0; i < b.messages.size(); ++i) {
        const Message& m = b.messages[i];
        if (!m.ok)
            continue;
        status += m.status + completed;
        std::string prefix = m.id + '\t' + std::to_string(i) + '\t';
        orders += prefix + m.order;
        for (const std::string& line : m.items)
            items += prefix + line;
    }
    db.exec("BEGIN");
    db.copy(std::string("COPY peer_status (") + kStatusColumns + ") FROM STDIN", status, nullptr);
    db.copy(std::string("COPY peer_orders (message_id, pos, ") + kOrderColumns + ") FROM STDIN",
            orders, nullptr);
    db.copy(std::string("COPY peer_items (message_id, pos, ") + kItemColumns + ") FROM STDIN",
            items, nullptr);
    db.exec(
        "WITH c AS ("
        "  INSERT INTO nomnom.message_status AS s (message_id, stream, subject, entity, status, "
        "    attempts, stream_seq, received_at, completed_at) "
        "  SELECT DISTINCT ON (message_id) message_id, stream, subject, entity, 'completed', "
        "    attempts, stream_seq, received_at, completed_at FROM peer_status "
        "  ORDER BY message_id, pos "
        "  ON CONFLICT (message_id) DO UPDATE SET status = 'completed', "
        "    stream = COALESCE(EXCLUDED.stream, s.stream), "
        "    subject = COALESCE(EXCLUDED.subject, s.subject), entity = EXCLUDED.entity, "
        "    attempts = GREATEST(EXCLUDED.attempts, s.attempts), "
        "    stream_seq = COALESCE(EXCLUDED.stream_seq, s.stream_seq), error = NULL, "
        "    completed_at = EXCLUDED.completed_at "
        "  WHERE s.status <> 'completed' RETURNING s.message_id) "
        "INSERT INTO peer_claimed SELECT message_id FROM c");
    db.exec("INSERT INTO orders AS t (order_key, customer_key, order_status, total_price, "
            "  order_date, order_priority, clerk, ship_priority, comment) "
            "SELECT DISTINCT ON (order_key) order_key, customer_key, order_status, total_price, "
            "  order_date, order_priority, clerk, ship_priority, comment FROM peer_orders "
            "WHERE message_id IN (SELECT message_id FROM peer_claimed) "
            "ORDER BY order_key, pos DESC "
            "ON CONFLICT (order_key) DO UPDATE SET customer_key = EXCLUDED.customer_key, "
            "  order_status = EXCLUDED.order_status, total_price = EXCLUDED.total_price, "
            "  order_date = EXCLUDED.order_date, order_priority = EXCLUDED.order_priority, "
            "  clerk = EXCLUDED.clerk, ship_priority = EXCLUDED.ship_priority, "
            "  comment = EXCLUDED.comment");
    db.exec("INSERT INTO order_line_items AS t (order_key, line_number, part_key, supplier_key, "
            "  quantity, extended_price, discount, tax, return_flag, line_status, ship_date, "
            "  commit_date, receipt_date) "
            "SELECT DISTINCT ON (order_key, line_number) order_key, line_number, part_key, "
            "  supplier_key, quantity, extended_price, discount, tax, return_flag, line_status, "
            "  ship_date, commit_date, receipt_date FROM peer_items "
            "WHERE message_id IN (SELECT message_id FROM peer_claimed) "
            "ORDER BY order_key, line_number, pos DESC "
            "ON CONFLICT (order_key, line_number) DO UPDATE SET part_key = EXCLUDED.part_key, "
            "  supplier_key = EXCLUDED.supplier_key, quantity = EXCLUDED.quantity, "
            "  extended_price = EXCLUDED.extended_price, discount = EXCLUDED.discount, "
            "  tax = EXCLUDED.tax, return_flag = EXCLUDED.return_flag, "
            "  line_status = EXCLUDED.line_status, ship_date = EXCLUDED.ship_date, "
            "  commit_date = EXCLUDED.commit_date, receipt_date = EXCLUDED.receipt_date");
    db.exec("COMMIT");
}

} // namespace

int main(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--url")
            a.url = v;
        else if (k == "--stream")
            a.stream = v;
        else if (k == "--consumer")
            a.consumer = v;
        else if (k == "--dsn")
            a.dsn = v;
        else if (k == "--count")
            a.count = atol(v.c_str());
        else if (k == "--batch")
            a.batch = atoi(v.c_str());
        else if (k == "--create-like")
            a.create_like = v;
        else if (k == "--subjects")
            a.subjects = v;
        else
            die("unknown argument " + k);
    }
    if (a.batch <= 0)
        die("--batch wants a positive number");
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    check(natsConnection_ConnectTo(&nc, a.url.c_str()), "connect");
    check(natsConnection_JetStream(&js, nc, nullptr), "JetStream");
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js, a.stream.c_str(), nullptr, &code);
    if ((s == NATS_NOT_FOUND || code == JSStreamNotFoundErr) && !a.create_like.empty()) {
        jsStreamInfo* like = nullptr;
        check(js_GetStreamInfo(&like, js, a.create_like.c_str(), nullptr, nullptr), "stream info");
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        const char* subjects[] = {a.subjects.c_str()};
        cfg.Name = a.stream.c_str();
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = like->Config->Storage;
        cfg.Duplicates = like->Config->Duplicates;
        check(js_AddStream(&si, js, &cfg, nullptr, nullptr), "add stream");
        jsStreamInfo_Destroy(like);
        printf("created stream %s\n", a.stream.c_str());
        jsStreamInfo_Destroy(si);
        return 0;
    }
    check(s, "stream info");
    if (a.count <= 0)
        die("--count wants a positive number");
    uint64_t last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    if (last < static_cast<uint64_t>(a.count))
        die("the stream holds fewer messages than --count");

    js_DeleteConsumer(js, a.stream.c_str(), a.consumer.c_str(), nullptr, nullptr);
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = a.consumer.c_str();
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverByStartSequence;
    cc.OptStartSeq = last - static_cast<uint64_t>(a.count) + 1;
    cc.AckWait = 30LL * 1000000000;
    cc.MaxAckPending = std::max(1000, a.batch * 2); // as nomnom's consumer
    jsConsumerInfo* ci = nullptr;
    check(js_AddConsumer(&ci, js, a.stream.c_str(), &cc, nullptr, nullptr), "add consumer");
    jsConsumerInfo_Destroy(ci);
    natsSubscription* sub = nullptr;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = a.stream.c_str();
    so.Consumer = a.consumer.c_str();
    so.ManualAck = true;
    check(js_PullSubscribe(&sub, js, nullptr, a.consumer.c_str(), nullptr, &so, nullptr),
          "pull subscribe");

    Db db(a.dsn);
    Handoff handoff;
    auto start = std::chrono::steady_clock::now();
    std::thread fetcher([&] {
        rapidjson::Document doc;
        long fetched = 0;
        while (fetched < a.count) {
            auto* b = new Batch;
            int want = static_cast<int>(std::min<long>(a.batch, a.count - fetched));
            natsStatus fs = natsSubscription_Fetch(&b->list, sub, want, 1000, nullptr);
            if (b->list.Count == 0) {
                if (fs != NATS_TIMEOUT)
                    check(fs, "fetch");
                natsMsgList_Destroy(&b->list);
                delete b;
                continue;
            }
            b->messages.resize(b->list.Count);
            for (int i = 0; i < b->list.Count; ++i)
                parse_message(b->list.Msgs[i], a.stream, doc, b->messages[i]);
            fetched += b->list.Count;
            handoff.put(b);
        }
    });
    long consumed = 0, written = 0, rejected = 0, fallbacks = 0;
    while (consumed < a.count) {
        Batch* b = handoff.take();
        if (!write_copy(db, *b)) {
            ++fallbacks;
            write_upsert(db, *b);
        }
        for (int i = 0; i < b->list.Count; ++i) {
            if (b->messages[i].ok) {
                natsMsg_Ack(b->list.Msgs[i], nullptr);
                ++written;
            } else {
                natsMsg_Term(b->list.Msgs[i], nullptr);
                ++rejected;
            }
        }
        consumed += b->list.Count;
        natsMsgList_Destroy(&b->list);
        delete b;
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fetcher.join();
    natsConnection_FlushTimeout(nc, 5000);
    printf("consumed=%ld written=%ld rejected=%ld fallbacks=%ld seconds=%.3f rate=%.1f\n", consumed,
           written, rejected, fallbacks, seconds, seconds > 0 ? consumed / seconds : 0.0);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    js_DeleteConsumer(js, a.stream.c_str(), a.consumer.c_str(), nullptr, nullptr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}
