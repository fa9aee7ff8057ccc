-- nomnom 0.1.0: the catalog (entities, streams), message bookkeeping and SQL interface.
\echo Use "CREATE EXTENSION nomnom" to load this file. \quit

------------------------------------------------------------------------------
-- Entities: how a JSON document becomes rows
------------------------------------------------------------------------------

CREATE TABLE nomnom.entity_catalog (
    name          text PRIMARY KEY,
    table_name    text NOT NULL,
    parent        text REFERENCES nomnom.entity_catalog (name),
    each_path     text,
    unique_fields text[] NOT NULL DEFAULT '{}',
    spec          jsonb NOT NULL,
    defined_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((parent IS NULL) = (each_path IS NULL))
);
COMMENT ON TABLE nomnom.entity_catalog IS
    'Entity definitions written by nomnom.define_entity; read them through nomnom.entities';
SELECT pg_catalog.pg_extension_config_dump('nomnom.entity_catalog', '');

CREATE VIEW nomnom.entities AS
    SELECT name, table_name, parent, each_path, unique_fields, spec
    FROM nomnom.entity_catalog;
COMMENT ON VIEW nomnom.entities IS 'The defined entities: target table, parent, array path, unique key and full spec';

CREATE FUNCTION nomnom.define_entity(spec jsonb, create_table boolean DEFAULT true)
    RETURNS text
    AS 'MODULE_PATHNAME', 'nomnom_define_entity'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION nomnom.define_entity(jsonb, boolean) IS
    'Defines (or redefines) an entity from a JSON spec; creates or checks its table; returns its name';

CREATE FUNCTION nomnom.drop_entity(name text)
    RETURNS void
    AS 'MODULE_PATHNAME', 'nomnom_drop_entity'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION nomnom.drop_entity(text) IS
    'Removes an entity definition (not its table); derived entities must be dropped first';

------------------------------------------------------------------------------
-- Messages: every message's fate
------------------------------------------------------------------------------

CREATE TABLE nomnom.message_status (
    message_id   uuid PRIMARY KEY,
    stream       text,
    subject      text,
    entity       text,
    status       text NOT NULL
                 CHECK (status IN ('pending', 'completed', 'failed', 'dead_letter')),
    attempts     integer NOT NULL DEFAULT 0,
    error        text,
    stream_seq   bigint,
    received_at  timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
COMMENT ON TABLE nomnom.message_status IS
    'One row per message: pending (stored in JetStream), completed, failed (will be retried) or dead_letter';

CREATE TABLE nomnom.dead_letters (
    message_id    uuid PRIMARY KEY,
    stream        text,
    subject       text,
    entity        text,
    payload       text,
    payload_bytes bytea,
    headers       jsonb NOT NULL DEFAULT '{}',
    error         text NOT NULL,
    attempts      integer NOT NULL DEFAULT 1,
    failed_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE nomnom.dead_letters IS
    'Messages that could not be written: the payload (payload_bytes when it is not valid text), the error and attempts';

CREATE FUNCTION nomnom.ingest(entity text, body text, message_id uuid DEFAULT NULL)
    RETURNS uuid
    AS 'MODULE_PATHNAME', 'nomnom_ingest'
    LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION nomnom.ingest(text, text, uuid) IS
    'Writes one document (root row, derived rows, message_status) in the current transaction; a completed id is a no-op';

CREATE FUNCTION nomnom.preview(entity text, body text)
    RETURNS TABLE (entity text, table_name text, "row" jsonb)
    AS 'MODULE_PATHNAME', 'nomnom_preview'
    LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION nomnom.preview(text, text) IS
    'Dry run of nomnom.ingest: the rows it would write, in order, writing nothing';
