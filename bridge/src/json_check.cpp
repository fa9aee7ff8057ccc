#include "json_check.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

#include "nomnom/utf8.hpp"

namespace bridge {

namespace {

constexpr int kMaxDepth = 2048; // jansson's JSON_PARSER_MAX_DEPTH
constexpr size_t kPairwiseKeys = 64;

class Scanner {
  public:
    // `keys`, `decoded`: the key stack and the decoded keys it points into, empty, kept by the
    // caller from one document to the next so that a batch's documents reuse their storage.
    Scanner(std::string_view text, std::vector<std::string_view>& keys,
            std::deque<std::string>& decoded)
        : s_(text), keys_(keys), decoded_(decoded) {}

    JsonCheck run() {
        JsonCheck out;
        skip_ws();
        if (pos_ >= s_.size()) {
            fail("'[' or '{' expected near end of file");
        } else {
            out.is_object = s_[pos_] == '{';
            value(0);
            if (error_.empty()) {
                skip_ws();
                if (pos_ < s_.size())
                    fail("end of file expected");
            }
        }
        out.ok = error_.empty();
        if (out.ok)
            out.entity_type = std::move(entity_type_);
        else
            out.error = error_;
        return out;
    }

  private:
    bool fail(const std::string& what) {
        if (!error_.empty())
            return false;
        // Line and column of the failure, 1-based, counted in bytes as jansson does.
        size_t line = 1, col = 0;
        for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
            if (s_[i] == '\n') {
                ++line;
                col = 0;
            } else {
                ++col;
            }
        }
        error_ =
            what + " (line " + std::to_string(line) + ", column " + std::to_string(col + 1) + ")";
        return false;
    }

    void skip_ws() {
        while (pos_ < s_.size() &&
               (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }

    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word)
            return fail("invalid token");
        pos_ += word.size();
        return true;
    }

    bool value(int depth) {
        if (pos_ >= s_.size())
            return fail("unexpected end of file");
        switch (s_[pos_]) {
        case '{':
            return object(depth + 1);
        case '[':
            return array(depth + 1);
        case '"':
            return string(nullptr);
        case 't':
            return literal("true");
        case 'f':
            return literal("false");
        case 'n':
            return literal("null");
        default:
            return number();
        }
    }

