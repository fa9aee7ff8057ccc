-- New rows are written the way COPY writes them (extension/src/writer/bulk_insert.cpp):
-- heap multi-insert, then the index entries. The rows must be exactly what the INSERT
-- writes (nomnom.copy_insert off), and where the table needs what that path does not do
-- (INSERT triggers, row-level security, a volatile default, missing privileges) the INSERT
-- runs instead. Which path ran is read from the WAL (pg_walinspect): heap_multi_insert logs
-- MULTI_INSERT records, an INSERT one INSERT record a row. Batches have at least 16 rows
-- (plain_first.hpp), each ingested by a statement of its own.
BEGIN;
SELECT plan(23);

CREATE EXTENSION pg_walinspect;
SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/order.json')::jsonb);
SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/orderlineitem.json')::jsonb);
CREATE FUNCTION pg_temp.id(i int) RETURNS uuid LANGUAGE sql AS $$
  SELECT ('c1000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid $$;
CREATE TEMP TABLE docs (body text, id uuid);
CREATE TEMP TABLE lsn (at pg_lsn);
CREATE FUNCTION pg_temp.mark() RETURNS void LANGUAGE sql AS $$
  DELETE FROM lsn; INSERT INTO lsn SELECT pg_current_wal_insert_lsn() $$;
-- Heap records of `rel` since mark() of the given type (+INIT: on a new page) (the WAL flushed first, as
-- pg_walinspect reads only flushed WAL).
CREATE FUNCTION pg_temp.records(rel regclass, kind text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  CHECKPOINT;
  SELECT count(*) INTO n FROM pg_get_wal_records_info((SELECT at FROM lsn), pg_current_wal_flush_lsn())
  WHERE resource_manager IN ('Heap', 'Heap2') AND record_type IN (kind, kind || '+INIT')
    AND block_ref LIKE '%rel %/%/' || pg_relation_filenode(rel) || ' %';
  RETURN n;
END $$;

-- 1. Forty new orders of two line items, with the INSERT, then COPY-style: the same rows.
INSERT INTO docs SELECT test_order_doc('A' || i, i, 2), pg_temp.id(i) FROM generate_series(1, 40) i;
SET nomnom.copy_insert = off;
SELECT pg_temp.mark();
SELECT count(nomnom.ingest('Order', body, id)) AS ingested FROM docs;
SELECT is(pg_temp.records('orders', 'MULTI_INSERT'), 0, 'copy_insert off: no multi-insert');
CREATE TEMP TABLE by_insert AS
  SELECT o.order_key, o.customer_key, o.order_status, o.total_price, o.order_date, o.order_priority,
         o.clerk, o.ship_priority, o.comment, l.line_number, l.part_key, l.quantity, l.extended_price
  FROM orders o JOIN order_line_items l USING (order_key);
CREATE TEMP TABLE status_by_insert AS
  SELECT message_id, stream, subject, entity, status, attempts, error, stream_seq
  FROM nomnom.message_status;
TRUNCATE orders, order_line_items, nomnom.message_status;
SET nomnom.copy_insert = on;
SELECT pg_temp.mark();
SELECT count(nomnom.ingest('Order', body, id)) AS ingested FROM docs;
SELECT cmp_ok(pg_temp.records('orders', 'MULTI_INSERT'), '>', 0, 'orders: written by multi-insert');
SELECT is(pg_temp.records('orders', 'INSERT'), 0, 'orders: no row-by-row insert');
SELECT cmp_ok(pg_temp.records('order_line_items', 'MULTI_INSERT'), '>', 0, 'line items: by multi-insert');
SELECT cmp_ok(pg_temp.records('nomnom.message_status', 'MULTI_INSERT'), '>', 0, 'the ledger: by multi-insert');
SELECT set_eq($$SELECT o.order_key, o.customer_key, o.order_status, o.total_price, o.order_date, o.order_priority,
                       o.clerk, o.ship_priority, o.comment, l.line_number, l.part_key, l.quantity, l.extended_price
                FROM orders o JOIN order_line_items l USING (order_key)$$,
              $$SELECT * FROM by_insert$$, 'the same orders and line items as the INSERT wrote');
SELECT set_eq($$SELECT message_id, stream, subject, entity, status, attempts, error, stream_seq
                FROM nomnom.message_status$$,
              $$SELECT * FROM status_by_insert$$, 'the same ledger rows');
SELECT is((SELECT count(*)::int FROM nomnom.message_status WHERE completed_at IS NOT NULL AND received_at IS NOT NULL), 40,
          'every claimed message has its times');
SELECT is((SELECT count(DISTINCT id)::int FROM orders), 40, 'generated ids: one each');

-- 2. New versions of twenty of them and ten new orders: a conflict, so the upsert writes,
-- exactly as without the COPY-style path (the upsert's results are checked in 090).
TRUNCATE docs;
INSERT INTO docs SELECT test_order_doc('A' || i, 1000 + i, 1), pg_temp.id(100 + i) FROM generate_series(21, 50) i;
SELECT count(nomnom.ingest('Order', body, id)) AS ingested FROM docs;
SELECT results_eq($$SELECT count(*)::int, sum(total_price) FROM orders$$,
                  $$SELECT 50, ((SELECT sum(i) FROM generate_series(1, 20) i) + (SELECT sum(1000 + i) FROM generate_series(21, 50) i))::numeric$$,
                  'a conflict: the upsert wrote the new versions and the new orders');

-- 3. Children copying their parent's generated id get it from the COPY-style insert.
SELECT nomnom.define_entity('{"name": "Box", "table": "boxes", "unique": ["ref"],
  "fields": [{"name": "ref", "type": "text"}, {"name": "v", "type": "int4"}]}'::jsonb);
SELECT nomnom.define_entity('{"name": "Slot", "table": "slots", "parent": "Box", "each": "slots",
  "fields": [{"name": "box_id", "type": "int8", "from_parent": "id"},
             {"name": "box_ref", "type": "text", "from_parent": "ref"},
             {"name": "n", "type": "int4"}]}'::jsonb);
TRUNCATE docs;
INSERT INTO docs SELECT json_build_object('ref', 'B' || i, 'v', i, 'slots', json_build_array(json_build_object('n', 1), json_build_object('n', 2)))
FROM generate_series(1, 20) i;
SELECT pg_temp.mark();
SELECT count(nomnom.ingest('Box', body)) AS ingested FROM docs;
SELECT cmp_ok(pg_temp.records('boxes', 'MULTI_INSERT'), '>', 0, 'boxes: by multi-insert');
SELECT results_eq($$SELECT count(*)::int, count(*) FILTER (WHERE s.box_id = b.id)::int FROM slots s JOIN boxes b ON b.ref = s.box_ref$$,
                  $$VALUES (40, 40)$$, 'every slot carries its own box''s generated id');

-- 4. What the table adds: a stored generated column, a serial default, a CHECK constraint.
ALTER TABLE boxes ADD COLUMN v2 int GENERATED ALWAYS AS (v * 2) STORED, ADD COLUMN seq serial,
  ADD CONSTRAINT v_small CHECK (v < 1000);
TRUNCATE docs;
INSERT INTO docs SELECT json_build_object('ref', 'C' || i, 'v', i) FROM generate_series(1, 20) i;
SELECT pg_temp.mark();
SELECT count(nomnom.ingest('Box', body)) AS ingested FROM docs;
SELECT cmp_ok(pg_temp.records('boxes', 'MULTI_INSERT'), '>', 0, 'a generated column and a serial: still by multi-insert');
SELECT is((SELECT count(*)::int FROM boxes WHERE ref LIKE 'C%' AND v2 = v * 2 AND seq IS NOT NULL), 20,
          'generated column computed, serial drawn');
TRUNCATE docs;
INSERT INTO docs SELECT json_build_object('ref', 'D' || i, 'v', i * 100) FROM generate_series(1, 20) i;
SELECT throws_ok($$SELECT count(nomnom.ingest('Box', body)) FROM docs$$, '23514', NULL,
                 'a CHECK constraint is enforced as by INSERT');

-- 5. Tables the COPY-style path leaves to the INSERT: a row trigger (its change lands), a
-- volatile default (drawn by the INSERT). (A table of its own: after the conflict above,
-- orders go straight to the upsert for a while.)
SELECT nomnom.define_entity('{"name": "Crate", "table": "crates", "unique": ["ref"],
  "fields": [{"name": "ref", "type": "text"}, {"name": "v", "type": "int4"},
             {"name": "note", "type": "text", "nullable": true}]}'::jsonb);
CREATE FUNCTION pg_temp.shout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.note := upper(coalesce(NEW.note, 'none')); RETURN NEW; END $$;
CREATE TRIGGER shout BEFORE INSERT ON crates FOR EACH ROW EXECUTE FUNCTION pg_temp.shout();
TRUNCATE docs;
INSERT INTO docs SELECT json_build_object('ref', 'T' || i, 'v', i) FROM generate_series(1, 20) i;
SELECT pg_temp.mark();
SELECT count(nomnom.ingest('Crate', body)) AS ingested FROM docs;
SELECT is(pg_temp.records('crates', 'MULTI_INSERT'), 0, 'a row trigger: the INSERT writes');
SELECT is((SELECT count(*)::int FROM crates WHERE ref LIKE 'T%' AND note = 'NONE'), 20, 'and the trigger ran on every row');
DROP TRIGGER shout ON crates;
ALTER TABLE crates ADD COLUMN noise float8 DEFAULT random();
TRUNCATE docs;
INSERT INTO docs SELECT json_build_object('ref', 'R' || i, 'v', i) FROM generate_series(1, 20) i;
SELECT pg_temp.mark();
SELECT count(nomnom.ingest('Crate', body)) AS ingested FROM docs;
SELECT is(pg_temp.records('crates', 'MULTI_INSERT'), 0, 'a volatile default: the INSERT writes');
SELECT is((SELECT count(DISTINCT noise)::int FROM crates WHERE ref LIKE 'R%'), 20, 'and drew it for every row');
ALTER TABLE crates DROP COLUMN noise;

-- 6. Row-level security and privileges, for a role that is not a superuser: the INSERT's
-- rules, whichever path.
CREATE ROLE nomnom_110_writer;
GRANT USAGE ON SCHEMA nomnom TO nomnom_110_writer;
GRANT SELECT, INSERT, UPDATE ON nomnom.message_status TO nomnom_110_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA nomnom TO nomnom_110_writer;
GRANT SELECT ON docs TO nomnom_110_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON crates TO nomnom_110_writer;
ALTER TABLE crates ENABLE ROW LEVEL SECURITY;
CREATE POLICY small ON crates FOR ALL TO nomnom_110_writer USING (true) WITH CHECK (v < 15);
TRUNCATE docs;
INSERT INTO docs SELECT json_build_object('ref', 'S' || i, 'v', i) FROM generate_series(1, 20) i;
SET ROLE nomnom_110_writer;
SELECT throws_ok($$SELECT count(nomnom.ingest('Crate', body)) FROM docs$$, '42501', NULL,
                 'row-level security: a row its policy refuses is refused');
RESET ROLE;
DELETE FROM docs WHERE (body::json->>'v')::int >= 15;
SET ROLE nomnom_110_writer;
SELECT is((SELECT count(nomnom.ingest('Crate', body))::int FROM docs), 14, 'rows the policy admits are written');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM crates WHERE ref LIKE 'S%'), 14, 'all of them');
DROP POLICY small ON crates;
ALTER TABLE crates DISABLE ROW LEVEL SECURITY;
REVOKE INSERT ON crates FROM nomnom_110_writer;
TRUNCATE docs;
INSERT INTO docs SELECT json_build_object('ref', 'U' || i, 'v', i) FROM generate_series(1, 20) i;
SET ROLE nomnom_110_writer;
SELECT throws_ok($$SELECT count(nomnom.ingest('Crate', body)) FROM docs$$, '42501', NULL,
                 'no INSERT privilege: permission denied, as for INSERT');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
