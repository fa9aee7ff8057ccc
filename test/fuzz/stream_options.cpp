// Stream-option parsing (parse_stream_options: what create_stream and alter_stream accept
// and the launcher reads back from the catalog) on any bytes: a verdict, never a crash or
// an exception; an accepted set of options is in range and parses again to the same; and
// subject validation and matching on the same bytes against a reference matcher.
#include "nomnom/stream_options.hpp"
#include "fuzz_common.hpp"

#include <vector>

using namespace nomnom;

namespace {

std::vector<std::string_view> tokens(std::string_view s) {
    std::vector<std::string_view> out;
    size_t start = 0;
    for (;;) {
        size_t dot = s.find('.', start);
        out.push_back(s.substr(start, dot == std::string_view::npos ? dot : dot - start));
        if (dot == std::string_view::npos)
            return out;
        start = dot + 1;
    }
}

// NATS matching, recursively: '*' one token, a last '>' one or more.
bool reference_match(const std::vector<std::string_view>& p, size_t i,
                     const std::vector<std::string_view>& s, size_t j) {
    if (i == p.size())
        return j == s.size();
    if (p[i] == ">" && i + 1 == p.size())
        return j < s.size();
    if (j == s.size())
        return false;
    return (p[i] == "*" || p[i] == s[j]) && reference_match(p, i + 1, s, j + 1);
}

std::string summary(const StreamOptions& o) {
    std::string out = o.nats_url + "|" + o.consumer + "|" + std::to_string(o.workers) + "|" +
                      std::to_string(o.batch_size) + "|" + std::to_string(o.max_wait_ms) + "|" +
                      std::to_string(o.max_deliver) + "|" + std::to_string(o.ack_wait_ms) + "|" +
                      o.dlq_stream + "|" + o.storage + "|" + std::to_string(o.replicas) + "|" +
                      std::to_string(o.max_age_ms) + "|" + std::to_string(o.max_bytes) + "|" +
                      std::to_string(o.duplicate_window_ms) + "|" + (o.track_status ? "t" : "f") +
                      "|" + o.entity;
    for (const auto& [pattern, entity] : o.routes)
        out += "|" + pattern + "=" + entity;
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text = as_text(data, size);
    std::string shown(text.substr(0, 200));
    StreamOptions options;
    std::string error;
    bool ok = parse_stream_options(text, options, error);
    if (!ok) {
        FUZZ_CHECK(!error.empty(), "a refusal without a message: " + shown);
    } else {
        FUZZ_CHECK(options.workers >= 0 && options.batch_size >= 1 && options.max_deliver >= 1 &&
                       options.replicas >= 1 && options.max_wait_ms > 0,
                   "accepted out of range: " + summary(options));
        FUZZ_CHECK(!options.nats_url.empty(), shown);
        FUZZ_CHECK(valid_jetstream_name(options.consumer) &&
                       valid_jetstream_name(options.dlq_stream),
                   summary(options));
        FUZZ_CHECK(options.storage == "file" || options.storage == "memory", options.storage);
        for (const auto& route : options.routes)
            FUZZ_CHECK(valid_subject(route.first, true),
                       "a route with a bad pattern: " + route.first);
        StreamOptions again;
        FUZZ_CHECK(parse_stream_options(text, again, error), error);
        FUZZ_CHECK(summary(again) == summary(options), "not deterministic: " + shown);
        // Routing never fails: some entity (maybe empty) for any subject.
        (void)route_entity(options, "messages.ingest.Order", "");
    }

    // The same bytes as "pattern\nsubject".
    size_t nl = text.find('\n');
    std::string_view pattern = text.substr(0, nl);
    std::string_view subject =
        nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (valid_subject(pattern, true) && valid_subject(subject, false)) {
        bool got = subject_matches(pattern, subject);
        bool expected = reference_match(tokens(pattern), 0, tokens(subject), 0);
        FUZZ_CHECK(got == expected,
                   "'" + std::string(pattern) + "' vs '" + std::string(subject) + "'");
    }
    std::string dlq = dlq_subject(subject);
    FUZZ_CHECK(valid_subject(dlq, false), "dlq_subject gives a bad subject: " + dlq);
    return 0;
}
