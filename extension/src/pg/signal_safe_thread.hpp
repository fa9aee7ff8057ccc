// Threads inside a backend: they run pure C++ (and nats.c) only, and with every signal
// blocked, because PostgreSQL's signal handlers must run on the backend's own thread.
#pragma once

#include <csignal>
#include <thread>
#include <utility>

namespace nomnom {

// std::thread(body), started with all signals blocked; the caller's signal mask is
// restored before returning, also when the thread cannot start (std::system_error).
template <typename Body> std::thread start_signal_safe_thread(Body&& body) {
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous); // the new thread inherits this mask
    try {
        std::thread thread(std::forward<Body>(body));
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        return thread;
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        throw;
    }
}

} // namespace nomnom
