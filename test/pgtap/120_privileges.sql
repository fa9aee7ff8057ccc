-- Privileges (README "Privileges"): who may administer nomnom, what define_entity,
-- create_stream and alter_stream check (before any network I/O), who may read the message
-- bookkeeping, and that ingest writes with its caller's rights. Roles: nn_priv_alice (no
-- grants), nn_priv_admin (EXECUTE on the administration functions), nn_priv_bob.
-- needs: nats
BEGIN;
SELECT plan(45);

CREATE ROLE nn_priv_alice LOGIN;
CREATE ROLE nn_priv_admin LOGIN;
CREATE ROLE nn_priv_bob LOGIN;
CREATE ROLE nn_priv_nologin NOLOGIN;
GRANT nn_priv_nologin TO nn_priv_admin;

-- EXECUTE: administration is revoked from PUBLIC; ingest and preview are everyone's
SELECT is(array_agg(f ORDER BY f), NULL, 'nn_priv_alice may execute no administration function')
FROM unnest(ARRAY['nomnom.define_entity(jsonb,boolean)', 'nomnom.drop_entity(text)',
                  'nomnom.create_stream(text,text[],jsonb)', 'nomnom.alter_stream(text,jsonb)',
                  'nomnom.drop_stream(text,boolean)', 'nomnom.pause_stream(text)',
                  'nomnom.resume_stream(text)', 'nomnom.notify_stream_change()',
                  'nomnom.worker_slots()', 'nomnom.replay_dead_letters(text,uuid[])',
                  'nomnom.purge_message_status(interval)', 'nomnom.worker_connections()']) AS f
WHERE has_function_privilege('nn_priv_alice', f, 'EXECUTE');
SELECT ok(has_function_privilege('nn_priv_alice', 'nomnom.ingest(text,text,uuid)', 'EXECUTE')
          AND has_function_privilege('nn_priv_alice', 'nomnom.preview(text,text)', 'EXECUTE'),
          'ingest and preview keep PUBLIC''s EXECUTE');
SELECT ok(has_schema_privilege('nn_priv_alice', 'nomnom', 'USAGE'), 'the schema is usable by everyone');
SET ROLE nn_priv_alice;
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "X", "fields": [{"name": "a", "type": "text"}]}')$$,
                 '42501', NULL, 'nn_priv_alice may not define an entity');
SELECT throws_ok($$SELECT nomnom.replay_dead_letters()$$, '42501', NULL, 'nn_priv_alice may not replay');
SELECT throws_ok($$SELECT nomnom.purge_message_status('1 day')$$, '42501', NULL, 'nn_priv_alice may not purge');
RESET ROLE;

-- Who reads the bookkeeping: dead_letters holds payloads; nobody but nomnom's owner and
-- the roles a superuser grants SELECT to
SELECT ok(NOT has_table_privilege('nn_priv_alice', 'nomnom.message_status', 'SELECT')
          AND NOT has_table_privilege('nn_priv_alice', 'nomnom.dead_letters', 'SELECT')
          AND NOT has_table_privilege('nn_priv_alice', 'nomnom.stream_catalog', 'SELECT')
          AND NOT has_table_privilege('nn_priv_alice', 'nomnom.streams', 'SELECT'),
          'message_status, dead_letters and the stream catalog are not PUBLIC''s');
SET ROLE nn_priv_alice;
SELECT throws_ok($$SELECT payload FROM nomnom.dead_letters$$, '42501', NULL, 'nn_priv_alice cannot read dead letters');
SELECT throws_ok($$SELECT * FROM nomnom.message_status$$, '42501', NULL, 'nn_priv_alice cannot read message_status');
SELECT throws_ok($$UPDATE nomnom.message_status SET status = 'completed'$$, '42501', NULL,
                 'nn_priv_alice cannot forge a message''s fate');
SELECT lives_ok($$SELECT name FROM nomnom.entities$$, 'entity definitions are readable');
RESET ROLE;
GRANT SELECT ON nomnom.message_status TO nn_priv_bob;
SELECT ok(has_table_privilege('nn_priv_bob', 'nomnom.message_status', 'SELECT')
          AND NOT has_table_privilege('nn_priv_bob', 'nomnom.dead_letters', 'SELECT'),
          'a grant of message_status does not give the payloads');

