#include "writer/row_writer.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>

#include "writer/batch_rows.hpp"
#include "pg/pg_guard.hpp"
#include "pg/spi_session.hpp"
#include "writer/bulk_insert.hpp"

extern "C" {
#include "utils/datum.h"
}

namespace nomnom {
namespace {

SPIPlanPtr prepare_kept(const std::string& sql, const std::vector<Oid>& types,
                        const std::string& entity) {
    SPIPlanPtr plan = nullptr;
    try {
        // Generic plans: these statements have nothing a custom plan could use, and
        // replanning each batch costs more than it could save.
        pg_call([&] {
            plan = prepare_kept_plan(sql.c_str(), static_cast<int>(types.size()), types.data(),
                                     CURSOR_OPT_GENERIC_PLAN);
        });
    } catch (const PgError& error) {
        throw DataError("entity \"" + entity + "\": cannot write its table: " + error.what(),
                        error.sqlerrcode());
    }
    return plan;
}

bool is_replace_child(const ResolvedEntity& entity) {
    return entity.parent >= 0 && entity.spec->on_parent_update == OnParentUpdate::Replace &&
           !entity.links.empty();
}

// A replace-mode child whose unique key includes its link to the parent can only conflict
// with rows of the same parent row, and those are deleted before the new ones go in (or
// the parent is new): a plain INSERT does, without the cost of ON CONFLICT's pre-check.
// A key repeated within one document is then a unique violation.
bool replaced_whole(const ResolvedEntity& entity) {
    if (!is_replace_child(entity))
        return false;
    for (const LinkField& link : entity.links) {
        const std::string& name = entity.spec->fields[link.child_field].name;
        if (std::find(entity.spec->unique.begin(), entity.spec->unique.end(), name) ==
            entity.spec->unique.end())
            return false;
    }
    return true;
}

// Whether the writer needs to know, row by row, what the insert did: children need the
// new-or-updated flag and skipped parents; a child copying the id needs the id.
bool needs_result(const ResolvedEntity& entity) {
    return !entity.children.empty() || entity.returns_id;
}

bool ignores_conflicts(const ResolvedEntity& entity) {
    return !entity.spec->unique.empty() && entity.spec->on_conflict == OnConflict::Ignore &&
           !replaced_whole(entity);
}

bool has_function_fields(const ResolvedEntity& entity) {
    return std::any_of(entity.columns.begin(), entity.columns.end(),
                       [](const Column& column) { return !column.function_sql.empty(); });
}

// An error while writing an entity with function fields: one a function raised (RAISE is
// P0001) is a data error, so its message becomes a dead letter rather than a retry. Classes
// that already say data (22, 23), access (42), or a passing trouble (08, 40, 53, 55, 57,
// 58) keep their code.
int write_error_code(const ResolvedEntity& entity, int sqlerrcode) {
    if (!has_function_fields(entity))
        return sqlerrcode;
    static const int kept[] = {ERRCODE_DATA_EXCEPTION,
                               ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION,
                               ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION,
                               ERRCODE_CONNECTION_EXCEPTION,
                               ERRCODE_TRANSACTION_ROLLBACK,
                               ERRCODE_INSUFFICIENT_RESOURCES,
                               ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                               ERRCODE_OPERATOR_INTERVENTION,
                               ERRCODE_SYSTEM_ERROR};
    int category = ERRCODE_TO_CATEGORY(sqlerrcode);
    for (int kept_category : kept)
        if (category == kept_category)
            return sqlerrcode;
    return ERRCODE_DATA_EXCEPTION;
}

bool has_conflict_clause(const ResolvedEntity& entity) {
    const EntitySpec& spec = *entity.spec;
    return !spec.unique.empty() && spec.on_conflict != OnConflict::Error && !replaced_whole(entity);
}

// INSERT ... SELECT * FROM nomnom.batch_rows($1) AS r(c1 type1, ...) [ON CONFLICT ...]
// [RETURNING ...]: the batch's rows as they are (batch_rows.hpp), each column with its
// type modifier. Rows come back in input order; with DO NOTHING a skipped row is missing,
// so then the unique key comes back too and rows are matched by it. Without
// `conflict_clause`: the plain INSERT that plain_first.hpp tries first. With `events`, every
// row comes back, the row as stored last (row_to_json), for entity events.
std::string insert_sql(const ResolvedEntity& entity, bool conflict_clause, bool events = false) {
    const EntitySpec& spec = *entity.spec;
    std::vector<std::string> names;
    std::string definitions;
    for (size_t i = 0; i < spec.fields.size(); ++i) {
        names.push_back(spec.fields[i].name);
        definitions += (i ? ", c" : "c") + std::to_string(i + 1) + " " + entity.columns[i].type_sql;
    }
    // A function field's column carries its argument: the function is called here, once a
    // row, in the one statement that writes the batch.
    std::string select = "*";
    if (has_function_fields(entity)) {
        select.clear();
        for (size_t i = 0; i < entity.columns.size(); ++i) {
            std::string column = "r.c" + std::to_string(i + 1);
            const std::string& function = entity.columns[i].function_sql;
            select += (i ? ", " : "") + (function.empty() ? column : function + "(" + column + ")");
        }
    }
    std::string sql = "INSERT INTO " + entity.table_sql + " AS t (" + quote_ident_list(names) +
                      ") SELECT " + select + " FROM nomnom.batch_rows($1) AS r(" + definitions +
                      ")";
    if (conflict_clause) {
        sql += " ON CONFLICT (" + quote_ident_list(spec.unique) + ") DO ";
        if (spec.on_conflict == OnConflict::Ignore) {
            sql += "NOTHING";
        } else {
            std::vector<std::string> updates;
            for (const FieldSpec& field : spec.fields)
                if (std::find(spec.unique.begin(), spec.unique.end(), field.name) == spec.unique.end())
                    updates.push_back(field.name);
            if (updates.empty()) // a key-only table: touch the row so RETURNING sees it
                updates.push_back(spec.unique.front());
            sql += "UPDATE SET ";
            for (size_t i = 0; i < updates.size(); ++i) {
                std::string column = quote_ident(updates[i]);
                sql += (i ? ", " : "") + column + " = EXCLUDED." + column;
            }
        }
    }
    // The plain INSERT's rows are all new: it returns something only when a child copies
    // the generated ids.
    if (events || (conflict_clause ? needs_result(entity) : entity.returns_id)) {
        sql += " RETURNING (t.xmax = 0)";
        sql += entity.returns_id ? ", t.id" : ", 0::int8";
        if (conflict_clause && ignores_conflicts(entity))
            sql += ", " + quote_ident_list(spec.unique, "t.");
        if (events)
            sql += ", row_to_json(t)";
    }
    return sql;
}

// The entity's insert as its spec says (with ON CONFLICT when it has one).
SPIPlanPtr insert_plan(ResolvedEntity& entity, bool events = false) {
    if (events) {
        if (!entity.event_insert_plan)
            entity.event_insert_plan =
                prepare_kept(insert_sql(entity, has_conflict_clause(entity), true), {INT8OID},
                             entity.spec->name);
        return entity.event_insert_plan;
    }
    if (!entity.insert_plan)
        entity.insert_plan = prepare_kept(insert_sql(entity, has_conflict_clause(entity)), {INT8OID},
                                          entity.spec->name);
    return entity.insert_plan;
}

// The same without ON CONFLICT, for an entity that has one.
SPIPlanPtr plain_insert_plan(ResolvedEntity& entity, bool events = false) {
    if (events) {
        if (!entity.event_plain_insert_plan)
            entity.event_plain_insert_plan =
                prepare_kept(insert_sql(entity, false, true), {INT8OID}, entity.spec->name);
        return entity.event_plain_insert_plan;
    }
    if (!entity.plain_insert_plan)
        entity.plain_insert_plan = prepare_kept(insert_sql(entity, false), {INT8OID},
                                                entity.spec->name);
    return entity.plain_insert_plan;
}

// What rows of `entity` hand to their replace-mode children when they are deleted.
std::vector<std::string> cascade_keys(const ResolvedTree& resolved, const ResolvedEntity& entity) {
    std::vector<std::string> keys;
    for (int child_index : entity.children) {
        const ResolvedEntity& child = resolved.entities[child_index];
        if (!is_replace_child(child))
            continue;
        for (const LinkField& link : child.links) {
            std::string key = link.parent_field < 0 ? "id" : entity.spec->fields[link.parent_field].name;
            if (std::find(keys.begin(), keys.end(), key) == keys.end())
                keys.push_back(key);
        }
    }
    return keys;
}

// DELETE the rows of `child` that point at any of the given parent rows (one array per
// link column), returning what its own replace-mode children point at.
SPIPlanPtr delete_plan(const ResolvedTree& resolved, ResolvedEntity& child) {
    if (child.delete_plan)
        return child.delete_plan;
    std::string arrays, match;
    std::vector<Oid> types;
    for (size_t i = 0; i < child.links.size(); ++i) {
        const LinkField& link = child.links[i];
        std::string key = "k" + std::to_string(i + 1);
        arrays += (i ? ", $" : "$") + std::to_string(i + 1);
        match += (i ? " AND c." : "c.") + quote_ident(child.spec->fields[link.child_field].name) +
                 " = parents." + key;
        types.push_back(child.columns[link.child_field].array_type);
    }
    std::string columns;
    for (size_t i = 0; i < child.links.size(); ++i)
        columns += (i ? ", k" : "k") + std::to_string(i + 1);
    std::string sql = "DELETE FROM " + child.table_sql + " AS c USING unnest(" + arrays +
                      ") AS parents(" + columns + ") WHERE " + match;
    child.delete_returning = cascade_keys(resolved, child);
    if (!child.delete_returning.empty())
        sql += " RETURNING " + quote_ident_list(child.delete_returning, "c.");
    child.delete_plan = prepare_kept(sql, types, child.spec->name);
    return child.delete_plan;
}

// PostgreSQL-style (may ereport): `text` through the column's input function. date_in
// spends most of its time in the general date/time parser: a canonical date is decoded here.
// `text` is followed by a NUL byte, as a std::string's and a MappedValue's are.
Datum input_value(const Column& column, std::string_view text) {
    Datum value;
    if (column.type_oid == DATEOID && iso_date(text, &value))
        return value;
    return InputFunctionCall(const_cast<FmgrInfo*>(&column.input), const_cast<char*>(text.data()),
                             column.typioparam, column.typmod);
}

Datum text_to_datum(const Column& column, const std::string& text) {
    Datum value = 0;
    pg_call([&] { value = input_value(column, text); });
    return value;
}

// Parent keys as text, one vector per link of `child`: (link i) -> values.
using KeyColumns = std::vector<std::vector<std::optional<std::string>>>;

// One SQL array of `element_type` from Datums (nulls: nonzero for NULL), for the keys of
// replace-mode deletes. C++-style.
Datum make_array(Oid element_type, const std::vector<Datum>& values, const std::vector<char>& nulls) {
    Datum array = 0;
    pg_call([&] {
        int16 typlen;
        bool typbyval;
        char typalign;
        get_typlenbyvalalign(element_type, &typlen, &typbyval, &typalign);
        bool* null_flags = static_cast<bool*>(palloc(sizeof(bool) * (nulls.size() + 1)));
        for (size_t i = 0; i < nulls.size(); ++i)
            null_flags[i] = nulls[i] != 0;
        int dims[1] = {static_cast<int>(values.size())};
        int lbs[1] = {1};
        array = PointerGetDatum(construct_md_array(const_cast<Datum*>(values.data()), null_flags, 1,
                                                   dims, lbs, element_type, typlen, typbyval, typalign));
    });
    return array;
}

} // namespace

void execute(SPIPlanPtr plan, std::vector<Datum>& params, const char* what) {
    std::vector<char> nulls(params.size(), ' ');
    pg_call([&] {
        int rc = SPI_execute_plan(plan, params.data(), nulls.data(), false, 0);
        if (rc < 0)
            elog(ERROR, "nomnom: %s failed: %s", what, SPI_result_code_string(rc));
    });
}

namespace {

// Deletes the rows of `child_index` pointing at the parents in `keys`, then, through the
// keys the deleted rows return, their replace-mode descendants.
void delete_cascade(ResolvedTree& resolved, int child_index, const KeyColumns& keys) {
    ResolvedEntity& child = resolved.entities[child_index];
    SPIPlanPtr plan = delete_plan(resolved, child);
    std::vector<Datum> params;
    for (size_t i = 0; i < child.links.size(); ++i) {
        const Column& column = child.columns[child.links[i].child_field];
        std::vector<Datum> values;
        std::vector<char> nulls;
        for (const std::optional<std::string>& key : keys[i]) {
            values.push_back(key ? text_to_datum(column, *key) : 0);
            nulls.push_back(!key);
        }
        params.push_back(make_array(column.type_oid, values, nulls));
    }
    execute(plan, params, "delete");
    if (child.delete_returning.empty())
        return;
    auto deleted = result_rows();
    if (deleted.empty())
        return;
    for (int grandchild_index : child.children) {
        const ResolvedEntity& grandchild = resolved.entities[grandchild_index];
        if (!is_replace_child(grandchild))
            continue;
        KeyColumns grand_keys(grandchild.links.size());
        for (size_t i = 0; i < grandchild.links.size(); ++i) {
            int parent_field = grandchild.links[i].parent_field;
            std::string name = parent_field < 0 ? "id" : child.spec->fields[parent_field].name;
            size_t column = std::find(child.delete_returning.begin(), child.delete_returning.end(),
                                      name) - child.delete_returning.begin();
            for (const auto& row : deleted)
                grand_keys[i].push_back(row[column]);
        }
        delete_cascade(resolved, grandchild_index, grand_keys);
    }
}

// A parent row's value for a link: the field's text, or its generated id.
std::optional<std::string> link_key(const DocumentRows& doc, int row, const LinkField& link) {
    if (link.parent_field < 0)
        return std::to_string(doc.ids[row]);
    const MappedValue& value = doc.doc.rows[row].values[link.parent_field];
    return value ? std::optional<std::string>(*value) : std::nullopt;
}

// Rows of one entity: a document and a row index in it.
using EntityRows = std::vector<std::pair<DocumentRows*, int>>;

// Before inserting rows of a replace-mode child: delete its rows (and their descendants)
// under every parent row that was an update of an older version.
// `parent_rows`: the parent entity's rows, in batch order.
void delete_replaced(ResolvedTree& resolved, int entity_index, const EntityRows& parent_rows) {
    const ResolvedEntity& entity = resolved.entities[entity_index];
    KeyColumns keys(entity.links.size());
    for (const auto& [doc, r] : parent_rows) {
        if (doc->skipped[r] || doc->inserted[r])
            continue;
        for (size_t i = 0; i < entity.links.size(); ++i)
            keys[i].push_back(link_key(*doc, r, entity.links[i]));
    }
    if (!keys.empty() && !keys[0].empty())
        delete_cascade(resolved, entity_index, keys);
}

std::string key_text(const ResolvedEntity& entity, const DocumentRows& doc, int row) {
    std::string key;
    for (const std::string& name : entity.spec->unique) {
        size_t f = std::find_if(entity.spec->fields.begin(), entity.spec->fields.end(),
                                [&](const FieldSpec& field) { return field.name == name; }) -
                   entity.spec->fields.begin();
        std::string text = "\\N";
        if (doc.heads[row].nulls[f] != 'n')
            pg_call([&] {
                text = OidOutputFunctionCall(entity.columns[f].output_fn, doc.heads[row].values[f]);
            });
        key += text + '\x1f';
    }
    return key;
}

// Row `result_row` of SPI's result as a WrittenRow (its last column: the row as stored).
void note_written(std::vector<WrittenRow>& written, DocumentRows* doc, int r, int entity_index,
                  uint64 result_row) {
    pg_call([&] {
        bool is_null;
        Datum payload = SPI_getbinval(SPI_tuptable->vals[result_row], SPI_tuptable->tupdesc,
                                      SPI_tuptable->tupdesc->natts, &is_null);
        written.push_back({doc, r, entity_index, datumCopy(payload, false, -1)});
    });
}

void insert_rows(ResolvedEntity& entity, const EntityRows& rows, int entity_index,
                 std::vector<WrittenRow>* written) {
    const bool events = written != nullptr;
    const size_t field_count = entity.columns.size();
    std::vector<Oid> types;
    for (const Column& column : entity.columns)
        types.push_back(column.type_oid);
    RowFiller fill = [&](size_t i, Datum* values, bool* nulls) {
        const DocumentRows::Head& head = rows[i].first->heads[rows[i].second];
        for (size_t f = 0; f < field_count; ++f) {
            nulls[f] = head.nulls[f] == 'n';
            values[f] = nulls[f] ? 0 : head.values[f];
        }
    };
    // A row laid out ahead is copied whole: its Datums and null flags are not read.
    TupleImages images{&entity.layout,
                       [&](size_t i) { return rows[i].first->heads[rows[i].second].image; }};
    BatchRows batch(std::move(types), rows.size(), fill);
    std::vector<Datum> params = {batch.handle()};
    std::vector<BulkColumn> columns;
    for (size_t f = 0; f < field_count; ++f)
        columns.push_back({entity.spec->fields[f].name.c_str(), entity.columns[f].type_oid,
                           entity.columns[f].typmod});
    std::vector<int64> ids;
    bool bulk = false;    // written COPY-style (bulk_insert.hpp): every row is new
    bool all_new = false; // written by the plain INSERT or COPY-style: every row is new
    // New rows COPY-style, else the plain INSERT (always for function fields: their
    // columns carry the function's argument, which only the INSERT turns into the value).
    auto write_new = [&](SPIPlanPtr plain) {
        // (COPY-style returns no rows as stored: not with events)
        bulk = !events && !has_function_fields(entity) &&
               bulk_insert(entity.relid, columns, rows.size(), fill,
                           entity.returns_id ? &ids : nullptr, &images);
        if (!bulk)
            execute(plain, params, "insert");
    };
    try {
        if (!has_conflict_clause(entity)) {
            write_new(insert_plan(entity, events)); // its INSERT is a plain one
        } else {
            if (entity.plain_first.worth_trying(rows.size()))
                all_new = entity.plain_first.try_write(
                    [&] { write_new(plain_insert_plan(entity, events)); });
            if (!all_new)
                execute(insert_plan(entity, events), params, "insert");
        }
    } catch (const PgError& error) {
        throw DataError("entity \"" + entity.spec->name + "\": " + error.what(),
                        write_error_code(entity, error.sqlerrcode()),
                        error.data()->detail ? error.data()->detail : "");
    }
    if (bulk) { // (reset_write_state's "inserted, not skipped" stands)
        if (entity.returns_id)
            for (size_t i = 0; i < rows.size(); ++i)
                rows[i].first->ids[rows[i].second] = ids[i];
        return;
    }
    const bool in_order = all_new || !has_conflict_clause(entity) || !ignores_conflicts(entity);
    if (events && in_order) { // every row came back, in order
        pg_call([&] {
            if (SPI_processed != rows.size())
                elog(ERROR, "nomnom: insert into %s returned %lu rows for %zu",
                     entity.table_sql.c_str(), static_cast<unsigned long>(SPI_processed),
                     rows.size());
        });
        for (size_t i = 0; i < rows.size(); ++i)
            note_written(*written, rows[i].first, rows[i].second, entity_index, i);
    }
    if (!needs_result(entity) || (all_new && !entity.returns_id)) {
        if (!events || in_order)
            return; // (all new: reset_write_state's "inserted, not skipped" stands)
    }
    auto apply = [](DocumentRows& doc, int r, uint64 result_row) {
        bool is_null;
        doc.inserted[r] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[result_row],
                                                     SPI_tuptable->tupdesc, 1, &is_null));
        doc.ids[r] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[result_row],
                                                 SPI_tuptable->tupdesc, 2, &is_null));
    };
    if (all_new || !ignores_conflicts(entity)) {
        pg_call([&] {
            if (SPI_processed != rows.size())
                elog(ERROR, "nomnom: insert into %s returned %lu rows for %zu",
                     entity.table_sql.c_str(), static_cast<unsigned long>(SPI_processed), rows.size());
            for (size_t i = 0; i < rows.size(); ++i)
                apply(*rows[i].first, rows[i].second, i);
        });
        return;
    }
    // DO NOTHING: rows missing from the result were kept as they were; match by key.
    auto returned = result_rows();
    std::unordered_map<std::string, uint64> by_key;
    for (uint64 i = 0; i < returned.size(); ++i) {
        std::string key;
        for (size_t c = 2; c < 2 + entity.spec->unique.size(); ++c)
            key += (returned[i][c] ? *returned[i][c] : std::string("\\N")) + '\x1f';
        by_key.emplace(key, i);
    }
    for (const auto& [doc, r] : rows) {
        auto found = by_key.find(key_text(entity, *doc, r));
        if (found == by_key.end()) {
            doc->skipped[r] = true; // kept as it was, or a repeat of a key earlier in the batch
            continue;
        }
        doc->inserted[r] = *returned[found->second][0] == "t";
        doc->ids[r] = std::stoll(*returned[found->second][1]);
        if (events)
            note_written(*written, doc, r, entity_index, found->second);
        by_key.erase(found);
    }
}

} // namespace

