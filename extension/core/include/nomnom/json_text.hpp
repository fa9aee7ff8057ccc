// Small JSON text helpers that keep jansson out of headers included next to PostgreSQL's
// (PostgreSQL declares a json_object() of its own).
#pragma once

#include <string>
#include <string_view>

namespace nomnom {

// `text` as a JSON string literal, quoted and escaped.
std::string json_quote(std::string_view text);

} // namespace nomnom
