#include "nomnom/yaml_import.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace nomnom;

namespace {

std::string fixture(const std::string& name) {
    std::ifstream in(std::string(NOMNOM_SOURCE_DIR) + "/test/fixtures/nomnom-yaml/" + name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string import_error(const std::string& yaml, const std::vector<EntitySpec>& known = {}) {
    try {
        translate_entity_yaml(yaml, known);
    } catch (const SpecError& error) {
        return error.what();
    }
    return "no error";
}

// The translated spec, parsed back as define_entity would parse it.
EntitySpec spec_of(const ImportedEntity& entity) {
    return parse_entity_spec(entity.spec_json);
}

const char* kOlderLineItem = R"Y(
entity:
  name: OrderLineItem
  type: derived
  parent: Order
  repeated_for: line_items
  doc: "A line"
  fields:
    - name: order_key
      type: String
      nullable: false
      computed_from:
        transform: copy_from_parent
        sources:
          - source: parent
            field: order_key
    - name: line_number
      type: Integer
      doc: "Line number"
      nullable: false
      computed_from:
        transform: extract_field
        sources:
          - source: current
            field: raw_data
        args:
          field_path: line_number
  persistence:
    database:
      conformant_table: order_line_items
      conformant_id_column: id
      unicity_fields: [order_key, line_number]
    primary_key: {name: id, type: Integer, autogenerate: true}
)Y";

const char* kOlderOrder = R"Y(
entity:
  name: Order
  type: root
  fields:
    - {name: order_key, type: String, nullable: false, doc: "Key"}
    - {name: total_price, type: Float}
    - {name: line_items, type: "List[Object]"}
)Y";

} // namespace

TEST(YamlImport, TheSeedFixturesChildFirst) {
    // The child's file comes first: the parent is still defined first.
    std::string yaml = fixture("orderlineitem.yaml") + "\n---\n" + fixture("order.yaml");
    std::vector<ImportedEntity> out = translate_entity_yaml(yaml);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].name, "Order");
    EXPECT_EQ(out[0].document, 2);
    EXPECT_EQ(out[1].name, "OrderLineItem");

    EntitySpec order = spec_of(out[0]);
    EXPECT_EQ(order.table, "orders");
    EXPECT_EQ(order.doc, "A customer order (TPC-H ORDERS)");
    EXPECT_EQ(order.unique, std::vector<std::string>{"order_key"});
    // line_items only feeds OrderLineItem: no column.
    EXPECT_EQ(order.find_field("line_items"), nullptr);
    ASSERT_EQ(order.fields.size(), 9u);
    EXPECT_EQ(order.find_field("total_price")->type, "float8");
    EXPECT_EQ(order.find_field("ship_priority")->type, "int8");
    EXPECT_FALSE(order.find_field("order_key")->nullable);
    EXPECT_TRUE(order.find_field("clerk")->nullable);

    EntitySpec item = spec_of(out[1]);
    EXPECT_EQ(item.parent, "Order");
    EXPECT_EQ(item.each_text, "line_items");
    EXPECT_EQ(item.table, "order_line_items");
    EXPECT_EQ(item.on_parent_update, OnParentUpdate::Replace);
    EXPECT_EQ(item.find_field("order_key")->from_parent, "order_key");   // copy_field
    EXPECT_EQ(item.find_field("line_number")->path_text, "line_number"); // json_get_int
    EXPECT_EQ(item.find_field("discount")->type, "float8");
    EXPECT_TRUE(item.find_field("supplier_key")->nullable);
    EXPECT_EQ(item.unique, (std::vector<std::string>{"order_key", "line_number"}));
}

TEST(YamlImport, TheOlderGeneration) {
    std::vector<ImportedEntity> out =
        translate_entity_yaml(std::string(kOlderLineItem) + "---\n" + kOlderOrder);
    ASSERT_EQ(out.size(), 2u);
    EntitySpec order = spec_of(out[0]);
    EXPECT_EQ(order.table, "order"); // no persistence: the snake-cased name
    EXPECT_EQ(order.find_field("line_items"), nullptr);
    EXPECT_EQ(order.find_field("order_key")->doc, "Key");
    EntitySpec item = spec_of(out[1]);
    EXPECT_EQ(item.parent, "Order");
    EXPECT_EQ(item.each_text, "line_items");
    EXPECT_EQ(item.doc, "A line");
    EXPECT_EQ(item.find_field("order_key")->from_parent, "order_key");   // copy_from_parent
    EXPECT_EQ(item.find_field("line_number")->path_text, "line_number"); // extract_field
    EXPECT_EQ(item.find_field("line_number")->doc, "Line number");
}

TEST(YamlImport, ReferenceEntitiesAndFieldOverrides) {
    std::vector<ImportedEntity> out = translate_entity_yaml(R"Y(
# a comment
entity:
  name: Customer
  type: reference
  doc: "Reference data"
  fields:
    - {name: customer_key, type: String, nullable: true}
    - {name: balance, type: Float}
    - {name: notes, type: String}
  persistence:
    database: {conformant_table: customers, conformant_id_column: id, unicity_fields: [customer_key]}
    field_overrides:
      - {name: balance, type: "numeric(15,2)", nullable: false}
      - {name: customer_key, type: String, nullable: false, doc: "The key"}
)Y");
    ASSERT_EQ(out.size(), 1u);
    EntitySpec customer = spec_of(out[0]);
    EXPECT_TRUE(customer.is_root());
    EXPECT_EQ(customer.table, "customers");
    // The overridden fields are the columns, in the overrides' order; "notes" is not persisted.
    ASSERT_EQ(customer.fields.size(), 2u);
    EXPECT_EQ(customer.fields[0].name, "balance");
    EXPECT_EQ(customer.fields[0].type, "numeric(15,2)");
    EXPECT_FALSE(customer.fields[0].nullable);
    EXPECT_EQ(customer.fields[1].name, "customer_key");
    EXPECT_FALSE(customer.fields[1].nullable);
    EXPECT_EQ(customer.fields[1].doc, "The key");
}

