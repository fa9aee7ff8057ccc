#!/usr/bin/env bash
# nomnom-bridge end to end, happy paths and refusals: real curl, nats-server, PostgreSQL.
# Needs no extension: the schema objects the bridge uses are created by hand
# (bridge_schema.sql) and the stream by nomnom-jstool.
set -uo pipefail
source "$(dirname "$0")/bridge_lib.sh"
trap cleanup EXIT

stack_start_pg || { log "cannot start PostgreSQL"; exit 1; }
stack_start_nats || { log "cannot start nats-server"; exit 1; }
load_bridge_schema
create_stream MESSAGES 'messages.ingest.>'
echo "s3cret-token" >"$E2E_TMP/token"
start_bridge --token-file "$E2E_TMP/token" --max-body 1m --refresh-interval 200ms ||
    { log "bridge did not start"; cat "$E2E_TMP/bridge.log"; exit 1; }
AUTH=(-H "Authorization: Bearer s3cret-token")
ORDER=$FIXTURES/test_order_with_lineitems.json

# --- single document -----------------------------------------------------------------------
http POST /ingest/message "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary @"$ORDER"
check "example order -> 202" [ "$HTTP_CODE" = 202 ]
check "202 body has message_id, pending, stream, seq, duplicate=false" \
    [ "$(json_get '(len(d["message_id"]), d["status"], d["stream"], d["seq"] > 0, d["duplicate"])' <<<"$BODY")" \
      = "(36, 'pending', 'MESSAGES', True, False)" ]
FIRST_ID=$(json_get 'd["message_id"]' <<<"$BODY")

pending_row() { [ "$(psql -Atc "SELECT status||','||entity||','||subject||','||stream_seq FROM nomnom.message_status WHERE message_id = '$1'")" = "$2" ]; }
check "pending row recorded (entity, subject, seq)" wait_for 10 pending_row "$FIRST_ID" "pending,Order,messages.ingest.Order,1"
http GET "/ingest/status/$FIRST_ID" "${AUTH[@]}"
check "GET /ingest/status/{id} -> 200 with the row" [ "$HTTP_CODE:$(json_get 'd["status"]' <<<"$BODY")" = "200:pending" ]
http GET /ingest/status/6f1c7c36-9d0a-4a7e-9a55-000000000000 "${AUTH[@]}"
check "status of an unknown id -> 404" [ "$HTTP_CODE" = 404 ]
http GET /ingest/status/not-a-uuid "${AUTH[@]}"
check "status of a non-UUID -> 400" [ "$HTTP_CODE" = 400 ]

# --- entity from path, ?entity=, header, entity_type ---------------------------------------
psql -qc "INSERT INTO nomnom.entity_catalog (name, table_name, spec) VALUES ('Customer', 'customers', '{}')"
# A just-defined entity is found without a restart (refresh on an unknown name).
http POST /ingest/message/Customer "${AUTH[@]}" -d '{"customer_key":"C1"}'
check "entity from the path (newly defined) -> 202" [ "$HTTP_CODE" = 202 ]
check "  published to messages.ingest.Customer" wait_for 10 pending_row "$(json_get 'd["message_id"]' <<<"$BODY")" "pending,Customer,messages.ingest.Customer,2"
http POST '/ingest/message?entity=Customer' "${AUTH[@]}" -d '{"customer_key":"C2"}'
check "entity from ?entity= -> 202" [ "$HTTP_CODE" = 202 ]
http POST /ingest/message "${AUTH[@]}" -H 'Nomnom-Entity: Customer' -d '{"customer_key":"C3"}'
check "entity from the Nomnom-Entity header -> 202" [ "$HTTP_CODE" = 202 ]
http POST /ingest/message "${AUTH[@]}" -d '{"entity_type":"Customer","customer_key":"C4"}'
check "entity from the document's entity_type -> 202" [ "$HTTP_CODE" = 202 ]
http POST /ingest/message "${AUTH[@]}" --data-binary @"$ORDER"
check "no entity with two roots -> 400 listing them" \
    [ "$HTTP_CODE:$(json_get '"Customer, Order" in d["error"]' <<<"$BODY")" = "400:True" ]
