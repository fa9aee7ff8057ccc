// The entity spec model: what define_entity accepts, parsed and checked.
// Pure C++ (no PostgreSQL headers) so it is unit-tested fast and shared with the bridge.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace nomnom {

enum class OnConflict { Update, Ignore, Error };
enum class OnParentUpdate { Replace, Upsert };

// Message metadata a field can take its value from instead of the document.
enum class FieldSource { Document, MessageId, Subject, StreamSeq, ReceivedAt };

// A spec problem. `sqlstate` is a five-character PostgreSQL error code.
struct SpecError : std::runtime_error {
    SpecError(const std::string& message, const char* sqlstate)
        : std::runtime_error(message), sqlstate(sqlstate) {}
    const char* sqlstate;
};

struct FieldSpec {
    std::string name;
    std::string type;              // PostgreSQL type name, original nomnom names translated
    std::vector<std::string> path; // dot path into the document (or the `each` element)
    std::string path_text;         // the path as written, for messages
    bool nullable = true;
    std::string from_parent;       // a field of the parent row, or "id"; empty when unused
    FieldSource source = FieldSource::Document;
    std::string doc;               // COMMENT ON COLUMN when define_entity creates the table
    std::string function;          // "schema.fn": computed by fn(element or document as jsonb)
};

struct EntitySpec {
    std::string name;
    std::string table;
    std::string parent;            // empty for a root entity
    std::vector<std::string> each; // path of the array in the parent document
    std::string each_text;
    std::vector<FieldSpec> fields;
    std::vector<std::string> unique;
    OnConflict on_conflict = OnConflict::Update;
    OnParentUpdate on_parent_update = OnParentUpdate::Replace;
    std::string doc;               // in COMMENT ON TABLE when define_entity creates the table

    bool is_root() const { return parent.empty(); }
    const FieldSpec* find_field(const std::string& field_name) const;
    // What a child's from_parent names in this (parent) entity: the index of the field in
    // `fields`, kParentId for the generated "id", kNoParentField when there is no such field.
    static constexpr int kParentId = -1;
    static constexpr int kNoParentField = -2;
    int parent_field_index(const std::string& from_parent) const;
    // The spec again as JSON, with defaults filled in: what the catalog stores.
    std::string to_json() const;
};

// Parses and checks one spec on its own (parents and tables are checked against the catalog
// by the extension). Throws SpecError naming the problem.
EntitySpec parse_entity_spec(const std::string& json_text);

// "String" -> "text", "Integer" -> "int8", "Float" -> "float8", "Boolean" -> "bool";
// any other name is returned unchanged.
std::string normalize_type_name(const std::string& type);

// Splits "a.b.c" into {"a","b","c"}; throws SpecError on an empty segment.
std::vector<std::string> split_path(const std::string& path, const std::string& what);

// True for a name usable as a NATS subject token and a SQL identifier: [A-Za-z0-9_-]+.
bool is_valid_entity_name(const std::string& name);

// "OrderLineItem" -> "order_line_item": the table name used when a spec names none.
std::string snake_case(const std::string& name);

const char* to_string(OnConflict value);
const char* to_string(OnParentUpdate value);
const char* to_string(FieldSource value);

} // namespace nomnom
