#include "api.hpp"

#include "console_assets.hpp"
#include "json_check.hpp"
#include "json_out.hpp"
#include "log.hpp"
#include "nomnom/message_id.hpp"

#include <chrono>
#include <thread>
#include <unordered_map>

namespace bridge {

// One document of a request: parsed and routed, then published, then (maybe) waited on.
struct Api::Doc {
    size_t line = 0;        // NDJSON line number; 0 for a single document
    std::string_view text;  // the bytes published, exactly as the client sent them
    std::string error;      // set when the document is refused or not stored
    int error_status = 400; // 400 invalid, 503 not stored / catalog unavailable
    std::string entity;
    std::string subject;
    std::string message_id;
    PublishOutcome outcome;
    std::string status = "pending"; // from nomnom.message_status when waiting
    std::string status_error;
};

namespace {

HttpResponse json_response(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

const char* kRetryAfter = "1";

} // namespace

HttpResponse json_error(int status, const std::string& message) {
    JsonWriter w;
    w.begin_object().field("error", message).end_object();
    HttpResponse r = json_response(status, w.take());
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
         StatusRecorder& recorder, Metrics& metrics, PgPool& pool, Console* console)
    : config_(config), token_(std::move(token)), catalog_(catalog), publisher_(publisher),
      recorder_(recorder), metrics_(metrics), pool_(pool), console_(console) {}

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

bool Api::needs_token(const Route& route) const {
    switch (route.endpoint) {
    case Endpoint::IngestMessage:
    case Endpoint::IngestBatch:
    case Endpoint::Status:
    case Endpoint::Overview: // the console's data: latest rows, dead letters, replays
    case Endpoint::Message:
    case Endpoint::Replay:
        return true;
    case Endpoint::Metrics:
    case Endpoint::Stats: // the same counts as /metrics
        return !config_.public_details;
    default:
        return false; // /health answers without the token, with its details behind it
    }
}

HttpResponse Api::unauthorized(const std::string& why) const {
    HttpResponse r = json_error(401, why);
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
}

std::optional<HttpResponse> Api::check_headers(const HttpRequest& request) {
    if (token_.empty())
        return std::nullopt;
    auto start = std::chrono::steady_clock::now();
    Route route = route_path(request.path);
    if (!needs_token(route))
        return std::nullopt;
    std::string denied = check_token(request);
    if (denied.empty())
        return std::nullopt;
    HttpResponse r = unauthorized(denied);
    metrics_.observe_request(
        route.endpoint, r.status,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return r;
}

HttpResponse Api::dispatch(const HttpRequest& request, const Route& route) {
    auto method_not_allowed = [](const char* allow) {
        HttpResponse r = json_error(405, std::string("method not allowed; use ") + allow);
        r.headers.emplace_back("Allow", allow);
        return r;
    };
    // The token: /ingest and /api carry data; /metrics, /stats and /health's details tell
    // about the system (ready is a bare probe). --public-details opens the latter three.
    std::string denied = token_.empty() ? std::string() : check_token(request);
    bool authenticated = !token_.empty() && denied.empty();
    if (!denied.empty() && needs_token(route))
        return unauthorized(denied);
    switch (route.endpoint) {
    case Endpoint::Health:
        return request.method == "GET"
                   ? health(token_.empty() || authenticated || config_.public_details)
                   : method_not_allowed("GET");
    case Endpoint::Ready:
        return request.method == "GET" ? ready() : method_not_allowed("GET");
    case Endpoint::Metrics: {
        if (request.method != "GET")
            return method_not_allowed("GET");
        HttpResponse r;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = metrics_.render();
        if (console_ != nullptr)
            r.body += console_->render_metrics();
        return r;
    }
    case Endpoint::NotFound:
        return json_error(404, "no such endpoint: " + request.path);
    case Endpoint::Dashboard:
    case Endpoint::Overview:
    case Endpoint::Message:
    case Endpoint::Replay:
    case Endpoint::Stats:
    case Endpoint::OpenApi:
        return console(request, route);
    case Endpoint::IngestMessage:
    case Endpoint::IngestBatch:
    case Endpoint::Status:
        break;
    }
    if (route.endpoint == Endpoint::Status)
        return request.method == "GET" ? status(route) : method_not_allowed("GET");
    if (request.method != "POST")
        return method_not_allowed("POST");
    if (request.body_too_large)
        return json_error(413, "body larger than --max-body (" + std::to_string(config_.max_body) +
                                   " bytes)");
    return ingest(request, route, route.endpoint == Endpoint::IngestBatch, authenticated);
}

HttpResponse Api::ingest(const HttpRequest& request, const Route& route, bool batch,
                         bool authenticated) {
    // Only a caller with the token (or --public-details) learns the names of the entities.
    bool list_known = authenticated || config_.public_details;
    int64_t received_at = now_unix_micros();
    std::shared_ptr<const Catalog> catalog = catalog_.snapshot();
    if (!catalog->loaded) {
        // Without the catalog we cannot tell a real entity from a typo, nor the subject.
        catalog = catalog_.refresh_now();
        if (!catalog->loaded)
            return json_error(503, "entity catalog not loaded: PostgreSQL unavailable (" +
                                       catalog_.last_error() + ")");
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
        std::vector<NdjsonLine> lines = split_ndjson(request.body, config_.max_batch_lines);
        if (lines.size() > config_.max_batch_lines)
            return json_error(413, "batch has more than --max-batch-lines (" +
                                       std::to_string(config_.max_batch_lines) +
                                       ") lines: send it in smaller requests");
        docs.reserve(lines.size());
        for (const NdjsonLine& line : lines) {
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
    JsonChecker checker;
    // The subject of the entity before, looked up again only when a line names another one.
    std::string last_entity;
    std::optional<std::string> last_subject;
    std::vector<PublishItem> items;
    std::vector<Doc*> to_publish;
    items.reserve(docs.size());
    to_publish.reserve(docs.size());
    for (Doc& doc : docs) {
        if (batch && doc.text.size() > config_.max_line_bytes) {
            doc.error = "line of " + std::to_string(doc.text.size()) +
                        " bytes is over --max-line-bytes (" +
                        std::to_string(config_.max_line_bytes) + ")";
            continue;
        }
        // Validated, not parsed: the bytes are published as received (json_check.hpp).
        JsonCheck checked = checker.check(doc.text);
        if (!checked.ok) {
            doc.error = "invalid JSON: " + checked.error;
            continue;
        }
        if (!checked.is_object) {
            doc.error = "a document must be a JSON object";
            continue;
        }
        EntitySources sources = common;
        sources.document = std::move(checked.entity_type);
        EntityResolution resolved = resolve_entity(*catalog, sources, list_known);
        if (resolved.kind == EntityResolution::Unknown && !refreshed) {
            refreshed = true; // a just-defined entity should not need to wait for the timer
            catalog = catalog_.refresh_now();
            last_subject.reset(); // the new catalog's subjects
            resolved = resolve_entity(*catalog, sources, list_known);
        }
        if (resolved.kind != EntityResolution::Ok) {
            doc.error = resolved.error;
            continue;
        }
        if (!last_subject || resolved.entity != last_entity) {
            last_subject = subject_for(catalog->subjects, resolved.entity);
            last_entity = resolved.entity;
        }
        const std::optional<std::string>& subject = last_subject;
        if (!subject) {
            doc.error = "stream " + config_.stream +
                        " has no subject ending in a wildcard to "
                        "publish entity " +
                        resolved.entity + " to";
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
        items.push_back(
            PublishItem{doc.subject.c_str(), doc.message_id.c_str(), doc.entity.c_str(), doc.text});
        to_publish.push_back(&doc);
    }

    size_t rejected = docs.size() - to_publish.size();
    metrics_.rejected += rejected;

    // While NATS is away the publisher fails each item at once ("not connected"): a bad
    // document still gets its 400, a good one a 503, never a 202.
    std::vector<PublishOutcome> outcomes;
    if (!items.empty())
        outcomes = publisher_.publish(items);
    std::vector<StatusRow> rows;
    std::vector<Doc*> stored;
    rows.reserve(outcomes.size());
    stored.reserve(outcomes.size());
    bool any_not_stored = false;
    for (size_t i = 0; i < outcomes.size(); ++i) {
        Doc& doc = *to_publish[i];
        doc.outcome = std::move(outcomes[i]);
        if (!doc.outcome.stored) {
            doc.error = doc.outcome.error;
            doc.error_status = doc.outcome.http_status;
            any_not_stored = true;
            ++metrics_.publish_failures;
            continue;
        }
        if (doc.outcome.duplicate)
            ++metrics_.duplicates;
        else
            ++metrics_.published;
        rows.push_back(StatusRow{doc.message_id, doc.outcome.stream, doc.subject, doc.entity,
                                 doc.outcome.seq, received_at, doc.outcome.duplicate});
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

    auto describe = [&](const Doc& doc, JsonWriter& w) {
        w.field("message_id", doc.message_id)
            .field("status", doc.status)
            .field("stream", doc.outcome.stream)
            .field("seq", static_cast<uint64_t>(doc.outcome.seq))
            .field("duplicate", doc.outcome.duplicate);
        if (!doc.status_error.empty())
            w.field("error", doc.status_error);
    };

    JsonWriter w;
    if (!batch) {
        Doc& doc = docs[0];
        if (!doc.error.empty()) {
            HttpResponse r = json_error(doc.error_status, doc.error);
            if (doc.error_status == 503 && !doc.message_id.empty()) {
                // Tell the client which id to retry with (as Idempotency-Key) to stay exactly-once.
                w.begin_object()
                    .field("error", doc.error)
                    .field("message_id", doc.message_id)
                    .end_object();
                r.body = w.take();
            }
            return r;
        }
        w.begin_object();
        describe(doc, w);
        w.end_object();
        int code = committed ? 201 : doc.status == "dead_letter" ? 422 : 202;
        return json_response(code, w.take());
    }

    size_t accepted = 0;
    for (const Doc& doc : docs)
        accepted += doc.error.empty() ? 1 : 0;
    int code = 202;
    w.begin_object();
    if (any_not_stored) {
        // Some lines were not stored: never 202. The results say which lines were; a retry
        // with the same Idempotency-Key stores the rest once and the others not again.
        w.field("error", "JetStream did not store every line");
        code = 503;
    } else if (accepted == 0) {
        w.field("error", "no line was accepted");
        code = 400;
    } else if (committed) {
        code = 201;
    }
    w.field("accepted", static_cast<uint64_t>(accepted))
        .field("failed", static_cast<uint64_t>(docs.size() - accepted));
    w.buffer().reserve(docs.size() * 160);
    w.begin_array("results");
    for (const Doc& doc : docs) {
        w.begin_object().field("line", static_cast<uint64_t>(doc.line));
        if (doc.error.empty()) {
            describe(doc, w);
        } else {
            if (!doc.message_id.empty())
                w.field("message_id", doc.message_id);
            w.field("error", doc.error);
        }
        w.end_object();
    }
    w.end_array().end_object();
    HttpResponse r = json_response(code, w.take());
    if (code == 503)
        r.headers.emplace_back("Retry-After", kRetryAfter);
    return r;
}

void Api::wait_committed(std::vector<Doc*>& docs) {
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.wait_timeout_ms);
    std::string ids = "{";
    std::unordered_map<std::string, Doc*> by_id;
    for (size_t i = 0; i < docs.size(); ++i) {
        ids += (i ? "," : "") + docs[i]->message_id;
        by_id.emplace(docs[i]->message_id, docs[i]);
    }
    ids += "}";
    std::chrono::milliseconds pause(10);
    for (;;) {
        std::string error;
        PgConn conn = pool_.acquire(error);
        if (conn) {
            const char* params[] = {ids.c_str()};
            PgResult res(
                PQexecParams(conn.get(),
                             "SELECT message_id::text, status, coalesce(error, '') "
                             "FROM nomnom.message_status WHERE message_id = ANY($1::uuid[])",
                             1, nullptr, params, nullptr, nullptr, 0));
            if (PQresultStatus(res.get()) == PGRES_TUPLES_OK) {
                for (int i = 0; i < PQntuples(res.get()); ++i) {
                    auto it = by_id.find(PQgetvalue(res.get(), i, 0));
                    if (it != by_id.end()) {
                        it->second->status = PQgetvalue(res.get(), i, 1);
                        it->second->status_error = PQgetvalue(res.get(), i, 2);
                    }
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

// The message_status row, its status `processing` while a worker writes the batch that holds
// it (nomnom.message_processing reads the workers' shared memory; the worker's claim of the
// row is not committed yet, so the row may still read pending, or not be there at all when
// the bridge's pending row is still on its way). A database whose
// extension predates that function gets the row as stored; asked again a minute later.
PgResult Api::query_status(PGconn* conn, const char* const* params) {
    static const char* kWithProcessing =
        "SELECT CASE WHEN s.message_id IS NULL "
        "THEN jsonb_build_object('message_id', q.id, 'status', 'processing') "
        "WHEN s.status IN ('pending', 'failed') AND nomnom.message_processing(q.id) "
        "THEN jsonb_set(to_jsonb(s), '{status}', '\"processing\"') ELSE to_jsonb(s) END::text "
        "FROM (SELECT $1::uuid AS id) q LEFT JOIN nomnom.message_status s ON s.message_id = q.id "
        "WHERE s.message_id IS NOT NULL OR nomnom.message_processing(q.id)";
    static const char* kPlain =
        "SELECT to_jsonb(s)::text FROM nomnom.message_status s WHERE message_id = $1::uuid";
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    bool try_processing = no_processing_until_.load() <= now;
    PgResult res(PQexecParams(conn, try_processing ? kWithProcessing : kPlain, 1, nullptr, params,
                              nullptr, nullptr, 0));
    const char* state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
    if (try_processing && PQresultStatus(res.get()) != PGRES_TUPLES_OK && state != nullptr &&
        std::string(state) == "42883") { // undefined_function
        no_processing_until_ =
            now + std::chrono::steady_clock::duration(std::chrono::minutes(1)).count();
        res.reset(PQexecParams(conn, kPlain, 1, nullptr, params, nullptr, nullptr, 0));
    }
    return res;
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
    PgResult res = query_status(conn.get(), params);
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

std::string Api::bridge_json() const {
    JsonWriter w;
    w.begin_object()
        .field("stream", config_.stream)
        .field("auth", !token_.empty())
        .field("nats_connected", publisher_.connected())
        .field("postgres_ok", catalog_.postgres_ok() && recorder_.postgres_ok())
        .field("published", metrics_.published.load())
        .field("duplicates", metrics_.duplicates.load())
        .field("publish_failures", metrics_.publish_failures.load())
        .field("rejected", metrics_.rejected.load())
        .field("status_queue", static_cast<uint64_t>(recorder_.depth()))
        .end_object();
    return w.take();
}

HttpResponse Api::console(const HttpRequest& request, const Route& route) {
    auto method_not_allowed = [](const char* allow) {
        HttpResponse r = json_error(405, std::string("method not allowed; use ") + allow);
        r.headers.emplace_back("Allow", allow);
        return r;
    };
    bool post = route.endpoint == Endpoint::Replay;
    if (request.method != (post ? "POST" : "GET"))
        return method_not_allowed(post ? "POST" : "GET");
    // The page, its assets, the OpenAPI document and /stats (counts) carry no data; the
    // overview (latest rows, dead letters' errors), the message lookup and the replay do:
    // the token guards them as it guards /ingest.
    if (route.endpoint == Endpoint::Dashboard || route.endpoint == Endpoint::OpenApi) {
        const EmbeddedAsset* asset =
            find_console_asset(route.endpoint == Endpoint::OpenApi ? "openapi.json"
                               : route.arg.empty()                 ? "index.html"
                                                                   : route.arg);
        if (asset == nullptr)
            return json_error(404, "no such endpoint: " + request.path);
        HttpResponse r;
        r.content_type = asset->content_type;
        r.body.assign(reinterpret_cast<const char*>(asset->data), asset->size);
        r.headers.emplace_back("Cache-Control", "no-cache");
        // Everything the page loads comes from here: the browser refuses anything else.
        r.headers.emplace_back("Content-Security-Policy",
                               "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "frame-ancestors 'none'; base-uri 'none'");
        r.headers.emplace_back("X-Content-Type-Options", "nosniff");
        return r;
    }
    if (console_ == nullptr)
        return json_error(503, "the console is not running");
    if (route.endpoint == Endpoint::Stats)
        return json_response(200, console_->stats());
    std::string denied = check_token(request);
    if (!denied.empty()) {
        HttpResponse r = json_error(401, denied);
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return r;
    }
    int code = 200;
    std::string body;
    switch (route.endpoint) {
    case Endpoint::Overview:
        body = console_->overview(bridge_json());
        break;
    case Endpoint::Message: {
        std::optional<std::string> id = nomnom::parse_uuid(route.arg);
        if (!id)
            return json_error(400, "not a UUID: " + route.arg);
        body = console_->message(*id, code);
        break;
    }
    default: { // Replay: {"message_ids": [...]} or ?message_id=; nothing given replays all
        std::vector<std::string> ids;
        if (const std::string* one = request.query_arg("message_id")) {
            std::optional<std::string> id = nomnom::parse_uuid(*one);
            if (!id)
                return json_error(400, "not a UUID: " + *one);
            ids.push_back(*id);
        } else if (request.query_arg("all") == nullptr) {
            return json_error(400, "say which dead letters: ?message_id=<uuid>, or ?all=true");
        }
        body = console_->replay(ids, code);
        break;
    }
    }
    return json_response(code, std::move(body));
}

HttpResponse Api::ready() {
    std::string error;
    bool ok = publisher_.stream_ok(error);
    JsonWriter w;
    w.begin_object().field("status", ok ? "ready" : "unavailable");
    if (!ok)
        w.field("error", error);
    w.end_object();
    HttpResponse r = json_response(ok ? 200 : 503, w.take());
    if (!ok)
        r.headers.emplace_back("Retry-After", kRetryAfter);
    return r;
}

HttpResponse Api::health(bool details) {
    std::vector<std::string> down;
    bool nats_ok = publisher_.connected();
    std::string stream_error;
    bool stream_ok = nats_ok && publisher_.stream_ok(stream_error);
    if (!nats_ok)
        stream_error = "unknown (NATS is down)";
    bool pg_ok = catalog_.postgres_ok() && recorder_.postgres_ok();
    std::string pg_error_text = catalog_.last_error();
    if (pg_error_text.empty())
        pg_error_text = "cannot write nomnom.message_status";
    if (!nats_ok)
        down.push_back("nats");
    if (!stream_ok)
        down.push_back("stream");
    if (!pg_ok)
        down.push_back("postgres");
    std::string summary;
    for (size_t i = 0; i < down.size(); ++i)
        summary += (i ? ", " : "") + down[i];

    JsonWriter w;
    w.begin_object().field("status", down.empty() ? "ok" : "unavailable");
    if (!details) {
        // The token is set and not given: the verdict only, not what is down nor why.
        w.end_object();
        HttpResponse r = json_response(down.empty() ? 200 : 503, w.take());
        if (!down.empty())
            r.headers.emplace_back("Retry-After", kRetryAfter);
        return r;
    }
    if (!down.empty())
        w.field("error", "unavailable: " + summary);
    w.field("nats", nats_ok ? std::string("ok") : "down: not connected")
        .field("stream", stream_ok ? std::string("ok") : "down: " + stream_error)
        .field("postgres", pg_ok ? std::string("ok") : "down: " + pg_error_text)
        .field("status_queue", static_cast<uint64_t>(recorder_.depth()))
        .end_object();
    HttpResponse r = json_response(down.empty() ? 200 : 503, w.take());
    if (!down.empty())
        r.headers.emplace_back("Retry-After", kRetryAfter);
    return r;
}

} // namespace bridge
