#include "nomnom/backoff.hpp"

namespace nomnom {

int64_t monotonic_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               MonotonicClock::now().time_since_epoch())
        .count();
}

int64_t backoff_pause_ms(int failures, int64_t first_ms, int64_t max_ms) {
    if (failures <= 0)
        return 0;
    int64_t pause = first_ms;
    for (int i = 1; i < failures && pause < max_ms; i++)
        pause *= 2;
    return pause < max_ms ? pause : max_ms;
}

int64_t backoff_fail(Backoff& b, int64_t now_ms, int64_t first_ms, int64_t max_ms) {
    if (b.failures < 1000000)
        b.failures++;
    int64_t pause = backoff_pause_ms(b.failures, first_ms, max_ms);
    b.until_ms = now_ms + pause;
    return pause;
}

} // namespace nomnom
