-- define_entity, drop_entity and nomnom.entities: specs, tables, and every spec error.
BEGIN;
SELECT plan(39);

-- The TPC-H specs define, create their tables and show in nomnom.entities.
SELECT is(nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/order.json')::jsonb),
          'Order', 'define_entity returns the entity name');
SELECT is(nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/orderlineitem.json')::jsonb),
          'OrderLineItem', 'a derived entity defines');
SELECT results_eq(
  $$SELECT name, table_name, parent, each_path, unique_fields FROM nomnom.entities ORDER BY name$$,
  $$VALUES ('Order', 'orders', NULL, NULL, ARRAY['order_key']),
           ('OrderLineItem', 'order_line_items', 'Order', 'line_items', ARRAY['order_key', 'line_number'])$$,
  'nomnom.entities lists both');
SELECT is((SELECT spec ->> 'on_conflict' FROM nomnom.entities WHERE name = 'Order'), 'update',
          'the stored spec has its defaults filled in');
SELECT is((SELECT spec ->> 'on_parent_update' FROM nomnom.entities WHERE name = 'OrderLineItem'), 'replace',
          'on_parent_update defaults to replace');
SELECT has_table('orders');
SELECT has_table('order_line_items');
SELECT col_is_pk('orders', 'id', 'orders.id is the primary key');
SELECT col_type_is('orders', 'id', 'bigint');
SELECT col_type_is('orders', 'total_price', 'numeric(15,2)', 'field types are kept with their modifiers');
SELECT col_type_is('orders', 'order_date', 'date');
SELECT col_not_null('orders', 'order_key', 'non-nullable fields are NOT NULL columns');
SELECT col_is_null('orders', 'clerk', 'nullable fields are nullable columns');
SELECT col_is_unique('order_line_items', ARRAY['order_key', 'line_number'], 'unique becomes a unique constraint');
SELECT is((SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'id'),
          'a', 'id is generated always as identity');

-- The original nomnom type names.
SELECT lives_ok($$SELECT nomnom.define_entity('{"name": "Legacy", "table": "legacy",
   "fields": [{"name": "s", "type": "String"}, {"name": "i", "type": "Integer"},
              {"name": "f", "type": "Float"}, {"name": "b", "type": "Boolean"}]}')$$,
   'String, Integer, Float and Boolean are accepted');
SELECT is((SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
           FROM pg_attribute WHERE attrelid = 'legacy'::regclass AND attnum > 1),
          's text, i bigint, f double precision, b boolean',
          'they map to text, int8, float8 and bool');

-- Spec errors name the problem.
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "parent": "Nope", "each": "xs",
   "fields": [{"name": "a", "type": "text", "from_parent": "k"}]}')$$,
   '42704', 'entity "X": unknown parent entity "Nope"', 'an unknown parent');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "fields": [{"name": "a", "type": "nosuchtype"}]}')$$,
   '42704', 'entity "X", field "a": unknown type "nosuchtype"', 'an unknown type');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "fields": [{"name": "a", "type": "text"}, {"name": "a", "type": "int4"}]}')$$,
   '42701', 'entity "X": duplicate field "a"', 'a duplicate field');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "fields": [{"name": "a", "type": "text"}], "unique": ["b"]}')$$,
   '42703', 'entity "X": unique field "b" is not among the fields', 'a unique field not among the fields');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "parent": "Order",
   "fields": [{"name": "a", "type": "text", "from_parent": "order_key"}]}')$$,
   '22023', 'entity "X": a derived entity (with "parent") needs "each", the path of the array it is derived from',
   'a missing each');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "Order", "table": "orders", "parent": "OrderLineItem", "each": "x",
   "fields": [{"name": "order_key", "type": "text", "from_parent": "order_key"}]}')$$,
   '42P17', 'entity "Order": parent chain is a cycle (Order -> OrderLineItem -> Order)', 'a cycle');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "parent": "X", "each": "xs", "fields": [{"name": "a", "type": "text"}]}')$$,
   '42P17', NULL, 'an entity that is its own parent');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "parent": "Order", "each": "xs",
   "fields": [{"name": "a", "type": "text", "from_parent": "nope"}]}')$$,
   '42703', 'entity "X", field "a": parent entity "Order" has no field "nope"', 'from_parent naming no parent field');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "parent": "Order", "each": "xs",
   "fields": [{"name": "a", "type": "text"}]}')$$,
   '22023', NULL, 'replace without a link to the parent row');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "fields": [{"name": "a", "type": "text", "source": "nope"}]}')$$,
   '22023', NULL, 'an unknown source');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "fields": []}')$$,
   '22023', 'entity "X": "fields" must list at least one field', 'no fields');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "fields": [{"name": "a", "type": "text"}], "on_conflict": "merge"}')$$,
   '22023', 'entity "X": "on_conflict" must be update, ignore or error, not "merge"', 'a bad on_conflict');
SELECT is((SELECT count(*)::int FROM nomnom.entities WHERE name = 'X'), 0, 'failed definitions leave nothing');

-- Existing tables are checked, not altered.
CREATE TABLE existing_ok (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, k varchar(20) UNIQUE, n bigint);
SELECT lives_ok($$SELECT nomnom.define_entity('{"name": "Ok", "table": "existing_ok",
   "fields": [{"name": "k", "type": "text"}, {"name": "n", "type": "int4"}], "unique": ["k"]}')$$,
   'an existing table with compatible columns is accepted');
CREATE TABLE existing_bad (k text, n int4);
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "Bad", "table": "existing_bad",
   "fields": [{"name": "k", "type": "text"}, {"name": "missing", "type": "int4"}]}')$$,
   '42703', 'entity "Bad": table "existing_bad" has no column "missing"', 'a missing column is named');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "Bad", "table": "existing_bad",
   "fields": [{"name": "k", "type": "text"}, {"name": "n", "type": "uuid"}]}')$$,
   '42804', 'entity "Bad": table "existing_bad": column "n" is integer, which field type uuid cannot be stored in',
   'an incompatible type is named');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "Bad", "table": "existing_bad",
   "fields": [{"name": "k", "type": "text"}], "unique": ["k"]}')$$,
   '42P10', NULL, 'a unique key without a unique index');
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "Missing", "table": "no_such_table",
   "fields": [{"name": "k", "type": "text"}]}', false)$$,
   '42P01', 'entity "Missing": table "no_such_table" does not exist (create_table is false)',
   'create_table => false and no table');

-- drop_entity
SELECT throws_ok($$SELECT nomnom.drop_entity('Order')$$, '2BP01',
   'entity "Order" has derived entities (OrderLineItem): drop them first', 'a parent cannot be dropped first');
SELECT throws_ok($$SELECT nomnom.drop_entity('Nope')$$, '42704', 'unknown entity "Nope"', 'an unknown entity');
SELECT lives_ok($$SELECT nomnom.drop_entity('OrderLineItem')$$, 'a derived entity drops');
SELECT ok((SELECT count(*) = 0 FROM nomnom.entities WHERE name = 'OrderLineItem')
          AND to_regclass('order_line_items') IS NOT NULL, 'the definition goes, the table stays');

SELECT * FROM finish();
ROLLBACK;
