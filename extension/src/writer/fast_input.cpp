#include "writer/fast_input.hpp"

extern "C" {
#include "utils/date.h"
}

#include <algorithm>
#include <cstring>
#include <string_view>

namespace nomnom {
namespace {

static_assert(MAXIMUM_ALIGNOF <= Arena::kAlign, "Datums need PostgreSQL's alignment");

// Digits only, at least one and at most `max_digits`, with an optional leading '-'.
bool simple_integer(std::string_view text, size_t max_digits, int64* out) {
    size_t start = !text.empty() && text[0] == '-' ? 1 : 0;
    size_t digits = text.size() - start;
    if (digits == 0 || digits > max_digits)
        return false;
    int64 value = 0;
    for (size_t i = start; i < text.size(); ++i) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        value = value * 10 + (text[i] - '0');
    }
    *out = start ? -value : value;
    return true;
}

Datum text_datum(std::string_view text, Arena& arena) {
    size_t size = VARHDRSZ + text.size();
    auto* value = static_cast<struct varlena*>(arena.allocate(size));
    SET_VARSIZE(value, size);
    std::memcpy(VARDATA(value), text.data(), text.size());
    return PointerGetDatum(value);
}

// numeric's on-disk layout (PostgreSQL's numeric.c, the same since 9.1): a varlena whose
// header word is either short (sign, display scale and weight packed in 16 bits) or long
// (sign and scale, then the weight), followed by base-10000 digits with no leading or
// trailing zero digit.
constexpr int kDecDigits = 4; // decimal digits per NumericDigit
constexpr uint16 kNumericPos = 0x0000;
constexpr uint16 kNumericNeg = 0x4000;
constexpr uint16 kNumericShort = 0x8000;
constexpr uint16 kShortSignMask = 0x2000;
constexpr int kShortDscaleShift = 7;
constexpr int kShortDscaleMax = 0x1F80 >> kShortDscaleShift;
constexpr uint16 kShortWeightSignMask = 0x0040;
constexpr uint16 kShortWeightMask = 0x003F;
constexpr int kShortWeightMax = 63;
constexpr int kShortWeightMin = -64;
constexpr uint16 kDscaleMask = 0x3FFF;
constexpr size_t kMaxNumericDigits = 1000; // longer texts go to numeric_in

// numeric_in for `[-]digits[.digits]`, without rounding: declined when the text has more
// fraction digits than the typmod's scale, or more integer digits than it allows (an error),
// and for the unusual modifiers (negative scale, scale above precision). The writer's
// statements promise the column's modifier (batch_rows.hpp): no cast checks it again.
bool numeric_datum(std::string_view text, int32 typmod, Arena& arena, Datum* out) {
    bool negative = !text.empty() && text[0] == '-';
    size_t start = negative ? 1 : 0;
    size_t point = text.find('.', start);
    std::string_view all = text;
    std::string_view integer = all.substr(start, point == std::string_view::npos ? std::string_view::npos : point - start);
    std::string_view fraction = point == std::string_view::npos ? std::string_view() : all.substr(point + 1);
    if (integer.empty() || (point != std::string_view::npos && fraction.empty()) ||
        integer.size() + fraction.size() > kMaxNumericDigits)
        return false;
    for (std::string_view part : {integer, fraction})
        for (char c : part)
            if (c < '0' || c > '9')
                return false;
    int dscale = static_cast<int>(fraction.size());
    size_t significant = integer.find_first_not_of('0');
    size_t integer_digits = significant == std::string_view::npos ? 0 : integer.size() - significant;
    if (typmod >= static_cast<int32>(VARHDRSZ)) {
        int32 packed = typmod - VARHDRSZ;
        int precision = (packed >> 16) & 0xFFFF;
        int scale = ((packed & 0x7FF) ^ 1024) - 1024;
        if (scale < 0 || scale > precision || dscale > scale ||
            integer_digits > static_cast<size_t>(precision - scale))
            return false;
        dscale = scale;
    }
    // Base-10000 digits aligned on the decimal point, as numeric.c's set_var_from_str.
    int dweight = static_cast<int>(integer.size()) - 1;
    int weight = (dweight + 1 + kDecDigits - 1) / kDecDigits - 1;
    size_t offset = static_cast<size_t>((weight + 1) * kDecDigits - (dweight + 1));
    size_t decimal_digits = integer.size() + fraction.size();
    size_t ndigits = (decimal_digits + offset + kDecDigits - 1) / kDecDigits;
    // ndigits at most; only those zeroed (the whole array was a 504-byte memset a value,
    // most of the conversion of a price: bench/README.md, item 29).
    int16 digits[kMaxNumericDigits / kDecDigits + 2];
    std::fill(digits, digits + ndigits, int16(0));
    for (size_t i = 0; i < decimal_digits; ++i) {
        char c = i < integer.size() ? integer[i] : fraction[i - integer.size()];
        size_t position = i + offset; // in the zero-padded decimal digits
        static constexpr int16 kPlace[kDecDigits] = {1000, 100, 10, 1};
        digits[position / kDecDigits] = static_cast<int16>(digits[position / kDecDigits] +
                                                           (c - '0') * kPlace[position % kDecDigits]);
    }
    // Strip leading and trailing zero digits (make_result); zero is positive, weight 0.
    size_t first = 0, last = ndigits;
    while (first < last && digits[first] == 0) {
        ++first;
        --weight;
    }
    while (last > first && digits[last - 1] == 0)
        --last;
    uint16 sign = negative ? kNumericNeg : kNumericPos;
    if (first == last) {
        weight = 0;
        sign = kNumericPos;
    }
    size_t count = last - first;
    bool is_short = dscale <= kShortDscaleMax && weight <= kShortWeightMax && weight >= kShortWeightMin;
    size_t header = VARHDRSZ + sizeof(uint16) + (is_short ? 0 : sizeof(int16));
    size_t size = header + count * sizeof(int16);
    char* value = static_cast<char*>(arena.allocate(size));
    SET_VARSIZE(value, size);
    uint16 word;
    if (is_short) {
        word = static_cast<uint16>((sign == kNumericNeg ? (kNumericShort | kShortSignMask) : kNumericShort) |
                                   (dscale << kShortDscaleShift) |
                                   (weight < 0 ? kShortWeightSignMask : 0) | (weight & kShortWeightMask));
        std::memcpy(value + VARHDRSZ, &word, sizeof word);
    } else {
        word = static_cast<uint16>(sign | (dscale & kDscaleMask));
        int16 long_weight = static_cast<int16>(weight);
        std::memcpy(value + VARHDRSZ, &word, sizeof word);
        std::memcpy(value + VARHDRSZ + sizeof word, &long_weight, sizeof long_weight);
    }
    std::memcpy(value + header, digits + first, count * sizeof(int16));
    *out = PointerGetDatum(value);
    return true;
}

// The Julian day number of a Gregorian date (the same arithmetic as PostgreSQL's date2j).
int julian_day(int year, int month, int day) {
    if (month > 2) {
        month += 1;
        year += 4800;
    } else {
        month += 13;
        year += 4799;
    }
    int century = year / 100;
    int julian = year * 365 - 32167;
    julian += year / 4 - century + century / 4;
    julian += 7834 * month / 256 + day;
    return julian;
}

bool leap_year(int year) {
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

} // namespace

bool iso_date(std::string_view text, Datum* out) {
    static constexpr int kDaysInMonth[2][12] = {{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31},
                                                {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}};
    if (text.size() != 10 || text[4] != '-' || text[7] != '-')
        return false;
    auto number = [&](size_t from, size_t length, int& value) {
        value = 0;
        for (size_t i = from; i < from + length; ++i) {
            if (text[i] < '0' || text[i] > '9')
                return false;
            value = value * 10 + (text[i] - '0');
        }
        return true;
    };
    int year, month, day;
    if (!number(0, 4, year) || !number(5, 2, month) || !number(8, 2, day) || year < 1000 ||
        month < 1 || month > 12 || day < 1 || day > kDaysInMonth[leap_year(year) ? 1 : 0][month - 1])
        return false;
    *out = DateADTGetDatum(julian_day(year, month, day) - POSTGRES_EPOCH_JDATE);
    return true;
}

bool fast_input(Oid type_oid, int32 typmod, std::string_view text, Arena& arena, Datum* out) {
    int64 integer;
    switch (type_oid) {
    case TEXTOID:
        *out = text_datum(text, arena);
        return true;
    case VARCHAROID: // varchar(n) checks the length: declined
        if (typmod >= 0)
            return false;
        *out = text_datum(text, arena);
        return true;
    case INT2OID:
        if (!simple_integer(text, 4, &integer))
            return false;
        *out = Int16GetDatum(static_cast<int16>(integer));
        return true;
    case INT4OID:
        if (!simple_integer(text, 9, &integer))
            return false;
        *out = Int32GetDatum(static_cast<int32>(integer));
        return true;
    case INT8OID:
        if (!simple_integer(text, 18, &integer))
            return false;
        *out = Int64GetDatum(integer);
        return true;
    case BOOLOID:
        if (text == "true" || text == "t") {
            *out = BoolGetDatum(true);
            return true;
        }
        if (text == "false" || text == "f") {
            *out = BoolGetDatum(false);
            return true;
        }
        return false;
    case DATEOID:
        return iso_date(text, out);
    case NUMERICOID:
        return numeric_datum(text, typmod, arena, out);
    default:
        return false;
    }
}

} // namespace nomnom
