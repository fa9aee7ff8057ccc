#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here run through check and wait_until
# nomnom-bridge end to end, happy paths and refusals: real curl, nats-server, PostgreSQL.
# Needs no extension: the schema objects the bridge uses are created by hand
# (bridge_schema.sql) and the stream by nomnom-jstool, so this tests the bridge alone.
set -uo pipefail
# shellcheck source=test/e2e/lib/bridge.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/bridge.bash"

stack_start_nats || exit 1
stack_start_pg || exit 1
load_bridge_schema
create_stream MESSAGES 'messages.ingest.>'
echo "s3cret-token" >"$E2E_TMP/token"
start_bridge --token-file "$E2E_TMP/token" --max-body 1m --refresh-interval 200ms || exit 1
AUTH=(-H "Authorization: Bearer s3cret-token")
ORDER=$FIXTURES/test_order_with_lineitems.json

# --- single document -----------------------------------------------------------------------
http POST /ingest/message "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary @"$ORDER"
check "example order -> 202" [ "$HTTP_CODE" = 202 ]
check "202 body: message_id, pending, stream, seq, duplicate=false" \
    [ "$(jqb '"\(.message_id|length),\(.status),\(.stream),\(.seq > 0),\(.duplicate)"')" = "36,pending,MESSAGES,true,false" ]
FIRST_ID=$(jqb .message_id)

pending_row() { # id expected: the row's status,entity,subject,stream_seq
    [ "$(sql "SELECT status||','||entity||','||subject||','||stream_seq FROM nomnom.message_status WHERE message_id = '$1'")" = "$2" ]
}
check "pending row recorded (entity, subject, seq)" wait_until 10 pending_row "$FIRST_ID" "pending,Order,messages.ingest.Order,1"
http GET "/ingest/status/$FIRST_ID" "${AUTH[@]}"
check "GET /ingest/status/{id} -> 200 with the row" [ "$HTTP_CODE:$(jqb .status):$(jqb .stream_seq)" = "200:pending:1" ]
http GET /ingest/status/6f1c7c36-9d0a-4a7e-9a55-000000000000 "${AUTH[@]}"
check "status of an unknown id -> 404" [ "$HTTP_CODE" = 404 ]
http GET /ingest/status/not-a-uuid "${AUTH[@]}"
check "status of a non-UUID -> 400" [ "$HTTP_CODE" = 400 ]

# --- entity from path, ?entity=, header, entity_type ---------------------------------------
sql "INSERT INTO nomnom.entity_catalog (name, table_name, spec) VALUES ('Customer', 'customers', '{}')" >/dev/null
# Defined a moment ago: found without a restart (an unknown name forces a catalog read).
http POST /ingest/message/Customer "${AUTH[@]}" -d '{"customer_key":"C1"}'
check "entity from the path (just defined) -> 202" [ "$HTTP_CODE" = 202 ]
check "  published to messages.ingest.Customer" wait_until 10 pending_row "$(jqb .message_id)" "pending,Customer,messages.ingest.Customer,2"
http POST '/ingest/message?entity=Customer' "${AUTH[@]}" -d '{"customer_key":"C2"}'
check "entity from ?entity= -> 202" [ "$HTTP_CODE" = 202 ]
http POST /ingest/message "${AUTH[@]}" -H 'Nomnom-Entity: Customer' -d '{"customer_key":"C3"}'
check "entity from the Nomnom-Entity header -> 202" [ "$HTTP_CODE" = 202 ]
http POST /ingest/message "${AUTH[@]}" -d '{"entity_type":"Customer","customer_key":"C4"}'
check "entity from the document's entity_type -> 202" [ "$HTTP_CODE" = 202 ]
http POST '/ingest/message/Order?entity=Customer' "${AUTH[@]}" -H 'Nomnom-Entity: Customer' --data-binary @"$ORDER"
check "the path wins over ?entity= and the header" wait_until 10 pending_row "$(jqb .message_id)" "pending,Order,messages.ingest.Order,6"
http POST /ingest/message "${AUTH[@]}" --data-binary @"$ORDER"
check "no entity with two root entities -> 400 listing them" \
    [ "$HTTP_CODE:$(jqb '.error | contains("Customer, Order")')" = "400:true" ]
sql "DELETE FROM nomnom.entity_catalog WHERE name = 'Customer'" >/dev/null

# --- 400, 401, 413 --------------------------------------------------------------------------
http POST /ingest/message/Invoice "${AUTH[@]}" -d '{}'
check "unknown entity -> 400 naming the known ones" \
    [ "$HTTP_CODE:$(jqb '.error | contains("Invoice") and contains("known entities:") and contains("Order")')" = "400:true" ]
