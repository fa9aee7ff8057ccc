-- nomnom.preview: the rows ingest would write, in order, writing nothing.
BEGIN;
SELECT plan(7);

SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/order.json')::jsonb);
SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/orderlineitem.json')::jsonb);

CREATE TEMP TABLE previewed AS
  SELECT row_number() OVER () AS n, p.*
  FROM nomnom.preview('Order', (SELECT body FROM fixtures WHERE name = 'test_order_with_lineitems.json')) p;

SELECT results_eq($$SELECT entity, table_name FROM previewed ORDER BY n$$,
  $$VALUES ('Order'::text, 'orders'::text), ('OrderLineItem', 'order_line_items'), ('OrderLineItem', 'order_line_items')$$,
  'the root row first, then its derived rows');
SELECT is((SELECT "row" FROM previewed WHERE n = 1) -> 'total_price', '1234.56'::jsonb,
          'numbers stay numbers, exact');
SELECT is((SELECT "row" ->> 'order_date' FROM previewed WHERE n = 1), '2025-01-15', 'dates as their text');
SELECT is((SELECT "row" FROM previewed WHERE n = 3),
  '{"order_key": "ORD-DERIVED-TEST-001", "line_number": 2, "part_key": "P5002", "supplier_key": "S502",
    "quantity": 5, "extended_price": 784.56, "discount": 0.03, "tax": 0.08, "return_flag": "N",
    "line_status": "O", "ship_date": "2025-01-22", "commit_date": "2025-01-18", "receipt_date": null}'::jsonb,
  'a derived row in full, with the copied parent key and nulls');
SELECT is((SELECT count(*)::int FROM orders) + (SELECT count(*)::int FROM order_line_items)
          + (SELECT count(*)::int FROM nomnom.message_status), 0, 'preview wrote nothing');
SELECT throws_ok($$SELECT * FROM nomnom.preview('Order', '{"order_key": "x"}')$$, '23502',
  'entity "Order", field "customer_key" (path "customer_key"): missing value for a non-nullable field',
  'preview reports bad input as ingest does');
SELECT throws_ok($$SELECT * FROM nomnom.preview('Order', (SELECT jsonb_set(body::jsonb, '{order_date}', '"soon"')::text
                                                         FROM fixtures WHERE name = 'test_order_with_lineitems.json'))$$,
  '22007', NULL, 'preview converts values with their types');

SELECT * FROM finish();
ROLLBACK;
