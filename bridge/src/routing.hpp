// Where a request goes: which endpoint, which entity, which subject. Pure functions over a
// snapshot of the catalog, so every rule is unit-tested without HTTP, NATS or PostgreSQL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bridge {

// The subjects nomnom.create_stream uses when nothing else is configured.
inline const char* const kDefaultSubject = "messages.ingest.>";

struct EntityInfo {
    std::string name;
    std::string parent; // empty for a root entity
};

// What the bridge knows from nomnom.streams and nomnom.entities at one moment.
struct Catalog {
    bool loaded = false;          // read from the database at least once
    bool default_subjects = true; // nomnom.streams had no row for the stream
    std::vector<std::string> subjects{kDefaultSubject};
    std::vector<EntityInfo> entities;

    const EntityInfo* find(const std::string& name) const;
    std::vector<std::string> root_names() const; // sorted
};

// The subject for `entity`: the first pattern ending in a `>` or `*` token, with that
// token replaced by the entity ("messages.ingest.>" -> "messages.ingest.Order").
std::optional<std::string> subject_for(const std::vector<std::string>& patterns,
                                       const std::string& entity);

// Where a request may name its entity, highest precedence first.
struct EntitySources {
    std::string path;     // /ingest/message/{entity}
    std::string query;    // ?entity=
    std::string header;   // Nomnom-Entity
    std::string document; // the document's "entity_type"
};

struct EntityResolution {
    enum Kind { Ok, Unknown, NotRoot, Ambiguous };
    Kind kind = Ok;
    std::string entity; // Ok: the entity; Unknown/NotRoot: the name asked for
    std::string error;  // a message for the client, naming the known root entities
};

// Path, then ?entity=, then header, then the document's entity_type; when none is given
// and exactly one root entity exists, that one. Only root entities can be ingested.
// `list_known`: the error names the known root entities (for an authenticated caller);
// otherwise it says only what was wrong with the name given.
EntityResolution resolve_entity(const Catalog& catalog, const EntitySources& sources,
                                bool list_known = true);

enum class Endpoint {
    IngestMessage,
    IngestBatch,
    Status,
    Health,
    Ready,
    Metrics,
    NotFound,
    // The operator's console (console.hpp)
    Dashboard, // GET /, and its embedded assets /assets/{name}
    Overview,  // GET /api/overview
    Message,   // GET /api/messages/{id}
    Replay,    // POST /api/dead-letters/replay
    Stats,     // GET /stats
    OpenApi,   // GET /openapi.json
};

struct Route {
    Endpoint endpoint = Endpoint::NotFound;
    std::string
        arg; // the entity of /ingest/{message,batch}/{entity}, the id of /ingest/status/{id}
             // and /api/messages/{id}, the file of /assets/{name} ("" for the page itself)
};

Route route_path(std::string_view path);

// One non-blank line of an NDJSON body; `number` counts every line from 1, blank ones too,
// so an error names the line an editor shows.
struct NdjsonLine {
    size_t number;
    std::string_view text;
};

// Splits on '\n' (a trailing '\r' is dropped); blank lines are skipped. Stops after
// max_lines + 1 lines: more than max_lines in the result means the body has too many.
std::vector<NdjsonLine> split_ndjson(std::string_view body, size_t max_lines = SIZE_MAX);

} // namespace bridge
