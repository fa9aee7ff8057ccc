-- Upserts are first tried as a plain INSERT in a subtransaction (extension/src/plain_first.hpp):
-- a batch of new rows takes that path; a batch where one row already exists rolls it back
-- and runs the upsert. Either way the result must be what the upsert alone writes.
-- Batches here have at least 16 rows (fewer go straight to the upsert). The documents are
-- made beforehand (a SQL function that finishes its own executor would flush the queue
-- early), and each batch is ingested by a statement of its own, so that it is written in
-- the transaction itself, not inside one of pgTAP's functions.
BEGIN;
SELECT plan(24);

SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/order.json')::jsonb);
SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/orderlineitem.json')::jsonb);

CREATE FUNCTION pg_temp.id(i int) RETURNS uuid LANGUAGE sql AS $$
  SELECT ('c0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid $$;
CREATE TEMP TABLE docs (body text, id uuid);

-- 1. Forty new orders with ids: the claim and the orders go in as plain INSERTs. Each ran in
-- a subtransaction of its own, so status rows and order rows carry two different xmins (the
-- upsert would have written both in the batch's one subtransaction).
INSERT INTO docs SELECT test_order_doc('N' || i, i, 2), pg_temp.id(i) FROM generate_series(1, 40) i;
SELECT count(nomnom.ingest('Order', body, id)) AS ingested FROM docs;
SELECT is((SELECT count(*)::int FROM orders), 40, '40 new orders written');
SELECT is((SELECT count(DISTINCT x)::int FROM (
             SELECT xmin::text AS x FROM orders
             UNION ALL SELECT xmin::text FROM nomnom.message_status) v),
          2, 'status rows and orders were written by separate plain inserts');
SELECT is((SELECT count(*)::int FROM nomnom.message_status WHERE status = 'completed'), 40, 'every message completed');

-- 2. Thirty orders: twenty are new versions of existing ones (price 1000 + i, one item
-- instead of two), ten are new. The plain insert meets a duplicate key; the upsert writes.
TRUNCATE docs;
INSERT INTO docs SELECT test_order_doc('N' || i, 1000 + i, 1), pg_temp.id(100 + i) FROM generate_series(21, 50) i;
SELECT count(nomnom.ingest('Order', body, id)) AS ingested FROM docs;
SELECT is((SELECT count(*)::int FROM nomnom.message_status), 70, 'updates mixed with new orders: every message claimed');
SELECT is_empty($$SELECT order_key FROM orders
                  WHERE total_price <> CASE WHEN substr(order_key, 2)::int > 20 THEN 1000 + substr(order_key, 2)::int
                                            ELSE substr(order_key, 2)::int END$$,
                'each order has its latest price');
SELECT results_eq($$SELECT count(*)::int, count(*) FILTER (WHERE substr(order_key, 2)::int > 20)::int FROM order_line_items$$,
                  $$VALUES (20 * 2 + 30 * 1, 30)$$,
                  'updated orders have exactly their new line items, the others keep theirs');
SELECT is((SELECT count(*)::int FROM orders), 50, 'no order written twice');
-- Had the failed plain insert sunk the batch, it would have been written one message at a
-- time, in the transaction itself rather than in the batch's subtransaction.
SELECT ok((SELECT bool_and(xmin::text <> (txid_current() % 4294967296)::text) FROM orders
           WHERE substr(order_key, 2)::int > 20), 'and the batch stayed one set-wise write');

-- 3. The claim meets existing status rows: twenty the bridge recorded as pending (they become
-- completed), and a redelivery of ten completed ids (acknowledged, not written again: their
-- changed price must not land).
INSERT INTO nomnom.message_status (message_id, stream, subject, entity, status, attempts, stream_seq, received_at)
SELECT pg_temp.id(200 + i), 'MESSAGES', 'messages.ingest.Order', 'Order', 'pending', 0, i, '2025-01-01 00:00:00+00'
FROM generate_series(1, 20) i;
TRUNCATE docs;
INSERT INTO docs SELECT test_order_doc('P' || i, i, 1), pg_temp.id(200 + i) FROM generate_series(1, 20) i;
INSERT INTO docs SELECT test_order_doc('N' || i, 9999, 1), pg_temp.id(i) FROM generate_series(1, 10) i;
SELECT count(nomnom.ingest('Order', body, id)) AS ingested FROM docs; -- pending and redelivered ids
SELECT is((SELECT count(*)::int FROM nomnom.message_status WHERE status = 'pending'), 0, 'no message left pending');
SELECT results_eq($$SELECT count(*)::int, min(stream), min(stream_seq), max(received_at) FROM nomnom.message_status
                    WHERE message_id IN (SELECT pg_temp.id(200 + i) FROM generate_series(1, 20) i) AND status = 'completed'$$,
                  $$VALUES (20, 'MESSAGES'::text, 1::bigint, '2025-01-01 00:00:00+00'::timestamptz)$$,
                  'pending rows become completed, keeping what the bridge recorded');
SELECT is((SELECT count(*)::int FROM orders WHERE order_key LIKE 'P%'), 20, 'the pending messages wrote their orders');
SELECT is((SELECT count(*)::int FROM orders WHERE total_price = 9999), 0, 'redelivered completed ids wrote nothing');
SELECT ok((SELECT bool_and(xmin::text <> (txid_current() % 4294967296)::text) FROM orders
           WHERE order_key LIKE 'P%'), 'a failed plain claim keeps the batch one set-wise write');

-- 3b. One batch meeting every kind of existing status row (the claim deletes the rows that
-- are not completed and writes them again COPY-style, the rest by the upsert): ten pending,
-- five failed with more attempts than this one (kept) and an error (cleared), five dead
-- letters (replayed), five completed (a redelivery: untouched, nothing written) and five
-- with no row at all.
INSERT INTO nomnom.message_status (message_id, stream, subject, entity, status, attempts, error, stream_seq, received_at, completed_at)
SELECT pg_temp.id(300 + i), 'MESSAGES', 'messages.ingest.Order', 'Order',
       CASE WHEN i <= 10 THEN 'pending' WHEN i <= 15 THEN 'failed' WHEN i <= 20 THEN 'dead_letter' ELSE 'completed' END,
       CASE WHEN i BETWEEN 11 AND 15 THEN 3 WHEN i > 20 THEN 1 ELSE 0 END,
       CASE WHEN i BETWEEN 11 AND 20 THEN 'boom' END, 1000 + i, '2025-02-01 00:00:00+00',
       CASE WHEN i > 20 THEN '2025-02-02 00:00:00+00'::timestamptz END
FROM generate_series(1, 25) i;
TRUNCATE docs;
INSERT INTO docs SELECT test_order_doc('X' || i, i, 1), pg_temp.id(300 + i) FROM generate_series(1, 30) i;
SELECT count(nomnom.ingest('Order', body, id)) AS ingested FROM docs;
SELECT results_eq($$SELECT status, count(*)::int, min(attempts), max(attempts), count(error)::int, min(stream),
                           count(stream_seq)::int, min(received_at), count(completed_at)::int
                    FROM nomnom.message_status WHERE message_id IN (SELECT pg_temp.id(300 + i) FROM generate_series(1, 30) i)
                    GROUP BY status$$,
                  $$VALUES ('completed'::text, 30, 1, 3, 0, 'MESSAGES'::text, 25, '2025-02-01 00:00:00+00'::timestamptz, 30)$$,
                  'pending, failed and dead-letter rows completed with what they recorded kept, no row twice');
SELECT results_eq($$SELECT (SELECT attempts FROM nomnom.message_status WHERE message_id = pg_temp.id(313)),
                           (SELECT stream_seq FROM nomnom.message_status WHERE message_id = pg_temp.id(307)),
                           (SELECT completed_at FROM nomnom.message_status WHERE message_id = pg_temp.id(322)),
                           (SELECT received_at > '2025-02-01' FROM nomnom.message_status WHERE message_id = pg_temp.id(328))$$,
                  $$VALUES (3, 1007::bigint, '2025-02-02 00:00:00+00'::timestamptz, true)$$,
                  'the larger attempts, the recorded sequence, a completed row untouched, a new row received now');
SELECT results_eq($$SELECT count(*)::int, count(*) FILTER (WHERE substr(order_key, 2)::int BETWEEN 21 AND 25)::int
                    FROM orders WHERE order_key LIKE 'X%'$$,
                  $$VALUES (25, 0)$$, 'every claimed message wrote its order, the redelivered ones none');
-- Sections 3 and 3b: 20 + 20 rows replaced, none updated in place.
SELECT results_eq($$SELECT n_tup_del::int, n_tup_upd::int FROM pg_stat_xact_user_tables
                    WHERE relid = 'nomnom.message_status'::regclass$$,
                  $$VALUES (40, 0)$$, 'the claim deleted and wrote again the rows that were not completed');

-- 4. DO NOTHING: a key already in the table and a key twice in the batch are skipped, the
-- first version kept, as the upsert alone does.
SELECT nomnom.define_entity('{"name": "Tag", "table": "tags", "unique": ["k"], "on_conflict": "ignore",
  "fields": [{"name": "k", "type": "String"}, {"name": "v", "type": "int4"}]}'::jsonb);
TRUNCATE docs;
INSERT INTO docs SELECT json_build_object('k', 'T' || i, 'v', i) FROM generate_series(1, 20) i;
SELECT count(nomnom.ingest('Tag', body)) AS ingested FROM docs;
SELECT is((SELECT count(*)::int FROM tags), 20, '20 new tags');
TRUNCATE docs;
INSERT INTO docs SELECT json_build_object('k', 'T' || (i % 25), 'v', 100 + i) FROM generate_series(1, 40) i;
SELECT count(nomnom.ingest('Tag', body)) AS ingested FROM docs; -- existing keys, and keys twice
SELECT is((SELECT count(*)::int FROM nomnom.message_status WHERE entity = 'Tag'), 60, 'every tag message is completed, the skipped ones too');
SELECT results_eq($$SELECT count(*)::int, count(*) FILTER (WHERE v >= 100)::int, min(v) FILTER (WHERE k = 'T0')
                    FROM tags$$,
                  $$VALUES (25, 5, 125)$$,
                  'existing tags kept, new keys written once with their first version');

-- 5. Children linked by the parent's generated id: the plain insert returns the ids, new
-- rows and updates alike (the second batch falls back to the upsert).
SELECT nomnom.define_entity('{"name": "Box", "table": "boxes", "unique": ["ref"],
  "fields": [{"name": "ref", "type": "text"}, {"name": "v", "type": "int4"}]}'::jsonb);
SELECT nomnom.define_entity('{"name": "Slot", "table": "slots", "parent": "Box", "each": "slots",
  "fields": [{"name": "box_id", "type": "int8", "from_parent": "id"},
             {"name": "box_ref", "type": "text", "from_parent": "ref"},
             {"name": "n", "type": "int4"}]}'::jsonb);
TRUNCATE docs;
INSERT INTO docs SELECT json_build_object('ref', 'B' || i, 'v', i, 'slots', json_build_array(json_build_object('n', 1), json_build_object('n', 2)))
FROM generate_series(1, 20) i;
SELECT count(nomnom.ingest('Box', body)) AS ingested FROM docs;
SELECT results_eq($$SELECT count(*)::int, count(*) FILTER (WHERE s.box_id = b.id)::int FROM slots s JOIN boxes b ON b.ref = s.box_ref$$,
                  $$VALUES (40, 40)$$, 'new boxes: every slot carries its own box''s generated id');
TRUNCATE docs;
INSERT INTO docs SELECT json_build_object('ref', 'B' || i, 'v', 100 + i, 'slots', json_build_array(json_build_object('n', 3)))
FROM generate_series(11, 30) i;
SELECT count(nomnom.ingest('Box', body)) AS ingested FROM docs;
SELECT results_eq($$SELECT count(*)::int, count(*) FILTER (WHERE s.box_id = b.id)::int, count(*) FILTER (WHERE s.n = 3)::int
                    FROM slots s JOIN boxes b ON b.ref = s.box_ref$$,
                  $$VALUES (10 * 2 + 20, 40, 20)$$, 'updated and new boxes: slots replaced, ids still matching');

-- The writer's statements read their rows through nomnom.batch_rows; outside them it has none.
SELECT throws_ok($$SELECT * FROM nomnom.batch_rows(1) AS r(a int)$$, '22023', NULL,
                 'nomnom.batch_rows outside the writer: no batch');
-- Inside one (here a statement trigger on a target table), a row shape other than the
-- batch's is refused rather than misread.
CREATE TEMP TABLE probe (sqlstate text);
CREATE FUNCTION pg_temp.probe_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  FOR h IN 1..5000 LOOP
    BEGIN
      PERFORM * FROM nomnom.batch_rows(h) AS r(a int);
    EXCEPTION WHEN OTHERS THEN
      IF SQLSTATE <> '22023' THEN INSERT INTO probe VALUES (SQLSTATE); RETURN NULL; END IF;
    END;
  END LOOP;
  RETURN NULL;
END $$;
CREATE TRIGGER probe BEFORE INSERT ON tags FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.probe_batch();
SELECT nomnom.ingest('Tag', '{"k": "probe", "v": 1}');
SELECT is((SELECT string_agg(sqlstate, ',') FROM probe), '42804', 'a wrong row shape is refused (datatype_mismatch)');

SELECT * FROM finish();
ROLLBACK;
