#include "config.hpp"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace bridge {

namespace {

// One row per option: the flag, its environment variable, the help line, and how to apply it.
struct Option {
    const char* flag;
    const char* env;
    const char* value_name;
    const char* help;
    // Returns an error message, or an empty string when `value` was applied.
    std::string (*apply)(Config&, const std::string& value);
};

std::string set_size(size_t& out, const std::string& value, const char* flag) {
    auto parsed = parse_size(value);
    if (!parsed || *parsed == 0)
        return std::string(flag) + ": expected a size such as 16MiB, got '" + value + "'";
    out = *parsed;
    return {};
}

std::string set_duration(int64_t& out, const std::string& value, const char* flag) {
    auto parsed = parse_duration_ms(value);
    if (!parsed)
        return std::string(flag) + ": expected a duration such as 10s or 250ms, got '" + value +
               "'";
    out = *parsed;
    return {};
}

std::string set_text(std::string& out, const std::string& value, const char* flag) {
    if (value.empty())
        return std::string(flag) + ": must not be empty";
    out = value;
    return {};
}

const Option kOptions[] = {
    {"--listen", "NOMNOM_LISTEN", "HOST:PORT", "address to listen on (default 127.0.0.1:8080)",
     [](Config& c, const std::string& v) -> std::string {
         if (!parse_listen(v))
             return "--listen: expected HOST:PORT, got '" + v + "'";
         c.listen = v;
         return {};
     }},
    {"--nats", "NATS_URL", "URLS",
     "NATS server, or a comma-separated list of a cluster's servers; tls:// requires TLS "
     "(default nats://127.0.0.1:4222)",
     [](Config& c, const std::string& v) -> std::string {
         std::vector<std::string> servers;
         std::string error;
         if (!nomnom::split_server_list(v, servers, error))
             return "--nats: " + error;
         c.nats.url = v;
         return {};
     }},
    {"--nats-user", "NATS_USER", "USER", "NATS user, with --nats-password-file",
     [](Config& c, const std::string& v) { return set_text(c.nats.user, v, "--nats-user"); }},
    {"--nats-password-file", "NATS_PASSWORD_FILE", "FILE",
     "the NATS user's password, read from FILE",
     [](Config& c, const std::string& v) {
         return set_text(c.nats.password_file, v, "--nats-password-file");
     }},
    {"--nats-token-file", "NATS_TOKEN_FILE", "FILE", "NATS token, read from FILE",
     [](Config& c, const std::string& v) {
         return set_text(c.nats.token_file, v, "--nats-token-file");
     }},
    {"--nats-nkey-seed-file", "NATS_NKEY_SEED_FILE", "FILE",
     "NATS NKey seed (the server holds the public key), read from FILE",
     [](Config& c, const std::string& v) {
         return set_text(c.nats.nkey_seed_file, v, "--nats-nkey-seed-file");
     }},
    {"--nats-creds-file", "NATS_CREDS_FILE", "FILE",
     "NATS .creds file (user JWT + NKey seed: decentralised JWT auth)",
     [](Config& c, const std::string& v) {
         return set_text(c.nats.creds_file, v, "--nats-creds-file");
     }},
    {"--nats-tls-ca-file", "NATS_TLS_CA_FILE", "FILE",
     "the CA that signs the NATS servers' certificates (turns TLS on)",
     [](Config& c, const std::string& v) {
         return set_text(c.nats.tls_ca_file, v, "--nats-tls-ca-file");
     }},
    {"--nats-tls-cert-file", "NATS_TLS_CERT_FILE", "FILE",
     "client certificate for mutual TLS, with --nats-tls-key-file",
     [](Config& c, const std::string& v) {
         return set_text(c.nats.tls_cert_file, v, "--nats-tls-cert-file");
     }},
    {"--nats-tls-key-file", "NATS_TLS_KEY_FILE", "FILE", "the client certificate's private key",
     [](Config& c, const std::string& v) {
         return set_text(c.nats.tls_key_file, v, "--nats-tls-key-file");
     }},
    {"--database", "DATABASE_URL", "CONNINFO",
     "PostgreSQL with the nomnom extension (default postgresql:///postgres)",
     [](Config& c, const std::string& v) -> std::string {
         c.database_url = v;
         return {};
     }},
    {"--stream", "NATS_STREAM", "NAME",
     "JetStream stream, a row of nomnom.streams (default MESSAGES)",
     [](Config& c, const std::string& v) -> std::string {
         if (v.empty())
             return "--stream: must not be empty";
         c.stream = v;
         return {};
     }},
    {"--token-file", "NOMNOM_TOKEN_FILE", "FILE",
     "require 'Authorization: Bearer <token>' on /ingest/*, /metrics and /health's details, "
     "token read from FILE (default: none)",
     [](Config& c, const std::string& v) -> std::string {
         c.token_file = v;
         return {};
     }},
    {"--max-body", "NOMNOM_MAX_BODY", "SIZE", "largest request body, else 413 (default 16MiB)",
     [](Config& c, const std::string& v) { return set_size(c.max_body, v, "--max-body"); }},
    {"--wait-timeout", "NOMNOM_WAIT_TIMEOUT", "DURATION",
     "how long ?wait=committed waits before answering 202 (default 10s)",
     [](Config& c, const std::string& v) {
         return set_duration(c.wait_timeout_ms, v, "--wait-timeout");
     }},
    {"--publish-timeout", "NOMNOM_PUBLISH_TIMEOUT", "DURATION",
     "how long to wait for JetStream's ack before answering 503 (default 5s)",
     [](Config& c, const std::string& v) {
         return set_duration(c.publish_timeout_ms, v, "--publish-timeout");
     }},
    {"--refresh-interval", "NOMNOM_REFRESH_INTERVAL", "DURATION",
     "how often nomnom.streams and nomnom.entities are re-read (default 2s)",
     [](Config& c, const std::string& v) {
         return set_duration(c.refresh_interval_ms, v, "--refresh-interval");
     }},
    {"--status-queue", "NOMNOM_STATUS_QUEUE", "N",
     "pending message_status rows held while PostgreSQL is slow or down; more are dropped and "
     "counted (default 100000)",
     [](Config& c, const std::string& v) { return set_size(c.status_queue, v, "--status-queue"); }},
    {"--max-connections", "NOMNOM_MAX_CONNECTIONS", "N",
     "concurrent HTTP connections, one thread each (default 1024)",
     [](Config& c, const std::string& v) -> std::string {
         auto n = parse_size(v);
         if (!n || *n == 0 || *n > 65535)
             return "--max-connections: expected 1..65535, got '" + v + "'";
         c.max_connections = static_cast<unsigned>(*n);
         return {};
     }},
    {"--max-connections-per-client", "NOMNOM_MAX_CONNECTIONS_PER_CLIENT", "N",
     "concurrent HTTP connections from one client address; more are refused (default 64, 0: no "
     "limit)",
     [](Config& c, const std::string& v) -> std::string {
         auto n = parse_size(v);
         if (v == "0")
             n = 0;
         if (!n || *n > 65535)
             return "--max-connections-per-client: expected 0..65535, got '" + v + "'";
         c.max_connections_per_client = static_cast<unsigned>(*n);
         return {};
     }},
    {"--request-timeout", "NOMNOM_REQUEST_TIMEOUT", "DURATION",
     "a request's headers and body must arrive within this time of the connection opening (or "
     "of the previous answer on it), else the connection is closed (default 30s)",
     [](Config& c, const std::string& v) -> std::string {
         std::string error = set_duration(c.request_timeout_ms, v, "--request-timeout");
         if (error.empty() && c.request_timeout_ms <= 0)
             return "--request-timeout: must be more than 0, got '" + v + "'";
         return error;
     }},
    {"--max-batch-lines", "NOMNOM_MAX_BATCH_LINES", "N",
     "NDJSON lines in one /ingest/batch request, else 413 (default 10000)",
     [](Config& c, const std::string& v) {
         return set_size(c.max_batch_lines, v, "--max-batch-lines");
     }},
    {"--max-line-bytes", "NOMNOM_MAX_LINE_BYTES", "SIZE",
     "bytes in one NDJSON line, else that line is refused (default 1MiB)",
     [](Config& c, const std::string& v) {
         return set_size(c.max_line_bytes, v, "--max-line-bytes");
     }},
    {"--public-details", "NOMNOM_PUBLIC_DETAILS", "BOOL",
     "with a token: serve /health's details and /metrics without it too (default false)",
     [](Config& c, const std::string& v) -> std::string {
         auto b = parse_bool(v);
         if (!b)
             return "--public-details: expected true or false, got '" + v + "'";
         c.public_details = *b;
         return {};
     }},
    {"--tls-cert-file", "NOMNOM_TLS_CERT_FILE", "FILE",
     "serve HTTPS with this PEM certificate (chain); needs --tls-key-file (default: HTTP)",
     [](Config& c, const std::string& v) -> std::string {
         if (v.empty())
             return "--tls-cert-file: must not be empty";
         c.tls_cert_file = v;
         return {};
     }},
    {"--tls-key-file", "NOMNOM_TLS_KEY_FILE", "FILE", "the PEM private key of --tls-cert-file",
     [](Config& c, const std::string& v) -> std::string {
         if (v.empty())
             return "--tls-key-file: must not be empty";
         c.tls_key_file = v;
         return {};
     }},
    {"--log-level", "NOMNOM_LOG_LEVEL", "LEVEL", "debug, info, warn or error (default info)",
     [](Config& c, const std::string& v) -> std::string {
         auto level = parse_log_level(v);
         if (!level)
             return "--log-level: expected debug, info, warn or error, got '" + v + "'";
         c.log_level = *level;
         return {};
     }},
};

std::string lower(std::string s) {
    for (char& ch : s)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

} // namespace

std::optional<size_t> parse_size(const std::string& text) {
    size_t i = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
        ++i;
    if (i == 0 || i > 15)
        return std::nullopt;
    size_t value = std::stoull(text.substr(0, i));
    std::string unit = lower(text.substr(i));
    size_t mult = 1;
    if (unit.empty() || unit == "b")
        mult = 1;
    else if (unit == "k" || unit == "kb" || unit == "kib")
        mult = 1024;
    else if (unit == "m" || unit == "mb" || unit == "mib")
        mult = size_t{1} << 20;
    else if (unit == "g" || unit == "gb" || unit == "gib")
        mult = size_t{1} << 30;
    else
        return std::nullopt;
    if (value > SIZE_MAX / mult)
        return std::nullopt;
    return value * mult;
}

std::optional<int64_t> parse_duration_ms(const std::string& text) {
    if (text.empty())
        return std::nullopt;
    char* end = nullptr;
    double number = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || !std::isfinite(number) || number < 0)
        return std::nullopt;
    std::string unit = lower(end);
    double ms;
    if (unit.empty() || unit == "s")
        ms = number * 1000;
    else if (unit == "ms")
        ms = number;
    else if (unit == "m" || unit == "min")
        ms = number * 60000;
    else
        return std::nullopt;
    return static_cast<int64_t>(std::llround(ms));
}

