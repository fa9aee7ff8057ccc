#include "nomnom/stream_options.hpp"

#include <jansson.h>

#include <cmath>
#include <memory>

namespace nomnom {
namespace {

struct JsonDeleter {
    void operator()(json_t* value) const { json_decref(value); }
};

bool get_integer(const char* key, json_t* value, int64_t min, int64_t max, int64_t& out,
                 std::string& error) {
    if (json_is_integer(value)) {
        out = json_integer_value(value);
    } else if (json_is_real(value) &&
               std::floor(json_real_value(value)) == json_real_value(value)) {
        out = static_cast<int64_t>(json_real_value(value));
    } else {
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

} // namespace

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

bool parse_stream_options(std::string_view json, StreamOptions& out, std::string& error) {
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
            if (out.nats_url.empty()) {
                error = "option \"nats_url\" must not be empty";
                return false;
            }
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
                    "\" (known: nats_url, consumer, workers, batch_size, max_wait_ms, "
                    "max_deliver, ack_wait_ms, dlq_stream, storage, replicas, max_age, "
                    "max_bytes, duplicate_window, track_status, entity, routes)";
            return false;
        }
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

std::string dlq_subject(std::string_view entity) {
    std::string token;
    for (char c : entity) {
        bool bad =
            c == '.' || c == '*' || c == '>' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
        token.push_back(bad ? '_' : c);
    }
    if (token.empty())
        token = "unknown";
    return "messages.dlq." + token;
}

} // namespace nomnom
