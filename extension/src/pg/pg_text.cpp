#include "pg/pg_text.hpp"

#include "pg/pg_guard.hpp"

namespace nomnom {

std::string uuid_text(const pg_uuid_t& id) {
    std::string out;
    pg_call([&] {
        out = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(const_cast<pg_uuid_t*>(&id))));
    });
    return out;
}

std::string timestamptz_text(TimestampTz value) {
    std::string out;
    pg_call([&] { out = DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(value))); });
    return out;
}

} // namespace nomnom
