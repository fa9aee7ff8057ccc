// Retry pauses on the monotonic clock. An interval (a pause before reconnecting, before writing
// a failed batch again, between two checks) is measured on CLOCK_MONOTONIC, never on wall
// time: a clock set back by NTP or by hand must not stop retries for that long, nor one set
// forward fire them all at once.
#pragma once

#include <chrono>
#include <cstdint>

namespace nomnom {

using MonotonicClock = std::chrono::steady_clock;
static_assert(MonotonicClock::is_steady, "intervals need a clock that is never set");

// Milliseconds of the monotonic clock (an arbitrary origin: only differences mean something).
int64_t monotonic_ms();

// Exponential back-off: `first_ms` after the first failure, doubled after each further one up
// to `max_ms`; reset after a success. Plain data (zero is "no failure yet"), so that it can
// live in a struct PostgreSQL allocates zeroed.
struct Backoff {
    int failures;     // consecutive failures
    int64_t until_ms; // monotonic_ms() before which the next attempt waits
};

// The pause after `failures` consecutive failures (0 for none).
int64_t backoff_pause_ms(int failures, int64_t first_ms, int64_t max_ms);

// Records a failure at `now_ms`; returns the pause until the next attempt.
int64_t backoff_fail(Backoff& b, int64_t now_ms, int64_t first_ms, int64_t max_ms);

// After a success.
inline void backoff_reset(Backoff& b) {
    b = Backoff{0, 0};
}

// What is left of the pause at `now_ms` (0 when the next attempt may go).
inline int64_t backoff_remaining_ms(const Backoff& b, int64_t now_ms) {
    return b.until_ms > now_ms ? b.until_ms - now_ms : 0;
}

} // namespace nomnom
