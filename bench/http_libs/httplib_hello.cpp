// Minimal cpp-httplib server for bench/http_libs/compare.sh: answers POST /ingest/message
// with a small JSON body. argv[1] == "tuned" applies the settings it needs under load.
#include <httplib.h>

#include <cstring>
#include <string>

int main(int argc, char** argv) {
    bool tuned = argc > 1 && std::strcmp(argv[1], "tuned") == 0;
    httplib::Server server;
    if (tuned) {
        // Defaults serve 32 keep-alive connections with 8 threads that poll in a busy loop.
        server.new_task_queue = [] { return new httplib::ThreadPool(64); };
        server.set_tcp_nodelay(true);
        server.set_keep_alive_max_count(1000000);
        server.set_idle_interval(0, 200);
    }
    server.Post("/ingest/message", [](const httplib::Request& req, httplib::Response& res) {
        res.status = 202;
        res.set_content("{\"bytes\":" + std::to_string(req.body.size()) + "}", "application/json");
    });
    server.listen("127.0.0.1", std::atoi(argv[argc - 1]));
}
