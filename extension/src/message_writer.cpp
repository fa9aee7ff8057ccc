#include "message_writer.hpp"

#include <cstring>
#include <map>
#include <unordered_set>

#include "nomnom/mapper.hpp"
#include "pg_guard.hpp"
#include "pg_text.hpp"
#include "spi_session.hpp"

namespace nomnom {
namespace {

// Claims ids: inserts them as completed, or turns pending/failed rows completed. A row that
// is already completed is left alone and not returned. A conflicting row is locked, so a
// concurrent writer of the same id waits and then sees it completed.
constexpr const char* kClaimSql =
    "INSERT INTO nomnom.message_status AS s "
    "  (message_id, stream, subject, entity, status, attempts, stream_seq, received_at, completed_at) "
    "SELECT u.id, u.stream, u.subject, u.entity, 'completed', u.attempts, u.seq, u.received_at, "
    "       clock_timestamp() "
    "FROM unnest($1, $2, $3, $4, $5, $6, $7) AS u(id, stream, subject, entity, attempts, seq, received_at) "
    "ON CONFLICT (message_id) DO UPDATE SET status = 'completed', "
    "  stream = COALESCE(EXCLUDED.stream, s.stream), subject = COALESCE(EXCLUDED.subject, s.subject), "
    "  entity = EXCLUDED.entity, attempts = GREATEST(EXCLUDED.attempts, s.attempts), "
    "  stream_seq = COALESCE(EXCLUDED.stream_seq, s.stream_seq), error = NULL, "
    "  completed_at = clock_timestamp() "
    "WHERE s.status <> 'completed' "
    "RETURNING s.message_id";

SPIPlanPtr claim_plan = nullptr;

std::string id_key(const pg_uuid_t& id) {
    return std::string(reinterpret_cast<const char*>(id.data), UUID_LEN);
}

// Claims the messages; returns the ids that were not already completed.
std::unordered_set<std::string> claim(const std::vector<PreparedMessage*>& messages) {
    std::vector<Datum> ids, streams, subjects, entities, attempts, seqs, received;
    std::vector<char> no_nulls(messages.size(), 0), stream_nulls, subject_nulls, seq_nulls;
    pg_call([&] {
        for (const PreparedMessage* prepared : messages) {
            const MessageToWrite& m = prepared->message;
            ids.push_back(UUIDPGetDatum(const_cast<pg_uuid_t*>(&m.message_id)));
            streams.push_back(m.stream ? CStringGetTextDatum(m.stream) : 0);
            stream_nulls.push_back(m.stream == nullptr);
            subjects.push_back(m.subject ? CStringGetTextDatum(m.subject) : 0);
            subject_nulls.push_back(m.subject == nullptr);
            entities.push_back(CStringGetTextDatum(m.entity));
            attempts.push_back(Int32GetDatum(m.attempts));
            seqs.push_back(Int64GetDatum(m.stream_seq));
            seq_nulls.push_back(m.stream_seq <= 0);
            received.push_back(TimestampTzGetDatum(m.received_at));
        }
    });
    std::vector<Datum> params = {
        make_array(UUIDOID, ids, no_nulls),           make_array(TEXTOID, streams, stream_nulls),
        make_array(TEXTOID, subjects, subject_nulls), make_array(TEXTOID, entities, no_nulls),
        make_array(INT4OID, attempts, no_nulls),      make_array(INT8OID, seqs, seq_nulls),
        make_array(TIMESTAMPTZOID, received, no_nulls)};
    if (claim_plan == nullptr) {
        pg_call([&] {
            Oid types[] = {UUIDARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
                           INT4ARRAYOID, INT8ARRAYOID, TIMESTAMPTZARRAYOID};
            SPIPlanPtr plan = SPI_prepare_cursor(kClaimSql, 7, types, CURSOR_OPT_GENERIC_PLAN);
            if (plan == nullptr)
                elog(ERROR, "nomnom: cannot prepare the status claim: %s",
                     SPI_result_code_string(SPI_result));
            SPI_keepplan(plan);
            claim_plan = plan;
        });
    }
    execute(claim_plan, params, "status claim");
    std::unordered_set<std::string> claimed;
    pg_call([&] {
        for (uint64 r = 0; r < SPI_processed; ++r) {
            bool is_null;
            Datum id = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &is_null);
            claimed.insert(id_key(*DatumGetUUIDP(id)));
        }
    });
    return claimed;
}

} // namespace

