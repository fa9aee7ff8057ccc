#include "nomnom/entity_spec.hpp"

#include <gtest/gtest.h>

using namespace nomnom;

namespace {

std::string spec_error(const std::string& json) {
    try {
        parse_entity_spec(json);
    } catch (const SpecError& error) {
        return error.what();
    }
    return "no error";
}

} // namespace

TEST(EntitySpec, ParsesTheDesignExample) {
    EntitySpec spec = parse_entity_spec(R"({"name":"Order","table":"orders",
      "fields":[{"name":"order_key","type":"text","nullable":false},
                {"name":"city","type":"text","path":"shipping.address.city"},
                {"name":"message_id","type":"uuid","source":"message_id"}],
      "unique":["order_key"],"on_conflict":"ignore"})");
    EXPECT_EQ(spec.name, "Order");
    EXPECT_EQ(spec.table, "orders");
    EXPECT_TRUE(spec.is_root());
    ASSERT_EQ(spec.fields.size(), 3u);
    EXPECT_FALSE(spec.fields[0].nullable);
    EXPECT_EQ(spec.fields[0].path, std::vector<std::string>{"order_key"});
    EXPECT_EQ(spec.fields[1].path, (std::vector<std::string>{"shipping", "address", "city"}));
    EXPECT_TRUE(spec.fields[1].nullable);
    EXPECT_EQ(spec.fields[2].source, FieldSource::MessageId);
    EXPECT_EQ(spec.on_conflict, OnConflict::Ignore);
}

TEST(EntitySpec, TranslatesOriginalTypeNames) {
    EXPECT_EQ(normalize_type_name("String"), "text");
    EXPECT_EQ(normalize_type_name("Integer"), "int8");
    EXPECT_EQ(normalize_type_name("Float"), "float8");
    EXPECT_EQ(normalize_type_name("Boolean"), "bool");
    EXPECT_EQ(normalize_type_name("numeric(15,2)"), "numeric(15,2)");
}

TEST(EntitySpec, DerivedEntityNeedsEach) {
    EXPECT_NE(spec_error(R"({"name":"L","parent":"Order","fields":[{"name":"a","type":"text"}]})")
                  .find("needs \"each\""),
              std::string::npos);
}

TEST(EntitySpec, NamesEachProblem) {
    EXPECT_NE(spec_error(R"({"name":"A","fields":[{"name":"x","type":"text"},{"name":"x","type":"int4"}]})")
                  .find("duplicate field \"x\""),
              std::string::npos);
    EXPECT_NE(spec_error(R"({"name":"A","fields":[{"name":"x","type":"text"}],"unique":["y"]})")
                  .find("unique field \"y\" is not among the fields"),
              std::string::npos);
    EXPECT_NE(spec_error(R"({"name":"A","parent":"A","each":"xs","fields":[{"name":"x","type":"text"}]})")
                  .find("cycle"),
              std::string::npos);
    EXPECT_NE(spec_error(R"({"name":"A","fields":[{"name":"x"}]})").find("\"type\" is required"),
              std::string::npos);
    EXPECT_NE(spec_error(R"({"name":"A","fields":[{"name":"x","type":"text","source":"bogus"}]})")
                  .find("unknown source"),
              std::string::npos);
    EXPECT_NE(spec_error(R"({"name":"A b","fields":[{"name":"x","type":"text"}]})").find("name"),
              std::string::npos);
    EXPECT_NE(spec_error(R"({"name":"A","fields":[{"name":"x","type":"text","path":"a..b"}]})")
                  .find("empty segment"),
              std::string::npos);
    EXPECT_NE(spec_error(R"({"name":"A","fields":[{"name":"x","type":"text"}],"colour":1})")
                  .find("unknown key \"colour\""),
              std::string::npos);
    EXPECT_NE(spec_error("not json").find("not valid JSON"), std::string::npos);
}

TEST(EntitySpec, DefaultTableIsSnakeCase) {
    EXPECT_EQ(snake_case("OrderLineItem"), "order_line_item");
    EXPECT_EQ(snake_case("HTTPRequest"), "http_request");
    EXPECT_EQ(parse_entity_spec(R"({"name":"LineItem","fields":[{"name":"a","type":"text"}]})").table,
              "line_item");
}

TEST(EntitySpec, RoundTripsThroughJson) {
    EntitySpec spec = parse_entity_spec(R"({"name":"L","parent":"O","each":"items",
      "fields":[{"name":"k","type":"String","from_parent":"key"},{"name":"n","type":"int4","path":"a.n"}],
      "unique":["k","n"],"on_parent_update":"upsert"})");
    EntitySpec again = parse_entity_spec(spec.to_json());
    EXPECT_EQ(again.to_json(), spec.to_json());
    EXPECT_EQ(again.fields[0].type, "text");
    EXPECT_EQ(again.on_parent_update, OnParentUpdate::Upsert);
}

TEST(EntitySpec, AFieldComputedByAFunction) {
    EntitySpec spec = parse_entity_spec(R"({"name":"Basket","fields":[
      {"name":"ref","type":"text"},
      {"name":"total","type":"numeric","function":"xf.order_total"}]})");
    EXPECT_EQ(spec.fields[1].function, "xf.order_total");
    EXPECT_TRUE(spec.fields[1].path.empty());
    EXPECT_NE(spec.to_json().find(R"("function":"xf.order_total")"), std::string::npos);
    EXPECT_EQ(parse_entity_spec(spec.to_json()).fields[1].function, "xf.order_total");
    EXPECT_NE(spec_error(
                  R"({"name":"A","fields":[{"name":"a","type":"text","function":"f","path":"a"}]})")
                  .find("only one of"),
              std::string::npos);
    EXPECT_NE(spec_error(R"({"name":"A","fields":[{"name":"a","type":"text","function":"a.b.c"}]})")
                  .find("fn or schema.fn"),
              std::string::npos);
    EXPECT_NE(
        spec_error(
            R"({"name":"A","unique":["a"],"fields":[{"name":"a","type":"text","function":"f"}]})")
            .find("computed by a function"),
        std::string::npos);
}
