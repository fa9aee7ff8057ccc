#include "nomnom/mapper.hpp"

#include <gtest/gtest.h>

#include <thread>

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

namespace {

Mapped map_typed(const std::string& body) {
    std::vector<EntitySpec> specs = {parse_entity_spec(R"J({"name": "Doc", "table": "docs",
        "fields": [{"name": "j", "type": "jsonb"},
                   {"name": "pj", "type": "pg_catalog.json"},
                   {"name": "tags", "type": "text[]"},
                   {"name": "grid", "type": "int4[]"},
                   {"name": "flag", "type": "boolean"},
                   {"name": "t", "type": "text"}]})J")};
    EntityTree tree = EntityTree::build(specs, "Doc");
    Mapped out;
    out.ok = map_document(tree, body, {}, out.doc, out.error);
    return out;
}

} // namespace

TEST(Mapper, JsonFieldsTakeAnyValueAsCompactJson) {
    Mapped m = map_typed(R"({"j": {"b": [1.50, "x\"y\\z\n", null, true], "a": {}},
        "pj": "caf\u00e9 \/", "tags": 12.0, "flag": false, "t": "\u00e9\t"})");
    ASSERT_TRUE(m.ok) << m.error.message;
    const auto& row = m.doc.rows[0];
    EXPECT_EQ(*row.values[0], R"({"b":[1.50,"x\"y\\z\n",null,true],"a":{}})");
    EXPECT_EQ(*row.values[1], "\"caf\xc3\xa9 /\"");
    EXPECT_EQ(*row.values[2], "12.0");
    EXPECT_FALSE(row.values[3]);
    EXPECT_EQ(*row.values[4], "false");
    EXPECT_EQ(*row.values[5], "\xc3\xa9\t");
    Mapped scalars = map_typed(R"({"j": 7e-1, "pj": false})");
    ASSERT_TRUE(scalars.ok) << scalars.error.message;
    EXPECT_EQ(*scalars.doc.rows[0].values[0], "7e-1");
    EXPECT_EQ(*scalars.doc.rows[0].values[1], "false");
}

TEST(Mapper, ArraysBecomeArrayLiterals) {
    Mapped m = map_typed(R"({"tags": ["a", "b \"q\" \\", null, 1.10, true, "", [], ["n", [false]]],
        "grid": [[1, 2], [3, null]]})");
    ASSERT_TRUE(m.ok) << m.error.message;
    EXPECT_EQ(*m.doc.rows[0].values[2],
              R"({"a","b \"q\" \\",NULL,"1.10","true","",{},{"n",{"false"}}})");
    EXPECT_EQ(*m.doc.rows[0].values[3], R"({{"1","2"},{"3",NULL}})");
}

TEST(Mapper, NamesTheShapeOfUnexpectedValues) {
    Mapped element = map_typed(R"({"tags": ["a", {"b": 1}]})");
    ASSERT_FALSE(element.ok);
    EXPECT_EQ(element.error.message,
              "entity \"Doc\", field \"tags\" (path \"tags\"): an array element is an object, "
              "expected a scalar");
    EXPECT_STREQ(element.error.sqlstate, "22P02");

    Mapped array = map_typed(R"({"t": [1]})");
    ASSERT_FALSE(array.ok);
    EXPECT_EQ(
        array.error.message,
        "entity \"Doc\", field \"t\" (path \"t\"): expected a value of type text, got an array");

    Mapped object = map_typed(R"({"grid": {}})");
    ASSERT_FALSE(object.ok);
    EXPECT_EQ(
        object.error.message,
        "entity \"Doc\", field \"grid\" (path \"grid\"): expected a value of type int4[], got "
        "an object");

    for (const auto& [body, kind] :
         std::vector<std::pair<std::string, std::string>>{{"[1]", "an array"},
                                                          {"\"s\"", "a string"},
                                                          {"1.5", "a number"},
                                                          {"true", "a boolean"},
                                                          {"null", "null"}}) {
        Mapped root = map_typed(body);
        ASSERT_FALSE(root.ok) << body;
        EXPECT_EQ(root.error.message, "entity \"Doc\": expected a JSON object, got " + kind);
        EXPECT_STREQ(root.error.sqlstate, "22P02");
    }

    Mapped line = map(R"({"order_key": "K", "lines": [{"n": 1}, "x"]})");
    ASSERT_FALSE(line.ok);
    EXPECT_EQ(line.error.message,
              "entity \"Line\" (lines[1]): expected a JSON object, got a string");

    Mapped lines = map(R"({"order_key": "K", "lines": {"n": 1}})");
    ASSERT_FALSE(lines.ok);
    EXPECT_EQ(lines.error.message, "entity \"Line\": \"lines\" is an object, expected an array");
}

