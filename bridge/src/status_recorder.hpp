// Writes `pending` rows into nomnom.message_status off the request path.
//
// A request is answered as soon as JetStream has stored the message; the row that makes it
// visible in SQL follows within milliseconds from this thread, many rows per INSERT. While
// PostgreSQL is slow or down the rows wait in a bounded queue (the messages themselves are
// safe in JetStream); when the queue is full new rows are dropped and counted.
// A batch goes in by binary COPY (no text to parse, one WAL record a page); when one of
// its ids already has a row (the worker was first, or a client resent a document), the
// batch is written by INSERT ... ON CONFLICT DO NOTHING instead, with the same result.
#pragma once

#include "metrics.hpp"
#include "pg.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bridge {

struct StatusRow {
    std::string message_id;
    std::string stream;
    std::string subject;
    std::string entity;
    uint64_t stream_seq = 0;
    int64_t received_at_us = 0; // microseconds since the Unix epoch
    bool duplicate = false;     // JetStream had the id already: its row may exist
};

class StatusRecorder {
  public:
    StatusRecorder(std::string conninfo, size_t capacity, Metrics& metrics);
    ~StatusRecorder();

    void start();
    // Writes what is queued, giving up after `deadline`; what is left is logged and dropped.
    void stop(std::chrono::milliseconds deadline);

    // Queues rows; those beyond the capacity are dropped (and counted).
    void enqueue(std::vector<StatusRow> rows);

    size_t depth() const; // queued or being written
    bool postgres_ok() const { return pg_ok_.load(); }

    static constexpr size_t kMaxBatch = 5000; // rows per INSERT when a backlog builds up
    // Writers, each with its own connection: one INSERT waits on PostgreSQL while the next
    // batch is being sent, so the recorder keeps up with a few tens of thousands rows/s.
    static constexpr int kWriters = 2;

  private:
    void run();
    // COPY first unless `insert_only`; `conflicted` tells that COPY met an existing row.
    bool write(PgConn& conn, const std::vector<StatusRow>& rows, bool insert_only, bool& conflicted,
               std::string& error);

    std::string conninfo_;
    size_t capacity_;
    Metrics& metrics_;
    std::atomic<bool> pg_ok_{true}; // until a write fails; the catalog checks connectivity too

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<StatusRow> queue_;
    size_t writing_ = 0; // rows taken from the queue by a writer, not yet written
    bool stopping_ = false;
    std::chrono::steady_clock::time_point stop_deadline_{};
    std::vector<std::thread> threads_;
};

// Now in microseconds since the Unix epoch, and such a time as timestamptz text (UTC).
int64_t now_unix_micros();
std::string timestamptz_text(int64_t unix_micros);

// The rows as the body of a binary COPY into message_status (message_id, stream, subject,
// entity, status, stream_seq, received_at), status 'pending'; false when a message id is
// not a UUID (the INSERT then reports it).
bool pending_copy_data(const std::vector<StatusRow>& rows, std::string& out);

} // namespace bridge
