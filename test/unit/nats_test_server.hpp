// For unit tests against a real nats-server (JetStream on, its store in a temp folder, its
// output discarded): a free port, the binary, the spawn, and a wait on a condition.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "nomnom/backoff.hpp"

extern char** environ;

namespace nats_test {

inline int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

inline std::string find_nats_server() {
    for (const char* path :
         {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"})
        if (access(path, X_OK) == 0)
            return path;
    return "";
}

// nats-server -js on 127.0.0.1:port, its store in dir: posix_spawn's result (0: started).
inline int spawn_nats_server(const std::string& server, int port, const std::string& dir,
                             pid_t* pid) {
    std::string port_text = std::to_string(port);
    const char* argv[] = {server.c_str(),    "-js", "-a",        "127.0.0.1", "-p",
                          port_text.c_str(), "-sd", dir.c_str(), nullptr};
    posix_spawn_file_actions_t quiet; // its log is not the test's
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
    int spawned =
        posix_spawn(pid, server.c_str(), &quiet, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&quiet);
    return spawned;
}

// Stops what spawn_nats_server started and removes its store.
inline void stop_nats_server(pid_t pid, const std::string& dir) {
    if (pid > 0) {
        kill(pid, SIGCONT); // a test may have stopped it
        kill(pid, SIGTERM);
        waitpid(pid, nullptr, 0);
    }
    if (!dir.empty())
        std::system(("rm -rf '" + dir + "'").c_str());
}

// Waits (up to `ms`) until `done()`.
template <typename F> bool wait_until(int64_t ms, F done) {
    int64_t deadline = nomnom::monotonic_ms() + ms;
    while (!done()) {
        if (nomnom::monotonic_ms() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

} // namespace nats_test
