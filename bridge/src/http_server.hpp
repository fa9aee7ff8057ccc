// The HTTP layer: libmicrohttpd in thread-per-connection mode. A handler may block (it
// waits for JetStream acks), which only holds its own connection's thread.
// Knows nothing about nomnom: it reads a request (body capped at max_body), calls the
// handler and writes the response; and it can stop accepting and drain for SIGTERM.
// Hardening: a header check may answer (401) before the body is read; connections per
// client address are capped; a connection that does not deliver a whole request within the
// request timeout is closed (slowloris); TLS (GnuTLS inside libmicrohttpd) when given a
// certificate and key.
#pragma once

#include "config.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

struct MHD_Daemon;

namespace bridge {

struct HttpRequest {
    std::string method;
    std::string path;
    std::map<std::string, std::string> headers; // names lower-cased
    std::map<std::string, std::string> query;
    std::string body;
    bool body_too_large = false; // body exceeded max_body; `body` is then empty

    const std::string* header(const std::string& lower_name) const;
    const std::string* query_arg(const std::string& name) const;
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// Called with the headers (the body not yet read): a response to send at once, after which
// the connection closes without reading the body; nullopt to go on.
using HeaderCheck = std::function<std::optional<HttpResponse>(const HttpRequest&)>;

class HttpServer {
  public:
    HttpServer(HostPort listen, unsigned max_connections, size_t max_body, HttpHandler handler);
    ~HttpServer();

    // Before start(): the header check, the hardening limits, TLS.
    void set_header_check(HeaderCheck check) { header_check_ = std::move(check); }
    // per_client 0: no limit. request_timeout: a whole request's headers and body.
    void set_limits(unsigned per_client, std::chrono::milliseconds request_timeout) {
        max_per_client_ = per_client;
        request_timeout_ = request_timeout;
    }
    // PEM texts; both non-empty: HTTPS only.
    void set_tls(std::string cert_pem, std::string key_pem) {
        tls_cert_ = std::move(cert_pem);
        tls_key_ = std::move(key_pem);
    }

    bool start(std::string& error);
    // Stops accepting new connections; requests on open connections are still served, each
    // answered with "Connection: close".
    void quiesce();
    // Waits until no request is in flight; false at the deadline.
    bool wait_idle(std::chrono::milliseconds timeout);
    void stop();

    unsigned in_flight() const { return in_flight_.load(); }
    // Connections closed because a request did not arrive whole within the request timeout.
    uint64_t timed_out() const { return timed_out_.load(); }

  private:
    struct Pending; // one request being read
    struct Conn;    // one open connection, watched for the request timeout
    static bool access(void* cls, void* connection, const char* url, const char* method,
                       const char* version, const char* upload_data, size_t* upload_data_size,
                       void** con_cls);
    static void completed(void* cls, void* connection, void** con_cls, int toe);
    static void connection_event(void* cls, void* connection, void** socket_context, int code);
    void watchdog();

    HostPort listen_;
    unsigned max_connections_;
    size_t max_body_;
    HttpHandler handler_;
    MHD_Daemon* daemon_ = nullptr;
    int quiesced_fd_ = -1;
    std::atomic<unsigned> in_flight_{0};
    std::atomic<bool> draining_{false};
    HeaderCheck header_check_;
    unsigned max_per_client_ = 0;
    std::chrono::milliseconds request_timeout_{30000};
    std::string tls_cert_, tls_key_;
    std::mutex conns_mutex_; // guards conns_ and each Conn's fields
    std::set<Conn*> conns_;
    std::condition_variable watchdog_wake_;
    bool watchdog_stop_ = false;
    std::thread watchdog_;
    std::atomic<uint64_t> timed_out_{0};
};

} // namespace bridge