void convert_row(const ResolvedEntity& entity, const MappedRow& row, Datum* values, char* nulls,
                 Arena* arena, bool only_not_converted) {
    if (only_not_converted && std::memchr(nulls, kNotConverted, row.values.size()) == nullptr)
        return; // all done ahead: no PG_TRY to set up
    // One PG_TRY for the row, not one a value: a batch converts millions of values. The
    // field it stopped at names the culprit (volatile: read after the longjmp).
    volatile size_t field = 0;
    try {
        pg_call([&] {
            for (; field < row.values.size(); field = field + 1) {
                if (only_not_converted && nulls[field] != kNotConverted)
                    continue;
                const MappedValue& text = row.values[field];
                nulls[field] = text ? ' ' : 'n';
                if (!text) {
                    values[field] = 0;
                    continue;
                }
                const Column& column = entity.columns[field];
                if (arena == nullptr ||
                    !fast_input(column.type_oid, column.typmod, *text, *arena, &values[field]))
                    values[field] = input_value(column, *text);
            }
        });
    } catch (const PgError& error) {
        throw DataError(describe_field(*entity.spec, row.origin, entity.spec->fields[field]) +
                            ": " + error.what(),
                        error.sqlerrcode());
    }
}

namespace {

// Row r's head: its place in the tree, and its Datums and null flags, which follow each
// other in the document's arena (no allocation a row to free).
void lay_out_row(DocumentRows& rows, size_t r) {
    const MappedRow& row = rows.doc.rows[r];
    const size_t fields = row.values.size();
    DocumentRows::Head& head = rows.heads[r];
    head.values = static_cast<Datum*>(rows.doc.arena.allocate(fields * sizeof(Datum)));
    head.nulls = static_cast<char*>(rows.doc.arena.allocate(fields));
    head.entity = row.entity;
    head.parent_row = row.parent_row;
    head.image = nullptr;
    std::fill(head.values, head.values + fields, Datum(0));
}

// Row r's tuple image, once every value of it is a Datum, where its table allows one.
void lay_out_tuple(const ResolvedEntity& entity, DocumentRows& rows, size_t r) {
    DocumentRows::Head& head = rows.heads[r];
    if (entity.layout.usable())
        head.image = make_tuple_image(entity.layout, head.values, head.nulls, rows.doc.arena);
}

} // namespace

