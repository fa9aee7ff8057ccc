// A parsed JSON document that remembers the exact text of every number in it.
//
// jansson keeps numbers as int64 or double; a price of 1234.56 or an order key of
// 123456789012345678901 would come back altered. PostgreSQL's numeric input wants the
// text as written, so after jansson has validated the document we scan it once more and
// pair each number value (in document order) with its literal text.
#pragma once

#include "nomnom/json_ptr.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace nomnom {

class JsonDocument {
  public:
    // Parses `text`. On failure returns false and sets `error` to jansson's message with
    // the line and column. Duplicate object keys are rejected: which one wins is ambiguous.
    bool parse(std::string_view text, std::string& error);

    const json_t* root() const { return root_.get(); }

    // The member at `path` below `from` (object keys only); nullptr when any step is missing.
    static const json_t* find(const json_t* from, const std::vector<std::string>& path);

    // The text PostgreSQL's input function gets for a scalar: strings as they are, numbers
    // as written, booleans as true/false. Objects and arrays as compact JSON.
    std::string value_text(const json_t* value) const;

    // Compact JSON of any value, numbers as written.
    std::string to_json(const json_t* value) const;

  private:
    void pair_numbers(const json_t* value, const std::vector<std::string_view>& literals,
                      size_t& next);
    void write_json(const json_t* value, std::string& out) const;

    std::string text_;
    JsonPtr root_;
    std::unordered_map<const json_t*, std::string_view> number_text_;
};

// The number literals of a JSON text, in order (strings are skipped). Exposed for tests.
std::vector<std::string_view> scan_number_literals(std::string_view json_text);

} // namespace nomnom
