#include "api.hpp"

#include "log.hpp"
#include "nomnom/json_ptr.hpp"
#include "nomnom/message_id.hpp"

#include <chrono>
#include <thread>

namespace bridge {

using nomnom::JsonPtr;

// One document of a request: parsed and routed, then published, then (maybe) waited on.
struct Api::Doc {
    size_t line = 0;         // NDJSON line number; 0 for a single document
    std::string_view text;   // the bytes published, exactly as the client sent them
    std::string error;       // set when the document is refused or not stored
    int error_status = 400;  // 400 invalid, 503 not stored / catalog unavailable
    std::string entity;
    std::string subject;
    std::string message_id;
    PublishOutcome outcome;
    std::string status = "pending"; // from nomnom.message_status when waiting
    std::string status_error;
};

namespace {

std::string dump(json_t* value) {
    JsonPtr owned(value);
    return nomnom::dump_json(owned.get());
}

HttpResponse json_response(int status, json_t* body) {
    HttpResponse r;
    r.status = status;
    r.body = dump(body);
    return r;
}

const char* kRetryAfter = "1";

// Parses one document with the flags nomnom::JsonDocument uses, so the bridge refuses exactly
// what the worker would refuse as bad JSON (duplicate keys included). Not JsonDocument itself:
// its exact-number pass is for the mapper, and the bridge publishes the bytes as received.
JsonPtr parse_document(std::string_view text, std::string& error) {
    json_error_t json_error;
    JsonPtr root(json_loadb(text.data(), text.size(),
                            JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY,
                            &json_error));
    if (!root)
        error = std::string(json_error.text) + " (line " + std::to_string(json_error.line) +
                ", column " + std::to_string(json_error.column) + ")";
    return root;
}

} // namespace

HttpResponse json_error(int status, const std::string& message) {
    json_t* body = json_object();
    json_object_set_new(body, "error", json_string(message.c_str()));
    HttpResponse r = json_response(status, body);
    if (status == 503)
        r.headers.emplace_back("Retry-After", kRetryAfter);
    return r;
}

bool token_equals(const std::string& a, const std::string& b) {
    if (a.size() != b.size())
        return false; // the length is not the secret
    unsigned char diff = 0;
    for (size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

Api::Api(const Config& config, std::string token, CatalogService& catalog, Publisher& publisher,
         StatusRecorder& recorder, Metrics& metrics, PgPool& pool)
    : config_(config), token_(std::move(token)), catalog_(catalog), publisher_(publisher),
      recorder_(recorder), metrics_(metrics), pool_(pool) {}

HttpResponse Api::handle(const HttpRequest& request) {
    auto start = std::chrono::steady_clock::now();
    Route route = route_path(request.path);
    HttpResponse response = dispatch(request, route);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics_.observe_request(route.endpoint, response.status, seconds);
    log::debug("request", {{"method", request.method},
                           {"path", request.path},
                           {"status", std::to_string(response.status)},
                           {"ms", std::to_string(seconds * 1000)}});
    return response;
}

std::string Api::check_token(const HttpRequest& request) const {
    if (token_.empty())
        return {};
    const std::string* auth = request.header("authorization");
    const std::string prefix = "Bearer ";
    if (auth == nullptr || auth->compare(0, prefix.size(), prefix) != 0)
        return "missing bearer token (Authorization: Bearer <token>)";
    if (!token_equals(auth->substr(prefix.size()), token_))
        return "invalid token";
    return {};
}

HttpResponse Api::dispatch(const HttpRequest& request, const Route& route) {
    auto method_not_allowed = [](const char* allow) {
        HttpResponse r = json_error(405, std::string("method not allowed; use ") + allow);
        r.headers.emplace_back("Allow", allow);
        return r;
    };
    switch (route.endpoint) {
    case Endpoint::Health:
        return request.method == "GET" ? health() : method_not_allowed("GET");
    case Endpoint::Ready:
        return request.method == "GET" ? ready() : method_not_allowed("GET");
    case Endpoint::Metrics: {
        if (request.method != "GET")
            return method_not_allowed("GET");
        HttpResponse r;
        r.content_type = "text/plain; version=0.0.4";
        r.body = metrics_.render();
        return r;
    }
    case Endpoint::NotFound:
        return json_error(404, "no such endpoint: " + request.path);
    case Endpoint::IngestMessage:
    case Endpoint::IngestBatch:
    case Endpoint::Status:
        break;
    }
    // Everything under /ingest carries data: the token guards it (probes and metrics do not).
    std::string denied = check_token(request);
    if (!denied.empty()) {
        HttpResponse r = json_error(401, denied);
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return r;
    }
    if (route.endpoint == Endpoint::Status)
        return request.method == "GET" ? status(route) : method_not_allowed("GET");
    if (request.method != "POST")
        return method_not_allowed("POST");
    if (request.body_too_large)
        return json_error(413, "body larger than --max-body (" + std::to_string(config_.max_body) +
                                   " bytes)");
    return ingest(request, route, route.endpoint == Endpoint::IngestBatch);
}

HttpResponse Api::ingest(const HttpRequest& request, const Route& route, bool batch) {
    std::string received_at = now_timestamptz();
    std::shared_ptr<const Catalog> catalog = catalog_.snapshot();
    if (!catalog->loaded) {
        // Without the catalog we cannot tell a real entity from a typo, nor the subject.
        catalog = catalog_.refresh_now();
        if (!catalog->loaded)
            return json_error(503, "entity catalog not loaded: PostgreSQL unavailable (" +
                                       catalog_.last_error() + ")");
    }
    if (!publisher_.connected()) {
        metrics_.publish_failures += 1;
        return json_error(503, "NATS is not connected; message not stored");
    }

    EntitySources common;
    common.path = route.arg;
    if (const std::string* q = request.query_arg("entity"))
        common.query = *q;
    if (const std::string* h = request.header("nomnom-entity"))
        common.header = *h;
    const std::string* idempotency_key = request.header("idempotency-key");

    std::vector<Doc> docs;
    if (batch) {
        for (const NdjsonLine& line : split_ndjson(request.body)) {
            docs.emplace_back();
            docs.back().line = line.number;
            docs.back().text = line.text;
        }
        if (docs.empty())
            return json_error(400, "empty batch: send one JSON document per line");
    } else {
        docs.emplace_back();
        docs.back().text = request.body;
    }

    // Parse and route every document; refresh the catalog once if an entity is unknown.
    bool refreshed = false;
    std::vector<PublishItem> items;
    std::vector<Doc*> to_publish;
    for (Doc& doc : docs) {
        std::string parse_error;
        JsonPtr root = parse_document(doc.text, parse_error);
        if (!root) {
            doc.error = "invalid JSON: " + parse_error;
            continue;
        }
        if (!json_is_object(root.get())) {
            doc.error = "a document must be a JSON object";
            continue;
        }
        EntitySources sources = common;
        if (const json_t* type = json_object_get(root.get(), "entity_type"))
            if (json_is_string(type))
                sources.document = json_string_value(type);
        EntityResolution resolved = resolve_entity(*catalog, sources);
        if (resolved.kind == EntityResolution::Unknown && !refreshed) {
            refreshed = true; // a just-defined entity should not need to wait for the timer
            catalog = catalog_.refresh_now();
            resolved = resolve_entity(*catalog, sources);
        }
        if (resolved.kind != EntityResolution::Ok) {
            doc.error = resolved.error;
            continue;
        }
        std::optional<std::string> subject = subject_for(catalog->subjects, resolved.entity);
        if (!subject) {
            doc.error = "stream " + config_.stream + " has no subject ending in a wildcard to "
                        "publish entity " + resolved.entity + " to";
            doc.error_status = 500;
            continue;
        }
        doc.entity = resolved.entity;
        doc.subject = *subject;
        if (idempotency_key != nullptr && !idempotency_key->empty())
            doc.message_id = nomnom::message_uuid_from_id(
                batch ? *idempotency_key + ":" + std::to_string(doc.line) : *idempotency_key);
        else
            doc.message_id = nomnom::random_uuid();
        items.push_back(PublishItem{doc.subject, doc.message_id, doc.entity, doc.text});
        to_publish.push_back(&doc);
    }

    size_t rejected = docs.size() - to_publish.size();
    metrics_.rejected += rejected;

    std::vector<PublishOutcome> outcomes;
    if (!items.empty())
        outcomes = publisher_.publish(items);
    std::vector<StatusRow> rows;
    std::vector<Doc*> stored;
    bool any_not_stored = false;
    for (size_t i = 0; i < outcomes.size(); ++i) {
        Doc& doc = *to_publish[i];
        doc.outcome = std::move(outcomes[i]);
        if (!doc.outcome.stored) {
            doc.error = doc.outcome.error;
            doc.error_status = 503;
            any_not_stored = true;
            ++metrics_.publish_failures;
            continue;
        }
        if (doc.outcome.duplicate)
            ++metrics_.duplicates;
        else
            ++metrics_.published;
        rows.push_back(StatusRow{doc.message_id, doc.outcome.stream, doc.subject, doc.entity,
                                 doc.outcome.seq, received_at});
        stored.push_back(&doc);
    }
    if (!rows.empty())
        recorder_.enqueue(std::move(rows));

    const std::string* wait = request.query_arg("wait");
    bool committed = false;
    if (wait != nullptr && *wait == "committed" && !stored.empty() && !any_not_stored) {
        wait_committed(stored);
        committed = true;
        for (Doc* doc : stored)
            committed = committed && doc->status == "completed";
    }

    auto describe = [&](const Doc& doc, json_t* out) {
        json_object_set_new(out, "message_id", json_string(doc.message_id.c_str()));
        json_object_set_new(out, "status", json_string(doc.status.c_str()));
        json_object_set_new(out, "stream", json_string(doc.outcome.stream.c_str()));
        json_object_set_new(out, "seq", json_integer(static_cast<json_int_t>(doc.outcome.seq)));
        json_object_set_new(out, "duplicate", json_boolean(doc.outcome.duplicate));
        if (!doc.status_error.empty())
            json_object_set_new(out, "error", json_string(doc.status_error.c_str()));
    };

    if (!batch) {
        Doc& doc = docs[0];
        if (!doc.error.empty()) {
            HttpResponse r = json_error(doc.error_status, doc.error);
            if (doc.error_status == 503 && !doc.message_id.empty()) {
                // Tell the client which id to retry with (as Idempotency-Key) to stay exactly-once.
                json_t* body = json_object();
                json_object_set_new(body, "error", json_string(doc.error.c_str()));
                json_object_set_new(body, "message_id", json_string(doc.message_id.c_str()));
                r.body = dump(body);
            }
            return r;
        }
        json_t* body = json_object();
        describe(doc, body);
        int code = committed ? 201 : doc.status == "dead_letter" ? 422 : 202;
        return json_response(code, body);
    }

    json_t* results = json_array();
    size_t accepted = 0;
    for (const Doc& doc : docs) {
        json_t* r = json_object();
        json_object_set_new(r, "line", json_integer(static_cast<json_int_t>(doc.line)));
        if (doc.error.empty()) {
            ++accepted;
            describe(doc, r);
        } else {
            if (!doc.message_id.empty())
                json_object_set_new(r, "message_id", json_string(doc.message_id.c_str()));
            json_object_set_new(r, "error", json_string(doc.error.c_str()));
        }
        json_array_append_new(results, r);
    }
    json_t* body = json_object();
    json_object_set_new(body, "accepted", json_integer(static_cast<json_int_t>(accepted)));
    json_object_set_new(body, "failed", json_integer(static_cast<json_int_t>(docs.size() - accepted)));
    json_object_set_new(body, "results", results);
    int code = 202;
    if (any_not_stored) {
        // Some lines were not stored: never 202. The results say which lines were; a retry
        // with the same Idempotency-Key stores the rest once and the others not again.
        json_object_set_new(body, "error", json_string("JetStream did not store every line"));
        code = 503;
    } else if (accepted == 0) {
        json_object_set_new(body, "error", json_string("no line was accepted"));
        code = 400;
    } else if (committed) {
        code = 201;
    }
    HttpResponse r = json_response(code, body);
    if (code == 503)
        r.headers.emplace_back("Retry-After", kRetryAfter);
    return r;
}

void Api::wait_committed(std::vector<Doc*>& docs) {
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.wait_timeout_ms);
    std::string ids = "{";
    for (size_t i = 0; i < docs.size(); ++i)
        ids += (i ? "," : "") + docs[i]->message_id;
    ids += "}";
    std::chrono::milliseconds pause(10);
    for (;;) {
        std::string error;
        PgConn conn = pool_.acquire(error);
        if (conn) {
            const char* params[] = {ids.c_str()};
            PgResult res(PQexecParams(conn.get(),
                                      "SELECT message_id::text, status, coalesce(error, '') "
                                      "FROM nomnom.message_status WHERE message_id = ANY($1::uuid[])",
                                      1, nullptr, params, nullptr, nullptr, 0));
            if (PQresultStatus(res.get()) == PGRES_TUPLES_OK) {
                for (int i = 0; i < PQntuples(res.get()); ++i)
                    for (Doc* doc : docs)
                        if (doc->message_id == PQgetvalue(res.get(), i, 0)) {
                            doc->status = PQgetvalue(res.get(), i, 1);
                            doc->status_error = PQgetvalue(res.get(), i, 2);
                        }
            }
            pool_.release(std::move(conn));
        }
        bool settled = true;
        for (Doc* doc : docs)
            settled = settled && (doc->status == "completed" || doc->status == "dead_letter");
        if (settled)
            return;
        auto now = std::chrono::steady_clock::now();
        if (now + pause > deadline)
            return;
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(200));
    }
}

HttpResponse Api::status(const Route& route) {
    std::optional<std::string> id = nomnom::parse_uuid(route.arg);
    if (!id)
        return json_error(400, "not a UUID: " + route.arg);
    std::string error;
    PgConn conn = pool_.acquire(error);
    if (!conn)
        return json_error(503, "PostgreSQL unavailable: " + error);
    const char* params[] = {id->c_str()};
    PgResult res(PQexecParams(conn.get(),
                              "SELECT row_to_json(s)::text FROM nomnom.message_status s "
                              "WHERE message_id = $1::uuid",
                              1, nullptr, params, nullptr, nullptr, 0));
    HttpResponse r;
    if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
        r = json_error(503, "PostgreSQL: " + pg_error(res.get()));
    } else if (PQntuples(res.get()) == 0) {
        r = json_error(404, "unknown message_id " + *id);
    } else {
        r.body = PQgetvalue(res.get(), 0, 0);
    }
    pool_.release(std::move(conn));
    return r;
}

