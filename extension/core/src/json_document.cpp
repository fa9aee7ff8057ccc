#include "nomnom/json_document.hpp"

namespace nomnom {

std::vector<std::string_view> scan_number_literals(std::string_view text) {
    std::vector<std::string_view> literals;
    size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c == '"') {
            // Skip the string, honouring backslash escapes.
            for (++i; i < text.size() && text[i] != '"'; ++i)
                if (text[i] == '\\')
                    ++i;
            ++i;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            while (i < text.size() && (text[i] == '-' || text[i] == '+' || text[i] == '.' ||
                                       text[i] == 'e' || text[i] == 'E' ||
                                       (text[i] >= '0' && text[i] <= '9')))
                ++i;
            literals.push_back(text.substr(start, i - start));
        } else {
            ++i;
        }
    }
    return literals;
}

bool JsonDocument::parse(std::string_view text, std::string& error) {
    text_.assign(text.data(), text.size());
    number_text_.clear();
    json_error_t json_error;
    // Integers are decoded as reals so that integers beyond int64 still parse: their
    // exact text comes from the literal scan, not from jansson's value.
    root_.reset(json_loadb(text_.data(), text_.size(),
                           JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY,
                           &json_error));
    if (!root_) {
        error = std::string(json_error.text) + " (line " + std::to_string(json_error.line) +
                ", column " + std::to_string(json_error.column) + ")";
        return false;
    }
    std::vector<std::string_view> literals = scan_number_literals(text_);
    size_t next = 0;
    pair_numbers(root_.get(), literals, next);
    return true;
}

// jansson keeps object members in insertion order, so a depth-first walk meets the
// numbers in the order they appear in the text.
void JsonDocument::pair_numbers(const json_t* value, const std::vector<std::string_view>& literals,
                                size_t& next) {
    if (json_is_number(value)) {
        if (next < literals.size())
            number_text_.emplace(value, literals[next++]);
    } else if (json_is_object(value)) {
        const char* key;
        json_t* member;
        json_object_foreach(const_cast<json_t*>(value), key, member) {
            pair_numbers(member, literals, next);
        }
    } else if (json_is_array(value)) {
        size_t index;
        json_t* element;
        json_array_foreach(value, index, element) { pair_numbers(element, literals, next); }
    }
}

const json_t* JsonDocument::find(const json_t* from, const std::vector<std::string>& path) {
    const json_t* current = from;
    for (const std::string& key : path) {
        if (current == nullptr || !json_is_object(current))
            return nullptr;
        current = json_object_getn(current, key.data(), key.size());
    }
    return current;
}

std::string JsonDocument::value_text(const json_t* value) const {
    switch (json_typeof(value)) {
    case JSON_STRING:
        return std::string(json_string_value(value), json_string_length(value));
    case JSON_INTEGER:
    case JSON_REAL: {
        auto found = number_text_.find(value);
        if (found != number_text_.end())
            return std::string(found->second);
        return dump_json(value);
    }
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return to_json(value);
    }
}

std::string JsonDocument::to_json(const json_t* value) const {
    std::string out;
    write_json(value, out);
    return out;
}

void JsonDocument::write_json(const json_t* value, std::string& out) const {
    if (json_is_object(value)) {
        out += '{';
        const char* key;
        json_t* member;
        bool first = true;
        json_object_foreach(const_cast<json_t*>(value), key, member) {
            if (!first)
                out += ',';
            first = false;
            JsonPtr key_json(json_string(key));
            out += dump_json(key_json.get());
            out += ':';
            write_json(member, out);
        }
        out += '}';
    } else if (json_is_array(value)) {
        out += '[';
        size_t index;
        json_t* element;
        json_array_foreach(value, index, element) {
            if (index > 0)
                out += ',';
            write_json(element, out);
        }
        out += ']';
    } else if (json_is_number(value)) {
        out += value_text(value);
    } else {
        out += dump_json(value);
    }
}

} // namespace nomnom
