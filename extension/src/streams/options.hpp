// Stream options (the core's StreamOptions) from PostgreSQL-style code.
#pragma once

#include "pg/pg_prelude.hpp"

namespace nomnom {
struct StreamOptions;

// Parses the options' JSON text into `out`. PostgreSQL-style: a problem raises ERROR
// (invalid_parameter_value) with the message "<prefix>: <what is wrong>".
void parse_options_or_raise(const char* json, StreamOptions& out, const char* prefix);

// A StreamOptions in the current memory context, destroyed when the context is reset or
// deleted, so that an ERROR never leaks it.
StreamOptions* palloc_options();

} // namespace nomnom
