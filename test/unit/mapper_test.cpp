#include "nomnom/mapper.hpp"

#include <gtest/gtest.h>

using namespace nomnom;

namespace {

std::vector<EntitySpec> tpch_like() {
    return {parse_entity_spec(R"J({"name": "Order", "table": "orders", "unique": ["order_key"],
              "fields": [{"name": "order_key", "type": "text", "nullable": false},
                         {"name": "total", "type": "numeric(15,2)"},
                         {"name": "city", "type": "text", "path": "ship.city"},
                         {"name": "msg", "type": "uuid", "source": "message_id"},
                         {"name": "seq", "type": "int8", "source": "stream_seq"}]})J"),
            parse_entity_spec(R"J({"name": "Line", "parent": "Order", "each": "lines",
              "fields": [{"name": "order_key", "type": "text", "from_parent": "order_key"},
                         {"name": "order_id", "type": "int8", "from_parent": "id"},
                         {"name": "n", "type": "int4", "nullable": false}]})J"),
            parse_entity_spec(R"J({"name": "Part", "parent": "Line", "each": "parts",
              "fields": [{"name": "n", "type": "int4", "from_parent": "n"},
                         {"name": "sku", "type": "text"}]})J")};
}

struct Mapped {
    bool ok;
    MappedDocument doc;
    MappingError error;
};

Mapped map(const std::string& body, MessageMeta meta = {}) {
    EntityTree tree = EntityTree::build(tpch_like(), "Order");
    Mapped out;
    out.ok = map_document(tree, body, meta, out.doc, out.error);
    return out;
}

} // namespace

TEST(EntityTree, OrdersParentsBeforeChildren) {
    EntityTree tree = EntityTree::build(tpch_like(), "Order");
    ASSERT_EQ(tree.entities.size(), 3u);
    EXPECT_EQ(tree.entities[1].name, "Line");
    EXPECT_EQ(tree.parent[2], 1);
    EXPECT_THROW(EntityTree::build(tpch_like(), "Line"), SpecError);
    EXPECT_THROW(EntityTree::build(tpch_like(), "Nope"), SpecError);
}

TEST(Mapper, MapsRootDerivedAndNestedRowsInPreOrder) {
    MessageMeta meta;
    meta.message_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    meta.stream_seq = 42;
    Mapped m = map(R"({"order_key": "K", "total": 1234.56, "ship": {"city": "Lyon"},
        "lines": [{"n": 1, "parts": [{"sku": "a"}, {"sku": "b"}]}, {"n": 2}]})", meta);
    ASSERT_TRUE(m.ok) << m.error.message;
    ASSERT_EQ(m.doc.rows.size(), 5u);
    const auto& order = m.doc.rows[0];
    EXPECT_EQ(*order.values[0], "K");
    EXPECT_EQ(*order.values[1], "1234.56");
    EXPECT_EQ(*order.values[2], "Lyon");
    EXPECT_EQ(*order.values[3], meta.message_id);
    EXPECT_EQ(*order.values[4], "42");
    // Line 1, then its parts, then line 2.
    EXPECT_EQ(m.doc.rows[1].entity, 1);
    EXPECT_EQ(*m.doc.rows[1].values[0], "K");
    EXPECT_FALSE(m.doc.rows[1].values[1]);
    EXPECT_EQ(m.doc.rows[1].parent_id_fields, std::vector<int>{1});
    EXPECT_EQ(m.doc.rows[2].entity, 2);
    EXPECT_EQ(m.doc.rows[2].parent_row, 1);
    EXPECT_EQ(*m.doc.rows[2].values[0], "1");
    EXPECT_EQ(*m.doc.rows[3].values[1], "b");
    EXPECT_EQ(m.doc.rows[3].origin, "lines[0].parts[1]");
    EXPECT_EQ(*m.doc.rows[4].values[2], "2");
}

TEST(Mapper, MissingOptionalValuesAndArraysAreNull) {
    Mapped m = map(R"({"order_key": "K", "ship": null})");
    ASSERT_TRUE(m.ok) << m.error.message;
    ASSERT_EQ(m.doc.rows.size(), 1u);
    EXPECT_FALSE(m.doc.rows[0].values[1]);
    EXPECT_FALSE(m.doc.rows[0].values[2]);
    EXPECT_FALSE(m.doc.rows[0].values[3]) << "no message id given";
}

TEST(Mapper, NamesTheFieldAndPathOfBadInput) {
    Mapped missing = map(R"({"total": 1})");
    ASSERT_FALSE(missing.ok);
    EXPECT_EQ(missing.error.message,
              "entity \"Order\", field \"order_key\" (path \"order_key\"): missing value for a "
              "non-nullable field");
    EXPECT_STREQ(missing.error.sqlstate, "23502");

    Mapped nested = map(R"({"order_key": "K", "lines": [{"n": 1}, {"parts": []}]})");
    ASSERT_FALSE(nested.ok);
    EXPECT_EQ(nested.error.message,
              "entity \"Line\" (lines[1]), field \"n\" (path \"n\"): missing value for a "
              "non-nullable field");

    Mapped object = map(R"({"order_key": {"a": 1}})");
    ASSERT_FALSE(object.ok);
    EXPECT_NE(object.error.message.find("expected a value of type text, got an object"), std::string::npos);

    Mapped not_array = map(R"({"order_key": "K", "lines": 3})");
    ASSERT_FALSE(not_array.ok);
    EXPECT_EQ(not_array.error.message, "entity \"Line\": \"lines\" is a number, expected an array");

    Mapped bad_json = map(R"({"order_key": )");
    ASSERT_FALSE(bad_json.ok);
    EXPECT_STREQ(bad_json.error.sqlstate, "22032");
}
