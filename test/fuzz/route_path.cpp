// The bridge's path routing (route_path) against a reference built from the endpoint table,
// and entity resolution and subject derivation on the routed argument: never a crash, an
// error for every refusal, and never the entity list for a caller without the token.
#include "fuzz_common.hpp"
#include "routing.hpp"

using namespace bridge;

namespace {

Route reference(std::string path) {
    Route r;
    if (path.size() > 1 && path.back() == '/')
        path.pop_back();
    if (path == "/health")
        r.endpoint = Endpoint::Health;
    else if (path == "/ready")
        r.endpoint = Endpoint::Ready;
    else if (path == "/metrics")
        r.endpoint = Endpoint::Metrics;
    else if (path == "/" || path == "/index.html")
        r.endpoint = Endpoint::Dashboard;
    else if (path == "/api/overview")
        r.endpoint = Endpoint::Overview;
    else if (path == "/api/dead-letters/replay")
        r.endpoint = Endpoint::Replay;
    else if (path == "/stats")
        r.endpoint = Endpoint::Stats;
    else if (path == "/openapi.json")
        r.endpoint = Endpoint::OpenApi;
    if (r.endpoint != Endpoint::NotFound)
        return r;
    struct Row {
        const char* prefix;
        Endpoint endpoint;
        bool needs_arg;
    };
    for (Row row : {Row{"/ingest/message", Endpoint::IngestMessage, false},
                    Row{"/ingest/batch", Endpoint::IngestBatch, false},
                    Row{"/ingest/status", Endpoint::Status, true},
                    Row{"/api/messages", Endpoint::Message, true},
                    Row{"/assets", Endpoint::Dashboard, true}}) {
        std::string prefix = row.prefix;
        if (path == prefix && !row.needs_arg) {
            r.endpoint = row.endpoint;
        } else if (path.rfind(prefix + "/", 0) == 0) {
            std::string arg = path.substr(prefix.size() + 1);
            if (!arg.empty() && arg.find('/') == std::string::npos) {
                r.endpoint = row.endpoint;
                r.arg = arg;
            }
        }
    }
    return r;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string path(as_text(data, size));
    Route got = route_path(path);
    Route expected = reference(path);
    FUZZ_CHECK(got.endpoint == expected.endpoint && got.arg == expected.arg,
               "route of '" + path + "'");

    Catalog catalog;
    catalog.loaded = true;
    catalog.entities = {{"Order", ""}, {"Customer", ""}, {"OrderLineItem", "Order"}};
    EntitySources sources;
    sources.path = got.arg;
    for (bool list_known : {true, false}) {
        EntityResolution r = resolve_entity(catalog, sources, list_known);
        if (r.kind == EntityResolution::Ok) {
            FUZZ_CHECK(catalog.find(r.entity) != nullptr && catalog.find(r.entity)->parent.empty(),
                       "resolved to a non-root: " + r.entity);
            FUZZ_CHECK(r.entity == got.arg, r.entity);
            std::optional<std::string> subject = subject_for({"messages.ingest.>"}, r.entity);
            FUZZ_CHECK(subject && *subject == "messages.ingest." + r.entity, r.entity);
        } else {
            FUZZ_CHECK(!r.error.empty(), "a refusal without a message");
            if (!list_known)
                FUZZ_CHECK(r.error.find("Customer") == std::string::npos ||
                               got.arg.find("Customer") != std::string::npos,
                           "the entity list shown without the token: " + r.error);
        }
    }
    return 0;
}
