// The worker's lag thread: every 2 s it asks JetStream for the consumer's info and writes
// num_pending, num_ack_pending and num_redelivered, and the worker's rate over the last
// minute, into the worker's slot (nomnom.stream_status). A thread of its own, so the figures
// stay fresh while the backend is stuck in a write (a lock, a slow trigger): the operator
// sees the lag grow exactly when it matters.
//
// C++-style; the thread calls nats.c only (on the worker's jsCtx, which nats.c lets threads
// share) and writes the slot's pg_atomic_uint64 fields (lock-free inline atomics: no
// PostgreSQL function, no spinlock shared with the backend), with signals blocked.
#pragma once

#include <nats/nats.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

struct NomnomWorkerSlot;

namespace nomnom {

class LagMonitor {
  public:
    static constexpr int kIntervalMs = 2000;

    LagMonitor() = default;
    LagMonitor(const LagMonitor&) = delete;
    LagMonitor& operator=(const LagMonitor&) = delete;
    ~LagMonitor() { stop(); }

    // Starts the thread on `js` (which must outlive stop()). Does nothing when running; false
    // when no thread can be started (the figures then stay unknown).
    bool start(jsCtx* js, const std::string& stream, const std::string& consumer,
               NomnomWorkerSlot* slot) noexcept;
    // Stops and joins the thread (at most one consumer-info request, 1 s, later).
    void stop() noexcept;
    bool running() const { return thread_.joinable(); }

  private:
    void run() noexcept;

    jsCtx* js_ = nullptr;
    std::string stream_, consumer_;
    NomnomWorkerSlot* slot_ = nullptr;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace nomnom
