// Threads inside a backend: they run pure C++ (and nats.c) only, and with every signal
// blocked, because PostgreSQL's signal handlers must run on the backend's own thread.
#pragma once

#include <pthread.h>

#include <csignal>
#include <thread>
#include <utility>

namespace nomnom {

// Blocks every signal on this thread for the scope, then restores the mask it found. A
// thread started inside the scope (by std::thread, or by a library such as nats.c) inherits
// the blocked mask, so the backend's signals are only ever handled by the backend's thread.
class BlockedSignals {
  public:
    BlockedSignals() {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved_);
    }
    ~BlockedSignals() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
    BlockedSignals(const BlockedSignals&) = delete;
    BlockedSignals& operator=(const BlockedSignals&) = delete;

  private:
    sigset_t saved_;
};

// std::thread(body), started with all signals blocked; the caller's signal mask is
// restored before returning, also when the thread cannot start (std::system_error).
template <typename Body> std::thread start_signal_safe_thread(Body&& body) {
    BlockedSignals blocked;
    return std::thread(std::forward<Body>(body));
}

} // namespace nomnom
