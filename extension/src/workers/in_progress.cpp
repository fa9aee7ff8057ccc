#include "workers/in_progress.hpp"

#include "pg/signal_safe_thread.hpp"

namespace nomnom {

bool InProgressKeeper::hold(natsMsg** msgs, int count, int64_t period_ms) noexcept {
    try {
        if (!thread_.joinable()) {
            stopping_ = false;
            thread_ = start_signal_safe_thread([this] { run(); });
        }
    } catch (...) {
        return false;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        msgs_ = count > 0 ? msgs : nullptr;
        count_ = count;
        period_ = std::chrono::milliseconds(period_ms);
        due_ = std::chrono::steady_clock::now() + period_;
    }
    wake_.notify_all();
    return true;
}

void InProgressKeeper::release() noexcept {
    if (!thread_.joinable())
        return;
    std::lock_guard<std::mutex> lock(mutex_); // the thread sends while it holds it
    msgs_ = nullptr;
    count_ = 0;
}

void InProgressKeeper::stop() noexcept {
    stop_signal_safe_thread(thread_, mutex_, wake_, stopping_, [this] {
        msgs_ = nullptr;
        count_ = 0;
    });
}

void InProgressKeeper::run() noexcept {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
        if (msgs_ == nullptr) {
            wake_.wait(lock);
            continue;
        }
        auto now = std::chrono::steady_clock::now();
        if (now < due_) {
            wake_.wait_until(lock, due_);
            continue;
        }
        for (int i = 0; i < count_; i++)
            natsMsg_InProgress(msgs_[i], nullptr); // a failure: redelivered later, as before
        sent_.fetch_add(static_cast<uint64_t>(count_), std::memory_order_relaxed);
        due_ = now + period_;
    }
}

} // namespace nomnom
