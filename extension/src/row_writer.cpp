#include "row_writer.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <string>

#include "pg_guard.hpp"
#include "spi_session.hpp"

namespace nomnom {
namespace {

std::string join_quoted(const std::vector<std::string>& names, const char* separator,
                        const std::string& prefix = "") {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i) {
        if (i > 0)
            out += separator;
        out += prefix + quote_ident(names[i]);
    }
    return out;
}

std::vector<Oid> column_types(const ResolvedEntity& entity) {
    std::vector<Oid> types;
    for (const Column& column : entity.columns)
        types.push_back(column.type_oid);
    return types;
}

SPIPlanPtr prepare_kept(const std::string& sql, const std::vector<Oid>& types,
                        const std::string& entity) {
    SPIPlanPtr plan = nullptr;
    try {
        pg_call([&] {
            // Generic plans: these statements have nothing a custom plan could use, and
            // replanning each row would cost more than the write itself.
            plan = SPI_prepare_cursor(sql.c_str(), static_cast<int>(types.size()),
                                      const_cast<Oid*>(types.data()), CURSOR_OPT_GENERIC_PLAN);
            if (plan == nullptr)
                elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
            SPI_keepplan(plan);
        });
    } catch (const PgError& error) {
        throw DataError("entity \"" + entity + "\": cannot write its table: " + error.what(),
                        error.sqlerrcode());
    }
    return plan;
}

// INSERT ... ON CONFLICT ... RETURNING whether the row is new (and its id when a child
// copies it). A conflict ignored returns no row.
SPIPlanPtr insert_plan(ResolvedEntity& entity) {
    if (entity.insert_plan)
        return entity.insert_plan;
    const EntitySpec& spec = *entity.spec;
    std::vector<std::string> names;
    std::string placeholders;
    for (size_t i = 0; i < spec.fields.size(); ++i) {
        names.push_back(spec.fields[i].name);
        placeholders += (i ? ", $" : "$") + std::to_string(i + 1);
    }
    std::string sql = "INSERT INTO " + entity.table_sql + " AS t (" + join_quoted(names, ", ") +
                      ") VALUES (" + placeholders + ")";
    if (!spec.unique.empty() && spec.on_conflict != OnConflict::Error) {
        sql += " ON CONFLICT (" + join_quoted(spec.unique, ", ") + ") DO ";
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
    sql += " RETURNING (t.xmax = 0)";
    if (entity.returns_id)
        sql += ", t.id";
    entity.insert_plan = prepare_kept(sql, column_types(entity), spec.name);
    return entity.insert_plan;
}

// What rows of `entity` must hand to their replace-mode children when they are deleted.
std::vector<std::string> cascade_keys(const ResolvedTree& resolved, const ResolvedEntity& entity) {
    std::vector<std::string> keys;
    for (int child_index : entity.children) {
        const ResolvedEntity& child = resolved.entities[child_index];
        if (child.spec->on_parent_update != OnParentUpdate::Replace)
            continue;
        for (const LinkField& link : child.links) {
            std::string key = link.parent_field < 0 ? "id" : entity.spec->fields[link.parent_field].name;
            if (std::find(keys.begin(), keys.end(), key) == keys.end())
                keys.push_back(key);
        }
    }
    return keys;
}

// DELETE the rows of `child` that point at one parent row.
SPIPlanPtr delete_plan(const ResolvedTree& resolved, ResolvedEntity& child) {
    if (child.delete_plan)
        return child.delete_plan;
    std::string sql = "DELETE FROM " + child.table_sql + " WHERE ";
    std::vector<Oid> types;
    for (size_t i = 0; i < child.links.size(); ++i) {
        const LinkField& link = child.links[i];
        sql += (i ? " AND " : "") + quote_ident(child.spec->fields[link.child_field].name) +
               " = $" + std::to_string(i + 1);
        types.push_back(child.columns[link.child_field].type_oid);
    }
    child.delete_returning = cascade_keys(resolved, child);
    if (!child.delete_returning.empty())
        sql += " RETURNING " + join_quoted(child.delete_returning, ", ");
    child.delete_plan = prepare_kept(sql, types, child.spec->name);
    return child.delete_plan;
}

Datum text_to_datum(const Column& column, const std::string& text) {
    Datum value = 0;
    pg_call([&] {
        value = InputFunctionCall(const_cast<FmgrInfo*>(&column.input),
                                  const_cast<char*>(text.c_str()), column.typioparam,
                                  column.typmod);
    });
    return value;
}

// A parent row's key by name: a field's text, or "id".
using KeyLookup = std::function<std::optional<std::string>(const std::string&)>;

// Deletes, for each replace-mode child entity of `parent_index`, the rows pointing at the
// parent row that `parent_key` describes, and then their own replace-mode descendants.
void delete_old_children(ResolvedTree& resolved, int parent_index, const KeyLookup& parent_key) {
    const ResolvedEntity& parent = resolved.entities[parent_index];
    for (int child_index : parent.children) {
        ResolvedEntity& child = resolved.entities[child_index];
        if (child.spec->on_parent_update != OnParentUpdate::Replace || child.links.empty())
            continue;
        SPIPlanPtr plan = delete_plan(resolved, child);
        std::vector<Datum> values(child.links.size());
        std::vector<char> nulls(child.links.size(), ' ');
        for (size_t i = 0; i < child.links.size(); ++i) {
            const LinkField& link = child.links[i];
            std::optional<std::string> key =
                parent_key(link.parent_field < 0 ? "id" : parent.spec->fields[link.parent_field].name);
            if (key)
                values[i] = text_to_datum(child.columns[link.child_field], *key);
            else
                nulls[i] = 'n';
        }
        std::vector<TextRow> deleted;
        const size_t width = child.delete_returning.size();
        pg_call([&] {
            int rc = SPI_execute_plan(plan, values.data(), nulls.data(), false, 0);
            if (rc < 0)
                elog(ERROR, "nomnom: delete failed: %s", SPI_result_code_string(rc));
        });
        if (width == 0)
            continue;
        // Copy the deleted rows' keys out before any nested statement replaces SPI_tuptable.
        uint64 count = 0;
        char** texts = nullptr;
        pg_call([&] {
            count = SPI_processed;
            texts = static_cast<char**>(palloc0(sizeof(char*) * (count * width + 1)));
            for (uint64 r = 0; r < count; ++r)
                for (size_t c = 0; c < width; ++c)
                    texts[r * width + c] =
                        SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, int(c) + 1);
        });
        for (uint64 r = 0; r < count; ++r) {
            KeyLookup deleted_key = [&](const std::string& name) -> std::optional<std::string> {
                for (size_t c = 0; c < width; ++c)
                    if (child.delete_returning[c] == name && texts[r * width + c])
                        return std::string(texts[r * width + c]);
                return std::nullopt;
            };
            delete_old_children(resolved, child_index, deleted_key);
        }
    }
}

} // namespace

