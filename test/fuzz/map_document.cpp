// map_document with a spec, on any document: never a crash, never an exception; a mapped
// document's rows are consistent with the tree (values per field, parents before children,
// NUL-terminated texts); a refused one has a message and a five-character SQLSTATE.
// Each document is also mapped into one recycled MappedDocument, which must give the same.
// The first byte picks the spec: even, a fixed three-level tree with every kind of field;
// odd, a spec read from the input up to its first NUL byte (parse_entity_spec fuzzed too),
// the document after it.
#include "fuzz_common.hpp"
#include "nomnom/entity_spec.hpp"
#include "nomnom/mapper.hpp"

#include <cstring>

using namespace nomnom;

namespace {

const EntityTree& fixed_tree() {
    static const EntityTree tree = [] {
        std::vector<EntitySpec> specs = {
            parse_entity_spec(R"J({"name": "Order", "table": "orders", "unique": ["order_key"],
              "fields": [{"name": "order_key", "type": "text", "nullable": false},
                         {"name": "total", "type": "numeric(15,2)"},
                         {"name": "qty", "type": "int4"},
                         {"name": "day", "type": "date"},
                         {"name": "paid", "type": "Boolean"},
                         {"name": "city", "type": "text", "path": "ship.address.city"},
                         {"name": "extra", "type": "jsonb"},
                         {"name": "tags", "type": "text[]"},
                         {"name": "msg", "type": "uuid", "source": "message_id"},
                         {"name": "subject", "type": "text", "source": "subject"},
                         {"name": "seq", "type": "int8", "source": "stream_seq"},
                         {"name": "at", "type": "timestamptz", "source": "received_at"}]})J"),
            parse_entity_spec(R"J({"name": "Line", "parent": "Order", "each": "lines",
              "on_parent_update": "upsert",
              "fields": [{"name": "order_key", "type": "text", "from_parent": "order_key"},
                         {"name": "order_id", "type": "int8", "from_parent": "id"},
                         {"name": "n", "type": "int4", "nullable": false},
                         {"name": "price", "type": "numeric"}]})J"),
            parse_entity_spec(R"J({"name": "Part", "parent": "Line", "each": "parts.list",
              "fields": [{"name": "n", "type": "int4", "from_parent": "n"},
                         {"name": "sku", "type": "text"},
                         {"name": "doc", "type": "json", "path": "detail"}]})J")};
        return EntityTree::build(specs, "Order");
    }();
    return tree;
}

void check_mapped(const EntityTree& tree, const MappedDocument& out, std::string_view body) {
    std::string shown(body.substr(0, 200));
    FUZZ_CHECK(!out.rows.empty(), shown);
    FUZZ_CHECK(out.rows[0].entity == 0 && out.rows[0].parent_row == -1, shown);
    for (size_t i = 0; i < out.rows.size(); ++i) {
        const MappedRow& row = out.rows[i];
        FUZZ_CHECK(row.entity >= 0 && static_cast<size_t>(row.entity) < tree.entities.size(),
                   shown);
        const EntitySpec& entity = tree.entities[row.entity];
        FUZZ_CHECK(row.values.size() == entity.fields.size(), shown);
        if (i > 0) {
            FUZZ_CHECK(row.parent_row >= 0 && static_cast<size_t>(row.parent_row) < i, shown);
            FUZZ_CHECK(out.rows[row.parent_row].entity == tree.parent[row.entity], shown);
        }
        for (size_t f = 0; f < row.values.size(); ++f) {
            const MappedValue& value = row.values[f];
            if (value) {
                FUZZ_CHECK(value.c_str()[(*value).size()] == '\0', shown);
            } else if (!entity.fields[f].nullable) {
                bool parent_id = false;
                for (int id_field : row.parent_id_fields)
                    parent_id = parent_id || static_cast<size_t>(id_field) == f;
                FUZZ_CHECK(parent_id,
                           "a NULL in non-nullable field " + entity.fields[f].name + ": " + shown);
            }
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0)
        return 0;
    std::string_view input = as_text(data + 1, size - 1);
    MessageMeta meta;
    meta.message_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    meta.subject = "messages.ingest.Order";
    meta.stream_seq = 7;
    meta.received_at = "2025-01-01 00:00:00+00";
    EntityTree own;
    const EntityTree* tree = &fixed_tree();
    std::string_view body = input;
    if (data[0] & 1) {
        size_t nul = input.find('\0');
        if (nul == std::string_view::npos)
            return 0;
        try {
            std::vector<EntitySpec> specs{parse_entity_spec(std::string(input.substr(0, nul)))};
            if (!specs[0].is_root())
                return 0; // a derived entity needs its parent's spec
            own = EntityTree::build(specs, specs[0].name);
        } catch (const SpecError& e) {
            FUZZ_CHECK(std::strlen(e.sqlstate) == 5, e.what());
            FUZZ_CHECK(std::strlen(e.what()) > 0, "an empty SpecError");
            return 0;
        }
        tree = &own;
        body = input.substr(nul + 1);
    }
    MappedDocument out;
    MappingError error;
    bool ok = map_document(*tree, body, meta, out, error);
    if (ok) {
        check_mapped(*tree, out, body);
    } else {
        FUZZ_CHECK(!error.message.empty(), std::string(body.substr(0, 200)));
        FUZZ_CHECK(error.sqlstate != nullptr && std::strlen(error.sqlstate) == 5, error.message);
    }
    // The same document mapped into one MappedDocument kept from input to input (recycled, as
    // the worker's prefetch thread maps into a written batch's): exactly the fresh mapping.
    static MappedDocument reused;
    MappingError reused_error;
    std::string shown(body.substr(0, 200));
    FUZZ_CHECK(map_document(*tree, body, meta, reused, reused_error) == ok, shown);
    FUZZ_CHECK(reused_error.message == error.message, shown);
    FUZZ_CHECK(reused.rows.size() == (ok ? out.rows.size() : 0), shown);
    for (size_t i = 0; ok && i < out.rows.size(); ++i) {
        const MappedRow& a = out.rows[i];
        const MappedRow& b = reused.rows[i];
        FUZZ_CHECK(a.entity == b.entity && a.parent_row == b.parent_row && a.origin == b.origin &&
                       a.parent_id_fields == b.parent_id_fields &&
                       a.values.size() == b.values.size(),
                   shown);
        for (size_t f = 0; f < a.values.size(); ++f)
            FUZZ_CHECK(bool(a.values[f]) == bool(b.values[f]) &&
                           (!a.values[f] || *a.values[f] == *b.values[f]),
                       shown);
    }
    return 0;
}
