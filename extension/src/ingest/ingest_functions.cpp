// SQL functions nomnom.ingest and nomnom.preview.
#include <string>
#include <vector>

#include "pg/pg_prelude.hpp"

#include "catalog/entity_registry.hpp"
#include "ingest/ingest_buffer.hpp"
#include "writer/message_writer.hpp"
#include "nomnom/json_text.hpp"
#include "nomnom/mapper.hpp"
#include "pg/pg_guard.hpp"
#include "pg/pg_text.hpp"
#include "writer/row_writer.hpp"
#include "pg/spi_session.hpp"

namespace nomnom {
namespace {

// A converted value as JSON: numbers and booleans bare, json as it is, the rest as strings.
std::string datum_json(const Column& column, Datum value) {
    std::string text;
    pg_call([&] { text = OidOutputFunctionCall(column.output_fn, value); });
    if (column.type_oid == JSONOID || column.type_oid == JSONBOID)
        return text;
    if (column.category == TYPCATEGORY_BOOLEAN)
        return text == "t" ? "true" : "false";
    if (column.category == TYPCATEGORY_NUMERIC && text != "NaN" && text != "Infinity" &&
        text != "-Infinity")
        return text;
    return json_quote(text);
}

std::string row_json(const ResolvedEntity& entity, const MappedRow& row) {
    std::vector<Datum> values(row.values.size());
    std::vector<char> nulls(row.values.size());
    convert_row(entity, row, values.data(), nulls.data());
    std::string json = "{";
    for (size_t f = 0; f < row.values.size(); ++f) {
        json += (f ? "," : "") + json_quote(entity.spec->fields[f].name) + ":";
        const std::string& function = entity.columns[f].function_sql;
        if (function.empty() || nulls[f] == 'n') {
            json += nulls[f] == 'n' ? "null" : datum_json(entity.columns[f], values[f]);
            continue;
        }
        // What the INSERT would store: the function of the element (or document).
        std::vector<TextRow> computed;
        try {
            computed = spi_query("SELECT pg_catalog.to_jsonb(" + function + "($1::jsonb))::text",
                                 {std::string(*row.values[f])}, true);
        } catch (const PgError& error) {
            throw DataError(describe_field(*entity.spec, row.origin, entity.spec->fields[f]) +
                                ": " + error.what(),
                            ERRCODE_DATA_EXCEPTION);
        }
        json += computed[0][0] ? *computed[0][0] : "null";
    }
    return json + "}";
}

void preview(FunctionCallInfo fcinfo, const std::string& entity_name, const std::string& body) {
    SpiSession spi;
    std::shared_ptr<ResolvedTree> tree = resolve_tree(entity_name);
    ResolvedTree& resolved = *tree;
    MessageMeta meta;
    meta.received_at = timestamptz_text(GetCurrentTimestamp());
    MappedDocument doc;
    MappingError error;
    if (!map_document(resolved.tree, body, meta, doc, error))
        throw DataError(error.message, sqlstate_code(error.sqlstate));
    std::vector<std::string> rows;
    for (const MappedRow& row : doc.rows)
        rows.push_back(row_json(resolved.entities[row.entity], row));
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    pg_call([&] {
        InitMaterializedSRF(fcinfo, 0);
        for (size_t r = 0; r < doc.rows.size(); ++r) {
            const ResolvedEntity& entity = resolved.entities[doc.rows[r].entity];
            Datum values[3] = {
                CStringGetTextDatum(entity.spec->name.c_str()),
                CStringGetTextDatum(entity.spec->table.c_str()),
                DirectFunctionCall1(jsonb_in, CStringGetDatum(rows[r].c_str())),
            };
            bool nulls[3] = {false, false, false};
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        }
    });
}

} // namespace
} // namespace nomnom

// A version 4 UUID, as gen_random_uuid() makes them. PostgreSQL-style.
static pg_uuid_t* random_message_id() {
    pg_uuid_t* id = static_cast<pg_uuid_t*>(palloc(sizeof(pg_uuid_t)));
    if (!pg_strong_random(id->data, UUID_LEN))
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate random values")));
    id->data[6] = (id->data[6] & 0x0f) | 0x40; // version 4
    id->data[8] = (id->data[8] & 0x3f) | 0x80; // RFC 4122 variant
    return id;
}

// PostgreSQL-style until the message is handed to the C++ buffer.
NOMNOM_FUNCTION(nomnom_ingest) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("nomnom.ingest: %s must not be null",
                               PG_ARGISNULL(0) ? "entity" : "body")));
    text* body = PG_GETARG_TEXT_PP(1);
    pg_uuid_t* id = PG_ARGISNULL(2) ? random_message_id() : PG_GETARG_UUID_P(2);
    nomnom::MessageToWrite message = {};
    message.entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
    message.body = VARDATA_ANY(body);
    message.body_len = VARSIZE_ANY_EXHDR(body);
    message.message_id = *id;
    message.received_at = GetCurrentTimestamp();
    message.track_status = true;
    message.attempts = 1;
    nomnom::ingest_enqueue(message);
    PG_RETURN_UUID_P(id);
}

NOMNOM_FUNCTION(nomnom_preview) {
    char* entity = nullptr;
    char* body = nullptr;
    nomnom::pg_call([&] {
        entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
        body = text_to_cstring(PG_GETARG_TEXT_PP(1));
    });
    nomnom::preview(fcinfo, entity, body);
    return (Datum)0;
}
