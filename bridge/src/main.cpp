// nomnom-bridge: wires configuration, PostgreSQL catalog and status recorder, the JetStream
// publisher and the HTTP server together, and shuts them down in order on SIGTERM/SIGINT.
#include "api.hpp"
#include "catalog.hpp"
#include "config.hpp"
#include "console.hpp"
#include "http_server.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "pg.hpp"
#include "publisher.hpp"
#include "status_recorder.hpp"

#include <nats/nats.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <pthread.h>
#include <sstream>

using namespace bridge;

namespace {

bool read_token(const std::string& path, std::string& token, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = "cannot read --token-file " + path;
        return false;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    token = ss.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
        token.pop_back();
    if (token.empty()) {
        error = "--token-file " + path + " is empty";
        return false;
    }
    return true;
}

// A whole file (a PEM certificate or key); false with `error` naming it.
bool read_file(const std::string& path, const char* flag, std::string& text, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    if (in)
        ss << in.rdbuf();
    if (!in || ss.str().empty()) {
        error = std::string("cannot read ") + flag + " " + path + (in ? " (empty)" : "");
        return false;
    }
    text = ss.str();
    return true;
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    ParseResult parsed = parse_config(args, [](const char* name) -> std::optional<std::string> {
        const char* value = std::getenv(name);
        if (value == nullptr)
            return std::nullopt;
        return std::string(value);
    });
    if (parsed.exit_now) {
        (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.output;
        return parsed.exit_code;
    }
    const Config& config = parsed.config;
    log::set_level(config.log_level);

    std::string token, error;
    if (!config.token_file.empty() && !read_token(config.token_file, token, error)) {
        log::error(error);
        return 2;
    }

    std::string tls_cert, tls_key;
    if (!config.tls_cert_file.empty() &&
        (!read_file(config.tls_cert_file, "--tls-cert-file", tls_cert, error) ||
         !read_file(config.tls_key_file, "--tls-key-file", tls_key, error))) {
        log::error(error);
        return 2;
    }

    // Block the stop signals before any library starts a thread, so every thread inherits
    // the mask and only sigwait() below receives them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN); // a client that hangs up must not kill the server

    natsStatus ns = nats_Open(-1);
    if (ns != NATS_OK) {
        log::error("cannot initialise the NATS library", {{"error", natsStatus_GetText(ns)}});
        return 1;
    }

    Metrics metrics;
    CatalogService catalog(config.database_url, config.stream,
                           std::chrono::milliseconds(config.refresh_interval_ms));
    StatusRecorder recorder(config.database_url, config.status_queue, metrics);
    Publisher publisher(config.nats, config.stream, config.publish_timeout_ms);
    PgPool pool(config.database_url, 8, std::chrono::milliseconds(2000));
    metrics.add_gauge("nomnom_bridge_status_queue_depth",
                      "Pending message_status rows waiting to be written.",
                      [&] { return static_cast<double>(recorder.depth()); });
    metrics.add_gauge("nomnom_bridge_nats_connected", "1 when connected to NATS.",
                      [&] { return publisher.connected() ? 1.0 : 0.0; });
    metrics.add_gauge("nomnom_bridge_postgres_up", "1 when PostgreSQL answers.",
                      [&] { return catalog.postgres_ok() && recorder.postgres_ok() ? 1.0 : 0.0; });

    int code = 0;
    if (!publisher.start(error)) {
        log::error("cannot start the publisher", {{"error", error}});
        nats_Close();
        return 1;
    }
    catalog.start();
    recorder.start();

    // The console: its own connection and sampler thread, never the request pool's.
    Console console(config.database_url, std::chrono::milliseconds(2000));
    console.start();

    Api api(config, token, catalog, publisher, recorder, metrics, pool, &console);
    HttpServer server(*parse_listen(config.listen), config.max_connections, config.max_body,
                      [&api](const HttpRequest& request) { return api.handle(request); });
    server.set_header_check(
        [&api](const HttpRequest& request) { return api.check_headers(request); });
    server.set_limits(config.max_connections_per_client,
                      std::chrono::milliseconds(config.request_timeout_ms));
    server.set_tls(tls_cert, tls_key);
    metrics.add_gauge("nomnom_bridge_connections_timed_out",
                      "Connections closed because no whole request arrived within "
                      "--request-timeout (a count since start).",
                      [&] { return static_cast<double>(server.timed_out()); });
    metrics.add_gauge("nomnom_bridge_requests_in_flight", "HTTP requests being handled.",
                      [&] { return static_cast<double>(server.in_flight()); });
    if (!server.start(error)) {
        log::error("cannot start the HTTP server", {{"error", error}});
        code = 1;
    } else {
        log::info("listening", {{"listen", config.listen},
                                {"scheme", tls_cert.empty() ? "http" : "https"},
                                {"nats", nomnom::redact_urls(config.nats.url)},
                                {"stream", config.stream},
                                {"auth", token.empty() ? "none" : "bearer"}});
        int sig = 0;
        sigwait(&stop_signals, &sig);
        log::info("stopping: no new connections; finishing requests in flight",
                  {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                   {"in_flight", std::to_string(server.in_flight())}});
        server.quiesce();
        // Long enough for a request waiting on its acks and on ?wait=committed.
        auto drain =
            std::chrono::milliseconds(config.publish_timeout_ms + config.wait_timeout_ms + 2000);
        if (!server.wait_idle(drain)) {
            log::warn("requests still in flight at the deadline; closing them",
                      {{"in_flight", std::to_string(server.in_flight())}});
            code = 1;
        }
    }
    server.stop();
    console.stop();
    recorder.stop(std::chrono::milliseconds(5000));
    catalog.stop();
    publisher.stop();
    nats_Close();
    log::info("stopped", {{"exit_code", std::to_string(code)}});
    return code;
}
