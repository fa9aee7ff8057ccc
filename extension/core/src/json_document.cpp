#include "nomnom/json_document.hpp"

#include "nomnom/json_ptr.hpp"
#include "nomnom/json_text.hpp"
#include "nomnom/utf8.hpp"

// RapidJSON in a namespace of its own here: its templates are compiled into nomnom.so, whose
// symbols must not meet those of another library's RapidJSON in the same backend.
#define RAPIDJSON_NAMESPACE nomnom_rapidjson
#define RAPIDJSON_NAMESPACE_BEGIN namespace nomnom_rapidjson {
#define RAPIDJSON_NAMESPACE_END }
// Strings and whitespace scanned 16 bytes at a time; every x86-64 has SSE2. The scans read
// whole aligned blocks, up to 15 bytes past a string's end: the parsed copy is padded.
#if defined(__SSE2__)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(RAPIDJSON_SSE2)
#include <emmintrin.h>

namespace nomnom_rapidjson {

// The in-place scan of a string's plain characters up to its closing quote, a backslash or
// a control character (what ParseString then looks at), 16 bytes at a time from the first
// byte. RapidJSON's own goes a byte at a time up to the next 16-byte boundary first, lest
// an unaligned load cross into an unmapped page: for the short strings and keys of a
// document that byte loop was most of the scan (6k of ~44k instructions a mapped order,
// bench/README.md, item 29). The only stream parsed so is JsonDocument's copy of the text,
// followed by kScanPadding NUL bytes: any 16 bytes from a byte of the text up to the first
// NUL are inside that copy. Stops where RapidJSON's stops (its SSE2 compare finds bytes
// below 0x1A only; a text with a byte 0x18-0x1F is parsed with kParseValidateEncodingFlag,
// which does not scan so).
template <>
inline void
GenericReader<UTF8<>, UTF8<>, CrtAllocator>::ScanCopyUnescapedString(InsituStringStream& is,
                                                                     InsituStringStream& os) {
    (void)os;
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i controls = _mm_set1_epi8(0x19);
    char* p = is.src_;
    char* q = is.dst_;
    for (;;) {
        const __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i stop =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(s, quote), _mm_cmpeq_epi8(s, backslash)),
                         _mm_cmpeq_epi8(_mm_max_epu8(s, controls), controls));
        unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(stop));
        if (mask != 0) {
            size_t length = static_cast<size_t>(__builtin_ctz(mask));
            if (p != q) // an escape before: the text moves down as it is decoded
                std::memmove(q, p, length);
            p += length;
            q += length;
            break;
        }
        if (p != q)
            _mm_storeu_si128(reinterpret_cast<__m128i*>(q), s);
        p += 16;
        q += 16;
    }
    is.src_ = p;
    is.dst_ = q;
}

} // namespace nomnom_rapidjson
#endif

