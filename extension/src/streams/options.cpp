#include <cstring>
#include <new>
#include <string>

#include "streams/options.hpp"

#include "nomnom/nats_connect.hpp"
#include "nomnom/stream_options.hpp"
#include "pg/pg_guard.hpp"

namespace nomnom {

void parse_options_or_raise(const char* json, StreamOptions& out, const char* prefix) {
    run_guarded([&] {
        std::string error;
        if (!parse_stream_options(json, out, error))
            throw DataError(std::string(prefix) + ": " + error, ERRCODE_INVALID_PARAMETER_VALUE);
    });
}

StreamOptions* palloc_options() {
    void* memory = palloc(sizeof(StreamOptions));
    StreamOptions* options = nullptr;
    run_guarded([&] { options = new (memory) StreamOptions(); });
    auto* callback = static_cast<MemoryContextCallback*>(palloc0(sizeof(MemoryContextCallback)));
    callback->func = [](void* arg) { static_cast<StreamOptions*>(arg)->~StreamOptions(); };
    callback->arg = options;
    MemoryContextRegisterResetCallback(CurrentMemoryContext, callback);
    return options;
}

char* redacted_nats_url(const StreamOptions& options) {
    char* out = nullptr;
    run_guarded([&] { out = pstrdup(redact_urls(options.nats_url).c_str()); });
    return out;
}

int nats_connect_errcode(const char* err) {
    if (strstr(err, "authorization failed") != nullptr)
        return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
    if (strstr(err, "cannot connect to NATS at") != nullptr)
        return ERRCODE_INVALID_PARAMETER_VALUE; // the options or a file they name
    return ERRCODE_CONNECTION_FAILURE;
}

} // namespace nomnom
