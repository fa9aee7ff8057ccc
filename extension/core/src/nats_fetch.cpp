#include "nomnom/nats_fetch.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "nomnom/backoff.hpp"

namespace nomnom {
namespace {

// The messages an earlier pull left in `sub`, at most `batch` (no more bytes than
// `max_bytes` after the first), each by a fetch of 1 that never sends a pull: nats.c takes
// what the subscription holds first (dropping status messages), and with an expiry of 1 ns
// its deadline has passed before it would ask the server for more. So nats.c's overflow
// (nats_fetch.hpp) cannot happen, and a stray status behind the leftovers costs no pull the
// server may hold (nats-server 2.9.10 holds a no_wait pull that has an expiry until it
// expires) while they wait unmarked. Into `list` (empty: nothing was waiting, or `*status`
// says why it stopped first).
void take_leftovers(natsMsgList* list, natsSubscription* sub, int batch, int64_t max_bytes,
                    natsStatus* status) {
    *status = NATS_OK;
    int pending = 0;
    if (natsSubscription_GetPending(sub, &pending, nullptr) != NATS_OK || pending <= 0)
        return;
    int room = std::min(pending, batch);
    natsMsg** msgs =
        static_cast<natsMsg**>(std::calloc(static_cast<size_t>(room), sizeof(natsMsg*)));
    if (msgs == nullptr) {
        *status = NATS_NO_MEMORY;
        return;
    }
    int count = 0;
    int64_t bytes = 0;
    while (count < room) {
        if (count > 0 &&
            (natsSubscription_GetPending(sub, &pending, nullptr) != NATS_OK || pending <= 0))
            break;
        jsFetchRequest req;
        jsFetchRequest_Init(&req);
        req.Batch = 1;
        req.NoWait = true;
        req.Expires = 1; // ns: nats.c's deadline, in ms, is its start (see above)
        natsMsgList one = {nullptr, 0};
        natsStatus s = natsSubscription_FetchRequest(&one, sub, &req);
        if (s != NATS_OK || one.Count == 0) {
            natsMsgList_Destroy(&one);
            if (count == 0)
                *status = s == NATS_OK ? NATS_NOT_FOUND : s;
            break;
        }
        natsMsg* msg = one.Msgs[0];
        one.Msgs[0] = nullptr; // now ours
        natsMsgList_Destroy(&one);
        msgs[count++] = msg;
        bytes += natsMsg_GetDataLength(msg);
        if (max_bytes > 0 && bytes >= max_bytes)
            break;
    }
    if (count == 0) {
        std::free(msgs);
        return;
    }
    list->Msgs = msgs; // natsMsgList_Destroy frees it with free(), as nats.c allocates its own
    list->Count = count;
}

// `more`'s messages after `list`'s, in one array; `more` is left empty. When that array cannot
// be had, `more`'s messages are nak'd (redelivered at once) and destroyed, and false returned.
bool append_messages(natsMsgList* list, natsMsgList* more) {
    int total = list->Count + more->Count;
    natsMsg** msgs =
        static_cast<natsMsg**>(std::calloc(static_cast<size_t>(total), sizeof(natsMsg*)));
    if (msgs == nullptr) {
        for (int i = 0; i < more->Count; i++)
            natsMsg_Nak(more->Msgs[i], nullptr);
        natsMsgList_Destroy(more);
        *more = natsMsgList{nullptr, 0};
        return false;
    }
    if (list->Count > 0)
        std::memcpy(msgs, list->Msgs, sizeof(natsMsg*) * static_cast<size_t>(list->Count));
    std::memcpy(msgs + list->Count, more->Msgs,
                sizeof(natsMsg*) * static_cast<size_t>(more->Count));
    std::free(list->Msgs); // the arrays only: the messages are in `msgs`
    std::free(more->Msgs);
    list->Msgs = msgs;
    list->Count = total;
    *more = natsMsgList{nullptr, 0};
    return true;
}

} // namespace

int take_late_messages(natsMsgList* list, natsSubscription* sub, int batch, int64_t max_bytes) {
    int pending = 0;
    int room = batch - list->Count;
    if (room <= 0 || natsSubscription_GetPending(sub, &pending, nullptr) != NATS_OK || pending <= 0)
        return 0;
    int64_t bytes = 0; // what the list holds (only here, off the fetch's path)
    for (int i = 0; max_bytes > 0 && i < list->Count; i++)
        bytes += natsMsg_GetDataLength(list->Msgs[i]);
    if (max_bytes > 0 && bytes >= max_bytes)
        return 0;
    natsMsgList late = {nullptr, 0};
    natsStatus ignored = NATS_OK;
    take_leftovers(&late, sub, room, max_bytes > 0 ? max_bytes - bytes : 0, &ignored);
    int added = late.Count;
    if (added == 0 || !append_messages(list, &late))
        return 0;
    return added;
}

natsStatus fetch_bounded(natsMsgList* list, natsSubscription* sub, int batch, int64_t max_bytes,
                         int wait_ms) {
    *list = natsMsgList{nullptr, 0};
    auto request = [&](natsMsgList* into, int count, int64_t bytes, bool no_wait,
                       int64_t expires_ms) {
        jsFetchRequest req;
        jsFetchRequest_Init(&req);
        req.Batch = count;
        req.MaxBytes = bytes;
        req.NoWait = no_wait;
        req.Expires = expires_ms * 1000000;
        // The waiting pull asks for an idle heartbeat every quarter of its wait: a pull the
        // server lost (a consumer leader change; nats.go #2063) then ends in
        // NATS_MISSED_HEARTBEAT after half its wait instead of at its expiry.
        if (!no_wait && expires_ms / 4 >= 50)
            req.Heartbeat = expires_ms / 4 * 1000000;
        return natsSubscription_FetchRequest(into, sub, &req);
    };
    natsStatus left = NATS_OK;
    take_leftovers(list, sub, batch, max_bytes, &left);
    // Leftovers are the batch, handed over at once: they have waited unmarked since they
    // came, and a top-up's pull could keep them so up to its expiry, past a short ack_wait.
    if (list->Count > 0)
        return NATS_OK;
    if (left == NATS_MISSED_HEARTBEAT || left == NATS_NO_MEMORY)
        return left; // as the fetch itself would have said
    int64_t deadline = monotonic_ms() + wait_ms;
    natsStatus s = request(list, batch, max_bytes, batch > 1, wait_ms);
    if (s == NATS_NOT_FOUND && batch > 1) // nothing there now: wait for the first to come
        s = request(list, batch, max_bytes, false, std::max<int64_t>(deadline - monotonic_ms(), 1));
    if (s == NATS_ERR && list->Count == 0) {
        const char* text = nats_GetLastError(nullptr);
        if (text != nullptr && strstr(text, "Exceeds MaxBytes") != nullptr)
            s = request(list, 1, 0, false, std::max<int64_t>(deadline - monotonic_ms(), 1));
    }
    return s;
}

} // namespace nomnom
