// InProgressSchedule: when held messages are marked in progress next. A message is
// redelivered once ack_wait passes since its delivery or its last mark; the worker marks every
// third of ack_wait, so a mark must never be due later than a period after the last one, even
// across a hand-over from the prefetch thread to the InProgressKeeper or a batch held again.
// The timelines are e2e 037's: ack_wait 1500 ms, a period of 500 ms, max_wait_ms 500.
#include "nomnom/in_progress_schedule.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using nomnom::InProgressSchedule;

namespace {

constexpr int64_t kAckWait = 1500;
constexpr int64_t kPeriod = kAckWait / 3;

// When the thread sends the next mark, woken at `now_ms`: at its due time, or at once when that
// has passed.
int64_t next_mark(const InProgressSchedule& s, int64_t now_ms) {
    return std::max(s.due_ms(), now_ms);
}

} // namespace

TEST(InProgressSchedule, TheFirstMarkIsDueAPeriodAfterTheFetchStarted) {
    // The pull started at 0 and held the message until its wait ended at 500, then the batch
    // was mapped until 700: the mark is due at 500 (sent at 700, when the thread looks), not at
    // 700 + 500, when the message's ack_wait (from its delivery at 0 or later) would be over.
    InProgressSchedule prefetch;
    prefetch.hold(0, kPeriod);
    EXPECT_TRUE(prefetch.holding());
    EXPECT_EQ(prefetch.due_ms(), kPeriod);
    EXPECT_EQ(next_mark(prefetch, 700), 700);
    EXPECT_LT(next_mark(prefetch, 700), 0 + kAckWait);
}

TEST(InProgressSchedule, ABatchHandedOverIsMarkedAPeriodAfterItsLastMark) {
    // The prefetch thread marks at 500 and 1000; the backend takes the batch at 1400 and holds
    // it at 2000 (600 ms of steps on a loaded machine). The last mark was at 1000, so the
    // message is redelivered at 2500: the keeper marks at once, at 2000. (Due a period from
    // the hold, at 2500, it was redelivered.)
    InProgressSchedule prefetch;
    prefetch.hold(0, kPeriod);
    prefetch.marked(500);
    prefetch.marked(1000);
    EXPECT_EQ(prefetch.due_ms(), 1500);
    int64_t marked = prefetch.release(); // finish(), at 1400
    EXPECT_FALSE(prefetch.holding());
    EXPECT_EQ(marked, 1000);

    InProgressSchedule keeper;
    keeper.hold(marked, kPeriod); // hold_batch, at 2000
    EXPECT_EQ(keeper.due_ms(), 1500);
    EXPECT_EQ(next_mark(keeper, 2000), 2000);
    EXPECT_LT(next_mark(keeper, 2000), marked + kAckWait);
}

TEST(InProgressSchedule, HoldingAgainNeverPostponesTheNextMark) {
    // The keeper marks at 1500; at 1800 a held pipelined batch is acknowledged and the rest
    // held again (release_durable_now while writing): the next mark stays due at 2000.
    InProgressSchedule keeper;
    keeper.hold(1000, kPeriod);
    EXPECT_EQ(keeper.due_ms(), 1500);
    keeper.marked(1500);
    EXPECT_EQ(keeper.due_ms(), 2000);
    int64_t marked = keeper.release(); // at 1800
    EXPECT_EQ(marked, 1500);
    keeper.hold(marked, kPeriod);
    EXPECT_EQ(keeper.due_ms(), 2000);
    // And again, with no mark in between: still 2000.
    keeper.hold(keeper.release(), kPeriod);
    EXPECT_EQ(keeper.due_ms(), 2000);
}

TEST(InProgressSchedule, MessagesJoiningTakeTheEarliestMark) {
    // The batch being written (its fetch marked at 1000) joins two held batches marked at 800
    // and 1200: the next mark is due at 1300, for the one marked at 800.
    InProgressSchedule keeper;
    keeper.hold(1000, kPeriod);
    keeper.hold(800, kPeriod);
    keeper.hold(1200, kPeriod);
    EXPECT_EQ(keeper.due_ms(), 1300);
    EXPECT_EQ(keeper.release(), 800); // by 800 each of them had been marked last
}

