// The entities as this backend knows them: the catalog's specs, resolved against
// PostgreSQL (types, input functions, tables) and cached per root entity, with the
// prepared statements that write them. A relcache callback on the catalog table (and on
// every target table) marks the cache stale; it is rebuilt on next use, and a tree rebuilt
// the same as before is the same object again.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nomnom/mapper.hpp"
#include "pg/pg_prelude.hpp"
#include "writer/plain_first.hpp"
#include "writer/tuple_image.hpp"

namespace nomnom {

// One field, resolved: how its text becomes a Datum.
struct Column {
    Oid type_oid = InvalidOid;
    int32 typmod = -1;
    Oid typioparam = InvalidOid;
    FmgrInfo input{};     // the type's input function, in TopMemoryContext
    Oid output_fn = InvalidOid;
    char category = 'U';  // pg_type.typcategory, for preview's JSON
    Oid array_type = InvalidOid; // parent keys of replace-mode deletes travel as arrays
    std::string type_sql;        // with its modifier: "numeric(15,2)"
    // A field with "function": the column carries the element (or document) as jsonb, and
    // the INSERT stores function_sql(that jsonb); empty otherwise.
    std::string function_sql;
};

// A parent-side key that a child's from_parent field copies.
struct LinkField {
    int child_field;      // index into the child's fields
    int parent_field;     // index into the parent's fields, or -1 for the parent's id
};

struct ResolvedEntity {
    const EntitySpec* spec = nullptr;
    std::string table_sql;        // quoted, possibly qualified
    Oid relid = InvalidOid;
    std::vector<Column> columns;  // one per spec field
    int parent = -1;              // index into ResolvedTree::entities
    std::vector<int> children;
    std::vector<LinkField> links; // how this entity's rows point at their parent row
    bool returns_id = false;      // a child copies this row's generated id
    // The table as heap_form_tuple lays its rows out, for rows laid out ahead (tuple_image.hpp).
    TupleLayout layout;
    // Prepared on first use, kept for the life of the cache.
    SPIPlanPtr insert_plan = nullptr;
    SPIPlanPtr plain_insert_plan = nullptr; // the upsert without ON CONFLICT (plain_first.hpp)
    PlainFirst plain_first;
    // The same two returning each row as stored, for entity events (row_writer.hpp).
    SPIPlanPtr event_insert_plan = nullptr;
    SPIPlanPtr event_plain_insert_plan = nullptr;
    SPIPlanPtr delete_plan = nullptr;   // rows of this entity linked to given parent rows
    std::vector<std::string> delete_returning; // what delete_plan returns, for cascading
};

struct ResolvedTree {
    EntityTree tree;
    std::vector<ResolvedEntity> entities; // same order as tree.entities
    bool uses_metadata = false;           // a field takes a message's id, subject, ...
    // What the tree was built from: its entities' specs as the catalog holds them, their
    // tables (oid and name as resolved) and columns' types and functions. Two trees with
    // the same signature map and convert a document the same way; what else a write
    // depends on (the table's columns, constraints, indexes, privileges) is read when it
    // runs or revalidated by the plan cache.
    std::string signature;
    ResolvedTree() = default;
    ResolvedTree(const ResolvedTree&) = delete;
    ResolvedTree& operator=(const ResolvedTree&) = delete;
    ~ResolvedTree(); // frees the kept plans
};

// The tree whose root is `root_entity`. C++-style: throws PgError/DataError; an unknown or
// derived entity is a DataError (42704 / 22023). Shared: a cache rebuild does not pull a
// tree from under a message that still holds it.
std::shared_ptr<ResolvedTree> resolve_tree(const std::string& root_entity);

// All specs in the catalog, for define_entity's checks. C++-style.
std::vector<EntitySpec> load_entity_specs();

// Resolves a spec type name ("numeric(15,2)") to its PostgreSQL type; `where` names the
// field in the error. C++-style.
Column resolve_column(const std::string& type, const std::string& where);

// The function a field with "function" names: `name`(jsonb), not set-returning. Its call
// as SQL (quoted, qualified) and its return type. `where` names the field in the error.
// C++-style (DataError 42883 when there is no such function).
struct FieldFunction {
    std::string call_sql;
    Oid return_type = InvalidOid;
};
FieldFunction resolve_field_function(const std::string& name, const std::string& where);

// Tells every backend (at commit) that the catalog changed.
void invalidate_entity_cache();

// Oid of nomnom.entity_catalog; a DataError when the extension is not installed here.
Oid entity_catalog_relid();

} // namespace nomnom
