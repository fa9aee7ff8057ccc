// The operator's console: what the dashboard (GET /), GET /api/overview, GET /stats and the
// per-stream series of /metrics show. Its queries stay off the ingest path: one PostgreSQL
// connection of its own (never the request pool's nor the status recorder's), every query
// bounded (LIMITs, capped counts, a statement timeout), and results shared by every reader:
//   - a sampler thread reads nomnom.stream_status every `sample_interval` (a function over
//     the workers' shared memory, no table scan) and keeps ten minutes of samples, the
//     dashboard's rate chart and the metrics' source;
//   - the rest of the overview (entities with their row counts and latest rows, the recent
//     dead letters) is read when asked, at most once a second however many pages poll.
#pragma once

#include "pg.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace bridge {

// One worker's row of nomnom.stream_status. Columns a database does not have yet (an older
// extension) read as absent: -1 for counts, NaN for the rate.
struct WorkerSample {
    std::string stream;
    int worker = 0;
    std::string state;
    bool running = false; // state "running" (or "idle"/"fetching": a live worker loop)
    uint64_t consumed = 0, completed = 0, failed = 0, dead_lettered = 0;
    int64_t pending = -1;
    int64_t num_pending = -1, num_ack_pending = -1, num_redelivered = -1;
    double rate_1m = -1;
    // Batch commit latency histogram (cumulative counts for kCommitBuckets, then the sum in
    // seconds and the count), empty when the extension does not expose it.
    std::vector<uint64_t> commit_buckets;
    double commit_sum = 0;
    uint64_t commit_count = 0;
};

struct Sample {
    std::chrono::system_clock::time_point at;
    std::vector<WorkerSample> workers;
};

class Console {
  public:
    static constexpr size_t kHistory = 300; // samples kept (10 minutes at 2 s)

    Console(std::string conninfo, std::chrono::milliseconds sample_interval);
    ~Console();

    void start();
    void stop();

    // The newest sample, when one was taken within three intervals (else nullopt: the
    // series are left out of /metrics rather than shown stale).
    std::optional<Sample> latest() const;

    // GET /api/overview: {"generated_at", "streams", "history", "entities", "dead_letters",
    // "postgres"}; `bridge` is a JSON object the caller adds (its own counters).
    std::string overview(const std::string& bridge_json);
    // GET /stats, from the same data.
    std::string stats();

    // GET /api/messages/{id}: the status row, its dead letter's error, and the rows it wrote
    // (through each entity field with "source": "message_id"). 200/404/503 as `status`.
    std::string message(const std::string& uuid, int& status);
    // POST /api/dead-letters/replay: replays the given dead letters (all when empty).
    std::string replay(const std::vector<std::string>& uuids, int& status);

    // Prometheus text for the per-stream series (nomnom_stream_*), from latest().
    std::string render_metrics() const;

  private:
    void run();
    void take_sample();
    // Runs `sql` on the console's connection (connecting when needed); nullptr + error.
    PgResult query(const std::string& sql, int nparams, const char* const* params,
                   std::string& error);
    // The entities and dead letters, as JSON members (",\"entities\":[...],..."), and
    // {entity: rows}; empty on error.
    std::string read_details(std::string& error, std::string& counts);
    // read_details' result, read again when older than a second.
    void fresh_details(std::string& details, std::string& error, std::string& counts);

    std::string conninfo_;
    std::chrono::milliseconds interval_;

    std::mutex conn_mutex_; // one query at a time on conn_
    PgConn conn_;

    mutable std::mutex samples_mutex_;
    std::deque<Sample> samples_;
    std::string sample_error_;

    std::mutex details_mutex_;
    std::chrono::steady_clock::time_point details_at_{};
    std::string details_json_; // ,"entities":[...],"dead_letters":[...] members
    std::string details_error_;
    std::string details_counts_;

    std::mutex wake_mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

// The upper bounds (seconds) of the extension's batch commit latency histogram, in the
// order of nomnom.stream_status.commit_buckets.
extern const std::vector<double> kCommitBuckets;

} // namespace bridge
