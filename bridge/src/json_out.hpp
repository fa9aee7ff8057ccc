// Writing JSON responses straight into a string. A batch answer has a result object per
// line; building jansson values for them and dumping them cost a tenth of the bridge's CPU.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bridge {

// Appends `value` as a JSON string: quotes, escapes, and U+FFFD for bytes that are not
// UTF-8 (an error message may quote a client's bytes).
void append_json_string(std::string& out, std::string_view value);

class JsonWriter {
  public:
    JsonWriter& begin_object(std::string_view key = {});
    JsonWriter& end_object();
    JsonWriter& begin_array(std::string_view key = {});
    JsonWriter& end_array();
    JsonWriter& field(std::string_view key, std::string_view value);
    JsonWriter& field(std::string_view key, const char* value) {
        return field(key, std::string_view(value));
    }
    JsonWriter& field(std::string_view key, const std::string& value) {
        return field(key, std::string_view(value));
    }
    JsonWriter& field(std::string_view key, uint64_t value);
    JsonWriter& field(std::string_view key, bool value);

    std::string take() { return std::move(out_); }
    std::string& buffer() { return out_; }

  private:
    void next(std::string_view key); // comma if needed, then "key": when inside an object

    std::string out_;
    std::vector<bool> first_; // per open container: nothing written in it yet
};

} // namespace bridge