http POST /ingest/message/OrderLineItem "${AUTH[@]}" -d '{}'
check "derived entity -> 400" [ "$HTTP_CODE" = 400 ]
http POST /ingest/message "${AUTH[@]}" -d '{"order_key": '
check "invalid JSON -> 400 with a JSON error" [ "$HTTP_CODE:$(jqb '.error | startswith("invalid JSON")')" = "400:true" ]
http POST /ingest/message "${AUTH[@]}" -d '[1,2]'
check "a non-object document -> 400" [ "$HTTP_CODE" = 400 ]
http POST /ingest/message --data-binary @"$ORDER"
check "no token -> 401 JSON" [ "$HTTP_CODE:$(jqb 'has("error")')" = "401:true" ]
http POST /ingest/message -H 'Authorization: Bearer wrong' --data-binary @"$ORDER"
check "bad token -> 401" [ "$HTTP_CODE" = 401 ]
http GET "/ingest/status/$FIRST_ID"
check "the status endpoint needs the token too -> 401" [ "$HTTP_CODE" = 401 ]
head -c 1100000 /dev/zero | tr '\0' 'x' >"$E2E_TMP/big"
http POST /ingest/message "${AUTH[@]}" --data-binary @"$E2E_TMP/big"
check "body over --max-body -> 413 JSON" [ "$HTTP_CODE:$(jqb 'has("error")')" = "413:true" ]
http POST /ingest/message "${AUTH[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$E2E_TMP/big"
check "chunked body over --max-body -> 413" [ "$HTTP_CODE" = 413 ]
http GET /nowhere
check "unknown path -> 404 JSON" [ "$HTTP_CODE:$(jqb 'has("error")')" = "404:true" ]
http GET /ingest/message "${AUTH[@]}"
check "GET on an ingest endpoint -> 405" [ "$HTTP_CODE" = 405 ]

# --- idempotency ----------------------------------------------------------------------------
before=$(stream_messages MESSAGES)
http POST /ingest/message "${AUTH[@]}" -H 'Idempotency-Key: order-42' --data-binary @"$ORDER"
first="$(jqb .message_id):$(jqb .duplicate)"
http POST /ingest/message "${AUTH[@]}" -H 'Idempotency-Key: order-42' --data-binary @"$ORDER"
second="$(jqb .message_id):$(jqb .duplicate)"
check "same Idempotency-Key twice -> same id, the second a duplicate" [ "$first/$second" = "${first%:*}:false/${first%:*}:true" ]
check "  the id is message_uuid_from_id(key): a UUIDv5" [ "${first:14:1}" = 5 ]
check "  JetStream stored one message" [ "$(stream_messages MESSAGES)" = $((before + 1)) ]

# --- NDJSON batch: 1,000 lines, 3 bad (lines 10, 500 and 999) -------------------------------
for i in $(seq 1 1000); do
    case $i in
    10) echo '{"order_key": "BAD-10", ' ;;
    500) echo 'not json at all' ;;
    999) echo '["an", "array"]' ;;
    *) echo "{\"order_key\": \"B-$i\", \"total_price\": 1.50, \"order_date\": \"2025-01-01\"}" ;;
    esac
done >"$E2E_TMP/batch.ndjson"
before=$(stream_messages MESSAGES)
http POST /ingest/batch "${AUTH[@]}" -H 'Content-Type: application/x-ndjson' --data-binary @"$E2E_TMP/batch.ndjson"
check "batch of 1,000 -> 202" [ "$HTTP_CODE" = 202 ]
check "  997 accepted, 3 failed, 1,000 results" \
    [ "$(jqb '"\(.accepted),\(.failed),\(.results|length)"')" = "997,3,1000" ]
check "  per-line errors name lines 10, 500, 999" \
    [ "$(jqb '[.results[] | select(has("error")) | .line] | map(tostring) | join(",")')" = "10,500,999" ]
check "  accepted lines carry their message_id" \
    [ "$(jqb '[.results[] | select(has("message_id"))] | length')" = 997 ]
check "  JetStream stored 997 messages" [ "$(stream_messages MESSAGES)" = $((before + 997)) ]
check "  997 pending rows" stack_wait_sql "$NOMNOM_DB" 10 \
    "SELECT count(*) = 997 FROM nomnom.message_status WHERE stream_seq > $before"
http POST /ingest/batch/Order "${AUTH[@]}" -H 'Idempotency-Key: batch-7' --data-binary @"$E2E_TMP/batch.ndjson"
http POST /ingest/batch/Order "${AUTH[@]}" -H 'Idempotency-Key: batch-7' --data-binary @"$E2E_TMP/batch.ndjson"
check "batch retried with the same Idempotency-Key: 997 duplicates" \
    [ "$(jqb '[.results[] | select(.duplicate == true)] | length')" = 997 ]
