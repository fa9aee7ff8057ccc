// Text forms of PostgreSQL values the C++ side needs. C++-style (throws PgError).
#pragma once

#include <string>

#include "pg/pg_prelude.hpp"

namespace nomnom {

std::string uuid_text(const pg_uuid_t& id);
std::string timestamptz_text(TimestampTz value);

} // namespace nomnom