namespace nomnom {
namespace rapidjson = ::nomnom_rapidjson;
namespace {

// jansson's JSON_PARSER_MAX_DEPTH: a value nested in more containers than this is rejected.
constexpr size_t kMaxDepth = 2048;

// Numbers as their text, strings unescaped in place. RapidJSON's recursive parser (a tenth
// fewer instructions than its iterative one) goes no deeper than kMaxDepth containers: the
// handler refuses the next one before RapidJSON descends into it. The UTF-8 of a text is
// checked before the parse (is_valid_utf8_json_prescan): RapidJSON's own check goes a byte at
// a time and turns its 16-byte string scan off. Only a text that fails it is parsed with
// RapidJSON's check, for the same outcome as before (jansson's error message). The prescan
// also refuses raw bytes 0x18-0x1F, which the 16-byte scan misses from 0x1A (RapidJSON
// 1.1.0 compares with 0x19): such a text too goes through the byte-at-a-time parse, which
// rejects it.
constexpr unsigned kParseFlags = rapidjson::kParseNumbersAsStringsFlag |
                                 rapidjson::kParseInsituFlag;
constexpr unsigned kValidatingParseFlags = kParseFlags | rapidjson::kParseValidateEncodingFlag;
constexpr size_t kScanPadding = 16; // see RAPIDJSON_SSE2 above

// Would strtod() overflow on this (valid) JSON number literal, as jansson's does when it
// rejects a "real number overflow"? Decided from the decimal exponent; only a value in
// [1e308, 1e309) needs strtod itself, given the digits without a decimal point (which
// strtod would read by the locale).
bool large_number_overflows(std::string_view literal);

inline bool number_overflows(std::string_view literal) {
    // The common case, inline: no exponent and fewer than 309 characters, so fewer than 309
    // integer digits: below 1e308.
    if (literal.size() <= 308) {
        bool exponent = false;
        for (char c : literal)
            exponent |= (c | 0x20) == 'e';
        if (!exponent)
            return false;
    }
    return large_number_overflows(literal);
}

bool large_number_overflows(std::string_view literal) {
    auto digit = [&](size_t i) {
        return i < literal.size() && literal[i] >= '0' && literal[i] <= '9';
    };
    size_t i = literal[0] == '-' ? 1 : 0;
    size_t first = i;      // the first significant digit
    int64_t magnitude = 0; // the mantissa is in [10^(magnitude-1), 10^magnitude)
    if (literal[i] != '0') {
        for (; digit(i); ++i)
            ++magnitude;
    } else {
        ++i;
        if (i < literal.size() && literal[i] == '.')
            for (++i; i < literal.size() && literal[i] == '0'; ++i)
                --magnitude;
        if (!digit(i))
            return false; // zero, whatever its exponent
        first = i;
    }
    while (i < literal.size() && literal[i] != 'e' && literal[i] != 'E')
        ++i;
    size_t mantissa_end = i;
    if (i < literal.size()) {
        ++i; // 'e'
        bool negative = literal[i] == '-';
        if (literal[i] == '-' || literal[i] == '+')
            ++i;
        int64_t exponent = 0;
        for (; i < literal.size(); ++i)
            exponent = std::min<int64_t>(exponent * 10 + (literal[i] - '0'), int64_t(1) << 40);
        magnitude += negative ? -exponent : exponent;
    }
    if (magnitude <= 308)
        return false;
    if (magnitude > 309)
        return true;
    std::string digits;
    for (size_t j = first; j < mantissa_end; ++j)
        if (literal[j] != '.')
            digits += literal[j];
    digits += "e" + std::to_string(309 - static_cast<int64_t>(digits.size()));
    return std::strtod(digits.c_str(), nullptr) == HUGE_VAL;
}

// Keys of one object are mostly short and of like lengths: the first byte tells most apart
// without a call to memcmp.
inline bool same_key(std::string_view a, std::string_view b) {
    return JsonNode::same_key(a, b);
}

// Objects of up to this many members are checked for duplicate keys by signature; larger
// ones by sorting their keys.
constexpr size_t kSmallObject = 16;

// A key's signature, 0-255, from its length and its first, middle and last bytes: equal
// keys have equal signatures.
inline unsigned key_signature(std::string_view key) {
    if (key.empty())
        return 0;
    uint32_t h = static_cast<uint32_t>(key.size()) * 0x9E3779B1u;
    h ^= static_cast<unsigned char>(key[0]) * 0x85EBCA6Bu;
    h ^= static_cast<unsigned char>(key[key.size() / 2]) * 0x27D4EB2Fu;
    h ^= static_cast<unsigned char>(key[key.size() - 1]) * 0xC2B2AE35u;
    return h >> 24;
}

} // namespace

// RapidJSON's SAX handler: appends one node per value. Containers are completed when they
// end (their size and span), and an object's keys are checked for duplicates then.
class JsonBuilder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, JsonBuilder> {
  public:
    JsonBuilder(std::vector<JsonNode>& nodes, std::vector<char*>& number_ends, bool has_escapes)
        : nodes_(nodes), number_ends_(number_ends), has_escapes_(has_escapes) {}

    // Why the handler stopped the parse, or nullptr.
    const char* reason() const { return reason_; }

    bool Null() { return add(JsonType::Null); }
    bool Bool(bool value) { return add(value ? JsonType::True : JsonType::False); }
    bool RawNumber(const char* text, rapidjson::SizeType length, bool) {
        if (number_overflows(std::string_view(text, length)))
            return stop("real number overflow");
        // In place (kParseInsituFlag): the text is the parse's copy, to be ended with a NUL.
        number_ends_.push_back(const_cast<char*>(text) + length);
        return add(JsonType::Number, text, length);
    }
    bool String(const char* text, rapidjson::SizeType length, bool) {
        return decoded_ok(text, length) && add(JsonType::String, text, length);
    }
    bool Key(const char* text, rapidjson::SizeType length, bool) {
        if (!decoded_ok(text, length))
            return false;
        key_ = text;
        key_length_ = length;
        return true;
    }
    bool StartObject() { return open(JsonType::Object); }
    bool EndObject(rapidjson::SizeType count) { return close(count) && unique_keys(); }
    bool StartArray() { return open(JsonType::Array); }
    bool EndArray(rapidjson::SizeType count) { return close(count); }
    // Int, Double and the like: never called, numbers come as RawNumber.
    bool Default() { return stop("unexpected number event"); }

  private:
    bool stop(const char* reason) {
        reason_ = reason;
        return false;
    }

    bool add(JsonType type, const char* text = nullptr, uint32_t length = 0) {
        if (open_.size() >= kMaxDepth)
            return stop("maximum parsing depth reached");
        JsonNode& node = nodes_.emplace_back();
        node.type_ = type;
        node.text_ = text;
        node.text_length_ = length;
        node.key_ = key_;
        node.key_length_ = key_length_;
        key_ = nullptr;
        key_length_ = 0;
        return true;
    }