std::unique_ptr<PreparedMessage> prepare_message(const MessageToWrite& message,
                                                 MemoryContext datum_context) {
    auto prepared = std::make_unique<PreparedMessage>();
    prepared->entity = message.entity;
    prepared->message = message;
    prepared->message.entity = prepared->entity.c_str();
    if (message.stream) {
        prepared->stream = message.stream;
        prepared->message.stream = prepared->stream.c_str();
    }
    if (message.subject) {
        prepared->subject = message.subject;
        prepared->message.subject = prepared->subject.c_str();
    }
    prepared->message.body = nullptr; // mapped now; the body is not kept
    prepared->message.body_len = 0;
    prepared->tree = resolve_tree(message.entity);
    MessageMeta meta;
    meta.message_id = uuid_text(message.message_id);
    meta.subject = prepared->subject;
    if (message.stream_seq > 0)
        meta.stream_seq = message.stream_seq;
    meta.received_at = timestamptz_text(message.received_at);
    MappingError error;
    if (!map_document(prepared->tree->tree, std::string_view(message.body, message.body_len), meta,
                      prepared->rows.doc, error))
        throw DataError(error.message, sqlstate_code(error.sqlstate));
    MemoryContext caller_context = CurrentMemoryContext;
    if (datum_context)
        MemoryContextSwitchTo(datum_context);
    try {
        convert_document(*prepared->tree, prepared->rows);
    } catch (...) {
        MemoryContextSwitchTo(caller_context);
        throw;
    }
    MemoryContextSwitchTo(caller_context);
    return prepared;
}

void write_prepared(const std::vector<PreparedMessage*>& messages) {
    // An id repeated within the batch is written once, the first time.
    std::unordered_set<std::string> seen;
    std::vector<PreparedMessage*> fresh, to_claim;
    for (PreparedMessage* message : messages) {
        message->kind = NOMNOM_WRITTEN;
        reset_write_state(message->rows);
        if (!seen.insert(id_key(message->message.message_id)).second) {
            message->kind = NOMNOM_DUPLICATE;
            continue;
        }
        fresh.push_back(message);
        if (message->message.track_status)
            to_claim.push_back(message);
    }
    if (!to_claim.empty()) {
        std::unordered_set<std::string> claimed = claim(to_claim);
        for (PreparedMessage* message : to_claim)
            if (claimed.count(id_key(message->message.message_id)) == 0)
                message->kind = NOMNOM_DUPLICATE; // already completed: a redelivery
    }
    // One set-wise write per entity tree.
    std::map<ResolvedTree*, std::vector<DocumentRows*>> groups;
    for (PreparedMessage* message : fresh)
        if (message->kind == NOMNOM_WRITTEN)
            groups[message->tree.get()].push_back(&message->rows);
    for (auto& [tree, docs] : groups)
        write_documents(*tree, docs);
}

void write_batch(const MessageToWrite* messages, int count, MessageOutcome* outcomes) {
    SpiSession spi;
    std::vector<std::unique_ptr<PreparedMessage>> prepared;
    std::vector<PreparedMessage*> to_write;
    std::vector<int> index_of;
    for (int i = 0; i < count; ++i) {
        outcomes[i] = MessageOutcome{NOMNOM_WRITTEN, 0, nullptr};
        try {
            prepared.push_back(prepare_message(messages[i]));
        } catch (const DataError& error) {
            // The message's own problem: reject it, write the others. The text goes in the
            // caller's memory context, as SPI's is gone once the batch returns.
            outcomes[i].kind = NOMNOM_REJECTED;
            outcomes[i].sqlerrcode = error.sqlerrcode();
            pg_call([&] {
                outcomes[i].error = static_cast<char*>(SPI_palloc(strlen(error.what()) + 1));
                strcpy(outcomes[i].error, error.what());
            });
            continue;
        }
        to_write.push_back(prepared.back().get());
        index_of.push_back(i);
    }
    write_prepared(to_write);
    for (size_t k = 0; k < to_write.size(); ++k)
        outcomes[index_of[k]].kind = to_write[k]->kind;
}

} // namespace nomnom

bool nomnom_write_message(const MessageToWrite* message) {
    MessageOutcome outcome;
    nomnom::run_guarded([&] { nomnom::write_batch(message, 1, &outcome); });
    if (outcome.kind == NOMNOM_REJECTED)
        ereport(ERROR, (errcode(outcome.sqlerrcode), errmsg("%s", outcome.error)));
    return outcome.kind == NOMNOM_WRITTEN;
}

void nomnom_write_batch(const MessageToWrite* messages, int count, MessageOutcome* outcomes) {
    nomnom::run_guarded([&] { nomnom::write_batch(messages, count, outcomes); });
}
