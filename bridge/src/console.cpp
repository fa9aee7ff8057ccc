#include "console.hpp"

#include "json_out.hpp"
#include "log.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>

namespace bridge {

const std::vector<double> kCommitBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,  0.5,    1,     2.5,  5,     10};

namespace {

// Entity tables counted exactly up to this many rows; a larger one shows the planner's
// estimate (a count(*) of a hundred million rows is not a dashboard's business).
constexpr int kExactCountLimit = 100000;
constexpr int kLatestRows = 5;
constexpr int kMaxEntities = 50;
constexpr int kDeadLetters = 20;
constexpr int kRowsWritten = 20;

// Tolerates columns an older extension lacks: to_jsonb(s)->>'x' is NULL then.
const char* kSampleSql =
    "SELECT s.name, coalesce(s.worker, 0), coalesce(s.state, ''), coalesce(s.consumed, 0), "
    "coalesce(s.completed, 0), coalesce(s.failed, 0), coalesce(s.dead_lettered, 0), "
    "coalesce(s.pending, -1), coalesce((j->>'num_pending')::bigint, -1), "
    "coalesce((j->>'num_ack_pending')::bigint, -1), "
    "coalesce((j->>'num_redelivered')::bigint, -1), coalesce((j->>'rate_1m')::float8, -1), "
    "coalesce(array_to_string(ARRAY(SELECT jsonb_array_elements_text(CASE WHEN "
    "jsonb_typeof(j->'commit_latency_buckets') = 'array' THEN j->'commit_latency_buckets' "
    "END)), ','), ''), coalesce((j->>'commit_latency_sum')::float8, 0), "
    "coalesce((j->>'commit_count')::bigint, 0), s.worker_pid IS NOT NULL "
    "FROM nomnom.stream_status s, LATERAL to_jsonb(s) j ORDER BY 1, 2";

std::string iso8601(std::chrono::system_clock::time_point t) {
    std::time_t secs = std::chrono::system_clock::to_time_t(t);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(ms));
    return buf;
}

std::string number(double v) {
    if (!std::isfinite(v))
        return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
}

std::string prom_number(double v) {
    if (std::isnan(v))
        return "NaN";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
}