TEST(Mapper, ReportsJanssonsParseErrors) {
    Mapped dup = map(R"({"order_key": "K", "lines": [{"n": 1, "n": 2}]})");
    ASSERT_FALSE(dup.ok);
    EXPECT_EQ(dup.error.message,
              "entity \"Order\": the document is not valid JSON: duplicate object key near "
              "'\"n\"' (line 1, column 41)");
    EXPECT_STREQ(dup.error.sqlstate, "22032");
    Mapped truncated = map("{\"order_key\": \"K\",\n \"total\": 1.");
    ASSERT_FALSE(truncated.ok);
    EXPECT_EQ(truncated.error.message,
              "entity \"Order\": the document is not valid JSON: invalid token near '1.' (line 2, "
              "column 12)");
}

TEST(Mapper, ATreeChangedAfterBuildWorksToo) {
    EntityTree tree = EntityTree::build(tpch_like(), "Order");
    tree.field_traits.clear();
    MappedDocument doc;
    MappingError error;
    ASSERT_TRUE(map_document(tree, R"({"order_key": "K", "total": 2.50})", {}, doc, error))
        << error.message;
    EXPECT_EQ(*doc.rows[0].values[1], "2.50");

    tree = EntityTree::build(tpch_like(), "Order");
    FieldSpec extra;
    extra.name = "extra";
    extra.type = "jsonb";
    extra.path = {"extra"};
    tree.entities[0].fields.push_back(extra);
    ASSERT_TRUE(map_document(tree, R"({"order_key": "K", "extra": {"a": [1.0]}})", {}, doc, error))
        << error.message;
    EXPECT_EQ(*doc.rows[0].values[5], R"({"a":[1.0]})");
}

TEST(Mapper, MapsOnTwoThreadsAtOnce) {
    // The worker maps a batch on two threads; the mapper keeps no shared state.
    EntityTree tree = EntityTree::build(tpch_like(), "Order");
    auto work = [&tree](int seed, int& mismatches) {
        for (int i = 0; i < 2000; ++i) {
            std::string key = "K" + std::to_string(seed * 100000 + i);
            std::string body = R"({"order_key": ")" + key + R"(", "total": )" + std::to_string(i) +
                               R"(.25, "lines": [{"n": 1}, {"n": 2, "parts": [{"sku": "s"}]}]})";
            if (i % 10 == 0)
                body += "x"; // a parse error now and then: jansson reports it
            MappedDocument doc;
            MappingError error;
            bool ok = map_document(tree, body, {}, doc, error);
            if (i % 10 == 0)
                mismatches += ok || error.message.find("end of file expected") == std::string::npos;
            else
                mismatches += !ok || doc.rows.size() != 4 || *doc.rows[0].values[0] != key ||
                              *doc.rows[0].values[1] != std::to_string(i) + ".25";
        }
    };
    int first = 0, second = 0;
    std::thread other(work, 1, std::ref(second));
    work(0, first);
    other.join();
    EXPECT_EQ(first, 0);
    EXPECT_EQ(second, 0);
}

TEST(Mapper, ValuesOutliveTheNextDocumentAndMovesOfTheirOwn) {
    // The parse buffers are reused from one document to the next on a thread: values are
    // the document's own copies, and a moved MappedDocument keeps them where they were.
    Mapped first = map(R"({"order_key": "first key, longer than sixteen bytes", "lines": [{"n": 1}]})");
    ASSERT_TRUE(first.ok) << first.error.message;
    Mapped second = map(R"({"order_key": "second", "total": 3.5, "lines": [{"n": 2}, {"n": 3}]})");
    ASSERT_TRUE(second.ok) << second.error.message;
    std::vector<MappedDocument> kept;
    kept.push_back(std::move(first.doc));
    kept.push_back(std::move(second.doc));
    EXPECT_EQ(*kept[0].rows[0].values[0], "first key, longer than sixteen bytes");
    EXPECT_EQ(*kept[0].rows[1].values[0], "first key, longer than sixteen bytes") << "from_parent";
    EXPECT_EQ(*kept[0].rows[1].values[2], "1");
    EXPECT_EQ(*kept[1].rows[0].values[1], "3.5");
    EXPECT_EQ(*kept[1].rows[2].values[2], "3");
    for (const MappedDocument& doc : kept)
        for (const MappedRow& row : doc.rows)
            for (const MappedValue& value : row.values) {
                if (value) {
                    EXPECT_EQ(std::string(value.c_str()), *value) << "NUL-terminated";
                }
            }
}