TEST(InProgressSchedule, AMarkCoversEveryMessageHeld) {
    InProgressSchedule keeper;
    keeper.hold(800, kPeriod);
    keeper.hold(1000, kPeriod);
    keeper.marked(1300);
    EXPECT_EQ(keeper.due_ms(), 1800);
    EXPECT_EQ(keeper.release(), 1300);
}

TEST(InProgressSchedule, AShorterPeriodBringsTheMarkForwardALongerOneDoesNotDelayIt) {
    InProgressSchedule keeper;
    keeper.hold(1000, kPeriod);
    keeper.hold(1000, 100); // ack_wait changed to 300 ms meanwhile
    EXPECT_EQ(keeper.due_ms(), 1100);
    keeper.hold(1000, 5000);
    EXPECT_EQ(keeper.due_ms(), 1100);
    keeper.marked(1100);
    EXPECT_EQ(keeper.due_ms(), 6100); // from now on at the period last given
}

TEST(InProgressSchedule, ReleasingNothingChangesNoBatchsTime) {
    InProgressSchedule keeper;
    EXPECT_FALSE(keeper.holding());
    int64_t marked = keeper.release();
    EXPECT_EQ(marked, InProgressSchedule::kNothingHeld);
    EXPECT_EQ(std::max<int64_t>(1234, marked), 1234); // what release_in_progress does with it
    keeper.hold(1000, kPeriod);
    keeper.release();
    EXPECT_EQ(keeper.release(), InProgressSchedule::kNothingHeld); // twice: nothing the second time
    keeper.hold(5000, kPeriod); // a new hold does not inherit an old due time
    EXPECT_EQ(keeper.due_ms(), 5500);
}

// The worker's whole path, as e2e 037 meets it: fetched while the batch before waits on a
// lock, handed over, held with two pipelined batches, held again as each is acknowledged,
// released, held again for a retry. However the steps are spaced (each gap below 2 periods, so
// that a mark at the due time or at once is still within ack_wait), no message goes ack_wait
// without a mark.
TEST(InProgressSchedule, NoMessageGoesAckWaitUnmarkedAcrossTheWorkersSteps) {
    for (int64_t gap = 0; gap < 2 * kPeriod; gap += 37) {
        int64_t now = 0;
        int64_t last_mark = 0; // the messages' real last mark (the fetch's start at first)
        int64_t longest = 0;   // the longest stretch without a mark
        // The thread holding them marks at due times up to `until` (at once when overdue).
        auto run_until = [&](InProgressSchedule& s, int64_t until) {
            while (s.holding() && next_mark(s, now) <= until) {
                int64_t at = next_mark(s, now);
                longest = std::max(longest, at - last_mark);
                last_mark = at;
                s.marked(at);
                now = at;
            }
            longest = std::max(longest, until - last_mark);
            now = until;
        };
        InProgressSchedule prefetch, keeper;
        prefetch.hold(0, kPeriod);      // the fetch starts at 0
        run_until(prefetch, 500 + gap); // returns, is mapped, waits for finish()
        int64_t marked = prefetch.release();
        now += gap; // fetch_batch .. hold_batch: unmarked
        longest = std::max(longest, now - last_mark);
        keeper.hold(marked, kPeriod); // hold_batch
        run_until(keeper, now + gap); // the write, until a held batch is acknowledged
        marked = keeper.release();
        keeper.hold(marked, kPeriod);               // release_durable_now(..., writing): held again
        run_until(keeper, now + 3 * kPeriod + gap); // the lock wait
        marked = keeper.release();                  // a batch-level failure: the pause
        now += gap;
        longest = std::max(longest, now - last_mark);
        keeper.hold(marked, kPeriod); // written again
        run_until(keeper, now + kPeriod);
        EXPECT_LT(longest, kAckWait) << "with " << gap << " ms between the steps";
    }
}
