// Counters and a latency histogram, rendered in the Prometheus text format for /metrics.
// Lock-free on the request path except the (endpoint, code) table, which is tiny.
#pragma once

#include "routing.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace bridge {

class Metrics {
  public:
    static constexpr int kEndpoints = 13; // the values of bridge::Endpoint
    static constexpr std::array<double, 14> kBuckets = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

    void observe_request(Endpoint endpoint, int status, double seconds);

    std::atomic<uint64_t> published{0};        // stored by JetStream as new messages
    std::atomic<uint64_t> duplicates{0};       // JetStream already had the id
    std::atomic<uint64_t> publish_failures{0}; // not stored: answered 503 or a per-line error
    std::atomic<uint64_t> rejected{0};         // invalid documents (bad JSON, unknown entity)
    std::atomic<uint64_t> status_rows_written{0};
    std::atomic<uint64_t> status_rows_dropped{0};
    std::atomic<uint64_t> status_write_failures{0};

    // Gauges read when rendering (queue depth, connection state), set once at start-up.
    void add_gauge(std::string name, std::string help, std::function<double()> read);

    std::string render() const;

  private:
    struct Histogram {
        std::array<std::atomic<uint64_t>, kBuckets.size()> buckets{};
        std::atomic<uint64_t> count{0};
        std::atomic<uint64_t> sum_micros{0};
    };
    std::array<Histogram, kEndpoints> latency_{};
    mutable std::mutex mutex_;
    std::map<std::pair<int, int>, uint64_t> requests_; // (endpoint, status) -> count
    struct Gauge {
        std::string name, help;
        std::function<double()> read;
    };
    std::vector<Gauge> gauges_;
};

const char* endpoint_label(Endpoint endpoint);

} // namespace bridge