void preconvert_document(const ResolvedTree& resolved, DocumentRows& rows) {
    const size_t count = rows.doc.rows.size();
    rows.heads.resize(count);
    bool all_converted = true;
    for (size_t r = 0; r < count; ++r) {
        const MappedRow& row = rows.doc.rows[r];
        const ResolvedEntity& entity = resolved.entities[row.entity];
        lay_out_row(rows, r);
        DocumentRows::Head& head = rows.heads[r];
        std::memset(head.nulls, kNotConverted, row.values.size());
        bool row_converted = true;
        for (size_t f = 0; f < row.values.size(); ++f) {
            const MappedValue& text = row.values[f];
            if (!text)
                head.nulls[f] = 'n';
            else if (fast_input(entity.columns[f].type_oid, entity.columns[f].typmod, *text,
                                rows.doc.arena, &head.values[f]))
                head.nulls[f] = ' ';
            else
                row_converted = false;
        }
        if (row_converted)
            lay_out_tuple(entity, rows, r);
        all_converted &= row_converted;
    }
    rows.preconverted = true;
    rows.all_converted = all_converted;
}

void reset_write_state(DocumentRows& rows) {
    const size_t count = rows.heads.size(); // (convert_document laid them out)
    rows.skipped.assign(count, 0);
    rows.inserted.assign(count, 1);
    rows.ids.assign(count, 0);
}