std::optional<LogLevel> parse_log_level(const std::string& text) {
    std::string t = lower(text);
    if (t == "debug")
        return LogLevel::Debug;
    if (t == "info")
        return LogLevel::Info;
    if (t == "warn" || t == "warning")
        return LogLevel::Warn;
    if (t == "error")
        return LogLevel::Error;
    return std::nullopt;
}

std::optional<bool> parse_bool(const std::string& text) {
    std::string t = lower(text);
    if (t == "true" || t == "yes" || t == "on" || t == "1")
        return true;
    if (t == "false" || t == "no" || t == "off" || t == "0")
        return false;
    return std::nullopt;
}

std::optional<HostPort> parse_listen(const std::string& text) {
    HostPort out;
    std::string port_text;
    if (!text.empty() && text[0] == '[') {
        auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return std::nullopt;
        out.host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos)
            return std::nullopt;
        out.host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (out.host.find(':') != std::string::npos)
            return std::nullopt; // bare IPv6 needs brackets
    }
    if (out.host.empty())
        out.host = "0.0.0.0";
    if (port_text.empty() || port_text.size() > 5)
        return std::nullopt;
    for (char ch : port_text)
        if (!std::isdigit(static_cast<unsigned char>(ch)))
            return std::nullopt;
    unsigned long port = std::stoul(port_text);
    if (port > 65535)
        return std::nullopt;
    out.port = static_cast<uint16_t>(port);
    return out;
}

