-- The stream options of failure handling (issue 13): batch_bytes bounds a fetch in bytes,
-- lock_timeout_ms and statement_timeout_ms bound the workers' writes.
-- Integers normalised like the other integer options; a bad value is an error naming the
-- option and its range, before any network I/O.
-- needs: nats
BEGIN;
SELECT plan(12);

SELECT lives_ok($$SELECT nomnom.create_stream('PGTAP_FAILURES', ARRAY['pgtap.failures.>'], '{"batch_bytes": "65536.0"}')$$,
                'create_stream with batch_bytes as a string');
SELECT is((SELECT options->'batch_bytes' FROM nomnom.stream_catalog WHERE name = 'PGTAP_FAILURES'), '65536'::jsonb,
          'batch_bytes stored as an integer');
SELECT lives_ok($$SELECT nomnom.alter_stream('PGTAP_FAILURES', '{"batch_bytes": null}')$$, 'batch_bytes reset');
SELECT is((SELECT options->'batch_bytes' FROM nomnom.streams WHERE name = 'PGTAP_FAILURES'), '16777216'::jsonb,
          'batch_bytes defaults to 16 MiB');
SELECT throws_like($$SELECT nomnom.alter_stream('PGTAP_FAILURES', '{"batch_bytes": 100}')$$,
                   '%option "batch_bytes" must be between 1024 and 1073741824, not 100%',
                   'batch_bytes below 1 KiB is an error naming the range');
SELECT throws_like($$SELECT nomnom.create_stream('PGTAP_FAILURES2', ARRAY['pgtap.failures2.>'], '{"batch_bytes": 2.5, "nats_url": "nats://127.0.0.1:1"}')$$,
                   '%option "batch_bytes" must be an integer%', 'a fractional batch_bytes is an error, before connecting');

SELECT is((SELECT (options->'lock_timeout_ms')::text || '/' || (options->'statement_timeout_ms')::text
           FROM nomnom.streams WHERE name = 'PGTAP_FAILURES'), '10000/300000',
          'lock_timeout_ms and statement_timeout_ms default to 10 s and 5 min');
SELECT lives_ok($$SELECT nomnom.alter_stream('PGTAP_FAILURES', '{"lock_timeout_ms": "0", "statement_timeout_ms": 2500.0}')$$,
                'alter_stream sets the timeouts');
SELECT is((SELECT jsonb_build_array(options->'lock_timeout_ms', options->'statement_timeout_ms') FROM nomnom.stream_catalog WHERE name = 'PGTAP_FAILURES'),
          '[0, 2500]'::jsonb, 'the timeouts stored as integers');
SELECT throws_like($$SELECT nomnom.alter_stream('PGTAP_FAILURES', '{"lock_timeout_ms": -5}')$$,
                   '%option "lock_timeout_ms" must be between 0 and 86400000, not -5%',
                   'a negative lock_timeout_ms is an error naming the range');
SELECT throws_like($$SELECT nomnom.alter_stream('PGTAP_FAILURES', '{"statement_timeout_ms": "1 min"}')$$,
                   '%option "statement_timeout_ms" must be an integer%', 'statement_timeout_ms takes milliseconds only');
SELECT lives_ok($$SELECT nomnom.drop_stream('PGTAP_FAILURES', true)$$, 'drop_stream');
SELECT * FROM finish();
ROLLBACK;
