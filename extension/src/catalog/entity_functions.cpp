// SQL functions nomnom.define_entity and nomnom.drop_entity. C++-style.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "pg/pg_prelude.hpp"

#include "catalog/entity_functions.hpp"
#include "catalog/entity_registry.hpp"
#include "catalog/entity_tables.hpp"
#include "nomnom/entity_spec.hpp"
#include "pg/pg_guard.hpp"
#include "pg/role_scope.hpp"
#include "pg/spi_session.hpp"

namespace nomnom {
namespace {

const EntitySpec* find_spec(const std::vector<EntitySpec>& all, const std::string& name) {
    for (const EntitySpec& spec : all)
        if (spec.name == name)
            return &spec;
    return nullptr;
}

// Checks `spec` against the other entities: its parent exists and is no descendant of it,
// its from_parent fields name parent fields, and its children still find their fields.
void check_relations(const EntitySpec& spec, const std::vector<EntitySpec>& all) {
    const std::string where = "entity \"" + spec.name + "\"";
    if (!spec.is_root()) {
        const EntitySpec* parent = find_spec(all, spec.parent);
        if (parent == nullptr)
            fail(where + ": unknown parent entity \"" + spec.parent + "\"", ERRCODE_UNDEFINED_OBJECT);
        // Walk up from the parent; meeting this entity again is a cycle.
        std::vector<std::string> chain{spec.name};
        for (std::string next = spec.parent; !next.empty();) {
            chain.push_back(next);
            if (next == spec.name || chain.size() > all.size() + 2) {
                std::string path;
                for (const std::string& name : chain)
                    path += (path.empty() ? "" : " -> ") + name;
                fail(where + ": parent chain is a cycle (" + path + ")",
                     ERRCODE_INVALID_OBJECT_DEFINITION);
            }
            const EntitySpec* up = find_spec(all, next);
            next = up ? up->parent : std::string();
        }
        bool linked = false;
        for (const FieldSpec& field : spec.fields) {
            if (field.from_parent.empty())
                continue;
            linked = true;
            const int copied = parent->parent_field_index(field.from_parent);
            if (copied == EntitySpec::kNoParentField)
                fail(where + ", field \"" + field.name + "\": parent entity \"" + parent->name +
                         "\" has no field \"" + field.from_parent + "\"",
                     ERRCODE_UNDEFINED_COLUMN);
            if (copied >= 0 && !parent->fields[copied].function.empty())
                fail(where + ", field \"" + field.name + "\": parent field \"" + field.from_parent +
                         "\" is computed by a function, which from_parent cannot copy",
                     ERRCODE_FEATURE_NOT_SUPPORTED);
        }
        if (!linked && spec.on_parent_update == OnParentUpdate::Replace)
            fail(where + ": on_parent_update \"replace\" needs a field with \"from_parent\" that "
                         "links each row to its parent row (or set on_parent_update to \"upsert\")",
                 ERRCODE_INVALID_PARAMETER_VALUE);
    }
    for (const EntitySpec& child : all) {
        if (child.parent != spec.name)
            continue;
        for (const FieldSpec& field : child.fields) {
            if (field.from_parent.empty())
                continue;
            const int copied = spec.parent_field_index(field.from_parent);
            if (copied == EntitySpec::kNoParentField)
                fail(where + ": derived entity \"" + child.name + "\" copies field \"" +
                         field.from_parent + "\", which this definition no longer has",
                     ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST);
            if (copied >= 0 && !spec.fields[copied].function.empty())
                fail(where + ": derived entity \"" + child.name + "\" copies field \"" +
                         field.from_parent + "\", which from_parent cannot copy once a function "
                         "computes it",
                     ERRCODE_FEATURE_NOT_SUPPORTED);
        }
    }
}

} // namespace

std::string define_entity(const std::string& spec_json, bool create_table) {
    EntitySpec spec;
    try {
        spec = parse_entity_spec(spec_json);
    } catch (const SpecError& error) {
        fail(error.what(), sqlstate_code(error.sqlstate));
    }
    SpiSession spi;
    std::vector<EntitySpec> all = load_entity_specs();
    all.erase(std::remove_if(all.begin(), all.end(),
                             [&](const EntitySpec& other) { return other.name == spec.name; }),
              all.end());
    check_relations(spec, all);

    std::vector<Column> columns;
    for (const FieldSpec& field : spec.fields)
        columns.push_back(resolve_column(field.type, "entity \"" + spec.name + "\", field \"" +
                                                         field.name + "\""));
    for (size_t i = 0; i < spec.fields.size(); ++i) {
        const FieldSpec& field = spec.fields[i];
        if (field.function.empty())
            continue;
        const std::string where = "entity \"" + spec.name + "\", field \"" + field.name + "\"";
        FieldFunction function = resolve_field_function(field.function, where);
        bool fits = false;
        std::string returns;
        pg_call([&] {
            Oid from = function.return_type;
            Oid to = columns[i].type_oid;
            fits = from == to || can_coerce_type(1, &from, &to, COERCION_ASSIGNMENT);
            returns = format_type_be(from);
        });
        if (!fits)
            fail(where + ": function " + field.function + " returns " + returns +
                     ", which a column of type " + columns[i].type_sql + " cannot take",
                 ERRCODE_DATATYPE_MISMATCH);
    }
    const EntitySpec* parent = spec.is_root() ? nullptr : find_spec(all, spec.parent);
    ensure_table(spec, columns, parent, create_table);

    AsOwner bookkeeping; // the catalog is nomnom's: its owner writes it
    spi_query("INSERT INTO nomnom.entity_catalog (name, table_name, parent, each_path, unique_fields, spec) "
              "VALUES ($1, $2, $3, $4, "
              "  ARRAY(SELECT jsonb_array_elements_text($5::jsonb -> 'unique')), $5::jsonb) "
              "ON CONFLICT (name) DO UPDATE SET table_name = EXCLUDED.table_name, "
              "  parent = EXCLUDED.parent, each_path = EXCLUDED.each_path, "
              "  unique_fields = EXCLUDED.unique_fields, spec = EXCLUDED.spec, defined_at = now()",
              {spec.name, spec.table,
               spec.is_root() ? std::nullopt : std::optional<std::string>(spec.parent),
               spec.is_root() ? std::nullopt : std::optional<std::string>(spec.each_text),
               spec.to_json()});
    invalidate_entity_cache();
    return spec.name;
}

namespace {

void drop_entity(const std::string& name) {
    SpiSession spi;
    std::vector<TextRow> children = spi_query(
        "SELECT string_agg(name, ', ' ORDER BY name) FROM nomnom.entity_catalog WHERE parent = $1",
        {name});
    if (children[0][0])
        fail("entity \"" + name + "\" has derived entities (" + *children[0][0] +
                 "): drop them first",
             ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST);
    AsOwner bookkeeping;
    std::vector<TextRow> deleted =
        spi_query("DELETE FROM nomnom.entity_catalog WHERE name = $1 RETURNING name", {name});
    if (deleted.empty())
        fail("unknown entity \"" + name + "\"", ERRCODE_UNDEFINED_OBJECT);
    invalidate_entity_cache();
}

} // namespace
} // namespace nomnom

NOMNOM_FUNCTION(nomnom_define_entity) {
    char* spec = nullptr;
    bool create_table = false;
    nomnom::pg_call([&] {
        Jsonb* json = PG_GETARG_JSONB_P(0);
        spec = JsonbToCString(nullptr, &json->root, VARSIZE(json));
        create_table = PG_GETARG_BOOL(1);
    });
    std::string name = nomnom::define_entity(spec, create_table);
    text* result = nullptr;
    nomnom::pg_call([&] { result = cstring_to_text(name.c_str()); });
    PG_RETURN_TEXT_P(result);
}

NOMNOM_FUNCTION(nomnom_drop_entity) {
    char* name = nullptr;
    nomnom::pg_call([&] { name = text_to_cstring(PG_GETARG_TEXT_PP(0)); });
    nomnom::drop_entity(name);
    PG_RETURN_VOID();
}
