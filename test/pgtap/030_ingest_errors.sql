-- Every class of bad input: an ERROR naming the entity, the field or path, and the problem,
-- with a fitting SQLSTATE, and nothing partial left behind.
BEGIN;
SELECT plan(22);

SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/order.json')::jsonb);
SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/orderlineitem.json')::jsonb);

-- A valid order to vary: bad_order(path, value) replaces one member.
CREATE FUNCTION pg_temp.bad_order(path text[], value jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT jsonb_set((SELECT body FROM fixtures WHERE name = 'test_order_with_lineitems.json')::jsonb,
                   path, value)::text $$;
CREATE FUNCTION pg_temp.without(path text[]) RETURNS text LANGUAGE sql AS $$
  SELECT ((SELECT body FROM fixtures WHERE name = 'test_order_with_lineitems.json')::jsonb #- path)::text $$;

SELECT throws_ok($$SELECT nomnom.ingest('Order', '{"order_key": "A", ')$$, '22032',
  'entity "Order": the document is not valid JSON: string or ''}'' expected near end of file (line 1, column 19)',
  'invalid JSON');
SELECT throws_ok($$SELECT nomnom.ingest('Order', '[1, 2]')$$, '22P02',
  'entity "Order": expected a JSON object, got an array', 'a document that is not an object');
SELECT throws_ok($$SELECT nomnom.ingest('Order', '{"a": 1, "a": 2}')$$, '22032', NULL, 'duplicate keys');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.without('{order_date}'))$$, '23502',
  'entity "Order", field "order_date" (path "order_date"): missing value for a non-nullable field',
  'a missing non-nullable field');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.bad_order('{order_key}', 'null'))$$, '23502',
  'entity "Order", field "order_key" (path "order_key"): missing value for a non-nullable field',
  'null in a non-nullable field');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.bad_order('{total_price}', '"12,5"'))$$, '22P02',
  'entity "Order", field "total_price" (path "total_price"): invalid input syntax for type numeric: "12,5"',
  'a mistyped number');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.bad_order('{order_date}', '"2025-02-30"'))$$, '22008',
  'entity "Order", field "order_date" (path "order_date"): date/time field value out of range: "2025-02-30"',
  'an impossible date');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.bad_order('{ship_priority}', '99999999999'))$$, '22003',
  'entity "Order", field "ship_priority" (path "ship_priority"): value "99999999999" is out of range for type integer',
  'an integer out of range');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.bad_order('{total_price}', '123456789012345678.5'))$$, '22003',
  NULL, 'a number too large for numeric(15,2)');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.bad_order('{clerk}', '{"name": "x"}'))$$, '22P02',
  'entity "Order", field "clerk" (path "clerk"): expected a value of type text, got an object',
  'an object where a scalar belongs');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.bad_order('{line_items}', '"none"'))$$, '22P02',
  'entity "OrderLineItem": "line_items" is a string, expected an array', 'each is not an array');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.bad_order('{line_items,1,quantity}', '"many"'))$$, '22P02',
  'entity "OrderLineItem" (line_items[1]), field "quantity" (path "quantity"): invalid input syntax for type integer: "many"',
  'a bad value in a derived row names its element');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.without('{line_items,0,part_key}'))$$, '23502',
  'entity "OrderLineItem" (line_items[0]), field "part_key" (path "part_key"): missing value for a non-nullable field',
  'a missing field in a derived row');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.bad_order('{line_items,1}', '7'))$$, '22P02',
  'entity "OrderLineItem" (line_items[1]): expected a JSON object, got a number', 'an element that is not an object');
SELECT throws_ok($$SELECT nomnom.ingest('Order', pg_temp.bad_order('{line_items,1,line_number}', '1'))$$, '23505',
  NULL, 'two line items with one unique key');
SELECT throws_ok($$SELECT nomnom.ingest('Nope', '{}')$$, '42704', 'unknown entity "Nope"', 'an unknown entity');
SELECT throws_ok($$SELECT nomnom.ingest('OrderLineItem', '{}')$$, '22023',
  'entity "OrderLineItem" is derived from "Order": ingest documents of its root entity instead',
  'a derived entity');
SELECT throws_ok($$SELECT nomnom.ingest('Order', NULL)$$, '22004', 'nomnom.ingest: body must not be null',
  'a null body');
SELECT throws_ok($$SELECT nomnom.ingest(NULL, '{}')$$, '22004', 'nomnom.ingest: entity must not be null',
  'a null entity');

-- Nothing partial: no rows and no status rows from any of the above.
SELECT is((SELECT count(*)::int FROM orders), 0, 'no orders rows');
SELECT is((SELECT count(*)::int FROM order_line_items), 0, 'no line item rows');
SELECT is((SELECT count(*)::int FROM nomnom.message_status), 0, 'no message_status rows');

SELECT * FROM finish();
ROLLBACK;
