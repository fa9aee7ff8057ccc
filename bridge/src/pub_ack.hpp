// JetStream's answer to a publish (a PubAck), read without a general JSON parser: the bridge
// reads one a document, and nats.c's parse of it (a hash map of every field, then strings
// copied) was a large part of what a document cost the bridge (bench/README item 40).
//
// The answer is a JSON object: {"stream":"S","seq":N} with "domain" and "duplicate":true
// when they apply, or {"error":{"code":C,"err_code":E,"description":"..."}, ...}. Fields in
// any order, with any spacing; unknown fields are skipped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bridge {

struct PubAck {
    std::string stream;
    uint64_t seq = 0;
    bool duplicate = false;
    bool has_seq = false;
    bool is_error = false; // an "error" object: JetStream did not store the message
    int code = 0;          // the error's HTTP-like code (503, 400, ...)
    int err_code = 0;      // JetStream's error code (10077: the stream is full, ...)
    std::string description;
};

// False (and `error` says why) for text that is not such an object, or a success without
// "stream" and "seq".
bool parse_pub_ack(std::string_view text, PubAck& out, std::string& error);

} // namespace bridge
