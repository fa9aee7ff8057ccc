-- nomnom.message_status: the shape of the table and how ingest moves a message to completed.
BEGIN;
SELECT plan(9);

SELECT columns_are('nomnom', 'message_status',
  ARRAY['message_id', 'stream', 'subject', 'entity', 'status', 'attempts', 'error', 'stream_seq',
        'received_at', 'completed_at'], 'message_status has the documented columns');
SELECT col_is_pk('nomnom', 'message_status', 'message_id', 'message_id is the key');
SELECT throws_ok($$INSERT INTO nomnom.message_status (message_id, status) VALUES (gen_random_uuid(), 'lost')$$,
  '23514', NULL, 'status is one of pending, completed, failed, dead_letter');

SELECT nomnom.define_entity((SELECT body FROM fixtures WHERE name = 'tpch/order.json')::jsonb);

-- A message the bridge recorded as pending (and a worker as failed once) becomes completed.
INSERT INTO nomnom.message_status (message_id, stream, subject, entity, status, attempts, error, stream_seq, received_at)
VALUES ('c0000000-0000-4000-8000-000000000001', 'MESSAGES', 'messages.ingest.Order', 'Order', 'failed', 2,
        'deadlock detected', 41, '2025-01-01 00:00:00+00');
SELECT nomnom.ingest('Order', '{"order_key": "P1", "customer_key": "c", "order_status": "O",
  "total_price": 5, "order_date": "2025-03-01"}', 'c0000000-0000-4000-8000-000000000001');
SELECT results_eq(
  $$SELECT status, error, stream, subject, stream_seq, attempts, received_at FROM nomnom.message_status
    WHERE message_id = 'c0000000-0000-4000-8000-000000000001'$$,
  $$VALUES ('completed'::text, NULL::text, 'MESSAGES'::text, 'messages.ingest.Order'::text, 41::bigint, 2,
            '2025-01-01 00:00:00+00'::timestamptz)$$,
  'completed; the error is cleared; what the bridge recorded is kept');
SELECT ok((SELECT completed_at >= received_at FROM nomnom.message_status
           WHERE message_id = 'c0000000-0000-4000-8000-000000000001'), 'completed_at is set');
SELECT is((SELECT count(*)::int FROM orders), 1, 'the pending message wrote its row');

-- A direct ingest has no stream, subject or sequence.
SELECT nomnom.ingest('Order', '{"order_key": "P2", "customer_key": "c", "order_status": "O",
  "total_price": 5, "order_date": "2025-03-01"}', 'c0000000-0000-4000-8000-000000000002');
SELECT results_eq(
  $$SELECT stream, subject, stream_seq, entity, status, attempts FROM nomnom.message_status
    WHERE message_id = 'c0000000-0000-4000-8000-000000000002'$$,
  $$VALUES (NULL::text, NULL::text, NULL::bigint, 'Order'::text, 'completed'::text, 1)$$,
  'an SQL ingest records its entity and status');
SELECT ok((SELECT received_at <= completed_at FROM nomnom.message_status
           WHERE message_id = 'c0000000-0000-4000-8000-000000000002'), 'received before completed');
SELECT has_table('nomnom', 'dead_letters', 'dead letters have their table');

SELECT * FROM finish();
ROLLBACK;
