-- Streams from SQL: create/alter/drop/pause/resume_stream, nomnom.streams (effective options),
-- nomnom.stream_status, option errors, the GUCs. Needs the harness's nats-server
-- (nomnom.nats_url); this database has no launcher, so no worker runs here.
-- needs: nats
BEGIN;
SELECT plan(42);

-- Objects, comments, volatility, strictness
SELECT has_function('nomnom', 'create_stream', ARRAY['text', 'text[]', 'jsonb'], 'create_stream exists');
SELECT has_function('nomnom', 'alter_stream', ARRAY['text', 'jsonb'], 'alter_stream exists');
SELECT has_function('nomnom', 'drop_stream', ARRAY['text', 'boolean'], 'drop_stream exists');
SELECT has_function('nomnom', 'pause_stream', ARRAY['text'], 'pause_stream exists');
SELECT has_function('nomnom', 'resume_stream', ARRAY['text'], 'resume_stream exists');
SELECT has_function('nomnom', 'replay_dead_letters', ARRAY['text', 'uuid[]'], 'replay_dead_letters exists');
SELECT has_function('nomnom', 'purge_message_status', ARRAY['interval'], 'purge_message_status exists');
SELECT has_view('nomnom', 'streams', 'nomnom.streams exists');
SELECT has_view('nomnom', 'stream_status', 'nomnom.stream_status exists');
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'nomnom' AND obj_description(p.oid, 'pg_proc') IS NULL), 0::bigint,
          'every nomnom function has a comment');
SELECT volatility_is('nomnom', 'create_stream', ARRAY['text', 'text[]', 'jsonb'], 'volatile', 'create_stream is volatile');
SELECT is_strict('nomnom', 'create_stream', ARRAY['text', 'text[]', 'jsonb'], 'create_stream is strict');
SELECT isnt_strict('nomnom', 'replay_dead_letters', ARRAY['text', 'uuid[]'], 'replay_dead_letters takes NULLs');
SELECT columns_are('nomnom', 'stream_status',
    ARRAY['name', 'worker_pid', 'state', 'last_error', 'last_error_at', 'consumed', 'completed',
          'failed', 'dead_lettered', 'pending', 'last_batch_at', 'worker',
          'num_pending', 'num_ack_pending', 'num_redelivered', 'rate_1m',
          'commit_latency_buckets', 'commit_latency_sum', 'commit_count',
         'nats_server', 'nats_state'],
    'stream_status columns');

-- GUCs (the harness preloads nomnom)
SELECT is(current_setting('nomnom.max_workers'), '8', 'nomnom.max_workers defaults to 8');
SELECT isnt(current_setting('nomnom.nats_url', true), NULL, 'nomnom.nats_url is defined');
SELECT is((SELECT context FROM pg_settings WHERE name = 'nomnom.database'), 'postmaster', 'nomnom.database needs a restart');

-- Option errors, before anything is recorded
SELECT throws_ok($$SELECT nomnom.create_stream('PGTAP_STREAMS', ARRAY['pgtap.streams.>'], '{"wrokers": 1}')$$,
                 '22023', NULL, 'an unknown option is an error');
SELECT throws_like($$SELECT nomnom.create_stream('PGTAP_STREAMS', ARRAY['pgtap.streams.>'], '{"workers": 99}')$$,
                   '%"workers" must be between 0 and 64%', 'an out-of-range option names the option and the range');
SELECT throws_like($$SELECT nomnom.create_stream('PGTAP_STREAMS', ARRAY['pgtap.streams.>'], '{"entity": "Order", "routes": {"a.b": "X"}}')$$,
                   '%cannot both be set%', 'entity and routes exclude each other');
SELECT throws_ok($$SELECT nomnom.create_stream('PGTAP STREAMS', ARRAY['pgtap.streams.>'])$$,
                 '22023', NULL, 'a stream name with a space is an error');
SELECT throws_like($$SELECT nomnom.create_stream('PGTAP_STREAMS', ARRAY['pgtap..streams'])$$,
                   '%not a valid NATS subject%', 'an invalid subject is an error');
SELECT throws_like($$SELECT nomnom.create_stream('PGTAP_STREAMS', ARRAY['pgtap.streams.>'], '{"nats_url": "nats://127.0.0.1:1"}')$$,
                   '%nats://127.0.0.1:1%', 'unreachable NATS: the error names the URL');
