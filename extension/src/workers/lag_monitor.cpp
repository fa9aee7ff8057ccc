#include "workers/lag_monitor.hpp"

#include "pg/signal_safe_thread.hpp"
#include "workers/shmem.hpp"

#include <chrono>
#include <deque>
#include <utility>

namespace nomnom {

bool LagMonitor::start(jsCtx* js, const std::string& stream, const std::string& consumer,
                       NomnomWorkerSlot* slot) noexcept {
    if (thread_.joinable())
        return true;
    try {
        js_ = js;
        stream_ = stream;
        consumer_ = consumer;
        slot_ = slot;
        stopping_ = false;
        thread_ = start_signal_safe_thread([this] { run(); });
        return true;
    } catch (...) {
        return false;
    }
}

void LagMonitor::stop() noexcept {
    stop_signal_safe_thread(thread_, mutex_, wake_, stopping_);
}

void LagMonitor::run() noexcept {
    using clock = std::chrono::steady_clock;
    // (when, consumed) over the last minute and a bit, for rate_1m.
    std::deque<std::pair<clock::time_point, uint64_t>> seen;
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        jsConsumerInfo* info = nullptr;
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = 1000;
        if (js_GetConsumerInfo(&info, js_, stream_.c_str(), consumer_.c_str(), &jo, nullptr) ==
            NATS_OK) {
            pg_atomic_write_u64(&slot_->num_pending, info->NumPending);
            pg_atomic_write_u64(&slot_->num_ack_pending,
                                static_cast<uint64_t>(info->NumAckPending));
            pg_atomic_write_u64(&slot_->num_redelivered,
                                static_cast<uint64_t>(info->NumRedelivered));
            jsConsumerInfo_Destroy(info);
        } else {
            // Unknown rather than stale: NATS does not answer.
            pg_atomic_write_u64(&slot_->num_pending, PG_UINT64_MAX);
            pg_atomic_write_u64(&slot_->num_ack_pending, PG_UINT64_MAX);
            pg_atomic_write_u64(&slot_->num_redelivered, PG_UINT64_MAX);
        }
        // The backend adds to `consumed` under the slot's spinlock; an aligned 64-bit load
        // sees either the old or the new value, which is all a rate needs.
        uint64_t consumed = __atomic_load_n(&slot_->consumed, __ATOMIC_RELAXED);
        auto now = clock::now();
        seen.emplace_back(now, consumed);
        while (seen.size() > 2 && now - seen[1].first >= std::chrono::seconds(60))
            seen.pop_front();
        double secs = std::chrono::duration<double>(now - seen.front().first).count();
        if (secs >= 1.0) {
            uint64_t done = consumed >= seen.front().second ? consumed - seen.front().second : 0;
            pg_atomic_write_u64(&slot_->rate_1m_milli,
                                static_cast<uint64_t>(static_cast<double>(done) / secs * 1000.0));
        }
        lock.lock();
        wake_.wait_for(lock, std::chrono::milliseconds(kIntervalMs), [this] { return stopping_; });
    }
}

} // namespace nomnom
