-- The seed's example order through nomnom.ingest: exact rows, idempotence, replacement.
BEGIN;
SELECT plan(19);

SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/order.json')::jsonb);
SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/orderlineitem.json')::jsonb);

SELECT is(nomnom.ingest('Order', (SELECT body FROM fixtures WHERE name = 'test_order_with_lineitems.json'),
                        'a0000000-0000-4000-8000-000000000001'),
          'a0000000-0000-4000-8000-000000000001'::uuid, 'ingest returns the message id');

-- Exactly one order and two line items, with exact values.
SELECT is((SELECT count(*)::int FROM orders), 1, 'one orders row');
SELECT is((SELECT count(*)::int FROM order_line_items), 2, 'two order_line_items rows');
SELECT results_eq(
  $$SELECT order_key, customer_key, order_status, total_price, order_date, order_priority, clerk, ship_priority, comment FROM orders$$,
  $$VALUES ('ORD-DERIVED-TEST-001'::text, 'C1001'::text, 'F'::text, 1234.56::numeric(15,2), '2025-01-15'::date,
            '1-URGENT'::text, 'Clerk#000001234'::text, 0, 'Special handling required'::text)$$,
  'the order row holds the document''s values');
SELECT is((SELECT total_price::text FROM orders), '1234.56', 'total_price keeps its exact decimal text');
SELECT results_eq(
  $$SELECT order_key, line_number, part_key, supplier_key, quantity, extended_price, discount, tax,
           return_flag, line_status, ship_date, commit_date, receipt_date
    FROM order_line_items ORDER BY line_number$$,
  $$VALUES ('ORD-DERIVED-TEST-001'::text, 1, 'P5001'::text, 'S501'::text, 10, 450.00::numeric(15,2), 0.05::numeric(4,2), 0.08::numeric(4,2), 'N'::text, 'O'::text, '2025-01-20'::date, '2025-01-18'::date, NULL::date),
           ('ORD-DERIVED-TEST-001'::text, 2, 'P5002'::text, 'S502'::text, 5, 784.56::numeric(15,2), 0.03::numeric(4,2), 0.08::numeric(4,2), 'N'::text, 'O'::text, '2025-01-22'::date, '2025-01-18'::date, NULL::date)$$,
  'the line items hold exact values, order_key copied from the parent');
SELECT is((SELECT string_agg(extended_price::text, ',' ORDER BY line_number) FROM order_line_items),
          '450.00,784.56', 'extended prices are exact');
SELECT ok((SELECT bool_and(receipt_date IS NULL) FROM order_line_items), 'receipt_date is null');

-- Its message_status row.
SELECT results_eq(
  $$SELECT entity, status, attempts, error, completed_at IS NOT NULL FROM nomnom.message_status
    WHERE message_id = 'a0000000-0000-4000-8000-000000000001'$$,
  $$VALUES ('Order'::text, 'completed'::text, 1, NULL::text, true)$$,
  'the message is completed');

-- The same id again writes nothing.
-- A rewritten row gets a new tuple version, so its ctid would change.
CREATE TEMP TABLE before AS
  SELECT (SELECT array_agg(ctid::text ORDER BY id) FROM orders) AS o,
         (SELECT array_agg(ctid::text ORDER BY id) FROM order_line_items) AS l,
         (SELECT completed_at FROM nomnom.message_status) AS c;
SELECT is(nomnom.ingest('Order', (SELECT body FROM fixtures WHERE name = 'test_order_with_lineitems.json'),
                        'a0000000-0000-4000-8000-000000000001'),
          'a0000000-0000-4000-8000-000000000001'::uuid, 'a completed id returns the id');
SELECT is((SELECT count(*)::int FROM order_line_items), 2, 'still two line items');
SELECT is((SELECT array_agg(ctid::text ORDER BY id) FROM orders), (SELECT o FROM before),
          'the order row is not rewritten');
SELECT is((SELECT array_agg(ctid::text ORDER BY id) FROM order_line_items), (SELECT l FROM before),
          'the line items are not rewritten');
SELECT is((SELECT completed_at FROM nomnom.message_status), (SELECT c FROM before),
          'the status row is untouched');

-- The order again under a new id, with fewer items: exactly the new items remain.
SELECT lives_ok($$SELECT nomnom.ingest('Order',
  (jsonb_set((SELECT body FROM fixtures WHERE name = 'test_order_with_lineitems.json')::jsonb,
             '{line_items}', '[{"line_number": 2, "part_key": "P9", "quantity": 1, "extended_price": 99.99}]'))::text,
  'a0000000-0000-4000-8000-000000000002')$$, 'a new version of the order ingests');
SELECT is((SELECT count(*)::int FROM orders), 1, 'still one order');
SELECT results_eq($$SELECT line_number, part_key, extended_price FROM order_line_items$$,
                  $$VALUES (2, 'P9'::text, 99.99::numeric(15,2))$$,
                  'exactly the new line items remain');
SELECT is((SELECT count(*)::int FROM nomnom.message_status WHERE status = 'completed'), 2,
          'both messages are completed');
SELECT is(nomnom.ingest('Order', '{"order_key": "K2", "customer_key": "c", "order_status": "O",
                                   "total_price": 1, "order_date": "2025-02-02"}') IS NOT NULL, true,
          'without a message id, ingest makes one');

SELECT * FROM finish();
ROLLBACK;
