// Writing one message: the code path shared by nomnom.ingest and the background worker.
#pragma once

#include "pg_prelude.hpp"

extern "C" {

// One message to write. Strings are NUL-terminated except `body`.
struct MessageToWrite {
    const char* entity;      // routed entity name (a root entity)
    const char* body;
    int body_len;
    pg_uuid_t message_id;
    const char* stream;      // NULL for SQL ingest
    const char* subject;     // NULL when none
    int64 stream_seq;        // 0 when none
    TimestampTz received_at;
    bool track_status;       // claim the id and mark it completed in nomnom.message_status
    int attempts;            // delivery count, stored in message_status.attempts
};

// PostgreSQL-style (may ereport ERROR). Writes one message in the current (sub)transaction:
// claims its id in nomnom.message_status (returns false and writes nothing when the id is
// already 'completed'), maps the body with the entity tree and writes the root and derived
// rows. Bad input raises ERROR with a SQLSTATE: class 22 (data exception), 23 (integrity
// constraint violation), 42704 (unknown entity), 42P01 (missing table).
bool nomnom_write_message(const MessageToWrite* message);
}

namespace nomnom {
// The same, C++-style (throws PgError/DataError).
bool write_message(const MessageToWrite& message);
} // namespace nomnom
