// fast_input (extension/src/writer/fast_input.cpp: the prefetch thread's input functions)
// against reference implementations written differently here: whatever it accepts must be
// the exact Datum PostgreSQL's input function gives (declining is always allowed: the
// backend then calls the type's own input function). The reference decodes the Datum (the
// numeric varlena, the date's day number, the integer) and compares it with the input text
// read independently. It links outside PostgreSQL: fast_input calls no PostgreSQL function,
// it only uses its headers' macros and inline functions.
//
// Input: byte 0 picks the type (and, for numeric, bytes 1-3 the modifier); the rest is the
// text.
#include "fuzz_common.hpp"
#include "nomnom/arena.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "writer/fast_input.hpp"
extern "C" {
#include "utils/date.h"
}
// PostgreSQL's port.h maps the printf family to its own (in libpgport, not linked here).
#undef fprintf
#undef snprintf

using nomnom::Arena;

namespace {

bool all_digits(std::string_view s) {
    if (s.empty())
        return false;
    for (char c : s)
        if (c < '0' || c > '9')
            return false;
    return true;
}

// [-]digits, read with strtoll after the shape is checked.
void check_integer(std::string_view text, Datum d, int64 min, int64 max, int which) {
    std::string t(text);
    std::string_view digits = text.substr(!text.empty() && text[0] == '-' ? 1 : 0);
    FUZZ_CHECK(all_digits(digits), "accepted a non-integer: " + t);
    errno = 0;
    long long expected = std::strtoll(t.c_str(), nullptr, 10);
    FUZZ_CHECK(errno == 0 && expected >= min && expected <= max, "accepted out of range: " + t);
    int64 got = which == 2 ? DatumGetInt16(d) : which == 4 ? DatumGetInt32(d) : DatumGetInt64(d);
    FUZZ_CHECK(got == expected, t + " -> " + std::to_string(got));
}

// Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil), a
// different algorithm from date2j's.
int64 days_from_civil(int64 y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64 era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64>(doe) - 719468;
}

// A canonical YYYY-MM-DD of years 1000-9999 that is a real day; its day number from
// 2000-01-01 (PostgreSQL's date epoch).
bool reference_date(std::string_view t, int64& days) {
    if (t.size() != 10 || t[4] != '-' || t[7] != '-' || !all_digits(t.substr(0, 4)) ||
        !all_digits(t.substr(5, 2)) || !all_digits(t.substr(8, 2)))
        return false;
    int y = std::stoi(std::string(t.substr(0, 4)));
    unsigned m = std::stoul(std::string(t.substr(5, 2)));
    unsigned d = std::stoul(std::string(t.substr(8, 2)));
    if (y < 1000 || m < 1 || m > 12 || d < 1)
        return false;
    // The month's length: the first of the next month, minus this month's first.
    int64 first = days_from_civil(y, m, 1);
    int64 next = m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1);
    if (d > next - first)
        return false;
    days = days_from_civil(y, m, d) - days_from_civil(2000, 1, 1);
    return true;
}

