#include "pub_ack.hpp"

#include <cctype>

namespace bridge {

namespace {

// A cursor over the answer; every reader returns false on text it cannot take.
struct Reader {
    std::string_view s;
    size_t i = 0;

    void ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
            ++i;
    }
    bool eat(char c) {
        ws();
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    }
    // A string into `out` (nullptr: skipped). Escapes other than \uXXXX are decoded; a \u
    // escape is kept as written (JetStream's texts are ASCII).
    bool string(std::string* out) {
        if (!eat('"'))
            return false;
        while (i < s.size()) {
            char c = s[i++];
            if (c == '"')
                return true;
            if (c == '\\') {
                if (i >= s.size())
                    return false;
                char e = s[i++];
                switch (e) {
                case 'n':
                    c = '\n';
                    break;
                case 't':
                    c = '\t';
                    break;
                case 'r':
                    c = '\r';
                    break;
                case 'b':
                    c = '\b';
                    break;
                case 'f':
                    c = '\f';
                    break;
                case 'u':
                    if (out != nullptr)
                        out->append("\\u");
                    continue;
                default:
                    c = e; // \" \\ \/
                }
            }
            if (out != nullptr)
                out->push_back(c);
        }
        return false;
    }
    bool number(int64_t& out) {
        ws();
        bool negative = i < s.size() && s[i] == '-';
        if (negative)
            ++i;
        size_t start = i;
        uint64_t v = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (v > (UINT64_MAX - 9) / 10)
                return false;
            v = v * 10 + static_cast<uint64_t>(s[i++] - '0');
        }
        if (i == start || v > static_cast<uint64_t>(INT64_MAX))
            return false;
        out = negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
        return true;
    }
    bool literal(std::string_view word) {
        ws();
        if (s.substr(i, word.size()) != word)
            return false;
        i += word.size();
        return true;
    }
    // Any value, skipped (a field this reader does not know).
    bool skip(int depth = 0) {
        ws();
        if (i >= s.size() || depth > 16)
            return false;
        char c = s[i];
        if (c == '"')
            return string(nullptr);
        if (c == '{' || c == '[') {
            char close = c == '{' ? '}' : ']';
            ++i;
            if (eat(close))
                return true;
            do {
                if (c == '{' && !(string(nullptr) && eat(':')))
                    return false;
                if (!skip(depth + 1))
                    return false;
            } while (eat(','));
            return eat(close);
        }
        if (c == 't')
            return literal("true");
        if (c == 'f')
            return literal("false");
        if (c == 'n')
            return literal("null");
        // A number: its characters.
        size_t start = i;
        while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '-' ||
                                s[i] == '+' || s[i] == '.' || s[i] == 'e' || s[i] == 'E'))
            ++i;
        return i > start;
    }
    // An object's fields, each handed to `field(key)`, which reads its value.
    template <typename F> bool object(F field) {
        if (!eat('{'))
            return false;
        if (eat('}'))
            return true;
        std::string key;
        do {
            key.clear();
            if (!string(&key) || !eat(':') || !field(key))
                return false;
        } while (eat(','));
        return eat('}');
    }
};

} // namespace

bool parse_pub_ack(std::string_view text, PubAck& out, std::string& error) {
    out = PubAck{};
    Reader r{text};
    bool ok = r.object([&](const std::string& key) {
        if (key == "stream")
            return r.string(&out.stream);
        if (key == "seq") {
            int64_t v = 0;
            if (!r.number(v) || v < 0)
                return false;
            out.seq = static_cast<uint64_t>(v);
            out.has_seq = true;
            return true;
        }
        if (key == "duplicate") {
            r.ws();
            out.duplicate = r.literal("true");
            return out.duplicate || r.literal("false");
        }
        if (key == "error") {
            out.is_error = true;
            return r.object([&](const std::string& ekey) {
                int64_t v = 0;
                if (ekey == "code" || ekey == "err_code") {
                    if (!r.number(v))
                        return false;
                    (ekey == "code" ? out.code : out.err_code) = static_cast<int>(v);
                    return true;
                }
                if (ekey == "description")
                    return r.string(&out.description);
                return r.skip();
            });
        }
        return r.skip();
    });
    r.ws();
    if (!ok || r.i != text.size()) {
        error = "not a JetStream PubAck: " + std::string(text.substr(0, 200));
        return false;
    }
    if (!out.is_error && (out.stream.empty() || !out.has_seq)) {
        error = "a JetStream PubAck without its stream and sequence: " +
                std::string(text.substr(0, 200));
        return false;
    }
    return true;
}

} // namespace bridge
