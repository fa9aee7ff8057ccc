#include "json_out.hpp"

#include "nomnom/utf8.hpp"

namespace bridge {

void append_json_string(std::string& out, std::string_view value) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (size_t i = 0; i < value.size();) {
        unsigned char c = static_cast<unsigned char>(value[i]);
        if (c >= 0x80) {
            size_t n = nomnom::utf8_sequence_length(value, i);
            if (n == 0) {
                out += "\\ufffd";
                ++i;
            } else {
                out.append(value.data() + i, n);
                i += n;
            }
            continue;
        }
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xF];
            } else {
                out += static_cast<char>(c);
            }
        }
        ++i;
    }
    out += '"';
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
