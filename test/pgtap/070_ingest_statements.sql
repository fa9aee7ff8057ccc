-- nomnom.ingest writes what one statement ingested together, when the statement ends:
-- the same results as one call at a time, visible to the next statement.
BEGIN;
SELECT plan(10);

SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/order.json')::jsonb);
SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/orderlineitem.json')::jsonb);

-- 2,500 orders in one statement: more than one flush, every row written.
SELECT is((SELECT count(nomnom.ingest('Order', test_order_doc('K' || i, i, 1 + i % 7))) FROM generate_series(1, 2500) i)::int,
          2500, 'one statement ingests 2,500 orders');
SELECT is((SELECT count(*)::int FROM orders), 2500, 'all orders are there for the next statement');
SELECT is((SELECT count(*)::int FROM order_line_items), (SELECT sum(1 + i % 7)::int FROM generate_series(1, 2500) i),
          'all line items too');

-- Two versions of one order in one statement: as if ingested one at a time, the last wins.
SELECT is((SELECT count(nomnom.ingest('Order', d)) FROM (VALUES (test_order_doc('V', 1, 3)), (test_order_doc('V', 2, 1))) v(d))::int,
          2, 'two versions of one order in one statement');
SELECT results_eq($$SELECT o.total_price, count(l.*)::int FROM orders o LEFT JOIN order_line_items l USING (order_key)
                    WHERE order_key = 'V' GROUP BY 1$$,
                  $$VALUES (2::numeric(15,2), 1)$$, 'the last version wins, with exactly its items');

-- A bad document stops its statement and leaves nothing of it.
SELECT throws_ok($$SELECT count(nomnom.ingest('Order', CASE WHEN i = 50 THEN '{"order_key": "bad"}' ELSE test_order_doc('B' || i, 1, 1) END))
                   FROM generate_series(1, 100) i$$,
                 '23502', NULL, 'a bad document among many raises its error');
SELECT is((SELECT count(*)::int FROM orders WHERE order_key LIKE 'B%'), 0, 'and nothing of that statement is written');

-- A rolled-back savepoint takes its queued documents with it.
SAVEPOINT s;
SELECT nomnom.ingest('Order', test_order_doc('R', 1, 1));
ROLLBACK TO SAVEPOINT s;
SELECT is((SELECT count(*)::int FROM orders WHERE order_key = 'R'), 0, 'rolled back with its savepoint');

-- From PL/pgSQL, statement by statement.
DO $$
BEGIN
  FOR i IN 1..20 LOOP
    PERFORM nomnom.ingest('Order', test_order_doc('P' || i, i, 2));
  END LOOP;
END $$;
SELECT is((SELECT count(*)::int FROM orders WHERE order_key LIKE 'P%'), 20, 'a PL/pgSQL loop ingests');
SELECT is((SELECT count(*)::int FROM nomnom.message_status WHERE status = 'completed'), 2500 + 2 + 20,
          'one completed status row per written message');

SELECT * FROM finish();
ROLLBACK;
