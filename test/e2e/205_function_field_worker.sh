#!/usr/bin/env bash
# A field computed by a SQL function, through the background worker: good documents are
# written with the function's value; a document the function raises an error for is a data
# error, so it becomes a dead letter at its first delivery (no retries) and its neighbours
# in the batch are written.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/harness/stack.sh
stack_trap
stack_start_nats
stack_start_pg preload
stack_psql "$NOMNOM_DB" >/dev/null <<'SQL'
CREATE EXTENSION nomnom;
CREATE SCHEMA xf;
CREATE FUNCTION xf.total(doc jsonb) RETURNS numeric LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    IF doc ->> 'ref' LIKE 'BAD%' THEN
        RAISE EXCEPTION 'cannot total basket %', doc ->> 'ref';
    END IF;
    RETURN (SELECT sum((i ->> 'q')::numeric) FROM jsonb_array_elements(doc -> 'items') i);
END $$;
SELECT nomnom.define_entity('{"name": "Basket", "table": "baskets", "unique": ["ref"],
  "fields": [{"name": "ref", "type": "text"}, {"name": "total", "type": "numeric", "function": "xf.total"}]}');
SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{"max_deliver": 5}');
SQL
stack_start_bridge
wait_until 30 curl -fs "$NOMNOM_BRIDGE_URL/ready"
{
    for i in 1 2 3; do echo "{\"ref\": \"B$i\", \"items\": [{\"q\": $i}, {\"q\": 10}]}"; done
    echo '{"ref": "BAD1", "items": []}'
    echo '{"ref": "B4", "items": [{"q": 4}]}'
} >"$NOMNOM_STACK_DIR/baskets.ndjson"
curl -fsS --data-binary @"$NOMNOM_STACK_DIR/baskets.ndjson" "$NOMNOM_BRIDGE_URL/ingest/batch/Basket" >/dev/null

stack_wait_sql "$NOMNOM_DB" 60 "SELECT count(*) = 5 FROM nomnom.message_status WHERE status IN ('completed', 'dead_letter')"
got=$(stack_psql "$NOMNOM_DB" -At -c "SELECT string_agg(ref || '=' || total, ' ' ORDER BY ref) FROM baskets")
[ "$got" = "B1=11 B2=12 B3=13 B4=4" ] || { echo "FAIL: baskets: $got"; exit 1; }
echo "ok: the worker stored the function's values"
dead=$(stack_psql "$NOMNOM_DB" -At -c "SELECT s.status || ',' || s.attempts || ',' || (d.error LIKE '%cannot total basket BAD1%')
    FROM nomnom.message_status s JOIN nomnom.dead_letters d USING (message_id)")
[ "$dead" = "dead_letter,1,true" ] || { echo "FAIL: the failing document: $dead"; exit 1; }
echo "ok: the function's error made a dead letter at the first delivery"
