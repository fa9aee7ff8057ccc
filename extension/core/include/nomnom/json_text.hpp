// Small JSON text helpers that keep jansson out of headers included next to PostgreSQL's
// (PostgreSQL declares a json_object() of its own).
#pragma once

#include <string>
#include <string_view>

namespace nomnom {

// Appends `text` as a JSON string literal, quoted and escaped as jansson escapes (the one
// JSON string writer of the core, the extension and the bridge). Bytes that are not UTF-8
// are copied as they are, or become U+FFFD with `replace_invalid_utf8`.
void append_json_string(std::string& out, std::string_view text, bool replace_invalid_utf8 = false);

// `text` as a JSON string literal, quoted and escaped.
std::string json_quote(std::string_view text);

} // namespace nomnom
