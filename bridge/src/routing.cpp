#include "routing.hpp"

#include <algorithm>

namespace bridge {

const EntityInfo* Catalog::find(const std::string& name) const {
    for (const EntityInfo& e : entities)
        if (e.name == name)
            return &e;
    return nullptr;
}

std::vector<std::string> Catalog::root_names() const {
    std::vector<std::string> out;
    for (const EntityInfo& e : entities)
        if (e.parent.empty())
            out.push_back(e.name);
    std::sort(out.begin(), out.end());
    return out;
}

std::optional<std::string> subject_for(const std::vector<std::string>& patterns,
                                       const std::string& entity) {
    for (const std::string& p : patterns) {
        if (p.empty())
            continue;
        char last = p.back();
        // The wildcard must be a whole token: "a.>" yes, "a>" no.
        if ((last == '>' || last == '*') && (p.size() == 1 || p[p.size() - 2] == '.'))
            return p.substr(0, p.size() - 1) + entity;
    }
    return std::nullopt;
}

namespace {
std::string known_list(const Catalog& catalog, bool list_known) {
    if (!list_known)
        return "the known entities are listed only to a caller with the token (or with "
               "--public-details)";
    auto roots = catalog.root_names();
    if (roots.empty())
        return "no entities are defined (nomnom.define_entity)";
    std::string out = "known entities: ";
    for (size_t i = 0; i < roots.size(); ++i)
        out += (i ? ", " : "") + roots[i];
    return out;
}
} // namespace

EntityResolution resolve_entity(const Catalog& catalog, const EntitySources& sources,
                                bool list_known) {
    EntityResolution r;
    const std::string* named = nullptr;
    for (const std::string* s : {&sources.path, &sources.query, &sources.header, &sources.document})
        if (!s->empty()) {
            named = s;
            break;
        }
    if (named == nullptr) {
        auto roots = catalog.root_names();
        if (roots.size() == 1) {
            r.entity = roots[0];
            return r;
        }
        r.kind = EntityResolution::Ambiguous;
        r.error = "no entity given (path, ?entity=, Nomnom-Entity header or the document's "
                  "entity_type); " +
                  known_list(catalog, list_known);
        return r;
    }
    r.entity = *named;
    const EntityInfo* info = catalog.find(*named);
    if (info == nullptr) {
        r.kind = EntityResolution::Unknown;
        r.error = "unknown entity '" + *named + "'; " + known_list(catalog, list_known);
    } else if (!info->parent.empty()) {
        r.kind = EntityResolution::NotRoot;
        r.error = "entity '" + *named + "' is derived" +
                  (list_known ? " from '" + info->parent + "'" : std::string()) +
                  "; post the root document instead; " + known_list(catalog, list_known);
    }
    return r;
}

Route route_path(std::string_view path) {
    Route r;
    // Tolerate one trailing slash: "/health/" is "/health".
    if (path.size() > 1 && path.back() == '/')
        path.remove_suffix(1);
    if (path == "/health") {
        r.endpoint = Endpoint::Health;
    } else if (path == "/ready") {
        r.endpoint = Endpoint::Ready;
    } else if (path == "/metrics") {
        r.endpoint = Endpoint::Metrics;
    } else if (path == "/" || path == "/index.html") {
        r.endpoint = Endpoint::Dashboard;
    } else if (path == "/api/overview") {
        r.endpoint = Endpoint::Overview;
    } else if (path == "/api/dead-letters/replay") {
        r.endpoint = Endpoint::Replay;
    } else if (path == "/stats") {
        r.endpoint = Endpoint::Stats;
    } else if (path == "/openapi.json") {
        r.endpoint = Endpoint::OpenApi;
    } else {
        struct Prefix {
            std::string_view text;
            Endpoint endpoint;
            bool arg_required;
        };
        for (Prefix p : {Prefix{"/ingest/message", Endpoint::IngestMessage, false},
                         Prefix{"/ingest/batch", Endpoint::IngestBatch, false},
                         Prefix{"/ingest/status", Endpoint::Status, true},
                         Prefix{"/api/messages", Endpoint::Message, true},
                         Prefix{"/assets", Endpoint::Dashboard, true}}) {
            if (path.substr(0, p.text.size()) != p.text)
                continue;
            std::string_view rest = path.substr(p.text.size());
            if (rest.empty() && !p.arg_required) {
                r.endpoint = p.endpoint;
            } else if (rest.size() > 1 && rest[0] == '/' &&
                       rest.find('/', 1) == std::string_view::npos) {
                r.endpoint = p.endpoint;
                r.arg = std::string(rest.substr(1));
            }
            break;
        }
    }
    return r;
}

std::vector<NdjsonLine> split_ndjson(std::string_view body, size_t max_lines) {
    std::vector<NdjsonLine> out;
    size_t number = 0, start = 0;
    while (start < body.size() && out.size() <= max_lines) {
        size_t end = body.find('\n', start);
        if (end == std::string_view::npos)
            end = body.size();
        ++number;
        std::string_view line = body.substr(start, end - start);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        bool blank = std::all_of(line.begin(), line.end(),
                                 [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; });
        if (!blank)
            out.push_back({number, line});
        start = end + 1;
    }
    return out;
}

} // namespace bridge
