#include "status_recorder.hpp"

#include "log.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace bridge {

namespace {
constexpr int kInsertBatchesAfterConflict = 16;
} // namespace

int64_t now_unix_micros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string timestamptz_text(int64_t micros) {
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
    int insert_batches = 0; // still to write by INSERT after COPY met an existing row
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
        // Rows of resent documents may exist already, and after a COPY that met an existing
        // row (the worker keeps up) the next batches likely would too: those go by INSERT.
        bool insert_only =
            insert_batches > 0 || std::any_of(batch.begin(), batch.end(),
                                              [](const StatusRow& row) { return row.duplicate; });
        if (insert_batches > 0)
            --insert_batches;
        bool conflicted = false;
        std::string error;
        bool ok = write(conn, batch, insert_only, conflicted, error);
        if (conflicted)
            insert_batches = kInsertBatchesAfterConflict;
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

namespace {

void put16(std::string& out, uint16_t v) {
    out += static_cast<char>(v >> 8);
    out += static_cast<char>(v & 0xff);
}
void put32(std::string& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
        out += static_cast<char>((v >> shift) & 0xff);
}
void put64(std::string& out, uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8)
        out += static_cast<char>((v >> shift) & 0xff);
}
void put_text(std::string& out, const std::string& value) {
    put32(out, static_cast<uint32_t>(value.size()));
    out += value;
}
int hex_value(char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}
// A UUID in its canonical text form (8-4-4-4-12 hex digits) as its 16 bytes.
bool put_uuid(std::string& out, const std::string& text) {
    if (text.size() != 36)
        return false;
    put32(out, 16);
    for (size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return false;
            ++i;
            continue;
        }
        int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out += static_cast<char>(hi << 4 | lo);
        i += 2;
    }
    return true;
}

constexpr int64_t kPostgresEpochUnixMicros = 946684800LL * 1000000; // 2000-01-01 UTC

const char* kCopyPending = "COPY nomnom.message_status "
                           "(message_id, stream, subject, entity, status, stream_seq, received_at) "
                           "FROM STDIN (FORMAT binary)";

} // namespace

bool pending_copy_data(const std::vector<StatusRow>& rows, std::string& out) {
    static const char kSignature[] = "PGCOPY\n\377\r\n"; // and its terminating NUL
    out.clear();
    out.append(kSignature, sizeof kSignature);
    put32(out, 0); // flags
    put32(out, 0); // header extension length
    static const std::string pending = "pending";
    for (const StatusRow& row : rows) {
        put16(out, 7);
        if (!put_uuid(out, row.message_id))
            return false;
        put_text(out, row.stream);
        put_text(out, row.subject);
        put_text(out, row.entity);
        put_text(out, pending);
        put32(out, 8);
        put64(out, row.stream_seq);
        put32(out, 8);
        put64(out, static_cast<uint64_t>(row.received_at_us - kPostgresEpochUnixMicros));
    }
    put16(out, 0xffff); // the trailer: a field count of -1
    return true;
}

bool StatusRecorder::write(PgConn& conn, const std::vector<StatusRow>& rows, bool insert_only,
                           bool& conflicted, std::string& error) {
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
        conn = pg_connect(conninfo_, error);
        if (!conn)
            return false;
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
    auto begin = [&] {
        PgResult res(PQexec(conn.get(), "BEGIN; SET LOCAL synchronous_commit = off"));
        return PQresultStatus(res.get()) == PGRES_COMMAND_OK ? true : failed(res.get());
    };
    auto commit = [&] {
        PgResult res(PQexec(conn.get(), "COMMIT"));
        return PQresultStatus(res.get()) == PGRES_COMMAND_OK ? true : failed(res.get());
    };
    std::string data;
    if (!insert_only && pending_copy_data(rows, data)) {
        if (!begin())
            return false;
        PgResult start(PQexec(conn.get(), kCopyPending));
        if (PQresultStatus(start.get()) != PGRES_COPY_IN)
            return failed(start.get());
        if (PQputCopyData(conn.get(), data.data(), static_cast<int>(data.size())) != 1 ||
            PQputCopyEnd(conn.get(), nullptr) != 1) {
            error = pg_error(conn.get());
            conn.reset(); // the COPY cannot be finished on this connection
            return false;
        }
        PgResult res(PQgetResult(conn.get()));
        while (PGresult* more = PQgetResult(conn.get()))
            PQclear(more);
        if (PQresultStatus(res.get()) == PGRES_COMMAND_OK)
            return commit();
        const char* state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
        if (state == nullptr || std::string(state) != "23505")
            return failed(res.get());
        // A row of the batch exists already: the INSERT below skips such rows.
        conflicted = true;
        PgResult rollback(PQexec(conn.get(), "ROLLBACK"));
        if (PQresultStatus(rollback.get()) != PGRES_COMMAND_OK)
            return failed(rollback.get());
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
        append_element(arrays[5], timestamptz_text(row.received_at_us));
    }
    const char* params[6];
    for (int i = 0; i < 6; ++i) {
        arrays[i] += "}";
        params[i] = arrays[i].c_str();
    }
    if (!begin())
        return false;
    PgResult res(PQexecParams(conn.get(), kInsertPending, 6, nullptr, params, nullptr, nullptr, 0));
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK)
        return failed(res.get());
    return commit();
}

} // namespace bridge
