-- The writer converts common types itself (extension/src/fast_input.cpp): every stored
-- value must be exactly what the type's own input function makes of the same text (value,
-- display scale, on-disk size), and what that function rejects must still be rejected.
BEGIN;
SELECT plan(12);

SELECT nomnom.define_entity('{"name": "Sample", "table": "samples", "unique": ["k"], "fields": [
  {"name": "k", "type": "text"},
  {"name": "n", "type": "numeric", "nullable": true},
  {"name": "n152", "type": "numeric(15,2)", "nullable": true},
  {"name": "n42", "type": "numeric(4,2)", "nullable": true},
  {"name": "n25", "type": "numeric(2,5)", "nullable": true},
  {"name": "i2", "type": "int2", "nullable": true},
  {"name": "i4", "type": "int4", "nullable": true},
  {"name": "i8", "type": "int8", "nullable": true},
  {"name": "b", "type": "bool", "nullable": true},
  {"name": "t", "type": "text", "nullable": true},
  {"name": "v", "type": "varchar", "nullable": true},
  {"name": "v5", "type": "varchar(5)", "nullable": true}]}'::jsonb);

-- (column, text): each becomes one document with that one field set.
CREATE TEMP TABLE inputs (k serial, col text, txt text);
INSERT INTO inputs (col, txt)
SELECT 'n', x FROM unnest(ARRAY['0', '-0', '0.000', '00012.3400', '-1.5', '10000', '100000000', '99999999',
  '0.0001', '-0.00010', '123456789012345678901234567890.123456789', '1e5', ' 7 ', '.5', '5.', 'NaN',
  repeat('9', 300), '0.' || repeat('0', 70) || '1', '1.' || repeat('5', 70)]) x
UNION ALL SELECT 'n152', x FROM unnest(ARRAY['0', '12.5', '-12.50', '1234567890123.99', '0.01', '1.555', '-0.004']) x
UNION ALL SELECT 'n42', x FROM unnest(ARRAY['99.99', '0.5', '-1.25', '1.555', '00.10']) x
UNION ALL SELECT 'n25', x FROM unnest(ARRAY['0.00099', '-0.0005', '0']) x
UNION ALL SELECT 'i2', x FROM unnest(ARRAY['0', '-0', '1234', '-9999', '32767', '-32768', '007']) x
UNION ALL SELECT 'i4', x FROM unnest(ARRAY['999999999', '-999999999', '2147483647', '-2147483648', '+5', ' 6']) x
UNION ALL SELECT 'i8', x FROM unnest(ARRAY['123456789012345678', '-123456789012345678', '9223372036854775807']) x
UNION ALL SELECT 'b', x FROM unnest(ARRAY['true', 'false', 't', 'f', 'yes', 'TRUE', 'off']) x
UNION ALL SELECT 't', x FROM unnest(ARRAY['hello', '', 'héllo wörld', repeat('x', 5000)]) x
UNION ALL SELECT 'v', x FROM unnest(ARRAY['plain', '', repeat('y', 1500)]) x
UNION ALL SELECT 'v5', x FROM unnest(ARRAY['abc', 'abcde', 'abc  ']) x;

SELECT is((SELECT count(nomnom.ingest('Sample', json_build_object('k', k::text, col, txt)::text))::int FROM inputs),
          (SELECT count(*)::int FROM inputs), 'every input ingested');

-- What the input functions make of the same texts, stored the same way.
CREATE TEMP TABLE expected AS
SELECT k::text AS k,
  CASE WHEN col = 'n' THEN txt::numeric END AS n, CASE WHEN col = 'n152' THEN txt::numeric(15,2) END AS n152,
  CASE WHEN col = 'n42' THEN txt::numeric(4,2) END AS n42, CASE WHEN col = 'n25' THEN txt::numeric(2,5) END AS n25, CASE WHEN col = 'i2' THEN txt::int2 END AS i2,
  CASE WHEN col = 'i4' THEN txt::int4 END AS i4, CASE WHEN col = 'i8' THEN txt::int8 END AS i8,
  CASE WHEN col = 'b' THEN txt::bool END AS b, CASE WHEN col = 't' THEN txt END AS t,
  CASE WHEN col = 'v' THEN txt::varchar END AS v, CASE WHEN col = 'v5' THEN txt::varchar(5) END AS v5
