#include "catalog/entity_tables.hpp"

#include <algorithm>
#include <string>

#include "pg/pg_guard.hpp"
#include "pg/spi_session.hpp"

extern "C" {
#include "utils/acl.h"
}

namespace nomnom {
namespace {

// The child's from_parent columns: what replace-mode deletes look rows up by.
std::vector<std::string> link_columns(const EntitySpec& spec) {
    std::vector<std::string> links;
    for (const FieldSpec& field : spec.fields)
        if (!field.from_parent.empty())
            links.push_back(field.name);
    return links;
}

void create(const EntitySpec& spec, const std::vector<Column>& columns, const TableName& table) {
    std::string sql = "CREATE TABLE " + table.sql +
                      " (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
    for (size_t i = 0; i < spec.fields.size(); ++i) {
        sql += ", " + quote_ident(spec.fields[i].name) + " " + columns[i].type_sql;
        if (!spec.fields[i].nullable)
            sql += " NOT NULL";
    }
    if (!spec.unique.empty())
        sql += ", UNIQUE (" + quote_ident_list(spec.unique) + ")";
    sql += ")";
    spi_query(sql);
    // Replacing a document's children looks them up by their link to the parent; index it
    // unless the unique key already starts with the link columns.
    std::vector<std::string> links = link_columns(spec);
    if (!spec.is_root() && !links.empty()) {
        bool covered = spec.unique.size() >= links.size() &&
                       std::is_permutation(links.begin(), links.end(), spec.unique.begin());
        if (!covered)
            spi_query("CREATE INDEX ON " + table.sql + " (" + quote_ident_list(links) + ")");
    }
    auto literal = [](const std::string& text) {
        std::string out;
        pg_call([&] { out = quote_literal_cstr(text.c_str()); });
        return out;
    };
    std::string comment = "rows of nomnom entity " + spec.name;
    if (!spec.doc.empty())
        comment += ": " + spec.doc;
    spi_query("COMMENT ON TABLE " + table.sql + " IS " + literal(comment));
    // A field's doc (the original nomnom's entity YAML has one) documents its column.
    for (const FieldSpec& field : spec.fields)
        if (!field.doc.empty())
            spi_query("COMMENT ON COLUMN " + table.sql + "." + quote_ident(field.name) + " IS " +
                      literal(field.doc));
}

void check_existing(const EntitySpec& spec, const std::vector<Column>& columns, const TableName& table) {
    const std::string where = "entity \"" + spec.name + "\": table \"" + spec.table + "\"";
    for (size_t i = 0; i < spec.fields.size(); ++i) {
        const std::string& name = spec.fields[i].name;
        AttrNumber attnum = InvalidAttrNumber;
        Oid column_type = InvalidOid;
        bool coercible = false;
        std::string column_type_sql;
        pg_call([&] {
            attnum = get_attnum(table.relid, name.c_str());
            if (attnum == InvalidAttrNumber)
                return;
            column_type = get_atttype(table.relid, attnum);
            Oid spec_type = columns[i].type_oid;
            coercible = spec_type == column_type ||
                        can_coerce_type(1, &spec_type, &column_type, COERCION_ASSIGNMENT);
            column_type_sql = format_type_be(column_type);
        });
        if (attnum == InvalidAttrNumber)
            fail(where + " has no column \"" + name + "\"", ERRCODE_UNDEFINED_COLUMN);
        if (!coercible)
            fail(where + ": column \"" + name + "\" is " + column_type_sql +
                     ", which field type " + columns[i].type_sql + " cannot be stored in",
                 ERRCODE_DATATYPE_MISMATCH);
    }
    if (spec.unique.empty())
        return;
    std::vector<TextRow> found = spi_query(
        "SELECT 1 FROM pg_index i WHERE i.indrelid = $1::oid AND i.indisunique "
        "AND i.indpred IS NULL AND i.indnkeyatts = cardinality($2::text[]) "
        "AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a "
        "     WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)) "
        "  = (SELECT array_agg(u ORDER BY u) FROM unnest($2::text[]) u)",
        {std::to_string(table.relid),
         [&] {
             std::string array = "{";
             for (const std::string& name : spec.unique)
                 array += (array.size() > 1 ? ",\"" : "\"") + name + "\"";
             return array + "}";
         }()},
        true);
    if (found.empty())
        fail(where + " has no unique index on (" + quote_ident_list(spec.unique) +
                 "), which \"unique\" needs",
             ERRCODE_INVALID_COLUMN_REFERENCE);
}

} // namespace

void check_table_privileges(const EntitySpec& spec, Oid relid, Oid role) {
    struct Need {
        AclMode mode;
        const char* name;
        bool columns; // column privileges may grant it
    };
    std::vector<Need> needs{{ACL_INSERT, "INSERT", true}};
    bool has_key = !spec.unique.empty();
    if (has_key && spec.on_conflict == OnConflict::Update)
        needs.push_back({ACL_UPDATE, "UPDATE", true});
    bool replaces = !spec.is_root() && spec.on_parent_update == OnParentUpdate::Replace;
    if (replaces)
        needs.push_back({ACL_DELETE, "DELETE", false});
    if (has_key || replaces)
        needs.push_back({ACL_SELECT, "SELECT", true});
    for (const Need& need : needs) {
        bool granted = false;
        std::string role_name, table_name;
        pg_call([&] {
            granted = pg_class_aclcheck(relid, role, need.mode) == ACLCHECK_OK;
            if (!granted && need.columns) {
                granted = true;
                for (const FieldSpec& field : spec.fields) {
                    AttrNumber attnum = get_attnum(relid, field.name.c_str());
                    if (attnum == InvalidAttrNumber ||
                        pg_attribute_aclcheck(relid, attnum, role, need.mode) != ACLCHECK_OK) {
                        granted = false;
                        break;
                    }
                }
            }
            if (!granted) {
                role_name = GetUserNameFromId(role, true) ? GetUserNameFromId(role, true) : "?";
                char* nsp = get_namespace_name(get_rel_namespace(relid));
                char* rel = get_rel_name(relid);
                table_name = std::string(quote_identifier(nsp ? nsp : "?")) + "." +
                             quote_identifier(rel ? rel : "?");
            }
        });
        if (!granted)
            fail("entity \"" + spec.name + "\": permission denied: role \"" + role_name +
                     "\" lacks the " + need.name + " privilege on table " + table_name,
                 ERRCODE_INSUFFICIENT_PRIVILEGE);
    }
}

void ensure_table(const EntitySpec& spec, const std::vector<Column>& columns,
                  const EntitySpec* parent, bool create_table) {
    TableName table = resolve_table_name(spec.table);
    if (table.relid == InvalidOid) {
        if (!create_table)
            fail("entity \"" + spec.name + "\": table \"" + spec.table +
                     "\" does not exist (create_table is false)",
                 ERRCODE_UNDEFINED_TABLE);
        create(spec, columns, table);
    } else {
        check_existing(spec, columns, table);
        Oid role = InvalidOid;
        pg_call([&] { role = GetUserId(); });
        check_table_privileges(spec, table.relid, role);
    }
    bool copies_parent_id = std::any_of(spec.fields.begin(), spec.fields.end(),
                                        [](const FieldSpec& f) { return f.from_parent == "id"; });
    if (parent != nullptr && copies_parent_id) {
        TableName parent_table = resolve_table_name(parent->table);
        AttrNumber attnum = InvalidAttrNumber;
        if (parent_table.relid != InvalidOid)
            pg_call([&] { attnum = get_attnum(parent_table.relid, "id"); });
        if (attnum == InvalidAttrNumber)
            fail("entity \"" + spec.name + "\": a field copies the parent's \"id\", but table \"" +
                     parent->table + "\" of entity \"" + parent->name + "\" has no column \"id\"",
                 ERRCODE_UNDEFINED_COLUMN);
    }
}

} // namespace nomnom
