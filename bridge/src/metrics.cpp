#include "metrics.hpp"

#include <cstdio>

namespace bridge {

const char* endpoint_label(Endpoint endpoint) {
    switch (endpoint) {
    case Endpoint::IngestMessage:
        return "ingest_message";
    case Endpoint::IngestBatch:
        return "ingest_batch";
    case Endpoint::Status:
        return "status";
    case Endpoint::Health:
        return "health";
    case Endpoint::Ready:
        return "ready";
    case Endpoint::Metrics:
        return "metrics";
    case Endpoint::NotFound:
        return "not_found";
    case Endpoint::Dashboard:
        return "dashboard";
    case Endpoint::Overview:
        return "overview";
    case Endpoint::Message:
        return "message";
    case Endpoint::Replay:
        return "replay";
    case Endpoint::Stats:
        return "stats";
    case Endpoint::OpenApi:
        return "openapi";
    }
    return "not_found";
}

void Metrics::observe_request(Endpoint endpoint, int status, double seconds) {
    int e = static_cast<int>(endpoint);
    Histogram& h = latency_[static_cast<size_t>(e)];
    for (size_t i = 0; i < kBuckets.size(); ++i)
        if (seconds <= kBuckets[i]) {
            h.buckets[i].fetch_add(1, std::memory_order_relaxed);
            break; // buckets are stored non-cumulative and summed when rendered
        }
    h.count.fetch_add(1, std::memory_order_relaxed);
    h.sum_micros.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mutex_);
    ++requests_[{e, status}];
}

void Metrics::add_gauge(std::string name, std::string help, std::function<double()> read) {
    std::lock_guard<std::mutex> lock(mutex_);
    gauges_.push_back({std::move(name), std::move(help), std::move(read)});
}

namespace {
void counter(std::string& out, const char* name, const char* help, uint64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
           " " + std::to_string(value) + "\n";
}
// Shortest text that reads back well: bucket bounds print as written ("0.005").
std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
}
} // namespace

std::string Metrics::render() const {
    std::string out;
    out += "# HELP nomnom_bridge_requests_total HTTP requests by endpoint and status code.\n"
           "# TYPE nomnom_bridge_requests_total counter\n";
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& [key, count] : requests_)
            out += std::string("nomnom_bridge_requests_total{endpoint=\"") +
                   endpoint_label(static_cast<Endpoint>(key.first)) + "\",code=\"" +
                   std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
    }
    out += "# HELP nomnom_bridge_request_duration_seconds Time from request to response.\n"
           "# TYPE nomnom_bridge_request_duration_seconds histogram\n";
    for (int e = 0; e < kEndpoints; ++e) {
        const Histogram& h = latency_[static_cast<size_t>(e)];
        uint64_t total = h.count.load();
        if (total == 0)
            continue;
        std::string label =
            std::string("endpoint=\"") + endpoint_label(static_cast<Endpoint>(e)) + "\"";
        uint64_t cumulative = 0;
        for (size_t i = 0; i < kBuckets.size(); ++i) {
            cumulative += h.buckets[i].load();
            out += "nomnom_bridge_request_duration_seconds_bucket{" + label + ",le=\"" +
                   number(kBuckets[i]) + "\"} " + std::to_string(cumulative) + "\n";
        }
        out += "nomnom_bridge_request_duration_seconds_bucket{" + label + ",le=\"+Inf\"} " +
               std::to_string(total) + "\n";
        out += "nomnom_bridge_request_duration_seconds_sum{" + label + "} " +
               number(static_cast<double>(h.sum_micros.load()) / 1e6) + "\n";
        out += "nomnom_bridge_request_duration_seconds_count{" + label + "} " +
               std::to_string(total) + "\n";
    }
    counter(out, "nomnom_bridge_published_total", "Messages JetStream acknowledged as stored.",
            published.load());
    counter(out, "nomnom_bridge_duplicates_total",
            "Messages JetStream already had (same Nats-Msg-Id): stored once.", duplicates.load());
    counter(out, "nomnom_bridge_publish_failures_total",
            "Messages JetStream did not acknowledge (answered 503 or a per-line error).",
            publish_failures.load());
    counter(out, "nomnom_bridge_rejected_documents_total",
            "Documents refused before publishing (invalid JSON, unknown entity).", rejected.load());
    counter(out, "nomnom_bridge_status_rows_written_total",
            "Pending rows written to nomnom.message_status.", status_rows_written.load());
    counter(out, "nomnom_bridge_status_rows_dropped_total",
            "Pending rows dropped because the queue was full (PostgreSQL slow or down).",
            status_rows_dropped.load());
    counter(out, "nomnom_bridge_status_write_failures_total",
            "Failed attempts to write a batch of pending rows.", status_write_failures.load());
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Gauge& g : gauges_)
        out += "# HELP " + g.name + " " + g.help + "\n# TYPE " + g.name + " gauge\n" + g.name +
               " " + number(g.read()) + "\n";
    return out;
}

} // namespace bridge