# Pending rows go in by COPY; one whose id has a row already (a worker was first) makes the
# batch go by INSERT ... ON CONFLICT DO NOTHING: the row is not downgraded, later ones written.
DONE_ID=6f1c7c36-9d0a-4a7e-9a55-0000000000aa
sql "INSERT INTO nomnom.message_status (message_id, status, completed_at) VALUES ('$DONE_ID', 'completed', now())" >/dev/null
http POST /ingest/message "${AUTH[@]}" -H "Idempotency-Key: $DONE_ID" --data-binary @"$ORDER"
check "a new message whose id is completed already -> 202, not a duplicate" \
    [ "$HTTP_CODE:$(jqb .message_id):$(jqb .duplicate)" = "202:$DONE_ID:false" ]
http POST /ingest/message "${AUTH[@]}" --data-binary @"$ORDER"
check "  the next document's pending row is written" wait_until 10 pending_row "$(jqb .message_id)" \
    "pending,Order,messages.ingest.Order,$(jqb .seq)"
status_queue_empty() { [ "$(curl -s "${AUTH[@]}" "$BRIDGE_URL/health" | jq .status_queue)" = 0 ]; }
check "  the status queue empties" wait_until 10 status_queue_empty
check "  the completed row stays completed" \
    [ "$(sql "SELECT status FROM nomnom.message_status WHERE message_id = '$DONE_ID'")" = completed ]
check "  no failed status write" grep -q '^nomnom_bridge_status_write_failures_total 0$' \
    <<<"$(curl -s "${AUTH[@]}" "$BRIDGE_URL/metrics")"
printf '\n\n' >"$E2E_TMP/empty.ndjson"
http POST /ingest/batch "${AUTH[@]}" --data-binary @"$E2E_TMP/empty.ndjson"
check "empty batch -> 400" [ "$HTTP_CODE" = 400 ]

# --- subjects follow nomnom.streams ---------------------------------------------------------
create_stream OTHER 'other.in.>'
sql "INSERT INTO nomnom.streams VALUES ('OTHER', ARRAY['other.in.>'])" >/dev/null
stop_bridge
start_bridge --token-file "$E2E_TMP/token" --stream OTHER --refresh-interval 200ms || exit 1
http POST /ingest/message "${AUTH[@]}" --data-binary @"$ORDER"
check "--stream OTHER: published on other.in.Order" \
    wait_until 10 pending_row "$(jqb .message_id)" "pending,Order,other.in.Order,1"
sql "UPDATE nomnom.streams SET subjects = ARRAY['other.in.v2.>', 'other.in.>'] WHERE name = 'OTHER'" >/dev/null
post_lands_on() { # subject: post one order, true once its row shows that subject
    http POST /ingest/message "${AUTH[@]}" --data-binary @"$ORDER"
    local id
    id=$(jqb .message_id)
    stack_wait_sql "$NOMNOM_DB" 2 "SELECT count(*) = 1 FROM nomnom.message_status WHERE message_id = '$id' AND subject = '$1'"
}
check "subjects changed in nomnom.streams are used without a restart" wait_until 15 post_lands_on other.in.v2.Order
sql "DELETE FROM nomnom.streams WHERE name = 'OTHER'" >/dev/null
check "no nomnom.streams row: falls back to messages.ingest.> and logs it" \
    wait_until 15 grep -q 'no row for the stream; using the default subjects' "$NOMNOM_BRIDGE_LOG"

# --- probes, metrics, logs ------------------------------------------------------------------
http GET /health "${AUTH[@]}"
check "/health -> 200, every part ok" [ "$HTTP_CODE:$(jqb '"\(.nats),\(.stream),\(.postgres)"')" = "200:ok,ok,ok" ]
http GET /ready
check "/ready -> 200" [ "$HTTP_CODE" = 200 ]
metrics=$(curl -s "${AUTH[@]}" "$BRIDGE_URL/metrics")
for name in nomnom_bridge_requests_total nomnom_bridge_published_total nomnom_bridge_publish_failures_total \
    nomnom_bridge_request_duration_seconds_bucket nomnom_bridge_status_rows_dropped_total; do
    check "/metrics has $name" grep -q "^$name" <<<"$metrics"
done
check "log lines are 'ts=... level=... msg=...'" grep -q '^ts=[^ ]* level=info msg=listening' "$NOMNOM_BRIDGE_LOG"
stop_bridge
check "SIGTERM when idle -> exit 0" [ $? = 0 ]
finish
