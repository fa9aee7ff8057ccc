#include "status_recorder.hpp"

#include "log.hpp"

#include <cstdio>
#include <ctime>

namespace bridge {

std::string now_timestamptz() {
    auto now = std::chrono::system_clock::now();
    auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(micros / 1000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(micros % 1000000));
    return buf;
}

StatusRecorder::StatusRecorder(std::string conninfo, size_t capacity, Metrics& metrics)
    : conninfo_(std::move(conninfo)), capacity_(capacity), metrics_(metrics) {}

StatusRecorder::~StatusRecorder() { stop(std::chrono::milliseconds(0)); }

void StatusRecorder::start() { thread_ = std::thread([this] { run(); }); }

void StatusRecorder::stop(std::chrono::milliseconds deadline) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!stopping_) {
            stopping_ = true;
            stop_deadline_ = std::chrono::steady_clock::now() + deadline;
        }
    }
    wake_.notify_all();
    if (thread_.joinable())
        thread_.join();
}

void StatusRecorder::enqueue(std::vector<StatusRow> rows) {
    size_t dropped = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (StatusRow& row : rows) {
            if (queue_.size() >= capacity_)
                ++dropped;
            else
                queue_.push_back(std::move(row));
        }
    }
    if (dropped > 0) {
        // Only the status row is lost: the message is in JetStream and the worker will still
        // write it (and its completed status).
        if (metrics_.status_rows_dropped.fetch_add(dropped) == 0)
            log::warn("status queue full; dropping pending rows (counted in /metrics)",
                      {{"capacity", std::to_string(capacity_)}});
    }
    wake_.notify_one();
}

size_t StatusRecorder::depth() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return queue_.size();
}

void StatusRecorder::run() {
    std::chrono::milliseconds backoff(0);
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        if (backoff.count() > 0) {
            // After a failure: wait before retrying, but wake once when asked to stop, and
            // never past the stop deadline.
            bool was_stopping = stopping_;
            auto until = std::chrono::steady_clock::now() + backoff;
            if (stopping_)
                until = std::min(until, stop_deadline_);
            wake_.wait_until(lock, until, [&] { return stopping_ && !was_stopping; });
        } else {
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        }
        if (queue_.empty() && stopping_)
            return;
        if (stopping_ && std::chrono::steady_clock::now() >= stop_deadline_) {
            log::warn("stopping with pending status rows unwritten",
                      {{"rows", std::to_string(queue_.size())}});
            return;
        }
        if (queue_.empty())
            continue;
        size_t n = std::min(queue_.size(), kMaxBatch);
        // Copied, not moved: on failure the rows stay queued for the retry. Only this
        // thread removes rows, so the first n are still these when we come back.
        std::vector<StatusRow> batch(queue_.begin(), queue_.begin() + static_cast<long>(n));
        lock.unlock();
        std::string error;
        bool ok = write(batch, error);
        lock.lock();
        if (ok) {
            queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
            metrics_.status_rows_written += n;
            if (!pg_ok_.exchange(true))
                log::info("writing pending status rows again");
            backoff = std::chrono::milliseconds(0);
        } else {
            ++metrics_.status_write_failures;
            if (pg_ok_.exchange(false))
                log::warn("cannot write pending status rows; will retry",
                          {{"error", error}, {"queued", std::to_string(queue_.size())}});
            backoff = std::min(std::chrono::milliseconds(2000),
                               std::max(std::chrono::milliseconds(100), backoff * 2));
        }
    }
}

namespace {

// One element of a PostgreSQL array literal, always quoted, with \ and " escaped.
void append_element(std::string& out, const std::string& value) {
    out += out.size() > 1 ? ",\"" : "\"";
    for (char ch : value) {
        if (ch == '"' || ch == '\\')
            out += '\\';
        out += ch;
    }
    out += '"';
}

// ON CONFLICT DO NOTHING: a worker may have marked the message completed already; a pending
// row must never downgrade it. Six arrays instead of thousands of parameters: PostgreSQL
// parses and plans one small statement, prepared once per connection.
const char* kInsertPending =
    "INSERT INTO nomnom.message_status "
    "(message_id, stream, subject, entity, status, stream_seq, received_at) "
    "SELECT id, stream, subject, entity, 'pending', seq, received_at "
    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], "
    "$6::timestamptz[]) AS r(id, stream, subject, entity, seq, received_at) "
    "ON CONFLICT (message_id) DO NOTHING";

} // namespace

bool StatusRecorder::write(const std::vector<StatusRow>& rows, std::string& error) {
    if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
        conn_ = pg_connect(conninfo_, error);
        if (!conn_)
            return false;
        PgResult prepared(PQprepare(conn_.get(), "nomnom_insert_pending", kInsertPending, 6, nullptr));
        if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
            error = pg_error(prepared.get());
            conn_.reset();
            return false;
        }
    }
    std::string arrays[6];
    for (std::string& a : arrays)
        a = "{";
    for (const StatusRow& row : rows) {
        append_element(arrays[0], row.message_id);
        append_element(arrays[1], row.stream);
        append_element(arrays[2], row.subject);
        append_element(arrays[3], row.entity);
        append_element(arrays[4], std::to_string(row.stream_seq));
        append_element(arrays[5], row.received_at);
    }
    const char* params[6];
    for (int i = 0; i < 6; ++i) {
        arrays[i] += "}";
        params[i] = arrays[i].c_str();
    }
    PgResult res(PQexecPrepared(conn_.get(), "nomnom_insert_pending", 6, params, nullptr, nullptr, 0));
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
        error = pg_error(res.get());
        if (PQstatus(conn_.get()) != CONNECTION_OK)
            conn_.reset();
        return false;
    }
    return true;
}

} // namespace bridge