TEST(Mapper, AFunctionFieldGetsItsElementOrDocumentAsJson) {
    std::vector<EntitySpec> specs = {
        parse_entity_spec(R"J({"name": "B", "fields": [{"name": "ref", "type": "text"},
              {"name": "whole", "type": "numeric", "function": "xf.total"}]})J"),
        parse_entity_spec(
            R"J({"name": "I", "parent": "B", "each": "items", "on_parent_update": "upsert",
              "fields": [{"name": "label", "type": "text", "function": "xf.label"}]})J")};
    EntityTree tree = EntityTree::build(specs, "B");
    MappedDocument doc;
    MappingError error;
    ASSERT_TRUE(map_document(tree, R"({"ref": "r", "items": [{"sku": "a"}, {"sku": "b"}]})", {},
                             doc, error))
        << error.message;
    ASSERT_EQ(doc.rows.size(), 3u);
    EXPECT_EQ(*doc.rows[0].values[1], R"({"ref":"r","items":[{"sku":"a"},{"sku":"b"}]})");
    EXPECT_EQ(*doc.rows[2].values[0], R"({"sku":"b"})");
    EXPECT_EQ(describe_field(specs[1], "items[1]", specs[1].fields[0]),
              "entity \"I\" (items[1]), field \"label\" (function \"xf.label\")");
}

// Documents mapped one after the other into the same MappedDocument (as the worker's prefetch
// thread does, into a written batch's): each one's rows are exactly a fresh mapping's,
// whatever came before (more rows, fewer, a failure, a huge document).
TEST(Mapper, ARecycledDocumentMapsExactlyAsANewOne) {
    EntityTree tree = EntityTree::build(tpch_like(), "Order");
    MessageMeta meta;
    meta.message_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    meta.stream_seq = 42;
    std::string huge = R"({"order_key": "H", "total": 1, "lines": [)";
    for (int i = 0; i < 300; ++i)
        huge += std::string(i ? "," : "") + R"({"n": )" + std::to_string(i) +
                R"(, "parts": [{"sku": ")" + std::string(600, 'x') + R"("}]})";
    huge += "]}";
    const std::vector<std::string> bodies = {
        R"({"order_key": "K", "total": 1234.56, "ship": {"city": "Lyon"},
            "lines": [{"n": 1, "parts": [{"sku": "a"}, {"sku": "b"}]}, {"n": 2}]})",
        R"({"order_key": "L"})",
        R"({"order_key": "M", "lines": [{"n": 7}, {"n": 8}, {"n": 9}, {"n": 10}]})",
        R"({"order_key": "bad", "lines": [{"n": 1}, {"parts": []}]})", // n missing: refused
        R"({"order_key": "N", "lines": [{"n": 3, "parts": [{"sku": "c"}]}]})",
        "not json",
        huge,
        R"({"order_key": "P", "total": 5, "lines": [{"n": 4}]})"};
    auto text = [](const MappedDocument& doc) {
        std::string out;
        for (const MappedRow& row : doc.rows) {
            out += "[" + std::to_string(row.entity) + "<" + std::to_string(row.parent_row) + " " +
                   row.origin;
            for (const MappedValue& value : row.values)
                out += value ? " '" + std::string(*value) + "'" : std::string(" NULL");
            for (int field : row.parent_id_fields)
                out += " id>" + std::to_string(field);
            out += "]";
        }
        return out;
    };
    MappedDocument reused;
    for (int pass = 0; pass < 2; ++pass)
        for (const std::string& body : bodies) {
            MappedDocument fresh;
            MappingError fresh_error, reused_error;
            bool fresh_ok = map_document(tree, body, meta, fresh, fresh_error);
            bool reused_ok = map_document(tree, body, meta, reused, reused_error);
            ASSERT_EQ(reused_ok, fresh_ok) << body.substr(0, 80);
            if (!reused_ok) {
                EXPECT_TRUE(reused.rows.empty());
            }
            EXPECT_EQ(text(reused), text(fresh)) << body.substr(0, 80);
            EXPECT_EQ(reused_error.message, fresh_error.message);
            // What is kept for the next document is bounded: not the huge one's 601 rows.
            if (body != huge && reused_ok) {
                EXPECT_LE(reused.rows.capacity(), 64u);
            }
        }
}
