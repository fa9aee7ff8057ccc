#include "nomnom/stream_options.hpp"

#include "nomnom/nats_connect.hpp"

#include <jansson.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <memory>

namespace nomnom {
namespace {

struct JsonDeleter {
    void operator()(json_t* value) const { json_decref(value); }
};

// An integral number: 2, 2.0, or a string of one ("2", "2.0"). Nothing else (true, "two",
// 2.5, 1e30) is.
bool as_integer(json_t* value, int64_t& out) {
    double real;
    if (json_is_integer(value)) {
        out = json_integer_value(value);
        return true;
    }
    if (json_is_real(value)) {
        real = json_real_value(value);
    } else if (json_is_string(value)) {
        std::string text(json_string_value(value), json_string_length(value));
        json_error_t ignored;
        std::unique_ptr<json_t, JsonDeleter> number(
            json_loadb(text.data(), text.size(), JSON_DECODE_ANY, &ignored));
        if (!number || !json_is_number(number.get()) || text.empty() ||
            text.find_first_not_of("-+0123456789.eE") != std::string::npos)
            return false;
        if (json_is_integer(number.get())) {
            out = json_integer_value(number.get());
            return true;
        }
        real = json_real_value(number.get());
    } else {
        return false;
    }
    // 2^63 is the first double past int64_t.
    if (!std::isfinite(real) || std::floor(real) != real || real < -9223372036854775808.0 ||
        real >= 9223372036854775808.0)
        return false;
    out = static_cast<int64_t>(real);
    return true;
}

bool get_integer(const char* key, json_t* value, int64_t min, int64_t max, int64_t& out,
                 std::string& error) {
    if (!as_integer(value, out)) {
        error = std::string("option \"") + key + "\" must be an integer";
        return false;
    }
    if (out < min || out > max) {
        error = std::string("option \"") + key + "\" must be between " + std::to_string(min) +
                " and " + std::to_string(max) + ", not " + std::to_string(out);
        return false;
    }
    return true;
}

bool get_string(const char* key, json_t* value, std::string& out, std::string& error) {
    if (!json_is_string(value)) {
        error = std::string("option \"") + key + "\" must be a string";
        return false;
    }
    out.assign(json_string_value(value), json_string_length(value));
    return true;
}

std::vector<std::string_view> split_tokens(std::string_view subject) {
    std::vector<std::string_view> tokens;
    size_t start = 0;
    while (true) {
        size_t dot = subject.find('.', start);
        if (dot == std::string_view::npos) {
            tokens.push_back(subject.substr(start));
            break;
        }
        tokens.push_back(subject.substr(start, dot - start));
        start = dot + 1;
    }
    return tokens;
}

// The string member behind one of the connection options other than nats_url, or null.
std::string* connect_string(StreamOptions& o, const std::string& key) {
    if (key == "nats_user")
        return &o.nats_user;
    if (key == "nats_password_file")
        return &o.nats_password_file;
    if (key == "nats_token_file")
        return &o.nats_token_file;
    if (key == "nats_nkey_seed_file")
        return &o.nats_nkey_seed_file;
    if (key == "nats_creds_file")
        return &o.nats_creds_file;
    if (key == "nats_tls_ca_file")
        return &o.nats_tls_ca_file;
    if (key == "nats_tls_cert_file")
        return &o.nats_tls_cert_file;
    if (key == "nats_tls_key_file")
        return &o.nats_tls_key_file;
    return nullptr;
}

} // namespace

NatsConnectConfig nats_connect_config(const StreamOptions& o) {
    NatsConnectConfig c;
    c.url = o.nats_url;
    c.user = o.nats_user;
    c.password_file = o.nats_password_file;
    c.token_file = o.nats_token_file;
    c.nkey_seed_file = o.nats_nkey_seed_file;
    c.creds_file = o.nats_creds_file;
    c.tls_ca_file = o.nats_tls_ca_file;
    c.tls_cert_file = o.nats_tls_cert_file;
    c.tls_key_file = o.nats_tls_key_file;
    return c;
}

bool valid_jetstream_name(std::string_view name) {
    if (name.empty() || name.size() > 255)
        return false;
    for (char c : name) {
        if (c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' ||
            static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
            return false;
    }
    return true;
}

bool valid_subject(std::string_view subject, bool allow_wildcards) {
    if (subject.empty())
        return false;
    std::vector<std::string_view> tokens = split_tokens(subject);
    for (size_t i = 0; i < tokens.size(); i++) {
        std::string_view token = tokens[i];
        if (token.empty())
            return false;
        for (char c : token) {
            if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
                return false;
        }
        if (token.find_first_of("*>") != std::string_view::npos) {
            if (!allow_wildcards || token.size() != 1)
                return false;
            if (token == ">" && i + 1 != tokens.size())
                return false;
        }
    }
    return true;
}

bool subject_matches(std::string_view pattern, std::string_view subject) {
    std::vector<std::string_view> p = split_tokens(pattern);
    std::vector<std::string_view> s = split_tokens(subject);
    for (size_t i = 0; i < p.size(); i++) {
        if (p[i] == ">")
            return i < s.size();
        if (i >= s.size())
            return false;
        if (p[i] != "*" && p[i] != s[i])
            return false;
    }
    return p.size() == s.size();
}

namespace {
bool parse_options(std::string_view json, StreamOptions& out, std::string& error, bool whole);
} // namespace

bool parse_stream_options(std::string_view json, StreamOptions& out, std::string& error) {
    return parse_options(json, out, error, true);
}

namespace {
// `whole`: the options are a stream's effective ones, so options that go together (the
// connection's credentials and TLS files) are checked together; a partial set of changes
// (alter_stream's, normalised) is checked option by option only.
bool parse_options(std::string_view json, StreamOptions& out, std::string& error, bool whole) {
    json_error_t json_error;
    std::unique_ptr<json_t, JsonDeleter> root(
        json_loadb(json.data(), json.size(), JSON_REJECT_DUPLICATES, &json_error));
    if (!root) {
        error = std::string("options are not valid JSON: ") + json_error.text;
        return false;
    }
    if (!json_is_object(root.get())) {
        error = "options must be a JSON object";
        return false;
    }
    const char* key;
    json_t* value;
    json_object_foreach(root.get(), key, value) {
        std::string k = key;
        int64_t n = 0;
        if (json_is_null(value))
            continue; // a null keeps the default
        if (k == "nats_url") {
            if (!get_string(key, value, out.nats_url, error))
                return false;
            if (!valid_nats_url(out.nats_url, error))
                return false;
        } else if (std::string* file = connect_string(out, k)) {
            if (!get_string(key, value, *file, error))
                return false;
        } else if (k == "consumer") {
            if (!get_string(key, value, out.consumer, error))
                return false;
            if (!valid_jetstream_name(out.consumer)) {
                error = "option \"consumer\" is not a valid JetStream consumer name: \"" +
                        out.consumer + "\"";
                return false;
            }
        } else if (k == "workers") {
            if (!get_integer(key, value, 0, 64, n, error))
                return false;
            out.workers = static_cast<int>(n);
        } else if (k == "batch_size") {
            if (!get_integer(key, value, 1, 10000, n, error))
                return false;
            out.batch_size = static_cast<int>(n);
        } else if (k == "max_wait_ms") {
            if (!get_integer(key, value, 10, 60000, n, error))
                return false;
            out.max_wait_ms = static_cast<int>(n);
        } else if (k == "batch_bytes") {
            if (!get_integer(key, value, 1024, 1024LL * 1024 * 1024, n, error))
                return false;
            out.batch_bytes = n;
        } else if (k == "lock_timeout_ms" || k == "statement_timeout_ms") {
            if (!get_integer(key, value, 0, 86400000, n, error))
                return false;
            (k == "lock_timeout_ms" ? out.lock_timeout_ms : out.statement_timeout_ms) = n;
        } else if (k == "max_deliver") {
            if (!get_integer(key, value, 1, 1000, n, error))
                return false;
            out.max_deliver = static_cast<int>(n);
        } else if (k == "ack_wait_ms") {
            if (!get_integer(key, value, 100, 86400000, n, error))
                return false;
            out.ack_wait_ms = n;
        } else if (k == "dlq_stream") {
            if (!get_string(key, value, out.dlq_stream, error))
                return false;
            if (!valid_jetstream_name(out.dlq_stream)) {
                error = "option \"dlq_stream\" is not a valid JetStream stream name: \"" +
                        out.dlq_stream + "\"";
                return false;
            }
        } else if (k == "storage") {
            if (!get_string(key, value, out.storage, error))
                return false;
            if (out.storage != "file" && out.storage != "memory") {
                error = "option \"storage\" must be \"file\" or \"memory\", not \"" + out.storage +
                        "\"";
                return false;
            }
        } else if (k == "replicas") {
            if (!get_integer(key, value, 1, 5, n, error))
                return false;
            out.replicas = static_cast<int>(n);
        } else if (k == "max_age") {
            if (!get_integer(key, value, 0, INT64_MAX / 1000000, n, error))
                return false;
            out.max_age_ms = n;
        } else if (k == "max_bytes") {
            if (!get_integer(key, value, -1, INT64_MAX, n, error))
                return false;
            out.max_bytes = n;
        } else if (k == "duplicate_window") {
            if (!get_integer(key, value, 0, INT64_MAX / 1000000, n, error))
                return false;
            out.duplicate_window_ms = n;
        } else if (k == "track_status") {
            if (!json_is_boolean(value)) {
                error = "option \"track_status\" must be true or false";
                return false;
            }
            out.track_status = json_is_true(value);
        } else if (k == "trust_headers") {
            if (!json_is_boolean(value)) {
                error = "option \"trust_headers\" must be true or false";
                return false;
            }
            out.trust_headers = json_is_true(value);
        } else if (k == "publish_entities") {
            if (!json_is_boolean(value)) {
                error = "option \"publish_entities\" must be true or false";
                return false;
            }
            out.publish_entities = json_is_true(value);
        } else if (k == "entities_stream") {
            if (!get_string(key, value, out.entities_stream, error))
                return false;
            if (!valid_jetstream_name(out.entities_stream)) {
                error = "option \"entities_stream\" is not a valid JetStream stream name: \"" +
                        out.entities_stream + "\"";
                return false;
            }
        } else if (k == "run_as") {
            if (!get_string(key, value, out.run_as, error))
                return false;
            if (out.run_as.empty() || out.run_as.size() > 63 ||
                out.run_as.find('\0') != std::string::npos) {
                error = "option \"run_as\" must name a role";
                return false;
            }
        } else if (k == "entity") {
            if (!get_string(key, value, out.entity, error))
                return false;
        } else if (k == "routes") {
            if (!json_is_object(value)) {
                error = "option \"routes\" must be an object of subject -> entity";
                return false;
            }
            out.routes.clear();
            const char* pattern;
            json_t* target;
            json_object_foreach(value, pattern, target) {
                if (!json_is_string(target)) {
                    error = std::string("route \"") + pattern + "\" must name an entity (a string)";
                    return false;
                }
                if (!valid_subject(pattern, true)) {
                    error = std::string("route \"") + pattern + "\" is not a valid subject pattern";
                    return false;
                }
                out.routes.emplace_back(pattern, json_string_value(target));
            }
        } else {
            error = "unknown option \"" + k +
                    "\" (known: nats_url, nats_user, nats_password_file, nats_token_file, "
                    "nats_nkey_seed_file, nats_creds_file, nats_tls_ca_file, nats_tls_cert_file, "
                    "nats_tls_key_file, consumer, workers, batch_size, batch_bytes, max_wait_ms, "
                    "max_deliver, ack_wait_ms, lock_timeout_ms, statement_timeout_ms, dlq_stream, "
                    "storage, replicas, max_age, "
                    "max_bytes, duplicate_window, track_status, entity, routes, run_as, "
                    "trust_headers, publish_entities, entities_stream)";
            return false;
        }
    }
    if (whole && !check_connect_config(nats_connect_config(out), error))
        return false;
    if (whole && out.publish_entities && out.entities_stream == out.dlq_stream) {
        error = "options \"entities_stream\" and \"dlq_stream\" cannot name the same stream";
        return false;
    }
    if (!out.entity.empty() && !out.routes.empty()) {
        error = "options \"entity\" and \"routes\" cannot both be set";
        return false;
    }
    if (out.duplicate_window_ms > 0 && out.max_age_ms > 0 &&
        out.duplicate_window_ms > out.max_age_ms) {
        error = "option \"duplicate_window\" cannot be longer than \"max_age\"";
        return false;
    }
    return true;
}
} // namespace

bool normalize_stream_options(std::string_view json, std::string& normalized, std::string& error) {
    StreamOptions ignored;
    if (!parse_options(json, ignored, error, false))
        return false;
    std::unique_ptr<json_t, JsonDeleter> root(
        json_loadb(json.data(), json.size(), JSON_REJECT_DUPLICATES, nullptr));
    if (!root)
        return false;
    static const char* const integer_options[] = {
        "workers", "batch_size", "max_wait_ms", "max_deliver", "ack_wait_ms", "replicas", "max_age",
        "max_bytes", "duplicate_window",
        // failure handling (issue 13)
        "batch_bytes", "lock_timeout_ms", "statement_timeout_ms"};
    for (const char* key : integer_options) {
        json_t* value = json_object_get(root.get(), key);
        int64_t n = 0;
        if (value == nullptr || json_is_null(value) || json_is_integer(value))
            continue;
        if (!as_integer(value, n)) { // parse_stream_options accepted it: cannot happen
            error = std::string("option \"") + key + "\" must be an integer";
            return false;
        }
        json_object_set_new(root.get(), key, json_integer(n));
    }
    // json_dumpb into our own buffer: jansson's allocator may not be malloc's (the
    // extension gives it palloc).
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS;
    size_t size = json_dumpb(root.get(), nullptr, 0, flags);
    if (size == 0) {
        error = "out of memory";
        return false;
    }
    normalized.assign(size, '\0');
    json_dumpb(root.get(), &normalized[0], size, flags);
    return true;
}

bool valid_nats_url(std::string_view url, std::string& error) {
    if (url.empty()) {
        error = "option \"nats_url\" must not be empty";
        return false;
    }
    std::vector<std::string> servers;
    if (!split_server_list(url, servers, error)) { // an empty entry, whitespace in a URL
        error = "option \"nats_url\": " + error;
        return false;
    }
    for (size_t index = 0; index < servers.size(); index++) {
        std::string_view rest = servers[index];
        std::string where = "option \"nats_url\": server " + std::to_string(index + 1) + " (" +
                            redact_urls(rest) + ")";
        size_t scheme_end = rest.find("://");
        if (scheme_end != std::string_view::npos) {
            std::string_view scheme = rest.substr(0, scheme_end);
            if (scheme != "nats" && scheme != "tls") { // what nats_connect accepts
                error = where + ": unknown scheme (use nats:// or tls://)";
                return false;
            }
            rest.remove_prefix(scheme_end + 3);
        }
        size_t at = rest.rfind('@');
        if (at != std::string_view::npos)
            rest.remove_prefix(at + 1); // user info: accepted, never shown
        size_t slash = rest.find('/');
        if (slash != std::string_view::npos && rest.substr(slash) != "/") {
            error = where + " has a path: give host and port only";
            return false;
        }
        rest = rest.substr(0, slash);
        std::string_view host = rest;
        std::string_view port;
        bool has_port = false;
        if (!rest.empty() && rest.front() == '[') { // [IPv6]:port
            size_t close = rest.find(']');
            if (close == std::string_view::npos) {
                error = where + ": unclosed '[' in the host";
                return false;
            }
            host = rest.substr(1, close - 1);
            std::string_view after = rest.substr(close + 1);
            if (!after.empty()) {
                if (after.front() != ':') {
                    error = where + ": expected ':' after the IPv6 address";
                    return false;
                }
                port = after.substr(1);
                has_port = true;
            }
        } else {
            size_t colon = rest.rfind(':');
            if (colon != std::string_view::npos) {
                host = rest.substr(0, colon);
                port = rest.substr(colon + 1);
                has_port = true;
            }
        }
        if (host.empty()) {
            error = where + " has no host";
            return false;
        }
        for (char c : host) {
            unsigned char u = static_cast<unsigned char>(c);
            if (u <= ' ' || u == 0x7f || c == '/' || c == '?' || c == '#' || c == '@') {
                error = where + ": the host has a character that cannot be in one";
                return false;
            }
        }
        if (has_port &&
            (port.empty() || port.size() > 5 ||
             port.find_first_not_of("0123456789") != std::string_view::npos ||
             std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535)) {
            error = where + ": the port must be a number from 1 to 65535, not \"" +
                    std::string(port) + "\"";
            return false;
        }
    }
    return true;
}

std::string route_entity(const StreamOptions& options, std::string_view subject,
                         std::string_view entity_header) {
    if (!entity_header.empty())
        return std::string(entity_header);
    for (const auto& route : options.routes) {
        if (subject_matches(route.first, subject))
            return route.second;
    }
    if (!options.entity.empty())
        return options.entity;
    size_t dot = subject.rfind('.');
    return std::string(dot == std::string_view::npos ? subject : subject.substr(dot + 1));
}

namespace {
std::string subject_token(std::string_view entity) {
    std::string token;
    for (char c : entity) {
        bool bad =
            c == '.' || c == '*' || c == '>' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
        token.push_back(bad ? '_' : c);
    }
    if (token.empty())
        token = "unknown";
    return token;
}
} // namespace

std::string dlq_subject(std::string_view entity) {
    return "messages.dlq." + subject_token(entity);
}

std::string entity_event_subject(std::string_view entity) {
    return "entities." + subject_token(entity);
}

} // namespace nomnom
