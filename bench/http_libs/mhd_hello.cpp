// Minimal libmicrohttpd server for bench/http_libs/compare.sh: answers POST /ingest/message
// with a small JSON body. argv[1]: "pool" (epoll, 2 threads) or "tpc" (thread per connection).
#include <microhttpd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

namespace {
struct Body {
    std::string text;
};

MHD_Result handle(void*, MHD_Connection* c, const char*, const char*, const char*, const char* data,
                  size_t* size, void** state) {
    if (*state == nullptr) {
        *state = new Body;
        return MHD_YES;
    }
    auto* body = static_cast<Body*>(*state);
    if (*size > 0) {
        body->text.append(data, *size);
        *size = 0;
        return MHD_YES;
    }
    std::string out = "{\"bytes\":" + std::to_string(body->text.size()) + "}";
    MHD_Response* r =
        MHD_create_response_from_buffer(out.size(), out.data(), MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_Result ret = MHD_queue_response(c, 202, r);
    MHD_destroy_response(r);
    return ret;
}

void done(void*, MHD_Connection*, void** state, MHD_RequestTerminationCode) {
    delete static_cast<Body*>(*state);
    *state = nullptr;
}
} // namespace

int main(int argc, char** argv) {
    bool tpc = std::strcmp(argv[1], "tpc") == 0;
    uint16_t port = static_cast<uint16_t>(std::atoi(argv[2]));
    MHD_Daemon* d =
        tpc ? MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                               port, nullptr, nullptr, &handle, nullptr,
                               MHD_OPTION_NOTIFY_COMPLETED, &done, nullptr, MHD_OPTION_END)
            : MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, port, nullptr,
                               nullptr, &handle, nullptr, MHD_OPTION_NOTIFY_COMPLETED, &done,
                               nullptr, MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_END);
    if (d == nullptr)
        return 1;
    pause();
}
