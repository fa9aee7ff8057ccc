// Strict UTF-8, as jansson and PostgreSQL read it: no overlong forms, no UTF-16 surrogates
// (U+D800-U+DFFF), nothing above U+10FFFF.
#pragma once

#include <cstddef>
#include <string_view>

namespace nomnom {

// The length of the valid UTF-8 sequence that starts at s[i] (a byte >= 0x80), or 0 when
// none does.
size_t utf8_sequence_length(std::string_view s, size_t i);

// Whether all of `s` is valid UTF-8. Runs of ASCII are skipped eight bytes at a time.
bool is_valid_utf8(std::string_view s);

} // namespace nomnom
