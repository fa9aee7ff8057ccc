// A validating JSON scanner for the request path: answers "is this one well-formed JSON
// document?" (and the top-level "entity_type") without building a DOM.
//
// Parsing each document into jansson values cost about half of the bridge's CPU per
// document; the bridge only needs a yes/no, since it publishes the bytes as received. It
// accepts exactly what the worker's parser accepts (jansson with JSON_REJECT_DUPLICATES |
// JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY): RFC 8259 JSON, valid UTF-8, no \u0000, no
// duplicate keys in an object, no number beyond double range, at most 2048 levels deep.
// test/unit/bridge_json_check_test.cpp checks it against jansson itself.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace bridge {

struct JsonCheck {
    bool ok = false;
    bool is_object = false;  // the top-level value is an object
    std::string error;       // when !ok: what and where ("... at line L, column C")
    std::string entity_type; // the top-level "entity_type" when it is a string
};

JsonCheck check_json(std::string_view text);

// check_json for many documents in turn (a batch's lines): the scanner's key stack is kept
// from one to the next instead of allocated again for each.
class JsonChecker {
  public:
    JsonCheck check(std::string_view text);

  private:
    std::vector<std::string_view> keys_; // into the document, or into decoded_
    std::deque<std::string> decoded_;    // keys that had escapes, decoded
};

} // namespace bridge
