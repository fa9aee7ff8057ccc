// Dead letters: messages that cannot be written (a permanent error, or their last attempt).
// The worker writes them into nomnom.dead_letters in the batch's transaction and, once that
// committed, republishes them to messages.dlq.<Entity> in the stream's DLQ stream;
// nomnom.replay_dead_letters publishes them again to their original subjects.
//
// PostgreSQL-style code; nats.c through the status-code functions of jetstream_client.hpp.
#pragma once

#include <nats/nats.h>

#include "pg/pg_prelude.hpp"

namespace nomnom {

// A message on its way to the dead letters.
struct DeadLetter {
    natsMsg* msg; // its headers are kept
    const char* stream;
    const char* subject;
    const char* entity; // as routed
    const char* body;
    int body_len;
    const pg_uuid_t* id;
    const char* id_text;
    uint64 stream_seq;
    int attempts;
    const char* error; // NULL: "error"
};

// Inserts (or updates) its row in nomnom.dead_letters (SPI connected).
void write_dead_letter(const DeadLetter& letter);

// Republishes it to messages.dlq.<Entity> with its headers (Nats-Msg-Id made unique per
// stream sequence) and Nomnom-* headers saying where it came from and why. False, with a
// complete message in `err`, when it was not published.
bool publish_dead_letter(jsCtx* js, const DeadLetter& letter, char* err, size_t errlen);

} // namespace nomnom
