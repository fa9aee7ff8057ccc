#include "pg_text.hpp"

#include "pg_guard.hpp"

namespace nomnom {

std::string uuid_text(const pg_uuid_t& id) {
    std::string out;
    pg_call([&] {
        out = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(const_cast<pg_uuid_t*>(&id))));
    });
    return out;
}

pg_uuid_t uuid_from_text(const std::string& text) {
    pg_uuid_t id;
    pg_call([&] {
        pg_uuid_t* parsed = DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(text.c_str())));
        id = *parsed;
    });
    return id;
}

std::string timestamptz_text(TimestampTz value) {
    std::string out;
    pg_call([&] { out = DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(value))); });
    return out;
}

} // namespace nomnom