std::string help_text() {
    std::string out =
        "Usage: nomnom-bridge [options]\n"
        "\n"
        "Accepts JSON documents over HTTP and publishes them to the JetStream stream that\n"
        "nomnom's background workers consume. Stream subjects and entities are read from\n"
        "nomnom.streams and nomnom.entities in the database.\n"
        "\n"
        "Options (each also read from the environment variable shown; a flag wins):\n";
    for (const Option& o : kOptions) {
        std::string left = std::string("  ") + o.flag + " " + o.value_name;
        if (left.size() < 32)
            left.resize(32, ' ');
        else
            left += "\n" + std::string(32, ' ');
        out += left + o.help + "\n" + std::string(32, ' ') + "env " + o.env + "\n";
    }
    out += "  --help                        show this text\n";
    return out;
}

ParseResult parse_config(const std::vector<std::string>& args, const EnvLookup& env) {
    ParseResult result;
    auto fail = [&](const std::string& message) {
        result.exit_now = true;
        result.exit_code = 2;
        result.output = "nomnom-bridge: " + message + "\n(see --help)\n";
        return result;
    };
    for (const Option& o : kOptions) {
        if (auto value = env(o.env)) {
            std::string error = o.apply(result.config, *value);
            if (!error.empty())
                return fail(error + " (from " + o.env + ")");
        }
    }
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            result.exit_now = true;
            result.output = help_text();
            return result;
        }
        std::string name = arg, value;
        bool has_value = false;
        if (auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            has_value = true;
        }
        const Option* found = nullptr;
        for (const Option& o : kOptions)
            if (name == o.flag)
                found = &o;
        if (found == nullptr)
            return fail("unknown argument '" + arg + "'");
        if (!has_value) {
            if (i + 1 >= args.size())
                return fail(std::string(found->flag) + " needs a value");
            value = args[++i];
        }
        std::string error = found->apply(result.config, value);
        if (!error.empty())
            return fail(error);
    }
    if (result.config.tls_cert_file.empty() != result.config.tls_key_file.empty())
        return fail("--tls-cert-file and --tls-key-file go together: give both or neither");
    std::string error;
    if (!nomnom::check_connect_config(result.config.nats, error)) {
        for (const char* from :
             {"nats_user", "nats_password_file", "nats_token_file", "nats_nkey_seed_file",
              "nats_creds_file", "nats_tls_cert_file", "nats_tls_key_file"}) {
            // The core names the stream options; the bridge's flags are spelled --nats-...
            std::string flag = std::string("--") + from;
            for (char& ch : flag)
                ch = ch == '_' ? '-' : ch;
            for (size_t at; (at = error.find(from)) != std::string::npos;)
                error.replace(at, strlen(from), flag);
        }
        return fail(error);
    }
    return result;
}

} // namespace bridge
