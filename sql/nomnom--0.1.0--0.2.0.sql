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
