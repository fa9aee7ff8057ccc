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

// The same, and no byte is a control character from 0x18 to 0x1F: what JsonDocument::parse
// checks before it lets RapidJSON scan strings 16 bytes at a time. JSON allows such a byte
// nowhere unescaped, but RapidJSON 1.1.0's SSE2 string scan only stops at bytes up to 0x19,
// so a raw 0x1A-0x1F inside a string was accepted (found by test/fuzz/json_document.cpp).
// Same cost: the bytes are tested in the same eight-byte words.
bool is_valid_utf8_json_prescan(std::string_view s);

} // namespace nomnom
