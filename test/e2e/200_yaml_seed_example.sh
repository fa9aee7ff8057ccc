#!/usr/bin/env bash
# The seed's example end to end from the original nomnom's entity YAML: the directory
# test/fixtures/nomnom-yaml/ imported with the README's one-line command, the example order
# posted over HTTP to the bridge, and the worker writes 1 order and 2 line items, completed,
# and publishes their 3 entity events (publish_entities), which a subscriber with the npm
# nats client reads from ENTITIES.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/harness/stack.sh
stack_trap
stack_start_nats
stack_start_pg preload
stack_psql "$NOMNOM_DB" -c 'CREATE EXTENSION nomnom' >/dev/null

# The README's command, on the fixtures directory.
names=$(stack_psql "$NOMNOM_DB" -At -v yaml="$(awk 'FNR == 1 {print "---"} 1' test/fixtures/nomnom-yaml/*.yaml)" \
    <<<"SELECT * FROM nomnom.import_yaml(:'yaml')")
[ "$(echo $names)" = "Order OrderLineItem" ] || { echo "FAIL: import_yaml returned: $names"; exit 1; }
echo "ok: the directory imports (Order, OrderLineItem)"

stack_psql "$NOMNOM_DB" -c "SELECT nomnom.create_stream(options => '{\"publish_entities\": true}')" >/dev/null
stack_start_bridge
wait_until 30 curl -fs "$NOMNOM_BRIDGE_URL/ready"
answer=$(curl -fsS -d @test/fixtures/test_order_with_lineitems.json "$NOMNOM_BRIDGE_URL/ingest/message")
id=$(jq -r .message_id <<<"$answer")
echo "ok: posted, message $id"

stack_wait_sql "$NOMNOM_DB" 60 \
    "SELECT status = 'completed' FROM nomnom.message_status WHERE message_id = '$id'"
echo "ok: status completed"
counts=$(stack_psql "$NOMNOM_DB" -At -c "SELECT (SELECT count(*) FROM orders WHERE order_key = 'ORD-DERIVED-TEST-001') || ',' ||
    (SELECT count(*) FROM order_line_items WHERE order_key = 'ORD-DERIVED-TEST-001') || ',' ||
    (SELECT sum(quantity) FROM order_line_items)")
[ "$counts" = "1,2,15" ] || { echo "FAIL: orders, line items, quantities: $counts"; exit 1; }
echo "ok: 1 order, 2 line items"

stack_wait_sql "$NOMNOM_DB" 30 "SELECT count(*) = 0 FROM nomnom.entity_outbox"
events=$(node test/harness/nats-client/count-events.js "$NATS_URL" ENTITIES)
[ "$(jq -c '[.events, .distinct_rows, .by_entity.Order, .by_entity.OrderLineItem, .subjects_ok]' <<<"$events")" = "[3,3,1,2,true]" ] ||
    { echo "FAIL: entity events: $events"; exit 1; }
echo "ok: 3 entity events (1 Order, 2 OrderLineItem)"