FROM inputs;

SELECT is_empty($$SELECT k FROM samples s JOIN expected e USING (k)
                  WHERE numeric_send(s.n) IS DISTINCT FROM numeric_send(e.n) OR s.n::text IS DISTINCT FROM e.n::text
                     OR pg_column_size(s.n) IS DISTINCT FROM pg_column_size(e.n)$$,
                'numeric: same digits, weight, sign, display scale and size as numeric_in');
SELECT is_empty($$SELECT k FROM samples s JOIN expected e USING (k)
                  WHERE numeric_send(s.n152) IS DISTINCT FROM numeric_send(e.n152) OR s.n152::text IS DISTINCT FROM e.n152::text
                     OR pg_column_size(s.n152) IS DISTINCT FROM pg_column_size(e.n152)
                     OR numeric_send(s.n42) IS DISTINCT FROM numeric_send(e.n42) OR s.n42::text IS DISTINCT FROM e.n42::text
                     OR pg_column_size(s.n42) IS DISTINCT FROM pg_column_size(e.n42)
                     OR numeric_send(s.n25) IS DISTINCT FROM numeric_send(e.n25)$$,
                'numeric(p,s): scaled and rounded as numeric_in does');
SELECT is_empty($$SELECT k FROM samples s JOIN expected e USING (k)
                  WHERE s.i2 IS DISTINCT FROM e.i2 OR s.i4 IS DISTINCT FROM e.i4 OR s.i8 IS DISTINCT FROM e.i8
                     OR s.b IS DISTINCT FROM e.b$$,
                'integers and booleans as their input functions make them');
SELECT is_empty($$SELECT k FROM samples s JOIN expected e USING (k)
                  WHERE s.t IS DISTINCT FROM e.t OR s.v IS DISTINCT FROM e.v OR s.v5 IS DISTINCT FROM e.v5
                     OR pg_column_size(s.t) IS DISTINCT FROM pg_column_size(e.t)$$,
                'text and varchar unchanged');

-- Rejected as before, with the input function's SQLSTATE.
SELECT throws_ok($$SELECT nomnom.ingest('Sample', '{"k": "x", "n152": "12345678901234"}')$$, '22003', NULL,
                 'numeric(15,2): too many integer digits');
SELECT throws_ok($$SELECT nomnom.ingest('Sample', '{"k": "x", "n25": "0.001"}')$$, '22003', NULL,
                 'numeric(2,5): too large for its precision');
SELECT throws_ok($$SELECT nomnom.ingest('Sample', '{"k": "x", "i2": "32768"}')$$, '22003', NULL,
                 'int2 out of range');
SELECT throws_ok($$SELECT nomnom.ingest('Sample', '{"k": "x", "i4": "12a"}')$$, '22P02', NULL,
                 'int4: not a number');
SELECT throws_ok($$SELECT nomnom.ingest('Sample', '{"k": "x", "v5": "abcdef"}')$$, '22001', NULL,
                 'varchar(5): too long');

-- A field whose type differs from its column's (here by kind or by modifier) is cast to the
-- column on the way in, the column's modifier applied.
CREATE TABLE conv (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, k text UNIQUE, v bigint,
                   n numeric(10,1), s varchar(20));
SELECT nomnom.define_entity('{"name": "Conv", "table": "conv", "unique": ["k"], "fields": [
  {"name": "k", "type": "text"}, {"name": "v", "type": "int4"}, {"name": "n", "type": "numeric(12,3)"},
  {"name": "s", "type": "text"}]}'::jsonb, false);
CREATE TEMP TABLE conv_docs AS
SELECT json_build_object('k', 'K' || i, 'v', i, 'n', i || '.25', 's', 'str' || i)::text AS body FROM generate_series(1, 30) i;
SELECT count(nomnom.ingest('Conv', body)) AS ingested FROM conv_docs;
SELECT is((SELECT count(*)::int FROM conv WHERE v BETWEEN 1 AND 30 AND s LIKE 'str%'), 30,
          'int4 into bigint, text into varchar(20): cast on the way in');
SELECT is((SELECT n::text FROM conv WHERE k = 'K7'), '7.3',
          'numeric(12,3) into numeric(10,1): rounded by the column''s modifier');

SELECT * FROM finish();
ROLLBACK;