SELECT is((SELECT count(*) FROM nomnom.streams WHERE name = 'PGTAP_STREAMS'), 0::bigint, 'failed calls record nothing');

-- create_stream with the GUC's NATS; effective options fill in the defaults
SELECT lives_ok($$SELECT nomnom.create_stream('PGTAP_STREAMS', ARRAY['pgtap.streams.>'], '{"batch_size": 50}')$$,
                'create_stream against the harness NATS');
SELECT is((SELECT options->>'batch_size' FROM nomnom.streams WHERE name = 'PGTAP_STREAMS'), '50', 'given option kept');
SELECT is((SELECT options - 'nats_url' - 'batch_size' FROM nomnom.streams WHERE name = 'PGTAP_STREAMS'),
          '{"consumer": "workers", "workers": 1, "max_wait_ms": 500, "max_deliver": 5, "ack_wait_ms": 30000,
            "dlq_stream": "MESSAGESDLQ", "storage": "file", "replicas": 1, "max_age": 0, "max_bytes": -1,
            "duplicate_window": 120000, "track_status": true, "trust_headers": false,
            "run_as": "postgres",
            "publish_entities": false, "entities_stream": "ENTITIES",
            "batch_bytes": 16777216, "lock_timeout_ms": 10000, "statement_timeout_ms": 300000}'::jsonb,
          'defaults filled in');
SELECT is((SELECT options->>'nats_url' FROM nomnom.streams WHERE name = 'PGTAP_STREAMS'),
          current_setting('nomnom.nats_url'), 'nats_url defaults to nomnom.nats_url');
SELECT lives_ok($$SELECT nomnom.create_stream('PGTAP_STREAMS', ARRAY['pgtap.streams.>'], '{"batch_size": 50}')$$,
                'create_stream again with the same configuration verifies it');
SELECT throws_like($$SELECT nomnom.create_stream('PGTAP_STREAMS', ARRAY['pgtap.other.>'])$$,
                   '%[pgtap.streams.>]%[pgtap.other.>]%', 'other subjects: the error shows both');
SELECT is((SELECT state FROM nomnom.stream_status WHERE name = 'PGTAP_STREAMS'), 'stopped',
          'no worker in this database: stopped');

-- alter_stream merges; a null goes back to the default
SELECT lives_ok($$SELECT nomnom.alter_stream('PGTAP_STREAMS', '{"max_deliver": 7, "batch_size": null}')$$, 'alter_stream');
SELECT is((SELECT (options->>'max_deliver') || '/' || (options->>'batch_size') FROM nomnom.streams WHERE name = 'PGTAP_STREAMS'),
          '7/1000', 'alter_stream merged max_deliver, reset batch_size');
SELECT throws_ok($$SELECT nomnom.alter_stream('NO_SUCH_STREAM', '{}')$$, '42704', NULL, 'altering an unknown stream');
SELECT throws_ok($$SELECT nomnom.alter_stream('PGTAP_STREAMS', '{"storage": "disk"}')$$, '22023', NULL, 'alter_stream validates');

-- pause / resume
SELECT lives_ok($$SELECT nomnom.pause_stream('PGTAP_STREAMS')$$, 'pause_stream');
SELECT is((SELECT paused FROM nomnom.streams WHERE name = 'PGTAP_STREAMS') AND
          (SELECT state FROM nomnom.stream_status WHERE name = 'PGTAP_STREAMS') = 'paused', true, 'paused');
SELECT lives_ok($$SELECT nomnom.resume_stream('PGTAP_STREAMS')$$, 'resume_stream');
SELECT is((SELECT paused FROM nomnom.streams WHERE name = 'PGTAP_STREAMS'), false, 'resumed');

-- dead letters and status housekeeping
SELECT is(nomnom.replay_dead_letters('PGTAP_STREAMS'), 0::bigint, 'no dead letters to replay');

-- drop (its JetStream stream is deleted only if the transaction commits, and this one rolls
-- back, which also deletes the JetStream stream create_stream made: e2e 062 checks both)
SELECT lives_ok($$SELECT nomnom.drop_stream('PGTAP_STREAMS', true)$$, 'drop_stream(..., true)');
SELECT throws_ok($$SELECT nomnom.drop_stream('PGTAP_STREAMS')$$, '42704', NULL, 'dropping an unknown stream');

SELECT * FROM finish();
ROLLBACK;
