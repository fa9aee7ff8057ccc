// Keeps JetStream from redelivering the messages of a batch that takes longer than ack_wait
// (a lock waited for, a batch written again after a batch-level failure): while the backend
// holds them, a thread of its own sends natsMsg_InProgress for each, every `period`, which
// restarts their ack_wait on the server. The backend cannot do it itself while it waits
// inside PostgreSQL (a lock wait, a slow statement).
//
// C++-style; the thread calls nats.c only (natsMsg_InProgress reads what the backend does not
// change while it holds the messages), with signals blocked. The prefetch thread does the
// same for the next batch while it waits to be joined (prefetch.cpp).
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "nomnom/in_progress_schedule.hpp"

namespace nomnom {

class InProgressKeeper {
  public:
    InProgressKeeper() = default;
    InProgressKeeper(const InProgressKeeper&) = delete;
    InProgressKeeper& operator=(const InProgressKeeper&) = delete;
    ~InProgressKeeper() { stop(); }

    // From now until release(): natsMsg_InProgress for each message of lists[0, nlists)
    // (their pointers copied: the lists may go, the messages may not) every `period_ms`, the
    // first one `period_ms` after `marked_ms` (monotonic_ms()), when the earliest of them was
    // marked last or its fetch started (at once if that is past), and never later than the
    // next one was due already (in_progress_schedule.hpp). Starts the thread the first time;
    // false when no thread can be started or memory is short (the messages then are not kept).
    bool hold(const natsMsgList* lists, int nlists, int64_t period_ms, int64_t marked_ms) noexcept;
    // No more for them. Returns once the thread is not sending, so that the caller may
    // acknowledge, nak or destroy them, with the time by which each of them was marked last
    // (InProgressSchedule::release; kNothingHeld when nothing was held).
    int64_t release() noexcept;
    // Stops and joins the thread.
    void stop() noexcept;
    // InProgress sent since the process started.
    uint64_t sent() const noexcept { return sent_.load(std::memory_order_relaxed); }

  private:
    void run() noexcept;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<natsMsg*> msgs_; // held (its capacity kept from one hold to the next)
    InProgressSchedule schedule_;
    bool stopping_ = false;
    std::atomic<uint64_t> sent_{0};
    std::thread thread_;
};

// The interval at which held messages are marked in progress: a third of ack_wait, so that
// one late or lost InProgress still leaves time for the next.
inline int64_t in_progress_period_ms(int64_t ack_wait_ms) {
    return ack_wait_ms / 3 > 10 ? ack_wait_ms / 3 : 10;
}

} // namespace nomnom