psql -qc "DELETE FROM nomnom.entity_catalog WHERE name = 'Customer'"

# --- 400, 401, 413 --------------------------------------------------------------------------
http POST /ingest/message/Invoice "${AUTH[@]}" -d '{}'
check "unknown entity -> 400 naming the known ones" \
    [ "$HTTP_CODE:$(json_get '"Invoice" in d["error"] and "known entities:" in d["error"] and "Order" in d["error"]' <<<"$BODY")" = "400:True" ]
http POST /ingest/message/OrderLineItem "${AUTH[@]}" -d '{}'
check "derived entity -> 400" [ "$HTTP_CODE" = 400 ]
http POST /ingest/message "${AUTH[@]}" -d '{"order_key": '
check "invalid JSON -> 400 with a JSON error" [ "$HTTP_CODE:$(json_get '"invalid JSON" in d["error"]' <<<"$BODY")" = "400:True" ]
http POST /ingest/message "${AUTH[@]}" -d '[1,2]'
check "a non-object document -> 400" [ "$HTTP_CODE" = 400 ]
http POST /ingest/message --data-binary @"$ORDER"
check "no token -> 401 JSON" [ "$HTTP_CODE:$(json_get '"error" in d' <<<"$BODY")" = "401:True" ]
http POST /ingest/message -H 'Authorization: Bearer wrong' --data-binary @"$ORDER"
check "bad token -> 401" [ "$HTTP_CODE" = 401 ]
http GET /ingest/status/"$FIRST_ID"
check "status needs the token too -> 401" [ "$HTTP_CODE" = 401 ]
head -c 1100000 /dev/zero | tr '\0' 'x' >"$E2E_TMP/big"
http POST /ingest/message "${AUTH[@]}" --data-binary @"$E2E_TMP/big"
check "body over --max-body -> 413 JSON" [ "$HTTP_CODE:$(json_get '"error" in d' <<<"$BODY")" = "413:True" ]
http POST /ingest/message "${AUTH[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$E2E_TMP/big"
check "chunked body over --max-body -> 413" [ "$HTTP_CODE" = 413 ]
http GET /nowhere
check "unknown path -> 404 JSON" [ "$HTTP_CODE:$(json_get '"error" in d' <<<"$BODY")" = "404:True" ]
http GET /ingest/message "${AUTH[@]}"
check "GET on an ingest endpoint -> 405" [ "$HTTP_CODE" = 405 ]

# --- idempotency ------------------------------------------------------------------------------
before=$(stream_messages MESSAGES)
http POST /ingest/message "${AUTH[@]}" -H 'Idempotency-Key: order-42' --data-binary @"$ORDER"
ID1=$(json_get 'd["message_id"]' <<<"$BODY"); DUP1=$(json_get 'd["duplicate"]' <<<"$BODY")
http POST /ingest/message "${AUTH[@]}" -H 'Idempotency-Key: order-42' --data-binary @"$ORDER"
ID2=$(json_get 'd["message_id"]' <<<"$BODY"); DUP2=$(json_get 'd["duplicate"]' <<<"$BODY")
check "same Idempotency-Key twice -> same id, second duplicate" [ "$ID1:$DUP1:$DUP2" = "$ID2:False:True" ]
check "  the id is message_uuid_from_id(key): a UUIDv5" [ "${ID1:14:1}" = 5 ]
check "  JetStream stored one message" [ "$(stream_messages MESSAGES)" = $((before + 1)) ]

# --- NDJSON batch: 1,000 lines, 3 bad ---------------------------------------------------------
python3 - "$E2E_TMP/batch.ndjson" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(1, 1001):
        if i in (10, 500, 999):
            f.write('{"order_key": "BAD-%d", \n' % i if i != 500 else "not json at all\n")
        else:
            f.write(json.dumps({"order_key": "B-%d" % i, "total_price": 1.5, "order_date": "2025-01-01"}) + "\n")
