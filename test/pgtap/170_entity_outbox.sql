-- Entity events, the SQL side: nomnom.entity_outbox (columns, comment, privileges, dumped),
-- the stream options' defaults, and that SQL ingest (no stream) writes no events. What the
-- worker writes there (the rows as stored, subjects, Nats-Msg-Ids, order) and publishes is
-- checked by test/e2e/220_entity_events.sh, which stops a worker between commit and publish.
BEGIN;
SELECT plan(14);

SELECT has_table('nomnom', 'entity_outbox', 'nomnom.entity_outbox exists');
SELECT columns_are('nomnom', 'entity_outbox',
    ARRAY['seq', 'stream', 'subject', 'msg_id', 'message_id', 'entity', 'payload', 'created_at'],
    'entity_outbox columns');
SELECT col_is_pk('nomnom', 'entity_outbox', 'seq', 'seq is the primary key (the publishing order)');
SELECT col_type_is('nomnom', 'entity_outbox', 'payload', 'json', 'payload is json (the row as row_to_json writes it)');
SELECT col_type_is('nomnom', 'entity_outbox', 'message_id', 'uuid', 'message_id is a uuid');
SELECT isnt(obj_description('nomnom.entity_outbox'::regclass, 'pg_class'), NULL, 'entity_outbox has a comment');
SELECT ok(NOT has_table_privilege('public', 'nomnom.entity_outbox', 'SELECT')
          AND NOT has_table_privilege('public', 'nomnom.entity_outbox', 'INSERT'),
          'the outbox is not PUBLIC''s (payloads are rows of the entities'' tables)');
SELECT ok((SELECT 'nomnom.entity_outbox'::regclass = ANY (extconfig) FROM pg_extension WHERE extname = 'nomnom'),
          'pg_dump keeps the events not yet published');
SELECT ok((SELECT 'nomnom.entity_outbox_seq_seq'::regclass = ANY (extconfig) FROM pg_extension WHERE extname = 'nomnom'),
          'and the sequence that orders them');

-- Options
SELECT is(nomnom.effective_stream_options('{}')->'publish_entities', 'false'::jsonb, 'publish_entities defaults to false');
SELECT is(nomnom.effective_stream_options('{}')->>'entities_stream', 'ENTITIES', 'entities_stream defaults to ENTITIES');

-- SQL ingest names no stream: no events.
SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/order.json')::jsonb);
SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/orderlineitem.json')::jsonb);
SELECT lives_ok($$SELECT nomnom.ingest('Order', (SELECT body FROM fixtures WHERE name = 'test_order_with_lineitems.json'))$$,
                'ingest the seed order');
SELECT is((SELECT count(*)::int FROM orders) + (SELECT count(*)::int FROM order_line_items), 3, 'its 3 rows written');
SELECT is((SELECT count(*)::int FROM nomnom.entity_outbox), 0, 'SQL ingest writes no entity events');

SELECT * FROM finish();
ROLLBACK;