HttpResponse Api::ready() {
    std::string error;
    bool ok = publisher_.stream_ok(error);
    json_t* body = json_object();
    json_object_set_new(body, "status", json_string(ok ? "ready" : "unavailable"));
    if (!ok)
        json_object_set_new(body, "error", json_string(error.c_str()));
    HttpResponse r = json_response(ok ? 200 : 503, body);
    if (!ok)
        r.headers.emplace_back("Retry-After", kRetryAfter);
    return r;
}

HttpResponse Api::health() {
    std::vector<std::string> down;
    json_t* body = json_object();
    bool nats_ok = publisher_.connected();
    json_object_set_new(body, "nats", json_string(nats_ok ? "ok" : "down: not connected"));
    if (!nats_ok)
        down.push_back("nats");
    std::string stream_error;
    bool stream_ok = nats_ok && publisher_.stream_ok(stream_error);
    if (!nats_ok)
        stream_error = "unknown (NATS is down)";
    json_object_set_new(body, "stream",
                        json_string(stream_ok ? "ok" : ("down: " + stream_error).c_str()));
    if (!stream_ok)
        down.push_back("stream");
    bool pg_ok = catalog_.postgres_ok() && recorder_.postgres_ok();
    std::string pg_error_text = catalog_.last_error();
    if (pg_error_text.empty())
        pg_error_text = "cannot write nomnom.message_status";
    json_object_set_new(body, "postgres",
                        json_string(pg_ok ? "ok" : ("down: " + pg_error_text).c_str()));
    if (!pg_ok)
        down.push_back("postgres");
    json_object_set_new(body, "status_queue",
                        json_integer(static_cast<json_int_t>(recorder_.depth())));
    std::string summary;
    for (size_t i = 0; i < down.size(); ++i)
        summary += (i ? ", " : "") + down[i];
    json_object_set_new(body, "status", json_string(down.empty() ? "ok" : "unavailable"));
    if (!down.empty())
        json_object_set_new(body, "error", json_string(("unavailable: " + summary).c_str()));
    HttpResponse r = json_response(down.empty() ? 200 : 503, body);
    if (!down.empty())
        r.headers.emplace_back("Retry-After", kRetryAfter);
    return r;
}

} // namespace bridge
