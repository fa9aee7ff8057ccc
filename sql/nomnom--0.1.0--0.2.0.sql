-- nomnom 0.1.0 -> 0.2.0. Every change of nomnom--0.2.0.sql against nomnom--0.1.0.sql is
-- made here too, so that an updated database has exactly a fresh install's objects,
-- comments and grants (test/e2e/extension_upgrade.sh compares the two).
\echo Use "ALTER EXTENSION nomnom UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------
-- Privileges and backups (issue 13)
------------------------------------------------------------------------------

-- Administration through EXECUTE grants: these run with the rights of nomnom's owner.
ALTER FUNCTION nomnom.pause_stream(text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION nomnom.resume_stream(text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION nomnom.purge_message_status(interval)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- pg_dump keeps every message's fate: the exactly-once ledger and the dead letters
-- (payloads included), so a restored database's workers resume exactly once.
SELECT pg_catalog.pg_extension_config_dump('nomnom.message_status', '');
SELECT pg_catalog.pg_extension_config_dump('nomnom.dead_letters', '');

-- A self-referencing foreign key on a configuration table makes pg_dump warn about circular
-- foreign-key constraints (and its data may not restore in order): define_entity and
-- drop_entity check the parent link themselves.
ALTER TABLE nomnom.entity_catalog DROP CONSTRAINT entity_catalog_parent_fkey;

-- A replayed dead letter keeps its id on a stream that trusts no publisher headers: the
-- replay signs (message id, Nats-Msg-Id, subject) with this key, the workers check it. Not
-- dumped: a restored database makes its own key.
CREATE TABLE nomnom.replay_key (
    key text NOT NULL
);
COMMENT ON TABLE nomnom.replay_key IS
    'The key (one row) that signs messages nomnom.replay_dead_letters republishes; readable by nomnom''s owner only';
INSERT INTO nomnom.replay_key (key)
    SELECT encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text
                                    || gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex');
REVOKE ALL ON nomnom.replay_key FROM PUBLIC;

-- The schema is usable by everyone: nomnom.ingest and nomnom.preview run with the caller's
-- rights on the entities' tables. Administration is for superusers and the roles they grant
-- EXECUTE to.
GRANT USAGE ON SCHEMA nomnom TO PUBLIC;
REVOKE ALL ON nomnom.entity_catalog, nomnom.stream_catalog, nomnom.message_status,
              nomnom.dead_letters FROM PUBLIC;
-- Entity definitions are no secret (the writer reads them as the caller of ingest).
GRANT SELECT ON nomnom.entity_catalog, nomnom.entities TO PUBLIC;
REVOKE EXECUTE ON FUNCTION
    nomnom.define_entity(jsonb, boolean),
    nomnom.drop_entity(text),
    nomnom.create_stream(text, text[], jsonb),
    nomnom.alter_stream(text, jsonb),
    nomnom.drop_stream(text, boolean),
    nomnom.pause_stream(text),
    nomnom.resume_stream(text),
    nomnom.notify_stream_change(),
    nomnom.worker_slots(),
    nomnom.replay_dead_letters(text, uuid[]),
    nomnom.purge_message_status(interval)
    FROM PUBLIC;

-- Issue 14, the operator's console: the consumer's info (lag) and rate in stream_status,
-- the batch commit latency histogram, and whether a worker is writing a message now.
CREATE FUNCTION nomnom.worker_consumer_info()
    RETURNS TABLE (name text, worker integer, num_pending bigint, num_ack_pending bigint,
                   num_redelivered bigint, rate_1m double precision,
                   commit_latency_buckets bigint[], commit_latency_sum double precision,
                   commit_count bigint)
    AS 'MODULE_PATHNAME', 'nomnom_worker_consumer_info'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION nomnom.worker_consumer_info() IS
    'Each worker''s consumer info (refreshed every 2 s by a thread of the worker, also while it is stuck writing), its rate over the last minute, and its batch commit latency histogram (cumulative counts for 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 s)';

CREATE FUNCTION nomnom.message_processing(message_id uuid)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'nomnom_message_processing'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION nomnom.message_processing(uuid) IS
    'True while a worker is writing the batch that holds the message (from the workers'' shared memory)';

-- Production NATS (issue 12): the server each worker is connected to (user info redacted;
-- while it reconnects, the one it lost) and the connection's state, from the workers' slots
-- (nats.c's status and connected URL, kept by the worker and its connection callbacks).
CREATE FUNCTION nomnom.worker_connections()
    RETURNS TABLE (name text, worker integer, nats_server text, nats_state text)
    AS 'MODULE_PATHNAME', 'nomnom_worker_connections'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION nomnom.worker_connections() IS
    'Each worker''s NATS server (URL without user info; while reconnecting, the server it lost) and connection state: connecting, connected, reconnecting, disconnected, closed or draining';
REVOKE EXECUTE ON FUNCTION nomnom.worker_connections() FROM PUBLIC;

CREATE OR REPLACE VIEW nomnom.stream_status AS
    SELECT c.name, w.worker_pid,
           coalesce(CASE WHEN c.paused AND w.worker_pid IS NULL THEN 'paused' END, w.state,
                    CASE WHEN c.paused THEN 'paused' ELSE 'stopped' END) AS state,
           w.last_error, w.last_error_at,
           coalesce(w.consumed, 0) AS consumed, coalesce(w.completed, 0) AS completed,
           coalesce(w.failed, 0) AS failed, coalesce(w.dead_lettered, 0) AS dead_lettered,
           w.pending, w.last_batch_at, w.worker,
           i.num_pending, i.num_ack_pending, i.num_redelivered, i.rate_1m,
           i.commit_latency_buckets, i.commit_latency_sum, i.commit_count,
           n.nats_server, n.nats_state
    FROM nomnom.stream_catalog c
    LEFT JOIN nomnom.worker_slots() w ON w.name = c.name
    LEFT JOIN nomnom.worker_consumer_info() i ON i.name = w.name AND i.worker = w.worker
    LEFT JOIN nomnom.worker_connections() n ON n.name = w.name AND n.worker = w.worker;
COMMENT ON VIEW nomnom.stream_status IS
    'Live state of each stream''s workers (one row a worker): state, last error, counters since start, pending messages; the consumer''s num_pending, num_ack_pending and num_redelivered (fresh within 5 s even while a worker is stuck), rate_1m (messages a second over the last minute), batch commit latency; nats_server (the NATS server the worker is connected to, user info redacted) and nats_state (connecting, connected, reconnecting, disconnected, closed)';
-- Like worker_slots: the workers' state is for the roles that administer nomnom.
REVOKE EXECUTE ON FUNCTION nomnom.worker_consumer_info() FROM PUBLIC;

------------------------------------------------------------------------------
-- Importing the original nomnom's entity YAML (issue 15)
------------------------------------------------------------------------------
CREATE FUNCTION nomnom.import_yaml(yaml text, create_table boolean DEFAULT true)
    RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'nomnom_import_yaml'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION nomnom.import_yaml(text, boolean) IS
    'Defines the entities of the original nomnom''s entity YAML (one or more documents, parents in any order) in one transaction; returns the names defined, parents first';
REVOKE EXECUTE ON FUNCTION nomnom.import_yaml(text, boolean) FROM PUBLIC;

-- Production NATS (issue 12): a stream's NATS credential and TLS options (file names,
-- never secrets), each defaulting to the superuser-only GUC nomnom.<option>; nats_url may
-- be a comma-separated server list.
CREATE OR REPLACE FUNCTION nomnom.effective_stream_options(options jsonb)
    RETURNS jsonb
    LANGUAGE sql STABLE STRICT
    AS $$
    SELECT jsonb_build_object(
        'nats_url',         coalesce(nullif(current_setting('nomnom.nats_url', true), ''),
                                     'nats://127.0.0.1:4222'),
        'consumer',         'workers',
        'workers',          1,
        'batch_size',       1000,
        'max_wait_ms',      500,
        'max_deliver',      5,
        'ack_wait_ms',      30000,
        'dlq_stream',       'MESSAGESDLQ',
        'storage',          'file',
        'replicas',         1,
        'max_age',          0,
        'max_bytes',        -1,
        'duplicate_window', 120000,
        'track_status',     true)
    -- Failure handling (issue 13): a fetch's bound in bytes, the timeouts of the writes.
    || jsonb_build_object(
        'batch_bytes',      16777216,
        'lock_timeout_ms',  10000,
        'statement_timeout_ms', 300000)
    -- Publisher headers (issue 13): Nomnom-Entity and Nomnom-Message-Id not believed unless
    -- the stream says so.
    || jsonb_build_object(
        'trust_headers',    false)
    -- Entity events (issue 15).
    || jsonb_build_object(
        'publish_entities', false,
        'entities_stream',  'ENTITIES')
    -- The GUCs' credentials only when the stream names none of its own (two kinds would be
    -- an error); the client certificate and key likewise go together.
    || CASE WHEN options ?| ARRAY['nats_user', 'nats_password_file', 'nats_token_file',
                                  'nats_nkey_seed_file', 'nats_creds_file'] THEN '{}'::jsonb
       ELSE jsonb_strip_nulls(jsonb_build_object(
        'nats_user',           nullif(current_setting('nomnom.nats_user', true), ''),
        'nats_password_file',  nullif(current_setting('nomnom.nats_password_file', true), ''),
        'nats_token_file',     nullif(current_setting('nomnom.nats_token_file', true), ''),
        'nats_nkey_seed_file', nullif(current_setting('nomnom.nats_nkey_seed_file', true), ''),
        'nats_creds_file',     nullif(current_setting('nomnom.nats_creds_file', true), '')))
       END
    || jsonb_strip_nulls(jsonb_build_object(
        'nats_tls_ca_file',    nullif(current_setting('nomnom.nats_tls_ca_file', true), '')))
    || CASE WHEN options ?| ARRAY['nats_tls_cert_file', 'nats_tls_key_file'] THEN '{}'::jsonb
       ELSE jsonb_strip_nulls(jsonb_build_object(
        'nats_tls_cert_file',  nullif(current_setting('nomnom.nats_tls_cert_file', true), ''),
        'nats_tls_key_file',   nullif(current_setting('nomnom.nats_tls_key_file', true), '')))
       END
    || options
    $$;
COMMENT ON FUNCTION nomnom.effective_stream_options(jsonb) IS
    'A stream''s options with every default filled in (nats_url and the NATS credential and TLS file options from the GUCs nomnom.<option>)';

-- The view shows nats_url without user info (nats://user:password@host -> nats://***@host);
-- the workers read the catalog itself.
CREATE OR REPLACE VIEW nomnom.streams AS
    SELECT name, subjects,
           jsonb_set(nomnom.effective_stream_options(options), '{nats_url}',
                     to_jsonb(regexp_replace(nomnom.effective_stream_options(options)->>'nats_url',
                                             '://[^/,]*@', '://***@', 'g'))) AS options,
           paused, created_at, updated_at
    FROM nomnom.stream_catalog;
COMMENT ON VIEW nomnom.streams IS
    'The configured streams: subjects, effective options (defaults filled in; URL user info redacted) and whether paused';

------------------------------------------------------------------------------
-- Entity events (issue 15): with a stream's publish_entities on, every row a batch writes
-- goes into this outbox in the batch's own transaction; the worker publishes it to
-- entities.<Entity> after the commit, in seq order, and deletes it once JetStream has
-- acknowledged it. What a crash leaves here is published when a worker of the stream starts
-- again (Nats-Msg-Id makes the repeat a duplicate JetStream drops).
------------------------------------------------------------------------------
CREATE TABLE nomnom.entity_outbox (
    seq         bigserial PRIMARY KEY,
    stream      text NOT NULL,
    subject     text NOT NULL,
    msg_id      text NOT NULL,
    message_id  uuid NOT NULL,
    entity      text NOT NULL,
    payload     json NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE nomnom.entity_outbox IS
    'Entity events committed and not yet acknowledged by JetStream: the row as stored (payload), its subject entities.<Entity> and its Nats-Msg-Id (message id, entity, row''s place)';
-- Events not yet published are state: a restored database publishes them.
SELECT pg_catalog.pg_extension_config_dump('nomnom.entity_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('nomnom.entity_outbox_seq_seq', '');
REVOKE ALL ON nomnom.entity_outbox FROM PUBLIC;

-- drop_stream's JetStream side at commit: a drop rolled back keeps the JetStream stream.
COMMENT ON FUNCTION nomnom.drop_stream(text, boolean) IS
    'Stops a stream''s workers and forgets it; with delete_jetstream, also deletes the JetStream stream once the transaction commits';
