// What the worker reads of a JetStream delivery's metadata (its reply subject), without the
// allocations of natsMsg_GetMetaData. Pure C++ (nats.c), for any thread.
//
// natsMsg_GetMetaData allocates a jsMsgMetaData and copies the stream's and the consumer's
// names (and the domain's) into it, which the worker never reads, then frees all of it: over
// a third of its cost on the prefetch thread (bench/README.md, item 35). The worker needs
// four numbers, which nats.c's own parser of the reply subject, js_getMetaData, gives
// without allocating when the names are not asked for. So the subject is parsed by the very
// code that natsMsg_GetMetaData runs (every numeric token checked the same way), and no
// parser of ours could read it differently.
#pragma once

#include <nats/nats.h>

#include <cstdint>

namespace nomnom {

struct JsDelivery {
    uint64_t stream_seq = 0;
    uint64_t delivered = 0;
    int64_t timestamp_ns = 0;
    uint64_t pending = 0;
};

// `msg`'s metadata into `out`, as natsMsg_GetMetaData would give them: false (and `out`
// untouched) when `msg` has no JetStream reply subject or one that nats.c cannot parse.
// `msg` must come from a JetStream subscription (natsMsg_GetMetaData refuses others; the
// worker's messages all do).
bool read_js_delivery(natsMsg* msg, JsDelivery& out);

} // namespace nomnom