    bool object(int depth) {
        if (depth > kMaxDepth)
            return fail("maximum parsing depth reached");
        ++pos_; // '{'
        // This object's keys sit on keys_ from `first` on (decoded: "a" and "\u0061" are the
        // same key), so nested objects reuse one vector instead of allocating their own.
        size_t first = keys_.size();
        struct Pop {
            std::vector<std::string_view>& keys;
            size_t first;
            ~Pop() { keys.resize(first); }
        } pop{keys_, first};
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != '"')
                return fail("string or '}' expected");
            std::string_view key;
            if (!key_string(key))
                return false;
            // Pairwise while small; a large object is sorted once at its end instead, so a
            // body of a million keys costs n log n, not n squared.
            if (keys_.size() - first < kPairwiseKeys)
                for (size_t i = first; i < keys_.size(); ++i)
                    if (keys_[i] == key)
                        return fail("duplicate object key");
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != ':')
                return fail("':' expected");
            ++pos_;
            skip_ws();
            bool capture =
                depth == 1 && key == "entity_type" && pos_ < s_.size() && s_[pos_] == '"';
            keys_.push_back(key);
            if (capture) {
                if (!string(&entity_type_))
                    return false;
            } else if (!value(depth)) {
                return false;
            }
            skip_ws();
            if (pos_ >= s_.size())
                return fail("'}' expected near end of file");
            if (s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (s_[pos_] == '}') {
                ++pos_;
                if (keys_.size() - first > kPairwiseKeys) {
                    std::vector<std::string_view> sorted(keys_.begin() + static_cast<long>(first),
                                                         keys_.end());
                    std::sort(sorted.begin(), sorted.end());
                    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
                        return fail("duplicate object key");
                }
                return true;
            }
            return fail("'}' expected");
        }
    }

    bool array(int depth) {
        if (depth > kMaxDepth)
            return fail("maximum parsing depth reached");
        ++pos_; // '['
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            ++pos_;
            return true;
        }
        for (;;) {
            skip_ws();
            if (!value(depth))
                return false;
            skip_ws();
            if (pos_ >= s_.size())
                return fail("']' expected near end of file");
            if (s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (s_[pos_] == ']') {
                ++pos_;
                return true;
            }
            return fail("']' expected");
        }
    }

    static int hex(char c) {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    }

    bool read_u4(unsigned& out) {
        if (pos_ + 4 > s_.size())
            return fail("invalid escape");
        out = 0;
        for (int i = 0; i < 4; ++i) {
            int h = hex(s_[pos_ + static_cast<size_t>(i)]);
            if (h < 0)
                return fail("invalid escape");
            out = out * 16 + static_cast<unsigned>(h);
        }
        pos_ += 4;
        return true;
    }

    static void put_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    // A key at pos_ ('"'): `key` views its bytes in the text when it has no escape (nearly
    // always), else its decoded value, kept in decoded_ until the next document.
    bool key_string(std::string_view& key) {
        size_t start = pos_;
        escaped_ = false;
        if (!string(nullptr))
            return false;
        if (!escaped_) {
            key = s_.substr(start + 1, pos_ - start - 2);
            return true;
        }
        pos_ = start; // once more, decoding this time
        decoded_.emplace_back();
        if (!string(&decoded_.back()))
            return false;
        key = decoded_.back();
        return true;
    }

    // From i, the first byte of a string that needs a look: '"', '\\', a control character or
    // a non-ASCII byte (or the end). Eight bytes at a time: most of a document is such bytes.
    size_t skip_plain(size_t i) const {
        constexpr uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        for (; i + 8 <= s_.size(); i += 8) {
            uint64_t w;
            std::memcpy(&w, s_.data() + i, 8);
            uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
            // A byte of the word is zero in `quote` (a '"'), zero in `backslash`, below 0x20 or
            // at 0x80 and above: the usual has-zero-byte tests, exact for "any byte".
            uint64_t special = ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
                               (w - ones * 0x20) | w;
            if ((special & highs) != 0)
                break;
        }
        while (i < s_.size()) {
            unsigned char c = static_cast<unsigned char>(s_[i]);
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                break;
            ++i;
        }
        return i;
    }

    // A string at pos_ ('"'); its decoded value goes to `out` when given.
    bool string(std::string* out) {
        ++pos_;
        size_t run = pos_; // start of bytes not yet copied to *out
        for (;;) {
            pos_ = skip_plain(pos_);
            if (pos_ >= s_.size())
                return fail("premature end of input");
            unsigned char c = static_cast<unsigned char>(s_[pos_]);
            if (c == '"') {
                if (out)
                    out->append(s_.data() + run, pos_ - run);
                ++pos_;
                return true;
            }
            if (c < 0x20)
                return fail("control character in string");
            if (c >= 0x80) {
                size_t n = nomnom::utf8_sequence_length(s_, pos_);
                if (n == 0)
                    return fail("invalid UTF-8");
                pos_ += n;
                continue;
            }
            if (c != '\\') {
                ++pos_;
                continue;
            }
            escaped_ = true;
            if (out)
                out->append(s_.data() + run, pos_ - run);
            ++pos_;
            if (pos_ >= s_.size())
                return fail("premature end of input");
            char e = s_[pos_++];
            const char* simple = "\"\\/bfnrt";
            const char* decoded = "\"\\/\b\f\n\r\t";
            if (const char* p = std::char_traits<char>::find(simple, 8, e)) {
                if (out)
                    *out += decoded[p - simple];
            } else if (e == 'u') {
                unsigned cp = 0;
                if (!read_u4(cp))
                    return false;
                if (cp == 0)
                    return fail("\\u0000 is not allowed");
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return fail("invalid Unicode escape");
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned low = 0;
                    if (s_.substr(pos_, 2) != "\\u")
                        return fail("invalid Unicode escape");
                    pos_ += 2;
                    if (!read_u4(low))
                        return false;
                    if (low < 0xDC00 || low > 0xDFFF)
                        return fail("invalid Unicode escape");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                if (out)
                    put_utf8(*out, cp);
            } else {
                return fail("invalid escape");
            }
            run = pos_;
        }
    }

    bool digits() {
        size_t start = pos_;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9')
            ++pos_;
        return pos_ > start;
    }

    bool number() {
        size_t start = pos_;
        if (s_[pos_] == '-')
            ++pos_;
        if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9')
            return fail("invalid token");
        if (s_[pos_] == '0') {
            ++pos_;
            if (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9')
                return fail("invalid token");
        } else {
            digits();
        }
        bool exponent = false;
        if (pos_ < s_.size() && s_[pos_] == '.') {
            ++pos_;
            if (!digits())
                return fail("invalid token");
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            exponent = true;
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-'))
                ++pos_;
            if (!digits())
                return fail("invalid token");
        }
        // jansson turns every number into a double here and refuses one that overflows;
        // only an exponent or a very long literal can.
        if (exponent || pos_ - start > 300) {
            std::string lit(s_.substr(start, pos_ - start));
            errno = 0;
            double v = std::strtod(lit.c_str(), nullptr);
            if (errno == ERANGE && std::isinf(v))
                return fail("real number overflow");
        }
        return true;
    }

    std::string_view s_;
    size_t pos_ = 0;
    std::vector<std::string_view>& keys_;
    std::deque<std::string>& decoded_;
    bool escaped_ = false; // the last string scanned had an escape
    std::string error_;
    std::string entity_type_;
};

} // namespace

JsonCheck JsonChecker::check(std::string_view text) {
    // keys_ is empty again after every document, failed ones too: each object pops its keys
    // on leaving. The decoded keys are this document's only.
    decoded_.clear();
    return Scanner(text, keys_, decoded_).run();
}

JsonCheck check_json(std::string_view text) {
    return JsonChecker().check(text);
}

} // namespace bridge
