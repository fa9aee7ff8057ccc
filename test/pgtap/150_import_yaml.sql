-- nomnom.import_yaml: the original nomnom's entity YAML (both transform generations,
-- reference entities, field_overrides, doc comments), several documents in any order,
-- all or nothing.
BEGIN;
SELECT plan(30);

SELECT has_function('nomnom', 'import_yaml', ARRAY['text', 'boolean']);
SELECT is(has_function_privilege('public', 'nomnom.import_yaml(text,boolean)', 'EXECUTE'),
          false, 'PUBLIC may not execute it');

-- The seed's two files, the child first: the parent is defined first all the same.
SELECT results_eq(
  $$SELECT * FROM nomnom.import_yaml(
      (SELECT body FROM public.fixtures WHERE name = 'nomnom-yaml/orderlineitem.yaml') || E'\n---\n' ||
      (SELECT body FROM public.fixtures WHERE name = 'nomnom-yaml/order.yaml'))$$,
  $$VALUES ('Order'::text), ('OrderLineItem')$$, 'both entities, parent first');
SELECT is((SELECT parent || ' ' || each_path FROM nomnom.entities WHERE name = 'OrderLineItem'),
          'Order line_items', 'repeated_for gives parent and each');
SELECT hasnt_column('public', 'orders', 'line_items', 'a List[Object] that only feeds a derivation is no column');
SELECT col_type_is('public', 'orders', 'total_price', 'double precision', 'Float is float8');
SELECT col_type_is('public', 'orders', 'ship_priority', 'bigint', 'Integer is int8');
SELECT col_not_null('public', 'order_line_items', 'part_key', 'nullable: false');
SELECT col_is_null('public', 'order_line_items', 'supplier_key', 'json_get_optional_string is nullable');
SELECT col_is_unique('public', 'order_line_items', ARRAY['order_key', 'line_number'], 'unicity_fields');
SELECT is(obj_description('public.orders'::regclass, 'pg_class'),
          'rows of nomnom entity Order: A customer order (TPC-H ORDERS)', 'the entity doc is in the table comment');

-- The seed's order goes in through the imported definitions.
SELECT lives_ok($$SELECT nomnom.ingest('Order',
  (SELECT body FROM public.fixtures WHERE name = 'test_order_with_lineitems.json'))$$, 'the seed order ingests');
SELECT is((SELECT count(*)::int FROM order_line_items WHERE order_key = 'ORD-DERIVED-TEST-001'), 2,
          'copy_field copies the parent key into both line items');
SELECT is((SELECT sum(quantity)::int FROM order_line_items), 15, 'json_get_int reads the element');

-- The older generation: type: derived + parent + copy_from_parent, extract_field, doc,
-- field_overrides, and a reference entity; again the child first.
SELECT results_eq($$SELECT * FROM nomnom.import_yaml($y$
entity:
  name: Shipment
  type: derived
  parent: Consignment
  repeated_for: shipments
  fields:
    - name: ref
      type: String
      nullable: false
      computed_from:
        transform: copy_from_parent
        sources: [{source: parent, field: ref}]
    - name: weight
      type: Float
      doc: "Weight in kg"
      computed_from:
        transform: extract_field
        sources: [{source: current, field: raw_data}]
        args: {field_path: parcel.weight}
  persistence:
    database: {conformant_table: shipments, conformant_id_column: id, unicity_fields: [ref, weight]}
---
entity:
  name: Consignment
  type: root
  fields:
    - {name: ref, type: String, nullable: false, doc: "The consignment's reference"}
    - {name: shipments, type: "List[Object]"}
    - {name: notes, type: String}
  persistence:
    database: {conformant_table: consignments, unicity_fields: [ref]}
    primary_key: {name: id, type: Integer, autogenerate: true}
    field_overrides:
      - {name: ref, type: "varchar(12)", nullable: false}
---
entity:
  name: Carrier
  type: reference
  fields:
    - {name: code, type: String, nullable: false}
  persistence:
    database: {conformant_table: carriers, unicity_fields: [code]}
$y$)$$, $$VALUES ('Consignment'::text), ('Shipment'), ('Carrier')$$, 'three documents, parents first');
SELECT col_type_is('public', 'consignments', 'ref', 'character varying(12)', 'field_overrides sets the type');
SELECT hasnt_column('public', 'consignments', 'notes', 'a field field_overrides leaves out is not stored');
SELECT is(col_description('public.consignments'::regclass, (SELECT attnum FROM pg_attribute
          WHERE attrelid = 'public.consignments'::regclass AND attname = 'ref')),
          'The consignment''s reference', 'doc becomes COMMENT ON COLUMN');
