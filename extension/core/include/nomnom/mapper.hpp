// The entity mapper: one JSON document in, the rows of its entity tree out.
// Pure C++: the extension's SQL functions and background worker both use it, and the
// PostgreSQL side only converts the texts with each column type's input function.
#pragma once

#include "nomnom/arena.hpp"
#include "nomnom/entity_spec.hpp"
#include "nomnom/json_document.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nomnom {

// A root entity and everything derived from it, parents before children.
struct EntityTree {
    std::vector<EntitySpec> entities;     // entities[0] is the root
    std::vector<int> parent;              // parent[i] is an index into entities; -1 for the root
    std::vector<std::vector<int>> children;

    // What the mapper needs of a field's type, per entity and field: worked out once here
    // rather than for every value.
    struct FieldTraits {
        bool json = false;  // json or jsonb: any value as JSON text
        bool array = false; // an array type: a JSON array becomes an array literal
    };
    std::vector<std::vector<FieldTraits>> field_traits;

    // Builds the tree of `root` from all known specs. Throws SpecError when `root` is
    // unknown or derived, or when a parent chain is broken.
    static EntityTree build(const std::vector<EntitySpec>& all, const std::string& root);
};

// Message metadata for fields with a `source`.
struct MessageMeta {
    std::string message_id;
    std::string subject;                  // empty: NULL
    std::optional<int64_t> stream_seq;
    std::string received_at;              // timestamptz text
};

// A field's value: SQL NULL, or a text followed by a NUL byte, kept in its MappedDocument
// (in its copy of the document's text, where the parse decoded it, or in its arena) or a
// string literal. Copying a value copies the reference, not the text.
class MappedValue {
  public:
    MappedValue() = default; // NULL
    // `text` must be NUL-terminated and outlive the value (Arena::copy makes such texts).
    explicit MappedValue(std::string_view text)
        : data_(text.data()), size_(text.size()) {}

    explicit operator bool() const { return data_ != nullptr; } // not NULL
    std::string_view operator*() const { return {data_, size_}; }
    const char* c_str() const { return data_; }

  private:
    const char* data_ = nullptr;
    size_t size_ = 0;
};

struct MappedRow {
    int entity = 0;                       // index into EntityTree::entities
    int parent_row = -1;                  // index into MappedDocument::rows
    std::string origin;                   // where in the document, e.g. "line_items[1]"
    // One per field of the entity. A field taking the parent's generated id is NULL here
    // and is listed in `parent_id_fields`.
    std::vector<MappedValue> values;
    std::vector<int> parent_id_fields;
};

struct MappedDocument {
    std::vector<MappedRow> rows;          // pre-order: every parent before its children
    // The values' texts that are not in `text`. Its owner may add what it derives from
    // them (the extension's Datums), to be freed together.
    Arena arena;
    // The document's text, parsed in place: a string or number value is its text there
    // (bench/README.md, item 29).
    ParseBuffer text;
};

// A data problem in a document. `sqlstate` is a PostgreSQL error code.
struct MappingError {
    std::string message;
    const char* sqlstate = "22023";
};

// Empties `doc` for the next document mapped into it: no rows, nothing in its arena, so
// every value of the document before is gone. What its storage took is kept, up to a
// bound (a huge document's is not): `rows` and the text's buffer in `doc`; the rows
// themselves (their vectors) and the arena's blocks in small pools of the calling thread,
// which the next map_document on that thread takes them from. So a thread that recycles a
// document just before it maps the next one into it allocates next to nothing once warm
// (bench/README.md, item 26), and its documents' arenas hold what they take now, not their
// largest so far (item 38).
void recycle(MappedDocument& doc);

// Maps `body` for `tree`. Returns false and fills `error` on bad input; never throws
// for data problems. Recycles `out` first: whatever it held (rows, values, what its owner
// put in its arena) is gone.
bool map_document(const EntityTree& tree, std::string_view body, const MessageMeta& meta,
                  MappedDocument& out, MappingError& error);

// Describes where a field came from, for error messages:
// entity "OrderLineItem" (line_items[1]), field "quantity" (path "quantity")
std::string describe_field(const EntitySpec& entity, const std::string& origin,
                           const FieldSpec& field);

} // namespace nomnom
