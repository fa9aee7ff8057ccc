-- The nomnom objects nomnom-bridge reads and writes, for e2e tests on a database without the
-- extension (shapes as in sql/nomnom--0.1.0.sql; nomnom.streams as DESIGN.md describes it).
CREATE SCHEMA IF NOT EXISTS nomnom;

CREATE TABLE IF NOT EXISTS nomnom.entity_catalog (
    name          text PRIMARY KEY,
    table_name    text NOT NULL,
    parent        text REFERENCES nomnom.entity_catalog (name),
    each_path     text,
    unique_fields text[] NOT NULL DEFAULT '{}',
    spec          jsonb NOT NULL
);
CREATE OR REPLACE VIEW nomnom.entities AS
    SELECT name, table_name, parent, each_path, unique_fields, spec FROM nomnom.entity_catalog;

CREATE TABLE IF NOT EXISTS nomnom.message_status (
    message_id   uuid PRIMARY KEY,
    stream       text,
    subject      text,
    entity       text,
    status       text NOT NULL CHECK (status IN ('pending', 'completed', 'failed', 'dead_letter')),
    attempts     integer NOT NULL DEFAULT 0,
    error        text,
    stream_seq   bigint,
    received_at  timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);

CREATE TABLE IF NOT EXISTS nomnom.streams (
    name     text PRIMARY KEY,
    subjects text[] NOT NULL DEFAULT ARRAY['messages.ingest.>']
);

INSERT INTO nomnom.entity_catalog (name, table_name, parent, each_path, unique_fields, spec) VALUES
    ('Order', 'orders', NULL, NULL, '{order_key}', '{}'),
    ('OrderLineItem', 'order_line_items', 'Order', 'line_items', '{order_key,line_number}', '{}')
ON CONFLICT (name) DO NOTHING;
INSERT INTO nomnom.streams (name, subjects) VALUES ('MESSAGES', ARRAY['messages.ingest.>'])
ON CONFLICT (name) DO NOTHING;