SELECT is(col_description('public.shipments'::regclass, (SELECT attnum FROM pg_attribute
          WHERE attrelid = 'public.shipments'::regclass AND attname = 'weight')),
          'Weight in kg', 'a derived entity''s doc too');
SELECT is((SELECT parent FROM nomnom.entities WHERE name = 'Carrier'), NULL, 'a reference entity is a root');
SELECT lives_ok($$SELECT nomnom.ingest('Consignment',
  '{"ref": "C-1", "shipments": [{"parcel": {"weight": 2.5}}, {"parcel": {"weight": 4}}]}')$$,
  'a consignment ingests');
SELECT results_eq($$SELECT ref::text, weight FROM shipments ORDER BY weight$$,
                  $$VALUES ('C-1'::text, 2.5::float8), ('C-1', 4)$$, 'copy_from_parent and extract_field''s path');

-- Errors name the entity, the field and what could not be mapped; nothing is defined.
SELECT throws_like($$SELECT * FROM nomnom.import_yaml($y$
entity:
  name: Invoice
  fields:
    - {name: total, type: Float}
---
entity:
  name: Order2
  fields:
    - name: line_item_count
      type: Integer
      computed_from: {transform: count_children, sources: [], args: {child_entity: X}}
$y$)$$, '%entity "Order2", field "line_item_count"%transform "count_children" cannot be mapped%',
  'a custom transform is refused by name');
SELECT is((SELECT count(*)::int FROM nomnom.entities WHERE name IN ('Invoice', 'Order2')), 0,
          'and the valid document beside it is not defined');
SELECT hasnt_table('public', 'invoice', 'nor its table created');

-- A failure while defining (here: an existing table of the wrong type) also leaves nothing.
CREATE TABLE public.gadgets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, size int4);
SELECT throws_like($$SELECT * FROM nomnom.import_yaml($y$
entity: {name: Widget, fields: [{name: code, type: String}]}
---
entity:
  name: Gadget
  fields: [{name: size, type: uuid}]
  persistence: {database: {conformant_table: gadgets}}
$y$)$$, '%document 2: entity "Gadget"%column "size"%', 'a definition error names the document and the entity');
SELECT is((SELECT count(*)::int FROM nomnom.entities WHERE name IN ('Widget', 'Gadget')), 0,
          'the entity defined before it is rolled back');

SELECT throws_like($$SELECT * FROM nomnom.import_yaml('entity: {name: A, fields: [{name: a, type: String, extraction: {lambda: x}}]}')$$,
                   '%entity "A", field "a"%key "extraction"%cannot be mapped%', 'an unknown field key is refused');
SELECT throws_like($$SELECT * FROM nomnom.import_yaml(E'entity:\n  name: A\n  fields: [unclosed')$$,
                   '%YAML%', 'a YAML syntax error says so');
SELECT throws_like($$SELECT * FROM nomnom.import_yaml('entity: {name: B, type: derived, parent: Nope, repeated_for: xs, fields: [{name: a, type: String}]}')$$,
                   '%entity "B"%unknown parent entity "Nope"%', 'a parent neither imported nor defined');

SELECT * FROM finish();
ROLLBACK;
