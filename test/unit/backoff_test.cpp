#include "nomnom/backoff.hpp"

#include <gtest/gtest.h>

#include <ctime>

using namespace nomnom;

TEST(Backoff, DoublesFromTheFirstPauseUpToTheCap) {
    EXPECT_EQ(backoff_pause_ms(0, 200, 10000), 0);
    EXPECT_EQ(backoff_pause_ms(1, 200, 10000), 200);
    EXPECT_EQ(backoff_pause_ms(2, 200, 10000), 400);
    EXPECT_EQ(backoff_pause_ms(3, 200, 10000), 800);
    EXPECT_EQ(backoff_pause_ms(6, 200, 10000), 6400);
    EXPECT_EQ(backoff_pause_ms(7, 200, 10000), 10000);
    EXPECT_EQ(backoff_pause_ms(1000000, 200, 10000), 10000); // no overflow
}

TEST(Backoff, FailRecordsTheNextAttemptAndResetForgetsIt) {
    Backoff b{};
    EXPECT_EQ(backoff_remaining_ms(b, 5000), 0);
    EXPECT_EQ(backoff_fail(b, 5000, 250, 5000), 250);
    EXPECT_EQ(b.failures, 1);
    EXPECT_EQ(backoff_remaining_ms(b, 5100), 150);
    EXPECT_EQ(backoff_remaining_ms(b, 5250), 0);
    EXPECT_EQ(backoff_fail(b, 6000, 250, 5000), 500);
    EXPECT_EQ(backoff_remaining_ms(b, 6000), 500);
    backoff_reset(b);
    EXPECT_EQ(b.failures, 0);
    EXPECT_EQ(backoff_remaining_ms(b, 6000), 0);
}

// monotonic_ms() is CLOCK_MONOTONIC (what steady_clock reads on Linux), not CLOCK_REALTIME.
TEST(Backoff, MonotonicMsReadsClockMonotonic) {
    timespec before{}, after{};
    clock_gettime(CLOCK_MONOTONIC, &before);
    int64_t ms = monotonic_ms();
    clock_gettime(CLOCK_MONOTONIC, &after);
    EXPECT_GE(ms, static_cast<int64_t>(before.tv_sec) * 1000 + before.tv_nsec / 1000000);
    EXPECT_LE(ms, static_cast<int64_t>(after.tv_sec) * 1000 + after.tv_nsec / 1000000);
    timespec wall{};
    clock_gettime(CLOCK_REALTIME, &wall);
    // The two clocks are decades apart on any running machine: it is not wall time.
    EXPECT_GT(static_cast<int64_t>(wall.tv_sec) * 1000 - ms, int64_t{86400} * 1000 * 365);
}
