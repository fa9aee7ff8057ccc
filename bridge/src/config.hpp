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

// "127.0.0.1:8080" / "[::1]:8080" / ":8080" -> host and port; nullopt when malformed.
struct HostPort {
    std::string host;
    uint16_t port = 0;
};
std::optional<HostPort> parse_listen(const std::string& text);

} // namespace bridge
