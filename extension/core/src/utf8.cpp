#include "nomnom/utf8.hpp"

#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

namespace {

template <bool kNoHighControls> bool valid_utf8(std::string_view s) {
    constexpr uint64_t kHighBits = 0x8080808080808080ULL;
    constexpr uint64_t kControls = 0x1818181818181818ULL; // 0x18-0x1F: xor gives 0-7
    constexpr uint64_t kEights = 0x0808080808080808ULL;
    size_t i = 0;
    while (i < s.size()) {
#if defined(__SSE2__)
        // Sixteen bytes at a time: a byte with its high bit set, or (for the JSON prescan) a
        // byte in 0x18-0x1F (its top five bits 00011), sends the block to the byte path.
        if (i + 16 <= s.size()) {
            __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
            __m128i stop = block;
            if (kNoHighControls)
                stop = _mm_or_si128(stop,
                                    _mm_cmpeq_epi8(_mm_and_si128(block, _mm_set1_epi8(char(0xF8))),
                                                   _mm_set1_epi8(0x18)));
            if (_mm_movemask_epi8(stop) == 0) {
                i += 16;
                continue;
            }
        }
#endif
        if (i + 8 <= s.size()) {
            uint64_t eight;
            std::memcpy(&eight, s.data() + i, sizeof eight);
            if (kNoHighControls) {
                // Some byte below 8 after the xor, i.e. in 0x18-0x1F (exact for "some").
                uint64_t x = eight ^ kControls;
                if (((x - kEights) & ~x & kHighBits) != 0)
                    return false;
            }
            if ((eight & kHighBits) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (kNoHighControls && c >= 0x18 && c <= 0x1F)
                return false;
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

} // namespace

bool is_valid_utf8(std::string_view s) {
    return valid_utf8<false>(s);
}

bool is_valid_utf8_json_prescan(std::string_view s) {
    return valid_utf8<true>(s);
}

} // namespace nomnom
