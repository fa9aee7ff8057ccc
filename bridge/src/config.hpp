// Command-line and environment configuration of nomnom-bridge.
// Pure: parses argv and an environment lookup, so it is unit-tested without a process.
#pragma once

#include "nomnom/nats_connect.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bridge {

enum class LogLevel { Debug, Info, Warn, Error };

struct Config {
    std::string listen = "127.0.0.1:8080";
    nomnom::NatsConnectConfig nats; // --nats (a server list), credentials and TLS files
    std::string database_url = "postgresql:///postgres";
    std::string stream = "MESSAGES";
    std::string token_file;              // empty: no authentication
    size_t max_body = 16u * 1024 * 1024; // bytes
    int64_t wait_timeout_ms = 10000;     // ?wait=committed
    int64_t publish_timeout_ms = 5000;   // JetStream ack
    int64_t refresh_interval_ms = 2000;  // nomnom.streams / nomnom.entities
    size_t status_queue = 100000;        // pending message_status rows held while PG is slow
    unsigned max_connections = 1024;
    // Hardening (DESIGN.md, "nomnom-bridge"; bridge/README.md, "Hardening").
    unsigned max_connections_per_client = 64; // per client IP address; 0: no limit
    int64_t request_timeout_ms = 30000;       // a whole request (headers and body) must arrive
    size_t max_batch_lines = 10000;           // NDJSON lines per request, else 413
    size_t max_line_bytes = 1024 * 1024;      // bytes per NDJSON line, else that line's 400
    bool public_details = false;              // /health details and /metrics without the token
    std::string tls_cert_file;                // both set: serve HTTPS
    std::string tls_key_file;
    LogLevel log_level = LogLevel::Info;
};

// What parse_config decided: run with `config`, or print `output` and exit with `exit_code`.
struct ParseResult {
    Config config;
    bool exit_now = false;
    int exit_code = 0;
    std::string output; // --help text, or the error (to stderr when exit_code != 0)
};

using EnvLookup = std::function<std::optional<std::string>(const char*)>;

// Flags win over environment variables, which win over defaults.
ParseResult parse_config(const std::vector<std::string>& args, const EnvLookup& env);

std::string help_text();

// "16MiB", "512k", "1000" -> bytes; nullopt when malformed.
std::optional<size_t> parse_size(const std::string& text);
// "10s", "250ms", "1.5" (seconds) -> milliseconds; nullopt when malformed or negative.
std::optional<int64_t> parse_duration_ms(const std::string& text);
std::optional<LogLevel> parse_log_level(const std::string& text);
// "true"/"false", "yes"/"no", "on"/"off", "1"/"0" (any case); nullopt otherwise.
std::optional<bool> parse_bool(const std::string& text);

// "127.0.0.1:8080" / "[::1]:8080" / ":8080" -> host and port; nullopt when malformed.
struct HostPort {
    std::string host;
    uint16_t port = 0;
};
std::optional<HostPort> parse_listen(const std::string& text);

} // namespace bridge
