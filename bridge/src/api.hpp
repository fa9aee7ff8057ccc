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

#include <string>
#include <vector>

namespace bridge {

class Api {
  public:
    Api(const Config& config, std::string token, CatalogService& catalog, Publisher& publisher,
        StatusRecorder& recorder, Metrics& metrics, PgPool& pool, Console* console = nullptr);

    HttpResponse handle(const HttpRequest& request);

  private:
    struct Doc; // one document of a request, on its way to JetStream

    HttpResponse dispatch(const HttpRequest& request, const Route& route);
    HttpResponse ingest(const HttpRequest& request, const Route& route, bool batch);
    HttpResponse status(const Route& route);
    HttpResponse health();
    HttpResponse ready();
    // The operator's console: the page and its assets, /api/*, /stats, /openapi.json.
    HttpResponse console(const HttpRequest& request, const Route& route);
    std::string bridge_json() const; // the bridge's own counters, for /api/overview
    std::string check_token(const HttpRequest& request) const; // empty when allowed

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
};

// {"error": message}
HttpResponse json_error(int status, const std::string& message);

// Constant-time comparison, so response timing does not reveal a token prefix.
bool token_equals(const std::string& a, const std::string& b);

} // namespace bridge
