-- Rows laid out ahead (extension/src/writer/tuple_image.cpp): a COPY-style write copies each
-- row's heap tuple from an image made with its values, in place of heap_form_tuple. The
-- tuples must be byte for byte what heap_form_tuple makes, as the INSERT writes them
-- (nomnom.copy_insert off): every type the writer converts itself, NULLs in every place of a
-- two-byte NULL bitmap, texts either side of the 1-byte varlena header's 126 bytes, a text
-- with a 4-byte header, and one long enough to be compressed. Compared on the pages
-- themselves (pageinspect): the data area, the NULL bitmap, the header's length and flags.
-- Then the constraints an image row must still meet: NOT NULL (read from its NULL bitmap)
-- and CHECK, with the INSERT's very errors.
BEGIN;
SELECT plan(11);

CREATE EXTENSION pageinspect;
CREATE EXTENSION pg_walinspect;
SELECT nomnom.define_entity('{"name": "Every", "table": "every_type", "fields": [
  {"name": "k", "type": "int4"},
  {"name": "t", "type": "text", "nullable": true},
  {"name": "v", "type": "varchar", "nullable": true},
  {"name": "s", "type": "int2", "nullable": true},
  {"name": "i", "type": "int4", "nullable": true},
  {"name": "b", "type": "int8", "nullable": true},
  {"name": "f", "type": "bool", "nullable": true},
  {"name": "d", "type": "date", "nullable": true},
  {"name": "n", "type": "numeric", "nullable": true},
  {"name": "n2", "type": "numeric(15,2)", "nullable": true},
  {"name": "t2", "type": "text", "nullable": true},
  {"name": "s2", "type": "int2", "nullable": true}]}'::jsonb);

-- Row k: the texts' lengths go round a list, each field is NULL in some rows (k % (f + 2)).
CREATE TEMP TABLE docs AS
SELECT k, json_strip_nulls(json_build_object(
  'k', k,
  't', CASE WHEN k % 2 <> 0 THEN repeat(chr(97 + k % 26), (ARRAY[0, 1, 7, 125, 126, 127, 128, 1000])[1 + k / 2 % 8]) END,
  'v', CASE WHEN k % 3 <> 0 THEN 'vé' || repeat('v', (ARRAY[3, 124, 200])[1 + k % 3]) END,
  's', CASE WHEN k % 4 <> 0 THEN (k * 37 % 65536) - 32768 END,
  'i', CASE WHEN k % 5 <> 0 THEN k * 104729 - 50000000 END,
  'b', CASE WHEN k % 6 <> 0 THEN k::int8 * 1000000007 * (CASE WHEN k % 2 = 0 THEN -1 ELSE 1 END) END,
  'f', CASE WHEN k % 7 <> 0 THEN k % 2 = 0 END,
  'd', CASE WHEN k % 8 <> 0 THEN to_char(date '1999-12-31' + k * 97, 'YYYY-MM-DD') END,
  'n', CASE WHEN k % 9 <> 0 THEN ((k * 7919) % 1000003)::text || '.' || repeat('5', k % 20) END,
  'n2', CASE WHEN k % 10 <> 0 THEN (k * 12.345)::numeric(15,2)::text END,
  't2', CASE WHEN k % 11 <> 0 THEN CASE WHEN k % 13 = 1 THEN repeat('ab', 20000) ELSE 'x' || k END END,
  's2', CASE WHEN k % 12 <> 0 THEN k % 100 END))::text AS body
FROM generate_series(1, 400) k;
INSERT INTO docs VALUES (401, '{"k": 401}'); -- every nullable field NULL

CREATE TEMP TABLE lsn (at pg_lsn);
-- The rows as stored: each tuple's data area (its id first), NULL bitmap, header length,
-- natts and the flags heap_form_tuple sets (HASNULL, HASVARWIDTH, HASEXTERNAL).
CREATE FUNCTION pg_temp.tuples() RETURNS TABLE (lp_len int, t_hoff int, t_bits text, flags int, natts int, t_data bytea)
LANGUAGE sql AS $$
  SELECT p.lp_len::int, p.t_hoff::int, p.t_bits, p.t_infomask::int & 7, p.t_infomask2::int & 2047, p.t_data
  FROM generate_series(0, pg_relation_size('every_type') / current_setting('block_size')::int - 1) b,
       heap_page_items(get_raw_page('every_type', b::int)) p
  WHERE p.lp_len > 0 $$;