-- define_entity checks the table's privileges for the spec (a table the caller does not own)
GRANT EXECUTE ON FUNCTION nomnom.define_entity(jsonb, boolean), nomnom.drop_entity(text),
    nomnom.create_stream(text, text[], jsonb), nomnom.alter_stream(text, jsonb),
    nomnom.drop_stream(text, boolean), nomnom.pause_stream(text), nomnom.resume_stream(text)
    TO nn_priv_admin;
CREATE TABLE public.priv_orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                 order_key text UNIQUE, total numeric);
CREATE TABLE public.priv_lines (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                order_key text, n int, UNIQUE (order_key, n));
SET ROLE nn_priv_admin;
SELECT throws_ok($$SELECT nomnom.define_entity('{"name": "PrivOrder", "table": "priv_orders",
    "fields": [{"name": "order_key", "type": "text"}, {"name": "total", "type": "numeric"}],
    "unique": ["order_key"]}', false)$$,
    '42501', 'entity "PrivOrder": permission denied: role "nn_priv_admin" lacks the INSERT privilege on table public.priv_orders',
    'no INSERT: 42501 naming the role, the privilege and the table');
RESET ROLE;
GRANT INSERT ON public.priv_orders TO nn_priv_admin;
SET ROLE nn_priv_admin;
SELECT throws_like($$SELECT nomnom.define_entity('{"name": "PrivOrder", "table": "priv_orders",
    "fields": [{"name": "order_key", "type": "text"}, {"name": "total", "type": "numeric"}],
    "unique": ["order_key"]}', false)$$,
    '%lacks the UPDATE privilege on table public.priv_orders', 'on_conflict update needs UPDATE');
SELECT throws_like($$SELECT nomnom.define_entity('{"name": "PrivOrder", "table": "priv_orders",
    "fields": [{"name": "order_key", "type": "text"}, {"name": "total", "type": "numeric"}],
    "unique": ["order_key"], "on_conflict": "ignore"}', false)$$,
    '%lacks the SELECT privilege on table public.priv_orders', 'a unique key needs SELECT (the writer reads conflicts back)');
