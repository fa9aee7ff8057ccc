#include "http_server.hpp"

#include "log.hpp"

#include <microhttpd.h>

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
    bool answered = false; // a response was queued early (413 on Content-Length)
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
    daemon_ = MHD_start_daemon(
        flags, listen_.port, nullptr, nullptr, +on_access, this, MHD_OPTION_EXTERNAL_LOGGER,
        &mhd_logger, nullptr, // first, so it sees every message
        MHD_OPTION_SOCK_ADDR, found->ai_addr, MHD_OPTION_CONNECTION_LIMIT, max_connections_,
        MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_NOTIFY_COMPLETED, +on_completed, this, MHD_OPTION_END);
    int start_errno = errno;
    freeaddrinfo(found);
    if (daemon_ == nullptr) {
        error = "cannot listen on " + listen_.host + ":" + port + " (" +
                std::strerror(start_errno) + ")";
        return false;
    }
    return true;
}

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
        // Refuse an announced oversize body before reading it.
        if (const std::string* length = pending->request.header("content-length")) {
            if (std::strtoull(length->c_str(), nullptr, 10) > self->max_body_) {
                pending->request.body_too_large = true;
                pending->answered = true;
                return send(connection, self->handler_(pending->request), true) == MHD_YES;
            }
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
    return send(connection, self->handler_(pending->request), self->draining_.load()) == MHD_YES;
}

void HttpServer::completed(void* cls, void*, void** con_cls, int) {
    auto* self = static_cast<HttpServer*>(cls);
    auto* pending = static_cast<Pending*>(*con_cls);
    if (pending != nullptr) {
        delete pending;
        *con_cls = nullptr;
        self->in_flight_.fetch_sub(1);
    }
}

} // namespace bridge
