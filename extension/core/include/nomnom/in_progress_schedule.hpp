// When the messages a thread keeps in progress must next be marked (natsMsg_InProgress, which
// restarts a message's ack_wait on the server). The worker's InProgressKeeper and its prefetch
// thread each keep one; pure data, so that the rule is unit-tested.
//
// A message is redelivered once ack_wait passes since its delivery or its last mark. So each
// set of messages comes with the time it was last marked, or, for a fetch, when the fetch
// started (its messages were delivered after that), and the next mark is due `period` after
// the earliest of those: never later than it was due already. Handing a batch from one thread
// to the other, or holding again a set that changed, must not postpone it. (It did: a batch
// taken from the prefetch thread just before its next mark went unmarked for a period, then
// the hand-over, then a period again; e2e 037, ack_wait 1500 ms, was redelivered so on a
// loaded machine.)
//
// Times are monotonic_ms(). The caller serializes the calls (its thread's mutex).
#pragma once

#include <algorithm>
#include <cstdint>

namespace nomnom {

class InProgressSchedule {
  public:
    // What release() returns when nothing was held: earlier than any time, so that
    // std::max(a batch's time, it) leaves the batch's time as it was.
    static constexpr int64_t kNothingHeld = INT64_MIN;

    // Messages last marked (or delivered) no earlier than `marked_ms` join those held, to be
    // marked every `period_ms`.
    void hold(int64_t marked_ms, int64_t period_ms) {
        if (!holding_ || marked_ms < marked_ms_)
            marked_ms_ = marked_ms;
        due_ms_ = holding_ ? std::min(due_ms_, marked_ms + period_ms) : marked_ms + period_ms;
        period_ms_ = period_ms;
        holding_ = true;
    }
    // All the messages held were marked at `now_ms` (the time before the first was sent).
    void marked(int64_t now_ms) {
        marked_ms_ = now_ms;
        due_ms_ = now_ms + period_ms_;
    }
    // Nothing held any more. Returns the time by which every message held had been marked last
    // (the earliest of their times), for the one who holds them next; kNothingHeld if none.
    int64_t release() {
        int64_t marked = holding_ ? marked_ms_ : kNothingHeld;
        holding_ = false;
        return marked;
    }

    bool holding() const { return holding_; }
    // When holding: the next mark's time.
    int64_t due_ms() const { return due_ms_; }

  private:
    bool holding_ = false;
    int64_t marked_ms_ = 0; // the earliest last mark of the messages held
    int64_t due_ms_ = 0;
    int64_t period_ms_ = 0;
};

} // namespace nomnom