    bool open(JsonType type) {
        if (!add(type))
            return false;
        open_.push_back(static_cast<uint32_t>(nodes_.size() - 1));
        return true;
    }

    bool close(rapidjson::SizeType count) {
        closed_ = open_.back();
        open_.pop_back();
        JsonNode& node = nodes_[closed_];
        node.size_ = count;
        node.span_ = static_cast<uint32_t>(nodes_.size() - closed_);
        return true;
    }

    // jansson's JSON_REJECT_DUPLICATES, checked for the object just closed.
    bool unique_keys() {
        const JsonNode& object = nodes_[closed_];
        JsonNode::Children members = object.children();
        if (object.size_ <= kSmallObject) {
            // A byte of signature a key: keys whose signatures differ differ, so a key is
            // compared only with the earlier ones of its signature (most with none), not
            // with every other member (bench/README.md, item 29).
            uint64_t seen[4] = {0, 0, 0, 0};
            unsigned char signatures[kSmallObject];
            const JsonNode* earlier[kSmallObject];
            size_t count = 0;
            for (const JsonNode& member : members) {
                std::string_view key = member.key();
                unsigned signature = key_signature(key);
                uint64_t bit = uint64_t(1) << (signature & 63);
                if ((seen[signature >> 6] & bit) != 0) {
                    for (size_t j = 0; j < count; ++j)
                        if (signatures[j] == signature && same_key(earlier[j]->key(), key))
                            return stop("duplicate object key");
                }
                seen[signature >> 6] |= bit;
                signatures[count] = static_cast<unsigned char>(signature);
                earlier[count++] = &member;
            }
            return true;
        }
        keys_.clear();
        for (const JsonNode& member : members)
            keys_.push_back(member.key());
        std::sort(keys_.begin(), keys_.end());
        if (std::adjacent_find(keys_.begin(), keys_.end()) != keys_.end())
            return stop("duplicate object key");
        return true;
    }

    // RapidJSON decodes what jansson refuses in a string or key: \u0000, and a lone low
    // surrogate (\uDC00-\uDFFF, which it writes as the bytes ED B0-BF xx). Only an escape
    // can make either: the raw text has no NUL byte and is valid UTF-8.
    bool decoded_ok(const char* text, uint32_t length) {
        if (!has_escapes_)
            return true;
        for (uint32_t i = 0; i < length; ++i) {
            unsigned char c = static_cast<unsigned char>(text[i]);
            if (c == 0)
                return stop("\\u0000 is not allowed");
            if (c == 0xED && i + 1 < length && static_cast<unsigned char>(text[i + 1]) >= 0xA0)
                return stop("invalid Unicode");
        }
        return true;
    }

    std::vector<JsonNode>& nodes_;
    std::vector<char*>& number_ends_;
    const bool has_escapes_;
    std::vector<uint32_t> open_;         // indexes of the containers not yet closed
    std::vector<std::string_view> keys_; // of a large object, to sort
    uint32_t closed_ = 0;
    const char* key_ = nullptr; // the key of the member whose value comes next
    uint32_t key_length_ = 0;
    const char* reason_ = nullptr;
};

namespace {

// jansson's message for a text it rejects, with where; empty when jansson accepts the text.
std::string jansson_error(std::string_view text) {
    json_error_t error;
    JsonPtr root(json_loadb(text.data(), text.size(),
                            JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY,
                            &error));
    if (root)
        return "";
    return std::string(error.text) + " (line " + std::to_string(error.line) + ", column " +
           std::to_string(error.column) + ")";
}

// Line and column (in characters, as jansson counts them) of the character at a byte offset.
std::string where(std::string_view text, size_t offset) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset && i < text.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == '\n') {
            ++line;
            column = 1;
        } else if ((c & 0xC0) != 0x80) {
            ++column;
        }
    }
    return " (line " + std::to_string(line) + ", column " + std::to_string(column) + ")";
}

} // namespace

void append_json_string(std::string& out, std::string_view s, bool replace_invalid_utf8) {
    static const char kHex[] = "0123456789ABCDEF";
    out += '"';
    size_t plain = 0; // start of the run not yet copied
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80 && replace_invalid_utf8) {
            size_t n = utf8_sequence_length(s, i);
            if (n > 0) {
                i += n - 1;
                continue;
            }
            out.append(s.data() + plain, i - plain);
            plain = i + 1;
            out += "\\ufffd";
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        out.append(s.data() + plain, i - plain);
        plain = i + 1;
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
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
            out += "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        }
    }
    out.append(s.data() + plain, s.size() - plain);
    out += '"';
}

namespace {} // namespace