TEST(YamlImport, AListThatFeedsNothingIsJsonb) {
    std::vector<ImportedEntity> out = translate_entity_yaml(kOlderOrder);
    EntitySpec order = spec_of(out[0]);
    ASSERT_NE(order.find_field("line_items"), nullptr);
    EXPECT_EQ(order.find_field("line_items")->type, "jsonb");
}

TEST(YamlImport, AListFeedingAKnownChildIsNoColumn) {
    EntitySpec known_child = parse_entity_spec(R"({"name":"OrderLineItem","parent":"Order",
        "each":"line_items","on_parent_update":"upsert",
        "fields":[{"name":"line_number","type":"int4"}]})");
    std::vector<ImportedEntity> out = translate_entity_yaml(kOlderOrder, {known_child});
    EXPECT_EQ(spec_of(out[0]).find_field("line_items"), nullptr);
}

TEST(YamlImport, ChildWithoutLinkUpserts) {
    std::vector<ImportedEntity> out = translate_entity_yaml(R"Y(
entity:
  name: Tag
  source_type: derived
  repeated_for: {entity: Post, field: tags, each_known_as: tag}
  fields:
    - name: label
      type: String
      computed_from: {transform: json_get_optional_string, sources: [tag], args: {field: label}}
)Y");
    EntitySpec tag = spec_of(out[0]);
    EXPECT_EQ(tag.on_parent_update, OnParentUpdate::Upsert);
    EXPECT_EQ(tag.find_field("label")->path_text, "label");
}

TEST(YamlImport, ErrorsNameTheEntityTheFieldAndTheThing) {
    std::string custom = import_error(R"Y(
entity:
  name: Order
  type: root
  fields:
    - name: line_item_count
      type: Integer
      computed_from:
        transform: count_children
        sources: []
        args: {child_entity: OrderLineItem}
)Y");
    EXPECT_NE(custom.find("entity \"Order\", field \"line_item_count\""), std::string::npos)
        << custom;
    EXPECT_NE(custom.find("transform \"count_children\" cannot be mapped"), std::string::npos)
        << custom;
    EXPECT_NE(custom.find("line 9"), std::string::npos) << custom; // its computed_from

    std::string unknown_key = import_error(R"Y(
entity:
  name: Order
  fields:
    - {name: a, type: String, constant: 3}
)Y");
    EXPECT_NE(unknown_key.find("entity \"Order\", field \"a\""), std::string::npos) << unknown_key;
    EXPECT_NE(unknown_key.find("key \"constant\""), std::string::npos) << unknown_key;

    std::string copy_other = import_error(R"Y(
entity:
  name: Item
  source_type: derived
  repeated_for: {entity: Order, field: items, each_known_as: item}
  fields:
    - name: k
      type: String
      computed_from: {transform: copy_field, sources: [{source: Customer, field: key}]}
)Y");
    EXPECT_NE(copy_other.find("entity \"Item\", field \"k\""), std::string::npos) << copy_other;
    EXPECT_NE(copy_other.find("\"Customer\""), std::string::npos) << copy_other;

    EXPECT_NE(import_error("entity:\n  name: A\n  fields: [{name: a, type: String}]\n"
                           "  persistence: {primary_key: {name: code, type: String}}\n")
                  .find("primary_key \"code\" cannot be mapped"),
              std::string::npos);
    EXPECT_NE(import_error("entity:\n  name: A\n  fields: [{name: a, type: String}]\n"
                           "  persistence: {field_overrides: [{name: b, type: String}]}\n")
                  .find("entity \"A\", field \"b\""),
              std::string::npos);
    EXPECT_NE(
        import_error("entity:\n  name: A\n  type: derived\n  fields: [{name: a, type: String}]\n")
            .find("needs a parent"),
        std::string::npos);
}

TEST(YamlImport, DocumentProblems) {
    EXPECT_NE(import_error("entity: [unclosed\n").find("YAML"), std::string::npos);
    EXPECT_NE(import_error("").find("no entity"), std::string::npos);
    // Two files concatenated without "---": the second "entity" key is a duplicate.
    std::string twice = import_error(std::string(kOlderOrder) + kOlderOrder);
    EXPECT_NE(twice.find("appears twice"), std::string::npos) << twice;
    std::string same_name = import_error(std::string(kOlderOrder) + "---\n" + kOlderOrder);
    EXPECT_NE(same_name.find("defined twice (documents 1 and 2)"), std::string::npos) << same_name;
    std::string cycle = import_error(R"Y(
entity: {name: A, type: derived, parent: B, repeated_for: xs, fields: [{name: a, type: String}]}
---
entity: {name: B, type: derived, parent: A, repeated_for: ys, fields: [{name: b, type: String}]}
)Y");
    EXPECT_NE(cycle.find("cycle"), std::string::npos) << cycle;
    // Empty documents (a file that starts with its own "---") are passed over.
    EXPECT_EQ(translate_entity_yaml("---\n---\n" + std::string(kOlderOrder)).size(), 1u);
    // An alias loop is refused, not followed forever.
    EXPECT_NE(import_error("entity: &a\n  name: A\n  fields: [*a]\n"), "no error");
}
