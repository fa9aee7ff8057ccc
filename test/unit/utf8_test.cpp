#include "nomnom/utf8.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace nomnom;

namespace {

// An independent reading of one sequence: the code point its bits spell, then whether
// that code point may be written in that many bytes. Returns the length, or 0.
size_t reference_length(const std::string& s, size_t i) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    size_t n;
    unsigned cp;
    if ((byte(0) & 0xE0) == 0xC0) {
        n = 2, cp = byte(0) & 0x1F;
    } else if ((byte(0) & 0xF0) == 0xE0) {
        n = 3, cp = byte(0) & 0x0F;
    } else if ((byte(0) & 0xF8) == 0xF0) {
        n = 4, cp = byte(0) & 0x07;
    } else {
        return 0;
    }
    if (i + n > s.size())
        return 0;
    for (size_t k = 1; k < n; ++k) {
        if ((byte(k) & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (byte(k) & 0x3F);
    }
    const unsigned smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < smallest[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

} // namespace

TEST(Utf8, AgreesWithAReferenceDecoderOnEveryTwoAndThreeByteSequence) {
    for (unsigned a = 0x80; a <= 0xFF; ++a)
        for (unsigned b = 0; b <= 0xFF; ++b) {
            std::string two{static_cast<char>(a), static_cast<char>(b)};
            ASSERT_EQ(utf8_sequence_length(two, 0), reference_length(two, 0)) << a << " " << b;
            for (unsigned c = 0x70; c <= 0xC0; c += 0x10) {
                std::string three = two + static_cast<char>(c);
                ASSERT_EQ(utf8_sequence_length(three, 0), reference_length(three, 0))
                    << a << " " << b << " " << c;
            }
        }
}

TEST(Utf8, AgreesOnFourByteSequencesAroundTheLimits) {
    for (unsigned a = 0xF0; a <= 0xF8; ++a)
        for (unsigned b = 0x70; b <= 0xC0; ++b)
            for (unsigned d : {0x7Fu, 0x80u, 0xBFu, 0xC0u}) {
                std::string four{static_cast<char>(a), static_cast<char>(b), '\x80',
                                 static_cast<char>(d)};
                ASSERT_EQ(utf8_sequence_length(four, 0), reference_length(four, 0))
                    << a << " " << b << " " << d;
            }
}

TEST(Utf8, ChecksWholeTextsAtEveryOffsetOfTheEightByteSteps) {
    EXPECT_TRUE(is_valid_utf8(""));
    EXPECT_TRUE(is_valid_utf8("plain ASCII, longer than eight bytes"));
    EXPECT_TRUE(is_valid_utf8("h\xc3\xa9llo \xf0\x9f\x98\x80 \xe2\x82\xac"));
    const std::string bad[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82",
                               "\x80"};
    for (size_t offset = 0; offset < 20; ++offset) {
        std::string ascii(offset, 'a');
        EXPECT_TRUE(is_valid_utf8(ascii + "\xc3\xa9" + ascii)) << offset;
        for (const std::string& b : bad) {
            EXPECT_FALSE(is_valid_utf8(ascii + b)) << offset;
            EXPECT_FALSE(is_valid_utf8(ascii + b + "tail of ascii")) << offset;
        }
    }
}

TEST(Utf8, JsonPrescanRefusesHighControlCharacters) {
    const std::string ascii = "plain ASCII, longer than eight bytes";
    EXPECT_TRUE(is_valid_utf8_json_prescan(ascii + "\t\n\r\x01\x17" + ascii));
    EXPECT_TRUE(is_valid_utf8_json_prescan("h\xc3\xa9llo \xf0\x9f\x98\x80 \xe2\x82\xac"));
    for (int c = 0x18; c <= 0x1f; ++c)
        for (size_t offset = 0; offset < 17; ++offset) {
            std::string text = ascii.substr(0, offset) + static_cast<char>(c) + ascii;
            EXPECT_FALSE(is_valid_utf8_json_prescan(text)) << c << " at " << offset;
            EXPECT_TRUE(is_valid_utf8(text));
        }
    EXPECT_FALSE(is_valid_utf8_json_prescan(ascii + "\xc3"));
    // Bytes next to the range, and UTF-8 continuation bytes that xor into it, are fine.
    EXPECT_TRUE(is_valid_utf8_json_prescan(ascii + "\x17 \x20 \xc2\x98 \xc2\x9f" + ascii));
}
