// The endpoints of nomnom-bridge (see DESIGN.md, "nomnom-bridge"): request in, response out.
// Everything with a side effect goes through the services it is given, so this file is
// only the HTTP contract: status codes, bodies, which check comes first.
#pragma once

#include "catalog.hpp"
#include "config.hpp"
#include "console.hpp"
#include "http_server.hpp"
#include "metrics.hpp"
#include "pg.hpp"
#include "publisher.hpp"
#include "routing.hpp"
#include "status_recorder.hpp"

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace bridge {

class Api {
  public:
    Api(const Config& config, std::string token, CatalogService& catalog, Publisher& publisher,
        StatusRecorder& recorder, Metrics& metrics, PgPool& pool, Console* console = nullptr);

    HttpResponse handle(const HttpRequest& request);
    // The HTTP server's header check: 401 before the body is read when a request that needs
    // the token lacks it; nullopt otherwise.
    std::optional<HttpResponse> check_headers(const HttpRequest& request);

  private:
    struct Doc; // one document of a request, on its way to JetStream

    HttpResponse dispatch(const HttpRequest& request, const Route& route);
    HttpResponse ingest(const HttpRequest& request, const Route& route, bool batch,
                        bool authenticated);
    HttpResponse status(const Route& route);
    PgResult query_status(PGconn* conn, const char* const* params);
    HttpResponse health(bool details);
    HttpResponse ready();
    // The operator's console: the page and its assets, /api/*, /stats, /openapi.json.
    HttpResponse console(const HttpRequest& request, const Route& route);
    std::string bridge_json() const; // the bridge's own counters, for /api/overview
    std::string check_token(const HttpRequest& request) const; // empty when allowed
    // Whether `route` needs the token (when one is set): /ingest/*, and /metrics unless
    // --public-details.
    bool needs_token(const Route& route) const;
    HttpResponse unauthorized(const std::string& why) const;

    // Waits for ?wait=committed: fills each doc's status from nomnom.message_status until
    // all are completed or dead-lettered, or the wait timeout passes.
    void wait_committed(std::vector<Doc*>& docs);

    const Config& config_;
    std::string token_;
    CatalogService& catalog_;
    Publisher& publisher_;
    StatusRecorder& recorder_;
    Metrics& metrics_;
    PgPool& pool_;
    Console* console_;
    std::atomic<int64_t> no_processing_until_{0}; // steady_clock ticks
};

// {"error": message}
HttpResponse json_error(int status, const std::string& message);

// Constant-time comparison, so response timing does not reveal a token prefix.
bool token_equals(const std::string& a, const std::string& b);

} // namespace bridge