void convert_row(const ResolvedEntity& entity, const MappedRow& row, Datum* values, char* nulls) {
    size_t field = 0;
    try {
        for (; field < row.values.size(); ++field) {
            const std::optional<std::string>& text = row.values[field];
            nulls[field] = text ? ' ' : 'n';
            values[field] = text ? text_to_datum(entity.columns[field], *text) : 0;
        }
    } catch (const PgError& error) {
        throw DataError(describe_field(*entity.spec, row.origin, entity.spec->fields[field]) +
                            ": " + error.what(),
                        error.sqlerrcode());
    }
}

void write_document(ResolvedTree& resolved, const MappedDocument& doc) {
    const size_t row_count = doc.rows.size();
    std::vector<bool> skipped(row_count, false);
    std::vector<int64> ids(row_count, 0);
    std::vector<Datum> values;
    std::vector<char> nulls;
    for (size_t r = 0; r < row_count; ++r) {
        const MappedRow& row = doc.rows[r];
        if (row.parent_row >= 0 && skipped[row.parent_row]) {
            skipped[r] = true; // the parent was kept as it was (on_conflict ignore)
            continue;
        }
        ResolvedEntity& entity = resolved.entities[row.entity];
        values.assign(row.values.size(), 0);
        nulls.assign(row.values.size(), ' ');
        convert_row(entity, row, values.data(), nulls.data());
        for (int field : row.parent_id_fields) {
            values[field] = text_to_datum(entity.columns[field], std::to_string(ids[row.parent_row]));
            nulls[field] = ' ';
        }
        SPIPlanPtr plan = insert_plan(entity);
        bool inserted = true;
        bool returned = false;
        try {
            pg_call([&] {
                int rc = SPI_execute_plan(plan, values.data(), nulls.data(), false, 0);
                if (rc < 0)
                    elog(ERROR, "nomnom: insert failed: %s", SPI_result_code_string(rc));
                returned = SPI_processed > 0;
                if (returned) {
                    bool is_null;
                    inserted = DatumGetBool(
                        SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &is_null));
                    if (entity.returns_id)
                        ids[r] = DatumGetInt64(
                            SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &is_null));
                }
            });
        } catch (const PgError& error) {
            std::string where = "entity \"" + entity.spec->name + "\"";
            if (!row.origin.empty())
                where += " (" + row.origin + ")";
            throw DataError(where + ": " + error.what(), error.sqlerrcode(),
                            error.data()->detail ? error.data()->detail : "");
        }
        if (!returned) {
            skipped[r] = true;
            continue;
        }
        if (!inserted) {
            // An older version of this row existed: its replace-mode children go.
            KeyLookup key = [&](const std::string& name) -> std::optional<std::string> {
                if (name == "id")
                    return std::to_string(ids[r]);
                for (size_t f = 0; f < entity.spec->fields.size(); ++f)
                    if (entity.spec->fields[f].name == name)
                        return row.values[f];
                return std::nullopt;
            };
            delete_old_children(resolved, row.entity, key);
        }
    }
}

} // namespace nomnom