void recycle(DocumentRows& rows) {
    recycle(rows.doc);
    rows.preconverted = false;
    rows.all_converted = false;
    // Per-row vectors: a huge document's are not kept.
    constexpr size_t kKept = 64;
    auto empty = [](auto& v) {
        v.clear();
        if (v.capacity() > kKept)
            std::decay_t<decltype(v)>().swap(v);
    };
    empty(rows.heads);
    empty(rows.skipped);
    empty(rows.inserted);
    empty(rows.ids);
}

void convert_document(const ResolvedTree& resolved, DocumentRows& rows) {
    // Nothing left: not a read of the rows, which would be the first here (item 34).
    if (rows.preconverted && rows.all_converted)
        return;
    const size_t count = rows.doc.rows.size();
    if (!rows.preconverted)
        rows.heads.resize(count);
    // (write_prepared resets what a write finds: skipped, inserted, ids)
    for (size_t r = 0; r < count; ++r) {
        const MappedRow& row = rows.doc.rows[r];
        if (!rows.preconverted)
            lay_out_row(rows, r);
        const ResolvedEntity& entity = resolved.entities[row.entity];
        convert_row(entity, row, rows.heads[r].values, rows.heads[r].nulls, &rows.doc.arena,
                    rows.preconverted);
        if (rows.heads[r].image == nullptr)
            lay_out_tuple(entity, rows, r);
    }
}