// What numeric_in (with the modifier applied) stores for a text the fast path accepted,
// as "[-]integer[.fraction]" with exactly `dscale` fraction digits; checks the shape.
std::string reference_numeric(std::string_view text, int32 typmod, int& dscale) {
    std::string t(text);
    bool negative = !text.empty() && text[0] == '-';
    std::string_view rest = text.substr(negative ? 1 : 0);
    size_t point = rest.find('.');
    std::string_view integer = rest.substr(0, point);
    std::string_view fraction =
        point == std::string_view::npos ? std::string_view() : rest.substr(point + 1);
    FUZZ_CHECK(all_digits(integer), "accepted a non-number: " + t);
    FUZZ_CHECK(point == std::string_view::npos || all_digits(fraction),
               "accepted a non-number: " + t);
    std::string int_part(integer.substr(std::min(integer.find_first_not_of('0'), integer.size())));
    std::string frac_part(fraction);
    dscale = static_cast<int>(frac_part.size());
    if (typmod >= static_cast<int32>(VARHDRSZ)) {
        int precision = ((typmod - VARHDRSZ) >> 16) & 0xFFFF;
        int scale = (((typmod - VARHDRSZ) & 0x7FF) ^ 1024) - 1024;
        // numeric(p,s) would round or fail: the fast path must have declined.
        FUZZ_CHECK(scale >= 0 && scale <= precision, "accepted with scale outside 0..p: " + t);
        FUZZ_CHECK(dscale <= scale, "accepted what numeric(p,s) rounds: " + t);
        FUZZ_CHECK(static_cast<int>(int_part.size()) <= precision - scale,
                   "accepted what overflows numeric(p,s): " + t);
        dscale = scale;
    }
    frac_part.resize(dscale, '0');
    bool zero = int_part.empty() && frac_part.find_first_not_of('0') == std::string::npos;
    std::string out = (negative && !zero ? "-" : "") + (int_part.empty() ? "0" : int_part);
    if (dscale > 0)
        out += "." + frac_part;
    return out;
}

