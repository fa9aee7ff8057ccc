// The HTTP layer: libmicrohttpd in thread-per-connection mode. A handler may block (it
// waits for JetStream acks), which only holds its own connection's thread.
// Knows nothing about nomnom: it reads a request (body capped at max_body), calls the
// handler and writes the response; and it can stop accepting and drain for SIGTERM.
#pragma once

#include "config.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
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

class HttpServer {
  public:
    HttpServer(HostPort listen, unsigned max_connections, size_t max_body, HttpHandler handler);
    ~HttpServer();

    bool start(std::string& error);
    // Stops accepting new connections; requests on open connections are still served, each
    // answered with "Connection: close".
    void quiesce();
    // Waits until no request is in flight; false at the deadline.
    bool wait_idle(std::chrono::milliseconds timeout);
    void stop();

    unsigned in_flight() const { return in_flight_.load(); }

  private:
    struct Pending; // one request being read
    static bool access(void* cls, void* connection, const char* url, const char* method,
                       const char* version, const char* upload_data, size_t* upload_data_size,
                       void** con_cls);
    static void completed(void* cls, void* connection, void** con_cls, int toe);

    HostPort listen_;
    unsigned max_connections_;
    size_t max_body_;
    HttpHandler handler_;
    MHD_Daemon* daemon_ = nullptr;
    int quiesced_fd_ = -1;
    std::atomic<unsigned> in_flight_{0};
    std::atomic<bool> draining_{false};
};

} // namespace bridge
