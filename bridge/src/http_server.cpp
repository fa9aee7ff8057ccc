#include "http_server.hpp"

#include "log.hpp"

#include <microhttpd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <netdb.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace bridge {

const std::string* HttpRequest::header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? nullptr : &it->second;
}

const std::string* HttpRequest::query_arg(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? nullptr : &it->second;
}

struct HttpServer::Pending {
    HttpRequest request;
    bool answered = false; // a response was queued early (401, 413 on Content-Length)
};

// A connection is "reading" from when it opens, and again from each answer on it, until the
// next request is complete; reading longer than the request timeout closes it.
struct HttpServer::Conn {
    int fd = -1;
    std::chrono::steady_clock::time_point since;
    bool reading = true;
    bool shut = false; // closed by the watchdog
};

namespace {

std::string lower(const char* text) {
    std::string s = text != nullptr ? text : "";
    for (char& ch : s)
        if (ch >= 'A' && ch <= 'Z')
            ch = static_cast<char>(ch - 'A' + 'a');
    return s;
}

MHD_Result collect(void* cls, MHD_ValueKind kind, const char* key, const char* value) {
    auto* request = static_cast<HttpRequest*>(cls);
    if (key == nullptr)
        return MHD_YES;
    if (kind == MHD_HEADER_KIND)
        request->headers[lower(key)] = value != nullptr ? value : "";
    else if (kind == MHD_GET_ARGUMENT_KIND)
        request->query[key] = value != nullptr ? value : "";
    return MHD_YES;
}

void mhd_logger(void*, const char* fmt, va_list ap) {
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    std::string text = buf;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    log::warn("http: " + text);
}

MHD_Result send(MHD_Connection* connection, const HttpResponse& r, bool close) {
    MHD_Response* response = MHD_create_response_from_buffer(
        r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
    if (response == nullptr)
        return MHD_NO;
    MHD_add_response_header(response, "Content-Type", r.content_type.c_str());
    for (const auto& [name, value] : r.headers)
        MHD_add_response_header(response, name.c_str(), value.c_str());
    if (close)
        MHD_add_response_header(response, "Connection", "close");
    MHD_Result ret = MHD_queue_response(connection, static_cast<unsigned>(r.status), response);
    MHD_destroy_response(response);
    return ret;
}

} // namespace

HttpServer::HttpServer(HostPort listen, unsigned max_connections, size_t max_body,
                       HttpHandler handler)
    : listen_(std::move(listen)), max_connections_(max_connections), max_body_(max_body),
      handler_(std::move(handler)) {}

HttpServer::~HttpServer() {
    stop();
}

bool HttpServer::start(std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    std::string port = std::to_string(listen_.port);
    int rc = getaddrinfo(listen_.host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0 || found == nullptr) {
        error = "cannot resolve listen address " + listen_.host + ": " + gai_strerror(rc);
        return false;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (found->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    bool tls = !tls_cert_.empty() && !tls_key_.empty();
    if (tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            freeaddrinfo(found);
            error = "this libmicrohttpd was built without TLS: cannot serve HTTPS";
            return false;
        }
        flags |= MHD_USE_TLS;
    }
    // Captureless lambdas with libmicrohttpd's exact callback types, forwarding to members.
    auto on_access = [](void* cls, MHD_Connection* c, const char* url, const char* method,
                        const char* version, const char* data, size_t* size,
                        void** con_cls) -> MHD_Result {
        return access(cls, c, url, method, version, data, size, con_cls) ? MHD_YES : MHD_NO;
    };
    auto on_completed = [](void* cls, MHD_Connection* c, void** con_cls,
                           MHD_RequestTerminationCode toe) {
        completed(cls, c, con_cls, static_cast<int>(toe));
    };
    auto on_connection = [](void* cls, MHD_Connection* c, void** socket_context,
                            MHD_ConnectionNotificationCode code) {
        connection_event(cls, c, socket_context, static_cast<int>(code));
    };
    // Optional ones through MHD_OPTION_ARRAY (a varargs list cannot leave options out).
    std::vector<MHD_OptionItem> extra;
    if (max_per_client_ > 0)
        extra.push_back({MHD_OPTION_PER_IP_CONNECTION_LIMIT, max_per_client_, nullptr});
    if (tls) {
        extra.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(tls_cert_.c_str())});
        extra.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(tls_key_.c_str())});
    }
    extra.push_back({MHD_OPTION_END, 0, nullptr});
    // The idle timeout only needs to outlast the request timeout, which the watchdog enforces.
    auto idle_seconds = static_cast<unsigned>(std::max<int64_t>(
        60, std::chrono::duration_cast<std::chrono::seconds>(request_timeout_).count() + 1));
    daemon_ = MHD_start_daemon(
        flags, listen_.port, nullptr, nullptr, +on_access, this, MHD_OPTION_EXTERNAL_LOGGER,
        &mhd_logger, nullptr, // first, so it sees every message
        MHD_OPTION_SOCK_ADDR, found->ai_addr, MHD_OPTION_CONNECTION_LIMIT, max_connections_,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_seconds, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_NOTIFY_COMPLETED, +on_completed, this, MHD_OPTION_NOTIFY_CONNECTION,
        +on_connection, this, MHD_OPTION_ARRAY, extra.data(), MHD_OPTION_END);
    int start_errno = errno;
    freeaddrinfo(found);
    if (daemon_ == nullptr) {
        error =
            "cannot listen on " + listen_.host + ":" + port + " (" + std::strerror(start_errno) +
            ")" +
            (tls ? "; or the TLS certificate or key is not valid PEM, or they do not match" : "");
        return false;
    }
    watchdog_stop_ = false;
    watchdog_ = std::thread([this] { watchdog(); });
    return true;
}