// The numeric varlena decoded (numeric.c's layout), checking make_result's invariants.
std::string decode_numeric(Datum d, int& dscale, const std::string& input) {
    const char* p = static_cast<const char*>(DatumGetPointer(d));
    size_t size = VARSIZE(p);
    FUZZ_CHECK(size >= VARHDRSZ + sizeof(uint16), input);
    uint16 word;
    std::memcpy(&word, p + VARHDRSZ, sizeof word);
    bool negative;
    int weight;
    size_t header;
    if (word & 0x8000) { // short
        FUZZ_CHECK((word & 0x4000) == 0, "a NaN or infinity header: " + input);
        negative = word & 0x2000;
        dscale = (word & 0x1F80) >> 7;
        weight = (word & 0x0040) ? static_cast<int>(word & 0x003F) - 64 : (word & 0x003F);
        header = VARHDRSZ + sizeof(uint16);
    } else {
        FUZZ_CHECK((word & 0xC000) == 0x0000 || (word & 0xC000) == 0x4000, input);
        negative = (word & 0xC000) == 0x4000;
        dscale = word & 0x3FFF;
        int16 w;
        std::memcpy(&w, p + VARHDRSZ + sizeof word, sizeof w);
        weight = w;
        header = VARHDRSZ + sizeof(uint16) + sizeof(int16);
        // numeric.c stores the short form whenever it can.
        FUZZ_CHECK(!(dscale <= 63 && weight <= 63 && weight >= -64),
                   "long form needlessly: " + input);
    }
    FUZZ_CHECK(size >= header && (size - header) % sizeof(int16) == 0, input);
    size_t ndigits = (size - header) / sizeof(int16);
    std::vector<int16> digits(ndigits);
    if (ndigits > 0)
        std::memcpy(digits.data(), p + header, ndigits * sizeof(int16));
    for (int16 digit : digits)
        FUZZ_CHECK(digit >= 0 && digit < 10000, input);
    if (ndigits == 0) {
        FUZZ_CHECK(weight == 0 && !negative, "zero must be positive with weight 0: " + input);
    } else {
        FUZZ_CHECK(digits.front() != 0 && digits.back() != 0, "unstripped zero digits: " + input);
    }
    // Decimal digits of the integer part (weight+1 base-10000 digits) and of dscale fraction.
    std::string integer, fraction;
    for (int w = weight; w >= 0; --w) {
        int i = weight - w;
        int digit = i >= 0 && static_cast<size_t>(i) < ndigits ? digits[i] : 0;
        char four[5];
        std::snprintf(four, sizeof four, "%04d", digit);
        integer += four;
    }
    for (int w = -1; static_cast<int>(fraction.size()) < dscale + 4; --w) {
        int i = weight - w;
        int digit = i >= 0 && static_cast<size_t>(i) < ndigits ? digits[i] : 0;
        char four[5];
        std::snprintf(four, sizeof four, "%04d", digit);
        fraction += four;
    }
    // No digit may lie beyond dscale.
    FUZZ_CHECK(fraction.find_first_not_of('0', dscale) == std::string::npos,
               "digits beyond the display scale: " + input);
    fraction.resize(dscale);
    integer.erase(0, std::min(integer.find_first_not_of('0'), integer.size()));
    std::string out = (negative ? "-" : "") + (integer.empty() ? "0" : integer);
    if (dscale > 0)
        out += "." + fraction;
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 4)
        return 0;
    std::string_view text = as_text(data + 4, size - 4);
    std::string t(text);
    Arena arena;
    Datum d = 0;
    switch (data[0] % 9) {
    case 0:
        if (nomnom::fast_input(INT2OID, -1, text, arena, &d))
            check_integer(text, d, INT16_MIN, INT16_MAX, 2);
        break;
    case 1:
        if (nomnom::fast_input(INT4OID, -1, text, arena, &d))
            check_integer(text, d, INT32_MIN, INT32_MAX, 4);
        break;
    case 2:
        if (nomnom::fast_input(INT8OID, -1, text, arena, &d))
            check_integer(text, d, INT64_MIN, INT64_MAX, 8);
        break;
    case 3:
        if (nomnom::fast_input(BOOLOID, -1, text, arena, &d)) {
            // boolin's spellings that the fast path may take, and their values.
            bool yes = text == "true" || text == "t";
            FUZZ_CHECK(yes || text == "false" || text == "f", "accepted as bool: " + t);
            FUZZ_CHECK(DatumGetBool(d) == yes, t);
        }
        break;
    case 4: {
        int64 days = 0;
        bool valid = reference_date(text, days);
        bool accepted = nomnom::fast_input(DATEOID, -1, text, arena, &d);
        FUZZ_CHECK(accepted == valid, "date " + t + (accepted ? " accepted" : " declined"));
        if (accepted)
            FUZZ_CHECK(DatumGetDateADT(d) == days, t + " -> " + std::to_string(DatumGetDateADT(d)) +
                                                       ", not " + std::to_string(days));
        break;
    }
    case 5:
    case 6: {
        int32 typmod = -1;
        if (data[0] % 9 == 6) {
            int precision = 1 + (data[1] | (data[2] << 8)) % 1000;
            int scale = static_cast<int8_t>(data[3]); // -128..127, as numeric(p, s) allows
            typmod = ((precision << 16) | (scale & 0x7FF)) + VARHDRSZ;
        }
        if (nomnom::fast_input(NUMERICOID, typmod, text, arena, &d)) {
            int expected_scale = 0, got_scale = 0;
            std::string expected = reference_numeric(text, typmod, expected_scale);
            std::string got = decode_numeric(d, got_scale, t);
            FUZZ_CHECK(got_scale == expected_scale, t + ": dscale " + std::to_string(got_scale));
            FUZZ_CHECK(got == expected, t + " -> " + got + ", not " + expected);
        }
        break;
    }
    default: { // text, varchar without and with a length
        Oid type = data[0] % 9 == 7 ? TEXTOID : VARCHAROID;
        int32 typmod = data[1] & 1 ? 10 + VARHDRSZ : -1;
        if (nomnom::fast_input(type, typmod, text, arena, &d)) {
            FUZZ_CHECK(type == TEXTOID || typmod < 0, "varchar(n) must be checked by PostgreSQL");
            const char* p = static_cast<const char*>(DatumGetPointer(d));
            FUZZ_CHECK(VARSIZE(p) == VARHDRSZ + text.size(), t);
            FUZZ_CHECK(std::memcmp(VARDATA(p), text.data(), text.size()) == 0, t);
        }
        break;
    }
    }
    return 0;
}
