#include "json_out.hpp"

#include "nomnom/json_text.hpp"

namespace bridge {

void append_json_string(std::string& out, std::string_view value) {
    nomnom::append_json_string(out, value, true);
}

void JsonWriter::next(std::string_view key) {
    if (!first_.empty()) {
        if (!first_.back())
            out_ += ',';
        first_.back() = false;
    }
    if (!key.empty()) {
        append_json_string(out_, key);
        out_ += ':';
    }
}

JsonWriter& JsonWriter::begin_object(std::string_view key) {
    next(key);
    out_ += '{';
    first_.push_back(true);
    return *this;
}

JsonWriter& JsonWriter::end_object() {
    out_ += '}';
    first_.pop_back();
    return *this;
}

JsonWriter& JsonWriter::begin_array(std::string_view key) {
    next(key);
    out_ += '[';
    first_.push_back(true);
    return *this;
}

JsonWriter& JsonWriter::end_array() {
    out_ += ']';
    first_.pop_back();
    return *this;
}

JsonWriter& JsonWriter::field(std::string_view key, std::string_view value) {
    next(key);
    append_json_string(out_, value);
    return *this;
}

JsonWriter& JsonWriter::field(std::string_view key, uint64_t value) {
    next(key);
    out_ += std::to_string(value);
    return *this;
}

JsonWriter& JsonWriter::field(std::string_view key, bool value) {
    next(key);
    out_ += value ? "true" : "false";
    return *this;
}

} // namespace bridge