void HttpServer::connection_event(void* cls, void* conn, void** socket_context, int code) {
    auto* self = static_cast<HttpServer*>(cls);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        auto* c = new Conn;
        const MHD_ConnectionInfo* info = MHD_get_connection_info(static_cast<MHD_Connection*>(conn),
                                                                 MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = info != nullptr ? info->connect_fd : -1;
        c->since = std::chrono::steady_clock::now();
        std::lock_guard<std::mutex> lock(self->conns_mutex_);
        self->conns_.insert(c);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        // Before libmicrohttpd closes the socket: the watchdog never shuts down a reused fd.
        auto* c = static_cast<Conn*>(*socket_context);
        if (c == nullptr)
            return;
        {
            std::lock_guard<std::mutex> lock(self->conns_mutex_);
            self->conns_.erase(c);
        }
        delete c;
        *socket_context = nullptr;
    }
}

void HttpServer::watchdog() {
    // A tenth of the timeout between looks (at most a second), so a connection is closed
    // within 10% of its deadline.
    auto period = std::clamp(request_timeout_ / 10, std::chrono::milliseconds(20),
                             std::chrono::milliseconds(1000));
    std::unique_lock<std::mutex> lock(conns_mutex_);
    while (!watchdog_stop_) {
        watchdog_wake_.wait_for(lock, period);
        auto now = std::chrono::steady_clock::now();
        for (Conn* c : conns_) {
            if (!c->reading || c->shut || c->fd < 0 || now - c->since < request_timeout_)
                continue;
            // The connection's thread sees end of file (or a TLS error) and closes it.
            shutdown(c->fd, SHUT_RDWR);
            c->shut = true;
            timed_out_.fetch_add(1);
            log::warn("http: closed a connection that sent no whole request within "
                      "--request-timeout",
                      {{"timeout_ms", std::to_string(request_timeout_.count())}});
        }
    }
}

namespace {
// The connection's watch state, set by connection_event.
void* conn_state(MHD_Connection* connection) {
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != nullptr ? info->socket_context : nullptr;
}
} // namespace

void HttpServer::quiesce() {
    draining_ = true;
    if (daemon_ != nullptr && quiesced_fd_ < 0) {
        quiesced_fd_ = MHD_quiesce_daemon(daemon_);
        // The socket may only be closed after MHD_stop_daemon, but shutting it down now makes
        // the kernel refuse new connections at once instead of queueing them in the backlog.
        if (quiesced_fd_ >= 0)
            shutdown(quiesced_fd_, SHUT_RDWR);
    }
}

