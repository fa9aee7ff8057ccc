#include "message_writer.hpp"

#include <string>

#include "nomnom/mapper.hpp"
#include "entity_registry.hpp"
#include "pg_guard.hpp"
#include "pg_text.hpp"
#include "row_writer.hpp"
#include "spi_session.hpp"

namespace nomnom {
namespace {

// Claims the id: inserts it as completed, or turns a pending/failed row completed. A row
// that is already completed is left alone and the claim returns no row. The conflicting row
// is locked, so a concurrent writer of the same id waits and then sees it completed.
constexpr const char* kClaimSql =
    "INSERT INTO nomnom.message_status AS s "
    "  (message_id, stream, subject, entity, status, attempts, stream_seq, received_at, completed_at) "
    "VALUES ($1, $2, $3, $4, 'completed', $5, $6, $7, clock_timestamp()) "
    "ON CONFLICT (message_id) DO UPDATE SET status = 'completed', "
    "  stream = COALESCE(EXCLUDED.stream, s.stream), subject = COALESCE(EXCLUDED.subject, s.subject), "
    "  entity = EXCLUDED.entity, attempts = GREATEST(EXCLUDED.attempts, s.attempts), "
    "  stream_seq = COALESCE(EXCLUDED.stream_seq, s.stream_seq), error = NULL, completed_at = clock_timestamp() "
    "WHERE s.status <> 'completed' "
    "RETURNING 1";

SPIPlanPtr claim_plan = nullptr;

bool claim(const MessageToWrite& message) {
    bool claimed = false;
    pg_call([&] {
        if (claim_plan == nullptr) {
            Oid types[] = {UUIDOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT8OID, TIMESTAMPTZOID};
            SPIPlanPtr plan = SPI_prepare_cursor(kClaimSql, 7, types, CURSOR_OPT_GENERIC_PLAN);
            if (plan == nullptr)
                elog(ERROR, "nomnom: cannot prepare the status claim: %s",
                     SPI_result_code_string(SPI_result));
            SPI_keepplan(plan);
            claim_plan = plan;
        }
        Datum values[7] = {
            UUIDPGetDatum(const_cast<pg_uuid_t*>(&message.message_id)),
            message.stream ? CStringGetTextDatum(message.stream) : 0,
            message.subject ? CStringGetTextDatum(message.subject) : 0,
            CStringGetTextDatum(message.entity),
            Int32GetDatum(message.attempts),
            Int64GetDatum(message.stream_seq),
            TimestampTzGetDatum(message.received_at),
        };
        char nulls[7] = {' ', message.stream ? ' ' : 'n', message.subject ? ' ' : 'n', ' ', ' ',
                         message.stream_seq > 0 ? ' ' : 'n', ' '};
        int rc = SPI_execute_plan(claim_plan, values, nulls, false, 0);
        if (rc < 0)
            elog(ERROR, "nomnom: status claim failed: %s", SPI_result_code_string(rc));
        claimed = SPI_processed > 0;
    });
    return claimed;
}

} // namespace

bool write_message(const MessageToWrite& message) {
    SpiSession spi;
    ResolvedTree& resolved = resolve_tree(message.entity);
    if (message.track_status && !claim(message))
        return false; // already completed: a redelivery or a retry
    MessageMeta meta;
    meta.message_id = uuid_text(message.message_id);
    if (message.subject)
        meta.subject = message.subject;
    if (message.stream_seq > 0)
        meta.stream_seq = message.stream_seq;
    meta.received_at = timestamptz_text(message.received_at);
    MappedDocument doc;
    MappingError error;
    if (!map_document(resolved.tree, std::string_view(message.body, message.body_len), meta, doc,
                      error))
        throw DataError(error.message, sqlstate_code(error.sqlstate));
    write_document(resolved, doc);
    return true;
}

} // namespace nomnom

bool nomnom_write_message(const MessageToWrite* message) {
    bool written = false;
    nomnom::run_guarded([&] { written = nomnom::write_message(*message); });
    return written;
}