void write_documents(ResolvedTree& resolved, const std::vector<DocumentRows*>& docs,
                     std::vector<WrittenRow>* written) {
    // Each entity's rows in batch order, from one pass over the rows' heads (not one an
    // entity, item 34).
    std::vector<EntityRows> by_entity(resolved.entities.size());
    for (DocumentRows* doc : docs)
        for (size_t r = 0; r < doc->heads.size(); ++r)
            by_entity[doc->heads[r].entity].emplace_back(doc, static_cast<int>(r));
    // Entities come parents first, so each level sees its parents' results.
    for (size_t e = 0; e < resolved.entities.size(); ++e) {
        ResolvedEntity& entity = resolved.entities[e];
        if (is_replace_child(entity))
            delete_replaced(resolved, static_cast<int>(e), by_entity[entity.parent]);
        // The fields taking the parent's generated id: the mapper left them NULL (its
        // MappedRow::parent_id_fields, by the same rule).
        std::vector<int> parent_id_fields;
        for (size_t f = 0; entity.parent >= 0 && f < entity.spec->fields.size(); ++f)
            if (entity.spec->fields[f].from_parent == "id")
                parent_id_fields.push_back(static_cast<int>(f));
        EntityRows& rows = by_entity[e];
        size_t kept = 0;
        for (const auto& [doc, r] : rows) {
            const DocumentRows::Head& head = doc->heads[r];
            if (head.parent_row >= 0 && doc->skipped[head.parent_row]) {
                doc->skipped[r] = true; // the parent was kept as it was
                continue;
            }
            for (int field : parent_id_fields) {
                head.values[field] =
                    text_to_datum(entity.columns[field], std::to_string(doc->ids[head.parent_row]));
                head.nulls[field] = ' ';
            }
            rows[kept++] = {doc, r};
        }
        rows.resize(kept);
        if (!rows.empty())
            insert_rows(entity, rows, static_cast<int>(e), written);
    }
}

} // namespace nomnom
