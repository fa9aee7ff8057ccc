#include "workers/in_progress.hpp"

#include <chrono>

#include "nomnom/backoff.hpp"
#include "pg/signal_safe_thread.hpp"

namespace nomnom {

bool InProgressKeeper::hold(const natsMsgList* lists, int nlists, int64_t period_ms,
                            int64_t marked_ms) noexcept {
    try {
        if (!thread_.joinable()) {
            stopping_ = false;
            thread_ = start_signal_safe_thread([this] { run(); });
        }
    } catch (...) {
        return false;
    }
    bool kept = true;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        msgs_.clear();
        try {
            for (int l = 0; l < nlists; l++)
                msgs_.insert(msgs_.end(), lists[l].Msgs, lists[l].Msgs + lists[l].Count);
        } catch (...) { // out of memory
            msgs_.clear();
            kept = false;
        }
        if (!msgs_.empty())
            schedule_.hold(marked_ms, period_ms);
        else
            schedule_.release();
    }
    wake_.notify_all();
    return kept;
}

int64_t InProgressKeeper::release() noexcept {
    if (!thread_.joinable())
        return InProgressSchedule::kNothingHeld;
    std::lock_guard<std::mutex> lock(mutex_); // the thread sends while it holds it
    msgs_.clear();
    return schedule_.release();
}

void InProgressKeeper::stop() noexcept {
    stop_signal_safe_thread(thread_, mutex_, wake_, stopping_, [this] {
        msgs_.clear();
        schedule_.release();
    });
}

void InProgressKeeper::run() noexcept {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
        if (msgs_.empty()) {
            wake_.wait(lock);
            continue;
        }
        int64_t now = monotonic_ms();
        if (now < schedule_.due_ms()) {
            wake_.wait_for(lock, std::chrono::milliseconds(schedule_.due_ms() - now));
            continue;
        }
        for (natsMsg* msg : msgs_)
            natsMsg_InProgress(msg, nullptr); // a failure: redelivered later, as before
        sent_.fetch_add(static_cast<uint64_t>(msgs_.size()), std::memory_order_relaxed);
        schedule_.marked(now);
    }
}

} // namespace nomnom
