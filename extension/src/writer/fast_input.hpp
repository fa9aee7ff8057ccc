// Input functions of the most common column types in plain C++, so that the worker's
// prefetch thread can turn a batch's text into Datums while the backend writes the last
// batch (bench/README.md, "Why the code is so"). Each gives exactly the Datum
// PostgreSQL's own input function gives for the same text, or declines: then the backend
// calls the type's input function, which also reports any error. Only canonical forms are
// taken (e.g. `-12.50`, `2025-03-01`, `true`); anything else is declined.
//
// No PostgreSQL function is called: safe on any thread.
#pragma once

#include <string_view>

#include "nomnom/arena.hpp"
#include "pg/pg_prelude.hpp"

namespace nomnom {

// The Datum of `text` for a column of type `type_oid` with `typmod`; false when declined.
// Pass-by-reference Datums (text, numeric) are allocated in `arena`.
bool fast_input(Oid type_oid, int32 typmod, std::string_view text, Arena& arena, Datum* out);

// A canonical `YYYY-MM-DD` of years 1000 to 9999 as a date Datum; false otherwise.
bool iso_date(std::string_view text, Datum* out);

} // namespace nomnom
