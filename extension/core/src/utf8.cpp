#include "nomnom/utf8.hpp"

#include <cstdint>
#include <cstring>

namespace nomnom {

size_t utf8_sequence_length(std::string_view s, size_t i) {
    auto at = [&](size_t k) -> unsigned {
        return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
    };
    auto continuation = [&](size_t k) { return (at(k) & 0xC0) == 0x80; };
    unsigned c = at(0);
    if (c >= 0xC2 && c <= 0xDF)
        return continuation(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0 && at(1) < 0xA0)
            return 0; // overlong
        if (c == 0xED && at(1) > 0x9F)
            return 0; // a UTF-16 surrogate
        return continuation(1) && continuation(2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0 && at(1) < 0x90)
            return 0; // overlong
        if (c == 0xF4 && at(1) > 0x8F)
            return 0; // beyond U+10FFFF
        return continuation(1) && continuation(2) && continuation(3) ? 4 : 0;
    }
    return 0; // a continuation byte, an overlong lead (C0, C1) or F5-FF
}

bool is_valid_utf8(std::string_view s) {
    constexpr uint64_t kHighBits = 0x8080808080808080ULL;
    size_t i = 0;
    while (i < s.size()) {
        if (i + 8 <= s.size()) {
            uint64_t eight;
            std::memcpy(&eight, s.data() + i, sizeof eight);
            if ((eight & kHighBits) == 0) {
                i += 8;
                continue;
            }
        }
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
            continue;
        }
        size_t n = utf8_sequence_length(s, i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

} // namespace nomnom