RESET ROLE;
GRANT SELECT, UPDATE ON public.priv_orders TO nn_priv_admin;
GRANT INSERT, SELECT, UPDATE ON public.priv_lines TO nn_priv_admin;
SET ROLE nn_priv_admin;
SELECT is(nomnom.define_entity('{"name": "PrivOrder", "table": "priv_orders",
    "fields": [{"name": "order_key", "type": "text"}, {"name": "total", "type": "numeric"}],
    "unique": ["order_key"]}', false), 'PrivOrder', 'INSERT, UPDATE and SELECT: defined');
SELECT throws_like($$SELECT nomnom.define_entity('{"name": "PrivLine", "table": "priv_lines",
    "parent": "PrivOrder", "each": "lines",
    "fields": [{"name": "order_key", "type": "text", "from_parent": "order_key"}, {"name": "n", "type": "int4"}],
    "unique": ["order_key", "n"]}', false)$$,
    '%lacks the DELETE privilege on table public.priv_lines', 'a replace-mode child needs DELETE');
SELECT is(nomnom.define_entity('{"name": "PrivLine", "table": "priv_lines",
    "parent": "PrivOrder", "each": "lines", "on_parent_update": "upsert",
    "fields": [{"name": "order_key", "type": "text", "from_parent": "order_key"}, {"name": "n", "type": "int4"}],
    "unique": ["order_key", "n"]}', false), 'PrivLine', 'an upsert-mode child does without DELETE');
SELECT lives_ok($$SELECT nomnom.drop_entity('PrivLine')$$, 'nn_priv_admin drops what it defined');
RESET ROLE;

-- create_stream / alter_stream: options and roles are checked before any network I/O
-- (nats://127.0.0.1:1 would fail with 08006 if NATS were tried first)
SET ROLE nn_priv_admin;
SELECT throws_ok($$SELECT nomnom.create_stream('PGTAP_PRIV', ARRAY['pgtap.priv.>'],
                   '{"nats_url": "nats://127.0.0.1:1", "run_as": "nn_priv_bob"}')$$,
                 '42501', 'nomnom: permission denied to run a stream as role "nn_priv_bob"',
                 'run_as another role needs membership in it (checked before NATS)');
SELECT throws_ok($$SELECT nomnom.create_stream('PGTAP_PRIV', ARRAY['pgtap.priv.>'],
                   '{"nats_url": "nats://127.0.0.1:1", "run_as": "nn_priv_nobody"}')$$,
                 '42704', NULL, 'run_as an unknown role');
SELECT throws_like($$SELECT nomnom.create_stream('PGTAP_PRIV', ARRAY['pgtap.priv.>'],
                   '{"nats_url": "nats://127.0.0.1:1", "run_as": "nn_priv_nologin"}')$$,
                 '%role "nn_priv_nologin" cannot log in%', 'run_as a role that cannot log in');
SELECT throws_like($$SELECT nomnom.create_stream('PGTAP_PRIV', ARRAY['pgtap.priv.>'],
                   '{"nats_url": "nats://127.0.0.1:1", "workers": 2.5}')$$,
                 '%"workers" must be an integer%', 'a non-integer integer option (checked before NATS)');
SELECT throws_like($$SELECT nomnom.create_stream('PGTAP_PRIV', ARRAY['pgtap.priv.>'],
                   '{"nats_url": "nats://127.0.0.1:4222,http://x:1"}')$$,
                 '%server 2 (http://x:1): unknown scheme%', 'each server of nats_url is validated');
SELECT throws_like($$SELECT nomnom.create_stream('PGTAP_PRIV', ARRAY['pgtap.priv.>'],
                   '{"nats_url": "nats://me:hunter2@127.0.0.1:0"}')$$,
                 '%port must be a number from 1 to 65535%', 'a bad port');
SELECT throws_matching($$SELECT nomnom.create_stream('PGTAP_PRIV', ARRAY['pgtap.priv.>'],
                   '{"nats_url": "nats://me:hunter2@127.0.0.1:0"}')$$,
                 '^((?!hunter2).)*$', 'the error does not show the password');
-- The stream (workers 0: none would start) is created by its caller, who is its run_as
SELECT lives_ok($$SELECT nomnom.create_stream('PGTAP_PRIV', ARRAY['pgtap.priv.>'],
                  '{"workers": 0, "batch_size": "100", "max_deliver": 3.0}')$$,
                'nn_priv_admin creates a stream');
RESET ROLE;
SELECT is((SELECT options FROM nomnom.stream_catalog WHERE name = 'PGTAP_PRIV'),
          '{"workers": 0, "batch_size": 100, "max_deliver": 3, "run_as": "nn_priv_admin"}'::jsonb,
          'integer options stored as integers; run_as defaults to the creator');
SELECT is((SELECT options->>'trust_headers' FROM nomnom.streams WHERE name = 'PGTAP_PRIV'), 'false',
          'publisher headers are not trusted by default');
SET ROLE nn_priv_admin;
SELECT lives_ok($$SELECT nomnom.alter_stream('PGTAP_PRIV', '{"batch_size": "2.0", "run_as": "nn_priv_admin"}')$$,
                'alter_stream by a member of run_as');
RESET ROLE;
SELECT is((SELECT options->'batch_size' FROM nomnom.streams WHERE name = 'PGTAP_PRIV'), '2'::jsonb,
          '"2.0" is stored as 2');
SET ROLE nn_priv_admin;
SELECT throws_ok($$SELECT nomnom.alter_stream('PGTAP_PRIV', '{"run_as": "nn_priv_bob"}')$$,
                 '42501', NULL, 'alter_stream cannot hand the stream to a role one is not a member of');
SELECT throws_like($$SELECT nomnom.alter_stream('PGTAP_PRIV', '{"max_deliver": "many"}')$$,
                   '%"max_deliver" must be an integer%', 'alter_stream rejects a non-integer');
SELECT lives_ok($$SELECT nomnom.pause_stream('PGTAP_PRIV')$$, 'a grantee may pause (pause_stream runs as nomnom''s owner)');
RESET ROLE;
UPDATE nomnom.stream_catalog SET options = options || '{"run_as": "nn_priv_bob"}' WHERE name = 'PGTAP_PRIV';
SET ROLE nn_priv_admin;
SELECT throws_ok($$SELECT nomnom.alter_stream('PGTAP_PRIV', '{"batch_size": 5}')$$,
                 '42501', NULL, 'a stream that runs as another role cannot be changed by a non-member');
SELECT throws_ok($$SELECT nomnom.drop_stream('PGTAP_PRIV', true)$$,
                 '42501', NULL, '... nor dropped');
RESET ROLE;
SELECT lives_ok($$SELECT nomnom.drop_stream('PGTAP_PRIV', true)$$, 'a superuser drops it (and its JetStream stream)');

-- ingest writes with the rights of its caller; message_status is written by nomnom's owner
SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/order.json')::jsonb);
SET ROLE nn_priv_alice;
SELECT throws_ok($$SELECT nomnom.ingest('Order', '{"order_key": "A1", "customer_key": "c", "order_status": "O",
  "total_price": 5, "order_date": "2025-03-01"}')$$, '42501', NULL, 'nn_priv_alice may not write orders');
RESET ROLE;
GRANT INSERT, UPDATE, SELECT ON public.orders TO nn_priv_alice;
SET ROLE nn_priv_alice;
SELECT lives_ok($$SELECT nomnom.ingest('Order', '{"order_key": "A1", "customer_key": "c", "order_status": "O",
  "total_price": 5, "order_date": "2025-03-01"}', 'a0000000-0000-4000-8000-0000000000a1')$$,
  'with grants on orders alone, nn_priv_alice ingests');
RESET ROLE;
SELECT is((SELECT status FROM nomnom.message_status WHERE message_id = 'a0000000-0000-4000-8000-0000000000a1'),
          'completed', 'her message_status row is written by nomnom');

-- The deferred (statement-end) write runs as the user who called ingest, not as the owner
-- of a SECURITY DEFINER function whose statement happens to flush it.
REVOKE INSERT, UPDATE ON public.orders FROM nn_priv_alice;
CREATE FUNCTION public.priv_bob_noop() RETURNS int LANGUAGE plpgsql SECURITY DEFINER
    AS $$ BEGIN PERFORM 1; RETURN 1; END $$;
ALTER FUNCTION public.priv_bob_noop() OWNER TO nn_priv_bob;
GRANT INSERT, UPDATE, SELECT ON public.orders TO nn_priv_bob;
SET ROLE nn_priv_alice;
SELECT throws_ok($$SELECT nomnom.ingest('Order', '{"order_key": "A2", "customer_key": "c", "order_status": "O",
  "total_price": 5, "order_date": "2025-03-01"}'), public.priv_bob_noop()$$, '42501', NULL,
  'alice''s ingest is not written with bob''s rights when bob''s function flushes it');
RESET ROLE;
CREATE FUNCTION public.priv_bob_ingest(key text) RETURNS uuid LANGUAGE sql SECURITY DEFINER
    AS $$ SELECT nomnom.ingest('Order', jsonb_build_object('order_key', key, 'customer_key', 'c',
          'order_status', 'O', 'total_price', 5, 'order_date', '2025-03-01')::text) $$;
ALTER FUNCTION public.priv_bob_ingest(text) OWNER TO nn_priv_bob;
SET ROLE nn_priv_alice;
SELECT lives_ok($$SELECT public.priv_bob_ingest('B1')$$, 'bob''s SECURITY DEFINER function ingests with bob''s rights');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM public.orders WHERE order_key IN ('A1', 'B1')), 2, 'A1 and B1 written, A2 not');

-- Backups: pg_dump keeps every message's fate; entity_catalog has no self-reference
SELECT is((SELECT array_agg(c::regclass::text ORDER BY c::regclass::text) FROM pg_extension e, unnest(e.extconfig) c
           WHERE e.extname = 'nomnom'),
          ARRAY['nomnom.dead_letters', 'nomnom.entity_catalog', 'nomnom.entity_outbox',
                'nomnom.entity_outbox_seq_seq', 'nomnom.message_status', 'nomnom.stream_catalog'],
          'pg_dump dumps the catalogs, message_status, dead_letters and the entity events not yet published');
SELECT is((SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'nomnom.entity_catalog'::regclass AND contype = 'f'),
          0, 'entity_catalog has no foreign key (pg_dump would warn of a circular one)');

SELECT * FROM finish();
ROLLBACK;