CREATE FUNCTION pg_temp.multi_inserts() RETURNS int LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
  CHECKPOINT;
  SELECT count(*) INTO n FROM pg_get_wal_records_info((SELECT at FROM lsn), pg_current_wal_flush_lsn())
  WHERE resource_manager = 'Heap2' AND record_type IN ('MULTI_INSERT', 'MULTI_INSERT+INIT')
    AND block_ref LIKE '%rel %/%/' || pg_relation_filenode('every_type') || ' %';
  RETURN n;
END $$;

-- 1. The INSERT: heap_form_tuple of the values.
SET nomnom.copy_insert = off;
SELECT count(nomnom.ingest('Every', body)) FROM docs;
CREATE TEMP TABLE by_insert AS SELECT * FROM pg_temp.tuples();
SELECT is((SELECT count(*)::int FROM by_insert), 401, 'the INSERT wrote every row');

-- 2. COPY-style, from the images, into the emptied table (the ids start again at 1).
TRUNCATE every_type RESTART IDENTITY;
SET nomnom.copy_insert = on;
INSERT INTO lsn SELECT pg_current_wal_insert_lsn();
SELECT count(nomnom.ingest('Every', body)) FROM docs;
SELECT cmp_ok(pg_temp.multi_inserts(), '>', 0, 'written COPY-style (multi-insert)');
CREATE TEMP TABLE by_images AS SELECT * FROM pg_temp.tuples();

SELECT results_eq($$SELECT * FROM by_images ORDER BY t_data$$, $$SELECT * FROM by_insert ORDER BY t_data$$,
                  'every tuple the same bytes as the INSERT''s');
SELECT is((SELECT array_agg(DISTINCT coalesce(length(t_bits), 0) ORDER BY coalesce(length(t_bits), 0)) FROM by_images),
          ARRAY[0, 16], 'rows without NULLs, and rows with a NULL bitmap of two bytes (13 attributes)');
SELECT is((SELECT array_agg(DISTINCT flags ORDER BY flags) FROM by_images), ARRAY[1, 2, 3],
          'HASNULL where a field is NULL, HASVARWIDTH where a varlena is not (not on the row of NULLs)');
-- The texts' headers: 1 byte up to 126 bytes of text, 4 above, and the long one compressed
-- in place (read back whole).
SELECT is((SELECT array_agg(DISTINCT pg_column_size(t) ORDER BY pg_column_size(t)) FROM every_type WHERE t IS NOT NULL),
          ARRAY[1, 2, 8, 126, 127, 131, 132, 1004], 'short and long varlena headers as heap_form_tuple makes them');
SELECT is((SELECT count(*)::int FROM every_type WHERE t2 = repeat('ab', 20000) AND pg_column_size(t2) < 1000),
          (SELECT count(*)::int FROM docs WHERE k % 11 <> 0 AND k % 13 = 1), 'the long text compressed, and whole');

-- 3. Constraints on the image rows. A NULL into a NOT NULL column is found in the image's
-- NULL bitmap, and a CHECK constraint is checked on every row: each raises the INSERT's error
-- (SQLSTATE, message, detail; the failing row's id, from the sequence, differs).
CREATE FUNCTION pg_temp.error_of(body text, copy_insert text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; message text; detail text;
BEGIN
  PERFORM set_config('nomnom.copy_insert', copy_insert, true);
  PERFORM nomnom.ingest('Every', body);
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
  RETURN state || ': ' || message || ' / ' || regexp_replace(detail, '^Failing row contains \(\d+,', '(id,');
END $$;
DELETE FROM every_type WHERE s IS NULL;
ALTER TABLE every_type ALTER COLUMN s SET NOT NULL;
SELECT matches(pg_temp.error_of('{"k": 500, "t": "x"}', 'on'), '^23502: .*"s".* / \(id, 500, x,',
               'a NULL into a NOT NULL column is refused from the image');
SELECT is(pg_temp.error_of('{"k": 500, "t": "x"}', 'on'), pg_temp.error_of('{"k": 500, "t": "x"}', 'off'),
          'with the INSERT''s error');
ALTER TABLE every_type ADD CONSTRAINT s2_small CHECK (s2 < 100);
SELECT matches(pg_temp.error_of('{"k": 501, "s": 1, "s2": 150}', 'on'), '^23514: .*"s2_small"',
               'a CHECK constraint is checked on the image rows');
SELECT is(pg_temp.error_of('{"k": 501, "s": 1, "s2": 150}', 'on'), pg_temp.error_of('{"k": 501, "s": 1, "s2": 150}', 'off'),
          'with the INSERT''s error');

SELECT * FROM finish();
ROLLBACK;
