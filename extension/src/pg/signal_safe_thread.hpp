// Threads inside a backend: they run pure C++ (and nats.c) only, and with every signal
// blocked, because PostgreSQL's signal handlers must run on the backend's own thread.
#pragma once

#include <pthread.h>

#include <condition_variable>
#include <csignal>
#include <mutex>
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

// Ends such a thread that waits on `wake` until `stopping`: sets `stopping` under `mutex`
// (and runs `also`, which clears what the thread must not touch any more), wakes the thread
// and joins it. Nothing to do for a thread not started.
template <typename Also>
void stop_signal_safe_thread(std::thread& thread, std::mutex& mutex, std::condition_variable& wake,
                             bool& stopping, Also&& also) {
    if (!thread.joinable())
        return;
    {
        std::lock_guard<std::mutex> lock(mutex);
        stopping = true;
        also();
    }
    wake.notify_all();
    thread.join();
}

inline void stop_signal_safe_thread(std::thread& thread, std::mutex& mutex,
                                    std::condition_variable& wake, bool& stopping) {
    stop_signal_safe_thread(thread, mutex, wake, stopping, [] {});
}

} // namespace nomnom
