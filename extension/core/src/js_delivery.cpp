#include "nomnom/js_delivery.hpp"

#include <cstring>

// nats.c's parser of a JetStream reply subject, without "$JS.ACK." (src/js.h, not in the
// public nats.h, but exported by libnats, and natsMsg_GetMetaData's own: the same signature
// from nats.c 3.3 to 3.10 at least). `asked` is how many of the outputs are not null; it
// still parses and checks every numeric token up to the last one asked for.
extern "C" natsStatus js_getMetaData(const char* reply, char** domain, char** stream,
                                     char** consumer, uint64_t* numDelivered, uint64_t* sseq,
                                     uint64_t* dseq, int64_t* tm, uint64_t* numPending, int asked);

namespace nomnom {
namespace {

constexpr char kAckPrefix[] = "$JS.ACK."; // nats.c's jsAckPrefix
constexpr size_t kAckPrefixLen = sizeof kAckPrefix - 1;

} // namespace

bool read_js_delivery(natsMsg* msg, JsDelivery& out) {
    const char* reply = natsMsg_GetReply(msg);
    if (reply == nullptr || std::strncmp(reply, kAckPrefix, kAckPrefixLen) != 0)
        return false;
    JsDelivery got;
    // The pending count is the last token: asking for it makes the parse go through all of
    // them, as natsMsg_GetMetaData's does.
    if (js_getMetaData(reply + kAckPrefixLen, nullptr, nullptr, nullptr, &got.delivered,
                       &got.stream_seq, nullptr, &got.timestamp_ns, &got.pending, 4) != NATS_OK)
        return false;
    out = got;
    return true;
}

} // namespace nomnom
