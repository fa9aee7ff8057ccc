// The worker's pull from a JetStream consumer (the prefetch thread's fetch), around a heap
// overflow of nats.c 3.4.1 (Debian 12's libnats; fixed upstream by nats.c #749, 3.9).
//
// natsSubscription_FetchRequest allocates room for `Batch` messages, first takes what the
// subscription already holds (messages a pull that ended early left behind: its deadline
// passed while the server was still sending, say on a starved thread), and then, after
// asking for Batch - k more, keeps taking messages until `count == Batch - k`. With k > Batch / 2
// leftovers that never happens, and every late message is written past the end of the
// array: glibc's heap corrupted ("malloc(): unsorted double linked list corrupted").
// So leftovers are taken one fetch of 1 at a time (one that sends no pull) and handed over
// as the batch, at once; the full fetch runs only on an empty subscription. Pure C++
// (nats.c), for any thread.
#pragma once

#include <nats/nats.h>

#include <cstdint>

namespace nomnom {

// Up to `batch` messages, and no more bytes than `max_bytes` (JetStream's max_bytes: the
// server stops before the message that would pass it; 0: no bound), waiting at most
// `wait_ms`: natsSubscription_Fetch's way (what is there at once, else the first to come).
// A message bigger than `max_bytes` by itself comes alone, unbounded, rather than stop the
// consumer (JetStream answers 409 "Message Size Exceeds MaxBytes" for it). Messages left in
// the subscription by an earlier pull come first, as a batch of their own (see above).
// `list` is the caller's to destroy (natsMsgList_Destroy); it never holds more than `batch`.
natsStatus fetch_bounded(natsMsgList* list, natsSubscription* sub, int batch, int64_t max_bytes,
                         int wait_ms);

// Messages that reached `sub` after the fetch that pulled them returned, added to the end of
// `list` (a fetch's) until it holds `batch` messages or `max_bytes` of data (0: no bound).
// nats.c 3.4.1 matches a pull's answers to no request: a fetch ends at its deadline, or on a
// status an earlier pull left in the subscription (a 408 that came after that pull's deadline),
// while its own pull may still wait at the server; what that pull gets lands here afterwards,
// where no one can mark it in progress until the next fetch takes it. Taken as the leftovers
// above (no pull is sent; stray statuses are dropped). Returns how many were added.
int take_late_messages(natsMsgList* list, natsSubscription* sub, int batch, int64_t max_bytes);

} // namespace nomnom