PY
before=$(stream_messages MESSAGES)
http POST /ingest/batch "${AUTH[@]}" -H 'Content-Type: application/x-ndjson' --data-binary @"$E2E_TMP/batch.ndjson"
check "batch -> 202" [ "$HTTP_CODE" = 202 ]
check "batch: 997 accepted, every other line a per-line error" \
    [ "$(json_get '(d["accepted"], d["failed"], len(d["results"]), sum(1 for r in d["results"] if "error" in r))' <<<"$BODY")" \
      = "(997, 3, 1000, 3)" ]
check "  errors name their lines" [ "$(json_get '[r["line"] for r in d["results"] if "error" in r]' <<<"$BODY")" = "[10, 500, 999]" ]
check "  JetStream stored 997 messages" [ "$(stream_messages MESSAGES)" = $((before + 997)) ]
check "  997 pending rows" wait_for 10 bash -c "[ \$(psql -Atc \"SELECT count(*) FROM nomnom.message_status WHERE subject = 'messages.ingest.Order' AND stream_seq > $before\") = 997 ]"
http POST /ingest/batch/Order "${AUTH[@]}" -H 'Idempotency-Key: batch-7' --data-binary @"$E2E_TMP/batch.ndjson"
http POST /ingest/batch/Order "${AUTH[@]}" -H 'Idempotency-Key: batch-7' --data-binary @"$E2E_TMP/batch.ndjson"
check "batch retried with the same Idempotency-Key: all duplicates" \
    [ "$(json_get 'sum(1 for r in d["results"] if r.get("duplicate"))' <<<"$BODY")" = 997 ]
printf '\n\n' >"$E2E_TMP/empty.ndjson"
http POST /ingest/batch "${AUTH[@]}" --data-binary @"$E2E_TMP/empty.ndjson"
check "empty batch -> 400" [ "$HTTP_CODE" = 400 ]

# --- subjects follow nomnom.streams ---------------------------------------------------------
create_stream OTHER 'other.in.>'
psql -qc "INSERT INTO nomnom.streams VALUES ('OTHER', ARRAY['other.in.>'])"
stop_bridge
start_bridge --token-file "$E2E_TMP/token" --stream OTHER --refresh-interval 200ms
http POST /ingest/message "${AUTH[@]}" --data-binary @"$ORDER"
check "stream OTHER: published on other.in.Order" \
    wait_for 10 pending_row "$(json_get 'd["message_id"]' <<<"$BODY")" "pending,Order,other.in.Order,1"
psql -qc "UPDATE nomnom.streams SET subjects = ARRAY['other.in.v2.>','other.in.>'] WHERE name = 'OTHER'"
post_lands_on() {
    http POST /ingest/message "${AUTH[@]}" --data-binary @"$ORDER"
    [ "$(psql -Atc "SELECT 1 FROM nomnom.message_status WHERE subject = '$1' LIMIT 1")" = 1 ] ||
        wait_for 2 bash -c "[ \"\$(psql -Atc \"SELECT 1 FROM nomnom.message_status WHERE subject = '$1' LIMIT 1\")\" = 1 ]"
}
check "subjects changed in nomnom.streams are used without a restart" wait_for 15 post_lands_on other.in.v2.Order
psql -qc "DELETE FROM nomnom.streams WHERE name = 'OTHER'"
check "no nomnom.streams row: falls back to messages.ingest.> (and logs it)" \
    wait_for 15 grep -q 'no row for the stream; using the default subjects' "$E2E_TMP/bridge.log"

# --- probes and metrics ---------------------------------------------------------------------
http GET /health
check "/health -> 200 (no token needed)" [ "$HTTP_CODE" = 200 ]
http GET /ready
check "/ready -> 200" [ "$HTTP_CODE" = 200 ]
metrics=$(curl -s "$BRIDGE_URL/metrics")
for name in nomnom_bridge_requests_total nomnom_bridge_published_total nomnom_bridge_publish_failures_total \
            nomnom_bridge_request_duration_seconds_bucket nomnom_bridge_status_rows_dropped_total; do
    check "/metrics has $name" grep -q "^$name" <<<"$metrics"
done
check "log lines carry a level" grep -q '^ts=[^ ]* level=info msg=listening' "$E2E_TMP/bridge.log"
stop_bridge
check "SIGTERM when idle -> exit 0" [ $? = 0 ]
finish