const JsonNode* JsonNode::search(std::string_view key, const JsonNode* hint) const {
    if (type_ != JsonType::Object)
        return nullptr;
    const JsonNode* first = this + 1;
    const JsonNode* end = next();
    if (hint == nullptr || hint < first || hint >= end)
        hint = first;
    for (const JsonNode* node = hint; node != end; node = node->next())
        if (same_key(node->key(), key))
            return node;
    for (const JsonNode* node = first; node != hint; node = node->next())
        if (same_key(node->key(), key))
            return node;
    return nullptr;
}

char* ParseBuffer::assign(std::string_view text, size_t padding) {
    size_t needed = text.size() + padding;
    if (needed > capacity_) {
        data_.reset(); // first, so that the old and the new are never both held
        capacity_ = 0;
        data_.reset(new char[needed]); // uninitialised
        capacity_ = needed;
    }
    std::memcpy(data_.get(), text.data(), text.size());
    std::memset(data_.get() + text.size(), 0, padding);
    return data_.get();
}

void ParseBuffer::trim(size_t keep_bytes) {
    if (capacity_ > keep_bytes) {
        data_.reset();
        capacity_ = 0;
    }
}

bool JsonDocument::parse(std::string_view text, std::string& error) {
    return parse(text, error, text_);
}

bool JsonDocument::parse(std::string_view text, std::string& error, ParseBuffer& into) {
    nodes_.clear();
    if (text.size() >= UINT32_MAX) { // the nodes keep 32-bit lengths
        error = "the document is too large (4 GiB or more)";
        return false;
    }
    // RapidJSON would read a NUL byte as the end of the text; jansson rejects any.
    if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
        error = jansson_error(text);
        if (error.empty())
            error = "NUL byte in the document";
        return false;
    }
    char* copy = into.assign(text, kScanPadding); // the parse stops at the first NUL
    bool has_escapes = std::memchr(text.data(), '\\', text.size()) != nullptr;
    nodes_.reserve(text.size() / 16 + 4);
    number_ends_.clear();
    JsonBuilder builder(nodes_, number_ends_, has_escapes);
    rapidjson::InsituStringStream stream(copy);
    rapidjson::Reader reader;
    rapidjson::ParseResult result = is_valid_utf8_json_prescan(text)
                                        ? reader.Parse<kParseFlags>(stream, builder)
                                        : reader.Parse<kValidatingParseFlags>(stream, builder);
    if (result) {
        // The parse is over: a number's delimiter (a comma, bracket, brace, space or the
        // padding) is part of no value's text and is read no more.
        for (char* end : number_ends_)
            *end = '\0';
        return true;
    }
    nodes_.clear();
    error = jansson_error(text);
    if (error.empty()) {
        // jansson accepts what RapidJSON rejected. The one known case: RapidJSON 1.1.0 refuses
        // a positive exponent above 308 + the number of fraction digits before it knows the
        // value, and the only such number whose value is finite is a zero: 0e309, 0.0e400.
        // We reject it (no real document writes one) with RapidJSON's message.
        error = std::string(builder.reason() ? builder.reason()
                                             : rapidjson::GetParseError_En(result.Code())) +
                where(text, result.Offset());
    }
    return false;
}

void JsonDocument::trim(size_t keep_bytes) {
    if (text_.capacity() + nodes_.capacity() * sizeof(JsonNode) +
            number_ends_.capacity() * sizeof(char*) <=
        keep_bytes)
        return;
    text_.trim(0);
    std::vector<JsonNode>().swap(nodes_);
    std::vector<char*>().swap(number_ends_);
}

const JsonNode* JsonDocument::find(const JsonNode* from, const std::vector<std::string>& path) {
    const JsonNode* current = from;
    for (const std::string& key : path) {
        if (current == nullptr)
            return nullptr;
        current = current->member(key);
    }
    return current;
}

std::string JsonDocument::to_json(const JsonNode* value) {
    std::string out;
    append_json(value, out);
    return out;
}

// Recursive: a document nests at most kMaxDepth deep.
void JsonDocument::append_json(const JsonNode* value, std::string& out) {
    switch (value->type()) {
    case JsonType::Null:
        out += "null";
        break;
    case JsonType::False:
        out += "false";
        break;
    case JsonType::True:
        out += "true";
        break;
    case JsonType::Number:
        out += value->text();
        break;
    case JsonType::String:
        append_json_string(out, value->text());
        break;
    case JsonType::Array:
    case JsonType::Object: {
        bool object = value->is_object();
        out += object ? '{' : '[';
        bool first = true;
        for (const JsonNode& child : value->children()) {
            if (!first)
                out += ',';
            first = false;
            if (object) {
                append_json_string(out, child.key());
                out += ':';
            }
            append_json(&child, out);
        }
        out += object ? '}' : ']';
        break;
    }
    }
}

} // namespace nomnom
