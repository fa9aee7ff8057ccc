// A parsed JSON document that keeps the exact text of every number in it.
//
// PostgreSQL's numeric input wants a number as written: a price of 1234.56 or 450.00, an
// order key of 123456789012345678901, must not pass through a double. RapidJSON's SAX reader
// hands every number over as its literal text, and the document keeps it.
//
// The document owns a copy of the text and parses it in place (strings are unescaped where
// they stand), building one array of nodes in document order. Nodes and their texts point
// into that copy: they live as long as the document, which can be neither copied nor moved.
//
// It accepts exactly what jansson accepts with JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
// JSON_DECODE_INT_AS_REAL (the bridge checks documents against that), and a rejected text gets
// jansson's error message. Exceptions, where this one is the stricter: a zero with a huge
// exponent, such as 0e309, which RapidJSON deems too big (see json_document.cpp); and a raw
// NUL byte, which jansson's reader skips in some places (test/fuzz/json_document.cpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nomnom {

enum class JsonType : uint8_t { Null, False, True, Number, String, Array, Object };

// One value of a document. A container's children follow it directly, and every node knows
// how many nodes its subtree spans, so the next sibling of a node is `node + span`.
class JsonNode {
  public:
    JsonType type() const { return type_; }
    bool is_null() const { return type_ == JsonType::Null; }
    bool is_object() const { return type_ == JsonType::Object; }
    bool is_array() const { return type_ == JsonType::Array; }

    // A string's decoded text, a number's literal as written; empty for other values.
    std::string_view text() const { return {text_, text_length_}; }
    // The key of an object member (decoded); empty for array elements and the root.
    std::string_view key() const { return {key_, key_length_}; }
    // The number of elements of an array or members of an object.
    size_t size() const { return size_; }

    class Iterator {
      public:
        explicit Iterator(const JsonNode* node) : node_(node) {}
        const JsonNode& operator*() const { return *node_; }
        const JsonNode* operator->() const { return node_; }
        Iterator& operator++() {
            node_ += node_->span_;
            return *this;
        }
        bool operator!=(const Iterator& other) const { return node_ != other.node_; }

      private:
        const JsonNode* node_;
    };
    struct Children {
        Iterator first, last;
        Iterator begin() const { return first; }
        Iterator end() const { return last; }
    };
    // The elements of an array or the members of an object, in document order.
    Children children() const { return {Iterator(this + 1), Iterator(this + span_)}; }

    // The member named `key` of an object (the first: a document has no duplicates);
    // nullptr when there is none or this is not an object.
    const JsonNode* member(std::string_view key) const { return member(key, nullptr); }
    // The same, searched from `hint` (a member of this object; else from the first) to the
    // last member, then from the first: members looked up in document order, each with the
    // one after the last found as its hint, are found at once.
    const JsonNode* member(std::string_view key, const JsonNode* hint) const {
        // The hint itself, inline: the mapper's lookups in document order end here.
        if (type_ == JsonType::Object && hint != nullptr && hint > this && hint < next() &&
            same_key(hint->key(), key))
            return hint;
        return search(key, hint);
    }

    // Whether two keys are equal: for the short keys of most documents without a call.
    static bool same_key(std::string_view a, std::string_view b) {
        size_t n = a.size();
        if (n != b.size())
            return false;
        const char* x = a.data();
        const char* y = b.data();
        if (n >= 8 && n <= 16)
            return load<uint64_t>(x) == load<uint64_t>(y) &&
                   load<uint64_t>(x + n - 8) == load<uint64_t>(y + n - 8);
        if (n >= 4 && n < 8)
            return load<uint32_t>(x) == load<uint32_t>(y) &&
                   load<uint32_t>(x + n - 4) == load<uint32_t>(y + n - 4);
        if (n < 4) {
            for (size_t i = 0; i < n; ++i)
                if (x[i] != y[i])
                    return false;
            return true;
        }
        return std::memcmp(x, y, n) == 0;
    }
    // The node after this one's subtree: its next sibling, or where its parent ends.
    const JsonNode* next() const { return this + span_; }

  private:
    friend class JsonBuilder; // the parser's SAX handler (json_document.cpp)

    template <typename T> static T load(const char* p) {
        T value;
        std::memcpy(&value, p, sizeof value);
        return value;
    }
    const JsonNode* search(std::string_view key, const JsonNode* hint) const;

    const char* text_ = nullptr;
    const char* key_ = nullptr;
    uint32_t text_length_ = 0;
    uint32_t key_length_ = 0;
    uint32_t size_ = 0;
    uint32_t span_ = 1; // nodes in this subtree, this one included
    JsonType type_ = JsonType::Null;
};

// A copy of a text to parse in place, with padding NUL bytes after it. Unlike a short
// std::string it keeps its address when moved, so what points into it stays good; and it
// keeps its storage from one text to the next.
class ParseBuffer {
  public:
    ParseBuffer() = default;
    ParseBuffer(ParseBuffer&& other) noexcept
        : data_(std::move(other.data_)), capacity_(other.capacity_) {
        other.capacity_ = 0;
    }
    ParseBuffer& operator=(ParseBuffer&& other) noexcept {
        data_ = std::move(other.data_);
        capacity_ = other.capacity_;
        other.capacity_ = 0;
        return *this;
    }

    // `text` then `padding` NUL bytes; what it held before is gone. Throws std::bad_alloc.
    char* assign(std::string_view text, size_t padding);
    // Frees the storage when it is larger than `keep_bytes`.
    void trim(size_t keep_bytes);
    size_t capacity() const { return capacity_; }

  private:
    std::unique_ptr<char[]> data_;
    size_t capacity_ = 0;
};

class JsonDocument {
  public:
    JsonDocument() = default;
    JsonDocument(const JsonDocument&) = delete; // the nodes point into text_
    JsonDocument& operator=(const JsonDocument&) = delete;

    // Parses `text`. On failure returns false and sets `error` to jansson's message with the
    // line and column. Duplicate object keys are rejected: which one wins is ambiguous.
    bool parse(std::string_view text, std::string& error);
    // The same, parsed in `into` (a copy of `text`) rather than in the document's own copy:
    // the nodes and their texts point into `into`, which must then outlive them and not be
    // assigned again meanwhile. After a successful parse every string, key and number text
    // is followed by a NUL byte there (a number's delimiter is overwritten once the parse
    // is over), so a value's text can be used where it stands.
    bool parse(std::string_view text, std::string& error, ParseBuffer& into);

    // The top-level value; nullptr before a successful parse.
    const JsonNode* root() const { return nodes_.empty() ? nullptr : nodes_.data(); }

    // The member at `path` below `from` (object keys only); nullptr when any step is missing.
    static const JsonNode* find(const JsonNode* from, const std::vector<std::string>& path);

    // Compact JSON of any value, numbers as written, strings escaped as jansson's
    // json_dumps(JSON_COMPACT) escapes them.
    static std::string to_json(const JsonNode* value);
    static void append_json(const JsonNode* value, std::string& out);

    // Frees the buffers when they hold more than `keep_bytes`. A document parsed again and
    // again reuses them; this keeps a rare huge text from holding its memory on.
    void trim(size_t keep_bytes);

  private:
    ParseBuffer text_; // parsed in place: strings are unescaped where they stand
    std::vector<JsonNode> nodes_;
    std::vector<char*> number_ends_; // of the last parse: where its numbers get their NUL
};

} // namespace nomnom
