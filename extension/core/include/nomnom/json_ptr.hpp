// Owning handles for jansson values, so the pure C++ core never leaks a reference.
#pragma once

#include <jansson.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace nomnom {

struct JsonDecref {
    void operator()(json_t* value) const { json_decref(value); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

// A new empty JSON object. Use it instead of json_object(): inside the extension that name
// resolves to the PostgreSQL server's own SQL function json_object(), which the server
// executable exports and the dynamic linker prefers to jansson's.
json_t* new_json_object();

// Compact JSON text of a value (any value, not only objects and arrays).
inline std::string dump_json(const json_t* value) {
    char* text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    std::string out = text != nullptr ? text : "null";
    // jansson made the text with its allocator, which may not be malloc (json_arena.hpp).
    json_malloc_t jansson_malloc;
    json_free_t jansson_free;
    json_get_alloc_funcs(&jansson_malloc, &jansson_free);
    jansson_free(text);
    return out;
}

} // namespace nomnom