// Prometheus label value: backslash, quote and newline escaped.
std::string label(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

void json_raw_field(std::string& out, bool& first, const char* key, const std::string& raw) {
    if (!first)
        out += ',';
    first = false;
    append_json_string(out, key);
    out += ':';
    out += raw;
}

std::string json_string(const std::string& s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

// Workers of one stream, summed.
struct StreamTotals {
    std::string name;
    std::string state; // the first worker's, or the stream's when it has none
    int workers = 0, up = 0;
    uint64_t consumed = 0, completed = 0, failed = 0, dead_lettered = 0;
    int64_t num_pending = -1, num_ack_pending = -1, num_redelivered = -1, pending = -1;
    double rate_1m = -1;
};

std::vector<StreamTotals> totals(const Sample& s) {
    std::vector<StreamTotals> out;
    for (const WorkerSample& w : s.workers) {
        if (out.empty() || out.back().name != w.stream) {
            out.emplace_back();
            out.back().name = w.stream;
            out.back().state = w.state;
        }
        StreamTotals& t = out.back();
        if (w.running || w.state != "stopped")
            ++t.workers;
        t.up += w.running ? 1 : 0;
        t.consumed += w.consumed;
        t.completed += w.completed;
        t.failed += w.failed;
        t.dead_lettered += w.dead_lettered;
        // The consumer is shared by a stream's workers: every worker reports the same
        // consumer's figures, so the freshest (largest is as good) stands for the stream.
        t.num_pending = std::max(t.num_pending, w.num_pending);
        t.num_ack_pending = std::max(t.num_ack_pending, w.num_ack_pending);
        t.num_redelivered = std::max(t.num_redelivered, w.num_redelivered);
        t.pending = std::max(t.pending, w.pending);
        if (w.rate_1m >= 0)
            t.rate_1m = (t.rate_1m < 0 ? 0 : t.rate_1m) + w.rate_1m;
    }
    return out;
}

// Lag: messages the consumer has not had acknowledged (undelivered + unacknowledged), from
// the consumer's info when the extension has it, else the worker's own last reading.
int64_t lag(const StreamTotals& t) {
    if (t.num_pending >= 0)
        return t.num_pending + std::max<int64_t>(t.num_ack_pending, 0);
    return t.pending;
}

} // namespace

Console::Console(std::string conninfo, std::chrono::milliseconds sample_interval)
    : conninfo_(std::move(conninfo)), interval_(sample_interval) {}

Console::~Console() {
    stop();
}

void Console::start() {
    thread_ = std::thread([this] { run(); });
}

void Console::stop() {
    {
        std::lock_guard<std::mutex> lock(wake_mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

void Console::run() {
    std::unique_lock<std::mutex> lock(wake_mutex_);
    while (!stopping_) {
        lock.unlock();
        take_sample();
        lock.lock();
        wake_.wait_for(lock, interval_, [this] { return stopping_; });
    }
}

PgResult Console::query(const std::string& sql, int nparams, const char* const* params,
                        std::string& error) {
    std::lock_guard<std::mutex> lock(conn_mutex_);
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
            // The name as a startup parameter, which pgbouncer carries to whichever server
            // connection runs each transaction.
            conn_ = pg_connect(conninfo_, error, "nomnom-bridge console");
            if (!conn_)
                return nullptr;
        }
        // Bounded cost: nothing the console asks may run longer than this. SET LOCAL in the
        // query's own transaction, never a session setting: through pgbouncer in transaction
        // pooling mode a session SET stays on one server connection (other clients' from then
        // on) while the console's next transaction may run on another.
        PgResult begin(PQexec(conn_.get(), "BEGIN; SET LOCAL statement_timeout = 2000"));
        if (PQresultStatus(begin.get()) == PGRES_COMMAND_OK) {
            PgResult res(PQexecParams(conn_.get(), sql.c_str(), nparams, nullptr, params, nullptr,
                                      nullptr, 0));
            ExecStatusType st = PQresultStatus(res.get());
            if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
                PgResult commit(PQexec(conn_.get(), "COMMIT"));
                if (PQresultStatus(commit.get()) == PGRES_COMMAND_OK)
                    return res;
                error = commit ? pg_error(commit.get()) : pg_error(conn_.get());
            } else {
                error = res ? pg_error(res.get()) : pg_error(conn_.get());
            }
        } else {
            error = begin ? pg_error(begin.get()) : pg_error(conn_.get());
        }
        PgResult rollback(PQexec(conn_.get(), "ROLLBACK"));
        if (PQstatus(conn_.get()) == CONNECTION_OK)
            return nullptr; // a real error, not a lost connection
        conn_.reset();
    }
    return nullptr;
}

void Console::take_sample() {
    std::string error;
    PgResult res = query(kSampleSql, 0, nullptr, error);
    Sample s;
    s.at = std::chrono::system_clock::now();
    if (res) {
        for (int i = 0; i < PQntuples(res.get()); ++i) {
            auto v = [&](int c) { return PQgetvalue(res.get(), i, c); };
            WorkerSample w;
            w.stream = v(0);
            w.worker = std::atoi(v(1));
            w.state = v(2);
            w.running = w.state == "running";
            w.consumed = std::strtoull(v(3), nullptr, 10);
            w.completed = std::strtoull(v(4), nullptr, 10);
            w.failed = std::strtoull(v(5), nullptr, 10);
            w.dead_lettered = std::strtoull(v(6), nullptr, 10);
            w.pending = std::strtoll(v(7), nullptr, 10);
            w.num_pending = std::strtoll(v(8), nullptr, 10);
            w.num_ack_pending = std::strtoll(v(9), nullptr, 10);
            w.num_redelivered = std::strtoll(v(10), nullptr, 10);
            w.rate_1m = std::strtod(v(11), nullptr);
            std::string buckets = v(12);
            for (size_t pos = 0; !buckets.empty() && pos <= buckets.size();) {
                size_t comma = buckets.find(',', pos);
                if (comma == std::string::npos)
                    comma = buckets.size();
                w.commit_buckets.push_back(
                    std::strtoull(buckets.substr(pos, comma - pos).c_str(), nullptr, 10));
                pos = comma + 1;
            }
            if (w.commit_buckets.size() != kCommitBuckets.size())
                w.commit_buckets.clear();
            w.commit_sum = std::strtod(v(13), nullptr);
            w.commit_count = std::strtoull(v(14), nullptr, 10);
            s.workers.push_back(std::move(w));
        }
    }
    std::lock_guard<std::mutex> lock(samples_mutex_);
    if (!res) {
        if (sample_error_ != error)
            log::warn("console: cannot read nomnom.stream_status", {{"error", error}});
        sample_error_ = error;
        return;
    }
    sample_error_.clear();
    samples_.push_back(std::move(s));
    while (samples_.size() > kHistory)
        samples_.pop_front();
}

std::optional<Sample> Console::latest() const {
    std::lock_guard<std::mutex> lock(samples_mutex_);
    if (samples_.empty() || std::chrono::system_clock::now() - samples_.back().at >
                                3 * interval_ + std::chrono::seconds(1))
        return std::nullopt;
    return samples_.back();
}

std::string Console::read_details(std::string& error, std::string& counts) {
    std::string out;
    counts = "{";
    bool first_count = true;
    // Entities, their tables (quoted by regclass) and whether rows can be ordered by id.
    PgResult ents = query(
        "SELECT e.name, e.table_name, coalesce(e.parent, ''), coalesce(c.oid::regclass::text, ''), "
        "EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'id' "
        "AND NOT a.attisdropped), coalesce(c.reltuples, -1)::float8 "
        "FROM nomnom.entities e LEFT JOIN pg_class c ON c.oid = to_regclass(e.table_name) "
        "ORDER BY e.parent IS NOT NULL, e.name LIMIT " +
            std::to_string(kMaxEntities),
        0, nullptr, error);
    if (!ents)
        return {};
    out += ",\"entities\":[";
    for (int i = 0; i < PQntuples(ents.get()); ++i) {
        std::string name = PQgetvalue(ents.get(), i, 0);
        std::string table = PQgetvalue(ents.get(), i, 1);
        std::string parent = PQgetvalue(ents.get(), i, 2);
        std::string rel = PQgetvalue(ents.get(), i, 3);
        bool has_id = PQgetvalue(ents.get(), i, 4)[0] == 't';
        double reltuples = std::strtod(PQgetvalue(ents.get(), i, 5), nullptr);
        if (i)
            out += ',';
        bool first = true;
        out += '{';
        json_raw_field(out, first, "name", json_string(name));
        json_raw_field(out, first, "table", json_string(table));
        json_raw_field(out, first, "parent", parent.empty() ? "null" : json_string(parent));
        if (rel.empty()) {
            json_raw_field(out, first, "error", json_string("table " + table + " does not exist"));
            out += '}';
            continue;
        }
        std::string sql = "SELECT (SELECT count(*) FROM (SELECT FROM " + rel + " LIMIT " +
                          std::to_string(kExactCountLimit + 1) +
                          ") c), (SELECT coalesce(json_agg(r), '[]')::text FROM (SELECT * FROM " +
                          rel + (has_id ? " ORDER BY id DESC" : "") + " LIMIT " +
                          std::to_string(kLatestRows) + ") r)";
        std::string row_error;
        PgResult rows = query(sql, 0, nullptr, row_error);
        if (!rows || PQntuples(rows.get()) != 1) {
            json_raw_field(out, first, "error", json_string(row_error));
            out += '}';
            continue;
        }
        long long count = std::strtoll(PQgetvalue(rows.get(), 0, 0), nullptr, 10);
        bool estimated = count > kExactCountLimit;
        if (estimated)
            count = std::max(count, static_cast<long long>(reltuples));
        json_raw_field(out, first, "rows", std::to_string(count));
        json_raw_field(counts, first_count, name.c_str(), std::to_string(count));
        json_raw_field(out, first, "rows_estimated", estimated ? "true" : "false");
        json_raw_field(out, first, "latest", PQgetvalue(rows.get(), 0, 1));
        out += '}';
    }
    out += ']';
    counts += '}';

    PgResult dead = query("SELECT (SELECT count(*) FROM nomnom.dead_letters), coalesce((SELECT "
                          "json_agg(d)::text FROM "
                          "(SELECT message_id, stream, subject, entity, error, attempts, failed_at "
                          "FROM nomnom.dead_letters ORDER BY failed_at DESC LIMIT " +
                              std::to_string(kDeadLetters) + ") d), '[]')",
                          0, nullptr, error);
    if (!dead)
        return {};
    out += ",\"dead_letters_total\":";
    out += PQgetvalue(dead.get(), 0, 0);
    out += ",\"dead_letters\":";
    out += PQgetvalue(dead.get(), 0, 1);
    return out;
}

void Console::fresh_details(std::string& details, std::string& error, std::string& counts) {
    // One read a second at most, however many pages poll; a caller that finds the read under
    // way waits for it and shares it.
    std::lock_guard<std::mutex> lock(details_mutex_);
    auto now = std::chrono::steady_clock::now();
    if (now - details_at_ >= std::chrono::seconds(1)) {
        details_error_.clear();
        details_json_ = read_details(details_error_, details_counts_);
        if (details_json_.empty())
            details_counts_.clear();
        details_at_ = std::chrono::steady_clock::now();
    }
    details = details_json_;
    error = details_error_;
    counts = details_counts_;
}

std::string Console::overview(const std::string& bridge_json) {
    std::string details, details_error, counts;
    fresh_details(details, details_error, counts);
    std::deque<Sample> samples;
    std::string sample_error;
    {
        std::lock_guard<std::mutex> lock(samples_mutex_);
        samples = samples_;
        sample_error = sample_error_;
    }
    std::string out = "{";
    bool first = true;
    json_raw_field(out, first, "generated_at",
                   json_string(iso8601(std::chrono::system_clock::now())));
    std::string pg = "{\"ok\":";
    pg += sample_error.empty() && details_error.empty() ? "true" : "false";
    if (!sample_error.empty() || !details_error.empty())
        pg += ",\"error\":" + json_string(sample_error.empty() ? details_error : sample_error);
    pg += '}';
    json_raw_field(out, first, "postgres", pg);
    json_raw_field(out, first, "bridge", bridge_json);

    // Streams: the newest sample, workers and totals.
    out += ",\"streams\":[";
    if (!samples.empty()) {
        const Sample& s = samples.back();
        auto streams = totals(s);
        for (size_t i = 0; i < streams.size(); ++i) {
            const StreamTotals& t = streams[i];
            if (i)
                out += ',';
            bool f = true;
            out += '{';
            json_raw_field(out, f, "name", json_string(t.name));
            json_raw_field(out, f, "state", json_string(t.state));
            json_raw_field(out, f, "workers_up", std::to_string(t.up));
            json_raw_field(out, f, "consumed", std::to_string(t.consumed));
            json_raw_field(out, f, "completed", std::to_string(t.completed));
            json_raw_field(out, f, "failed", std::to_string(t.failed));
            json_raw_field(out, f, "dead_lettered", std::to_string(t.dead_lettered));
            int64_t l = lag(t);
            json_raw_field(out, f, "lag", l >= 0 ? std::to_string(l) : "null");
            json_raw_field(out, f, "num_pending",
                           t.num_pending >= 0 ? std::to_string(t.num_pending) : "null");
            json_raw_field(out, f, "num_ack_pending",
                           t.num_ack_pending >= 0 ? std::to_string(t.num_ack_pending) : "null");
            json_raw_field(out, f, "num_redelivered",
                           t.num_redelivered >= 0 ? std::to_string(t.num_redelivered) : "null");
            json_raw_field(out, f, "rate_1m", t.rate_1m >= 0 ? number(t.rate_1m) : "null");
            out += ",\"workers\":[";
            bool first_worker = true;
            for (const WorkerSample& w : s.workers) {
                if (w.stream != t.name)
                    continue;
                if (!first_worker)
                    out += ',';
                first_worker = false;
                bool g = true;
                out += '{';
                json_raw_field(out, g, "worker", std::to_string(w.worker));
                json_raw_field(out, g, "state", json_string(w.state));
                json_raw_field(out, g, "consumed", std::to_string(w.consumed));
                json_raw_field(out, g, "completed", std::to_string(w.completed));
                json_raw_field(out, g, "failed", std::to_string(w.failed));
                json_raw_field(out, g, "dead_lettered", std::to_string(w.dead_lettered));
                out += '}';
            }
            out += "]}";
        }
    }
    out += ']';

    // History for the rate chart: per stream, [unix seconds, completed, failed, dead_lettered].
    out += ",\"history\":{";
    std::map<std::string, std::string> series;
    for (const Sample& s : samples) {
        double at = std::chrono::duration<double>(s.at.time_since_epoch()).count();
        for (const StreamTotals& t : totals(s)) {
            std::string& text = series[t.name];
            if (!text.empty())
                text += ',';
            text += "[" + number(at) + "," + std::to_string(t.completed) + "," +
                    std::to_string(t.failed) + "," + std::to_string(t.dead_lettered) + "," +
                    std::to_string(t.consumed) + "]";
        }
    }
    bool first_series = true;
    for (const auto& [name, text] : series) {
        if (!first_series)
            out += ',';
        first_series = false;
        append_json_string(out, name);
        out += ":[" + text + "]";
    }
    out += '}';
    out += details.empty() ? ",\"entities\":[],\"dead_letters_total\":null,\"dead_letters\":[]"
                           : details;
    out += '}';
    return out;
}

std::string Console::stats() {
    std::string details, details_error, entity_counts;
    fresh_details(details, details_error, entity_counts);
    if (entity_counts.empty())
        entity_counts = "{}";
    std::optional<Sample> s = latest();
    std::string streams = "{";
    uint64_t consumed = 0, completed = 0, failed = 0, dead = 0;
    int64_t total_lag = 0;
    bool lag_known = false;
    if (s) {
        bool first = true;
        for (const StreamTotals& t : totals(*s)) {
            consumed += t.consumed;
            completed += t.completed;
            failed += t.failed;
            dead += t.dead_lettered;
            int64_t l = lag(t);
            if (l >= 0) {
                total_lag += l;
                lag_known = true;
            }
            bool f = true;
            std::string one = "{";
            json_raw_field(one, f, "state", json_string(t.state));
            json_raw_field(one, f, "workers_up", std::to_string(t.up));
            json_raw_field(one, f, "consumed", std::to_string(t.consumed));
            json_raw_field(one, f, "completed", std::to_string(t.completed));
            json_raw_field(one, f, "failed", std::to_string(t.failed));
            json_raw_field(one, f, "dead_lettered", std::to_string(t.dead_lettered));
            json_raw_field(one, f, "pending", l >= 0 ? std::to_string(l) : "null");
            json_raw_field(one, f, "rate_1m", t.rate_1m >= 0 ? number(t.rate_1m) : "null");
            one += '}';
            json_raw_field(streams, first, t.name.c_str(), one);
        }
    }
    streams += '}';
    std::string out = "{";
    bool first = true;
    json_raw_field(out, first, "generated_at",
                   json_string(iso8601(std::chrono::system_clock::now())));
    json_raw_field(out, first, "entities", entity_counts);
    std::string messages = "{";
    bool f = true;
    json_raw_field(messages, f, "consumed", std::to_string(consumed));
    json_raw_field(messages, f, "completed", std::to_string(completed));
    json_raw_field(messages, f, "failed", std::to_string(failed));
    json_raw_field(messages, f, "dead_lettered", std::to_string(dead));
    json_raw_field(messages, f, "pending", lag_known ? std::to_string(total_lag) : "null");
    messages += '}';
    json_raw_field(out, first, "messages", messages);
    json_raw_field(out, first, "streams", streams);
    out += '}';
    return out;
}

std::string Console::message(const std::string& uuid, int& status) {
    const char* params[] = {uuid.c_str()};
    std::string error;
    // `processing` while a worker writes its batch, as GET /ingest/status says; an older
    // extension without nomnom.message_processing gets the row as stored.
    PgResult st = query(
        "SELECT CASE WHEN s.message_id IS NULL "
        "THEN jsonb_build_object('message_id', q.id, 'status', 'processing') "
        "WHEN s.status IN ('pending', 'failed') AND nomnom.message_processing(q.id) "
        "THEN jsonb_set(to_jsonb(s), '{status}', '\"processing\"') ELSE to_jsonb(s) END::text, "
        "(SELECT error FROM nomnom.dead_letters d WHERE d.message_id = q.id) "
        "FROM (SELECT $1::uuid AS id) q LEFT JOIN nomnom.message_status s ON s.message_id = q.id "
        "WHERE s.message_id IS NOT NULL OR nomnom.message_processing(q.id)",
        1, params, error);
    if (!st && error.find("message_processing") != std::string::npos)
        st = query("SELECT to_jsonb(s)::text, "
                   "(SELECT error FROM nomnom.dead_letters d WHERE d.message_id = s.message_id) "
                   "FROM nomnom.message_status s WHERE s.message_id = $1::uuid",
                   1, params, error);
    if (!st) {
        status = 503;
        return "{\"error\":" + json_string("PostgreSQL: " + error) + "}";
    }
    if (PQntuples(st.get()) == 0) {
        status = 404;
        return "{\"error\":" + json_string("unknown message_id " + uuid) + "}";
    }
    std::string out = "{\"status\":";
    out += PQgetvalue(st.get(), 0, 0);
    out += ",\"dead_letter_error\":";
    out += PQgetisnull(st.get(), 0, 1) ? "null" : json_string(PQgetvalue(st.get(), 0, 1));
    // The rows it wrote: every entity with a field whose source is the message id.
    PgResult fields =
        query("SELECT e.name, c.oid::regclass::text, quote_ident(f->>'name') "
              "FROM nomnom.entities e CROSS JOIN LATERAL jsonb_array_elements(e.spec->'fields') f "
              "JOIN pg_class c ON c.oid = to_regclass(e.table_name) "
              "WHERE f->>'source' = 'message_id' ORDER BY e.parent IS NOT NULL, e.name",
              0, nullptr, error);
    out += ",\"rows\":[";
    if (fields) {
        for (int i = 0; i < PQntuples(fields.get()); ++i) {
            std::string sql =
                std::string("SELECT coalesce(json_agg(r), '[]')::text FROM (SELECT * FROM ") +
                PQgetvalue(fields.get(), i, 1) + " t WHERE t." + PQgetvalue(fields.get(), i, 2) +
                "::text = $1 LIMIT " + std::to_string(kRowsWritten) + ") r";
            std::string row_error;
            PgResult rows = query(sql, 1, params, row_error);
            if (i)
                out += ',';
            out += "{\"entity\":" + json_string(PQgetvalue(fields.get(), i, 0)) +
                   ",\"table\":" + json_string(PQgetvalue(fields.get(), i, 1));
            if (rows)
                out += std::string(",\"rows\":") + PQgetvalue(rows.get(), 0, 0);
            else
                out += ",\"error\":" + json_string(row_error);
            out += '}';
        }
    }
    out += "]}";
    status = 200;
    return out;
}

std::string Console::replay(const std::vector<std::string>& uuids, int& status) {
    std::string ids = "{";
    for (size_t i = 0; i < uuids.size(); ++i)
        ids += (i ? "," : "") + uuids[i];
    ids += "}";
    const char* params[] = {uuids.empty() ? nullptr : ids.c_str()};
    std::string error;
    PgResult res = query("SELECT nomnom.replay_dead_letters(NULL, $1::uuid[])", 1, params, error);
    if (!res) {
        status = error.find("permission denied") != std::string::npos ? 403 : 503;
        return "{\"error\":" + json_string("replay failed: " + error) + "}";
    }
    {
        std::lock_guard<std::mutex> lock(details_mutex_);
        details_at_ = {}; // the next overview reads the dead letters again
    }
    status = 200;
    return std::string("{\"replayed\":") + PQgetvalue(res.get(), 0, 0) + "}";
}

std::string Console::render_metrics() const {
    std::optional<Sample> s = latest();
    if (!s)
        return {};
    std::vector<StreamTotals> streams = totals(*s);
    std::string out;
    auto family = [&](const char* name, const char* type, const char* help) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    auto per_stream = [&](const char* name, const char* type, const char* help, auto value) {
        family(name, type, help);
        for (const StreamTotals& t : streams) {
            double v = value(t);
            if (v < 0)
                continue; // unknown: no sample rather than a made-up one
            out +=
                std::string(name) + "{stream=\"" + label(t.name) + "\"} " + prom_number(v) + "\n";
        }
    };
    per_stream("nomnom_stream_messages_consumed_total", "counter",
               "Messages the stream's workers fetched, since each worker started.",
               [](const StreamTotals& t) { return static_cast<double>(t.consumed); });
    per_stream("nomnom_stream_messages_completed_total", "counter",
               "Messages written and committed by the stream's workers.",
               [](const StreamTotals& t) { return static_cast<double>(t.completed); });
    per_stream("nomnom_stream_messages_failed_total", "counter",
               "Messages whose write failed transiently (to be redelivered).",
               [](const StreamTotals& t) { return static_cast<double>(t.failed); });
    per_stream("nomnom_stream_messages_dead_lettered_total", "counter",
               "Messages moved to nomnom.dead_letters.",
               [](const StreamTotals& t) { return static_cast<double>(t.dead_lettered); });
    per_stream("nomnom_stream_lag_messages", "gauge",
               "Messages of the stream not yet acknowledged by its consumer (undelivered plus "
               "delivered and unacknowledged): the series to scale workers on.",
               [](const StreamTotals& t) { return static_cast<double>(lag(t)); });
    per_stream("nomnom_stream_consumer_pending_messages", "gauge",
               "Messages not yet delivered to the consumer (JetStream num_pending).",
               [](const StreamTotals& t) { return static_cast<double>(t.num_pending); });
    per_stream("nomnom_stream_consumer_ack_pending_messages", "gauge",
               "Messages delivered to the consumer and not yet acknowledged (num_ack_pending).",
               [](const StreamTotals& t) { return static_cast<double>(t.num_ack_pending); });
    per_stream("nomnom_stream_consumer_redelivered_messages", "gauge",
               "Messages delivered to the consumer more than once (num_redelivered).",
               [](const StreamTotals& t) { return static_cast<double>(t.num_redelivered); });
    family("nomnom_stream_worker_up", "gauge", "1 when the worker's loop is running, else 0.");
    for (const WorkerSample& w : s->workers)
        out += "nomnom_stream_worker_up{stream=\"" + label(w.stream) + "\",worker=\"" +
               std::to_string(w.worker) + "\"} " + (w.running ? "1" : "0") + "\n";

    bool any_histogram = false;
    for (const WorkerSample& w : s->workers)
        any_histogram = any_histogram || !w.commit_buckets.empty();
    if (any_histogram) {
        family("nomnom_stream_batch_commit_duration_seconds", "histogram",
               "Time a worker's batch took from its first write to its commit.");
        for (const StreamTotals& t : streams) {
            std::vector<uint64_t> buckets(kCommitBuckets.size(), 0);
            double sum = 0;
            uint64_t count = 0;
            for (const WorkerSample& w : s->workers) {
                if (w.stream != t.name || w.commit_buckets.empty())
                    continue;
                for (size_t i = 0; i < buckets.size(); ++i)
                    buckets[i] += w.commit_buckets[i];
                sum += w.commit_sum;
                count += w.commit_count;
            }
            std::string l = "stream=\"" + label(t.name) + "\"";
            for (size_t i = 0; i < buckets.size(); ++i)
                out += "nomnom_stream_batch_commit_duration_seconds_bucket{" + l + ",le=\"" +
                       prom_number(kCommitBuckets[i]) + "\"} " + std::to_string(buckets[i]) + "\n";
            out += "nomnom_stream_batch_commit_duration_seconds_bucket{" + l + ",le=\"+Inf\"} " +
                   std::to_string(count) + "\n";
            out += "nomnom_stream_batch_commit_duration_seconds_sum{" + l + "} " +
                   prom_number(sum) + "\n";
            out += "nomnom_stream_batch_commit_duration_seconds_count{" + l + "} " +
                   std::to_string(count) + "\n";
        }
    }
    return out;
}

} // namespace bridge