bool HttpServer::wait_idle(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (in_flight_.load() > 0) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

void HttpServer::stop() {
    if (daemon_ != nullptr) {
        MHD_stop_daemon(daemon_);
        daemon_ = nullptr;
    }
    if (watchdog_.joinable()) {
        {
            std::lock_guard<std::mutex> lock(conns_mutex_);
            watchdog_stop_ = true;
        }
        watchdog_wake_.notify_all();
        watchdog_.join();
    }
    if (quiesced_fd_ >= 0) {
        close(quiesced_fd_); // quiesce hands the listening socket to us
        quiesced_fd_ = -1;
    }
}

// libmicrohttpd calls this first with the headers (upload_data_size 0), then with each
// piece of the body, then once more with upload_data_size 0 when the body is complete.
bool HttpServer::access(void* cls, void* conn, const char* url, const char* method, const char*,
                        const char* upload_data, size_t* upload_data_size, void** con_cls) {
    auto* self = static_cast<HttpServer*>(cls);
    auto* connection = static_cast<MHD_Connection*>(conn);
    auto* pending = static_cast<Pending*>(*con_cls);
    if (pending == nullptr) {
        pending = new Pending;
        *con_cls = pending;
        self->in_flight_.fetch_add(1);
        pending->request.method = method;
        pending->request.path = url;
        MHD_get_connection_values(
            connection, static_cast<MHD_ValueKind>(MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND),
            &collect, &pending->request);
        // The token (or anything else the headers decide) before reading the body.
        if (self->header_check_) {
            if (std::optional<HttpResponse> early = self->header_check_(pending->request)) {
                pending->answered = true;
                return send(connection, *early, true) == MHD_YES;
            }
        }
        // Refuse an announced oversize body before reading it.
        if (const std::string* length = pending->request.header("content-length")) {
            unsigned long long announced = std::strtoull(length->c_str(), nullptr, 10);
            if (announced > self->max_body_) {
                pending->request.body_too_large = true;
                pending->answered = true;
                return send(connection, self->handler_(pending->request), true) == MHD_YES;
            }
            // One allocation for the body instead of a string doubling (and copying) as its
            // pieces arrive; at most 1 MiB on a client's word, before it has sent anything.
            pending->request.body.reserve(
                static_cast<size_t>(std::min<unsigned long long>(announced, 1u << 20)));
        }
        return true;
    }
    if (pending->answered) {
        *upload_data_size = 0; // discard the rest; the connection closes after the answer
        return true;
    }
    if (*upload_data_size > 0) {
        if (!pending->request.body_too_large) {
            if (pending->request.body.size() + *upload_data_size > self->max_body_) {
                pending->request.body_too_large = true; // chunked body: found out while reading
                pending->request.body.clear();
                pending->request.body.shrink_to_fit();
            } else {
                pending->request.body.append(upload_data, *upload_data_size);
            }
        }
        *upload_data_size = 0;
        return true;
    }
    pending->answered = true;
    // The request is whole: the handler's own time (acks, ?wait=committed) is not the client's.
    if (auto* c = static_cast<Conn*>(conn_state(connection))) {
        std::lock_guard<std::mutex> lock(self->conns_mutex_);
        c->reading = false;
    }
    return send(connection, self->handler_(pending->request), self->draining_.load()) == MHD_YES;
}

void HttpServer::completed(void* cls, void* conn, void** con_cls, int) {
    auto* self = static_cast<HttpServer*>(cls);
    if (auto* c = static_cast<Conn*>(conn_state(static_cast<MHD_Connection*>(conn)))) {
        std::lock_guard<std::mutex> lock(self->conns_mutex_);
        c->reading = true; // the next request on this connection has its own deadline
        c->since = std::chrono::steady_clock::now();
    }
    auto* pending = static_cast<Pending*>(*con_cls);
    if (pending != nullptr) {
        delete pending;
        *con_cls = nullptr;
        self->in_flight_.fetch_sub(1);
    }
}

} // namespace bridge
