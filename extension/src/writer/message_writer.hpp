// Writing messages: the code path shared by nomnom.ingest and the background worker.
// C++-style.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pg/pg_prelude.hpp"

#include "catalog/entity_registry.hpp"
#include "writer/row_writer.hpp"

namespace nomnom {

struct PremappedMessage;

// One message to write. Strings are NUL-terminated except `body`.
struct MessageToWrite {
    const char* entity; // routed entity name (a root entity)
    const char* body;
    int body_len;
    pg_uuid_t message_id;
    const char* stream;      // NULL for SQL ingest
    const char* subject;     // NULL when none
    int64 stream_seq;        // 0 when none
    TimestampTz received_at;
    bool track_status;       // claim the id and mark it completed in nomnom.message_status
    bool publish_entities;   // each row written goes into nomnom.entity_outbox (entity events)
    int attempts;            // delivery count, stored in message_status.attempts
    PremappedMessage* premapped; // mapped ahead of its batch (the worker's prefetch), or NULL
};

enum MessageOutcomeKind {
    NOMNOM_WRITTEN,   // rows written, status completed
    NOMNOM_DUPLICATE, // the id was already completed (or repeated in the batch): nothing written
    NOMNOM_REJECTED   // bad input: nothing written; sqlerrcode and error say why
};

struct MessageOutcome {
    MessageOutcomeKind kind;
    int sqlerrcode; // for NOMNOM_REJECTED
    char* error;    // for NOMNOM_REJECTED, palloc'd in the caller's memory context
};

// What the worker reads from a message before writing it: its entity, id and JetStream
// metadata. Read on the prefetch thread (prefetch.hpp) so that the backend need not.
struct MessageFacts {
    bool known = false;              // false: the backend reads them itself
    uint64_t options_generation = 0; // `entity` was routed with the options of this generation
    std::string entity;
    char id_text[37] = {};           // canonical lower-case UUID
    pg_uuid_t id{};
    uint64_t stream_seq = 0;
    int delivered = 1;
    int64_t timestamp_ns = 0;        // when JetStream stored it (Unix ns); 0 when unknown
    int64_t pending = -1;            // the consumer's pending count after it; -1 when unknown
};

// A message as the prefetch thread worked it out ahead of its batch (prefetch.hpp). The
// writer takes the mapping (and the values fast_input converted) when `mapped_with` is still
// the entity's current tree, and maps again otherwise; then notes the entity and tree it
// wrote with, for the next prefetch.
struct PremappedMessage {
    MessageFacts facts;
    std::shared_ptr<ResolvedTree> mapped_with; // nullptr: not mapped ahead, or taken
    bool ok = false;                           // mapped; else `error` says why not
    // Mapped, values preconverted. Once written, the writer hands the rows back, to be freed
    // with the batch on the prefetch thread, where most of those thousands of small
    // allocations were made (bench/README.md, "Why the code is so"). Only ever the prefetch
    // thread's allocations: what the writer maps itself it frees itself (item 47).
    DocumentRows rows;
    MappingError error;
    std::string written_entity;
    std::shared_ptr<ResolvedTree> written_tree;
};

// A message mapped and converted, ready to be claimed and written. Made by prepare_message,
// it owns copies of the message's strings, so it can wait (see ingest_buffer.hpp); within
// write_batch, whose messages outlive it, `message` points at the caller's strings and these
// stay empty.
struct PreparedMessage {
    MessageToWrite message{};
    std::string entity, stream, subject;
    std::shared_ptr<ResolvedTree> tree;
    DocumentRows rows; // its own mapping, unless it writes `borrowed`
    // write_batch: the prefetch thread's mapping (PremappedMessage::rows), written where it
    // is. Moving it here and back read and wrote its ~300 bytes, lines the other core wrote
    // (bench/README.md, item 34).
    DocumentRows* borrowed = nullptr;
    DocumentRows& doc_rows() { return borrowed ? *borrowed : rows; }
    MessageOutcomeKind kind = NOMNOM_WRITTEN;
};

// Maps and converts one message, its Datums allocated in `datum_context` (the current
// memory context when null). A data problem is a DataError.
std::unique_ptr<PreparedMessage> prepare_message(const MessageToWrite& message,
                                                 MemoryContext datum_context = nullptr);

// Claims and writes prepared messages set-wise (SPI connected); sets each one's `kind` to
// NOMNOM_WRITTEN or NOMNOM_DUPLICATE. Any error throws.
void write_prepared(const std::vector<PreparedMessage*>& messages);

// Writes `count` messages set-wise in the current (sub)transaction: one claim (with
// track_status) and one statement per table for the whole batch. A message whose body
// cannot be mapped (bad JSON, missing or mistyped field, unknown entity) is NOMNOM_REJECTED
// in `outcomes` and does not stop the others. An error while writing (a constraint
// violation, a serialization failure) throws (PgError/DataError) for the whole batch: roll
// the subtransaction back and write the messages one by one to find the culprit
// (set_wise_then_one_by_one, pg/subtransaction.hpp). Bad input has a SQLSTATE of class 22
// (data exception), 23 (integrity constraint violation), 42704 (unknown entity) or 42P01
// (missing table). C++-style.
void write_batch(const MessageToWrite* messages, int count, MessageOutcome* outcomes);

} // namespace nomnom
