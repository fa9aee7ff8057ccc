// Text forms of PostgreSQL values the C++ side needs. C++-style (throws PgError).
#pragma once

#include <string>

#include "pg_prelude.hpp"

namespace nomnom {

std::string uuid_text(const pg_uuid_t& id);
pg_uuid_t uuid_from_text(const std::string& text);
std::string timestamptz_text(TimestampTz value);

} // namespace nomnom
