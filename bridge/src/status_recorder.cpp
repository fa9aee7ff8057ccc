#include "status_recorder.hpp"

#include "log.hpp"

#include <algorithm>
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

StatusRecorder::~StatusRecorder() {
    stop(std::chrono::milliseconds(0));
}

void StatusRecorder::start() {
    for (int i = 0; i < kWriters; ++i)
        threads_.emplace_back([this] { run(); });
}

void StatusRecorder::stop(std::chrono::milliseconds deadline) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!stopping_) {
            stopping_ = true;
            stop_deadline_ = std::chrono::steady_clock::now() + deadline;
        }
    }
    wake_.notify_all();
    for (std::thread& t : threads_)
        t.join();
    threads_.clear();
}

void StatusRecorder::enqueue(std::vector<StatusRow> rows) {
    size_t dropped = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (StatusRow& row : rows) {
            if (queue_.size() + writing_ >= capacity_)
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
    return queue_.size() + writing_;
}

void StatusRecorder::run() {
    PgConn conn; // one connection per writer thread
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
            if (!queue_.empty())
                log::warn("stopping with pending status rows unwritten",
                          {{"rows", std::to_string(queue_.size())}});
            queue_.clear();
            return;
        }
        if (queue_.empty())
            continue;
        size_t n = std::min(queue_.size(), kMaxBatch);
        std::vector<StatusRow> batch(
            std::make_move_iterator(queue_.begin()),
            std::make_move_iterator(queue_.begin() + static_cast<long>(n)));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
        writing_ += n;
        lock.unlock();
        // Both writers insert in id order, so two batches holding the same ids (a retried
        // request) wait on each other instead of deadlocking.
        std::sort(batch.begin(), batch.end(), [](const StatusRow& a, const StatusRow& b) {
            return a.message_id < b.message_id;
        });
        std::string error;
        bool ok = write(conn, batch, error);
        lock.lock();
        writing_ -= n;
        if (ok) {
            metrics_.status_rows_written += n;
            if (!pg_ok_.exchange(true))
                log::info("writing pending status rows again");
            backoff = std::chrono::milliseconds(0);
        } else {
            // Back to the front for the retry, even past the capacity: these were accepted.
            queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()),
                          std::make_move_iterator(batch.end()));
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
// parses and plans one small statement.
const char* kInsertPending =
    "INSERT INTO nomnom.message_status "
    "(message_id, stream, subject, entity, status, stream_seq, received_at) "
    "SELECT id, stream, subject, entity, 'pending', seq, received_at "
    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], "
    "$6::timestamptz[]) AS r(id, stream, subject, entity, seq, received_at) "
    "ON CONFLICT (message_id) DO NOTHING";

} // namespace

bool StatusRecorder::write(PgConn& conn, const std::vector<StatusRow>& rows, std::string& error) {
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
        conn = pg_connect(conninfo_, error);
        if (!conn)
            return false;
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
    // A pending row is bookkeeping, not the message (that is safe in JetStream, and the
    // worker writes the final status itself), so it need not wait for a WAL flush: a crash
    // can lose the last few pending rows, never a message. SET LOCAL inside the transaction
    // and an unnamed statement, never a session setting or a named prepared statement, so
    // that this works through pgbouncer in transaction pooling mode.
    auto failed = [&](PGresult* r) {
        error = pg_error(r);
        PgResult rollback(PQexec(conn.get(), "ROLLBACK"));
        if (PQstatus(conn.get()) != CONNECTION_OK)
            conn.reset();
        return false;
    };
    PgResult begin(PQexec(conn.get(), "BEGIN; SET LOCAL synchronous_commit = off"));
    if (PQresultStatus(begin.get()) != PGRES_COMMAND_OK)
        return failed(begin.get());
    PgResult res(PQexecParams(conn.get(), kInsertPending, 6, nullptr, params, nullptr, nullptr, 0));
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK)
        return failed(res.get());
    PgResult commit(PQexec(conn.get(), "COMMIT"));
    if (PQresultStatus(commit.get()) != PGRES_COMMAND_OK)
        return failed(commit.get());
    return true;
}

} // namespace bridge
