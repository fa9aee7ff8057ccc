#!/usr/bin/env bash
# nomnom-bridge when its dependencies go away and come back:
#  - nats-server stopped: every ingest is 503 with Retry-After (never 202), /health and /ready
#    are 503 naming NATS; after a restart it accepts again by itself.
#  - PostgreSQL stopped: ingest still 202 (messages are safe in JetStream), /health 503 naming
#    postgres, pending rows wait in a bounded queue (overflow counted) and are written later.
set -uo pipefail
source "$(dirname "$0")/bridge_lib.sh"
trap cleanup EXIT

stack_start_pg || { log "cannot start PostgreSQL"; exit 1; }
stack_start_nats || { log "cannot start nats-server"; exit 1; }
load_bridge_schema
create_stream MESSAGES 'messages.ingest.>'
start_bridge --publish-timeout 1s --refresh-interval 200ms --status-queue 20 ||
    { log "bridge did not start"; exit 1; }
ORDER=$FIXTURES/test_order_with_lineitems.json

http POST /ingest/message --data-binary @"$ORDER"
check "baseline: 202" [ "$HTTP_CODE" = 202 ]

# --- NATS down ------------------------------------------------------------------------------
stack_stop_nats
codes=""
for _ in $(seq 1 20); do
    code=$(curl -s -o "$E2E_TMP/out" -D "$E2E_TMP/hdr" -w '%{http_code}' -X POST --data-binary @"$ORDER" "$BRIDGE_URL/ingest/message")
    codes+="$code "
    [ "$code" = 503 ] && grep -qi '^Retry-After:' "$E2E_TMP/hdr" || true
done
check "NATS down: 20 posts, no 202 (got: $codes)" bash -c "! grep -q 202 <<<'$codes'"
check "NATS down: every post 503" bash -c "[ \"\$(tr ' ' '\n' <<<'$codes' | grep -v '^$' | sort -u)\" = 503 ]"
check "  503 carries Retry-After" grep -qi '^Retry-After:' "$E2E_TMP/hdr"
check "  503 is a JSON error" python3 -c 'import json,sys; assert "error" in json.load(open(sys.argv[1]))' "$E2E_TMP/out"
printf '{"order_key":"x"}\n{"order_key":"y"}\n' >"$E2E_TMP/two.ndjson"
http POST /ingest/batch --data-binary @"$E2E_TMP/two.ndjson"
check "NATS down: batch -> 503" [ "$HTTP_CODE" = 503 ]
http GET /health
check "NATS down: /health 503 naming nats" [ "$HTTP_CODE:$(json_get '"nats" in d["error"]' <<<"$BODY")" = "503:True" ]
http GET /ready
check "NATS down: /ready 503" [ "$HTTP_CODE" = 503 ]

stack_start_nats || { log "cannot restart nats-server"; exit 1; }
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$BRIDGE_URL/ready")" = 200 ]; }
check "NATS back: /ready 200 again without a bridge restart" wait_for 20 ready
http POST /ingest/message --data-binary @"$ORDER"
check "NATS back: 202" [ "$HTTP_CODE" = 202 ]
check "  the stream kept its messages and has the new one" [ "$(stream_messages MESSAGES)" = 2 ]

# --- PostgreSQL down ------------------------------------------------------------------------
stack_stop_pg
health_names_pg() {
    http GET /health
    [ "$HTTP_CODE:$(json_get '"postgres" in d["error"]' <<<"$BODY")" = "503:True" ]
}
check "PG down: /health 503 naming postgres" wait_for 10 health_names_pg
ids=()
codes=""
for i in $(seq 1 30); do
    http POST /ingest/message -d "{\"order_key\":\"PGDOWN-$i\"}"
    codes+="$HTTP_CODE "
    [ "$HTTP_CODE" = 202 ] && ids+=("$(json_get 'd["message_id"]' <<<"$BODY")")
done
check "PG down: ingest still 202 (30 posts)" [ "${#ids[@]}" = 30 ]
dropped() { [ "$(curl -s "$BRIDGE_URL/metrics" | awk '/^nomnom_bridge_status_rows_dropped_total/ {print $2}')" -ge 10 ]; }
check "  queue bounded at --status-queue 20: overflow counted in /metrics" dropped

stack_restart_pg || { log "cannot restart PostgreSQL"; exit 1; }
rows_written() { [ "$(psql -Atc "SELECT count(*) FROM nomnom.message_status WHERE message_id = ANY('{$(IFS=,; echo "${ids[*]}")}'::uuid[])")" = 20 ]; }
check "PG back: the 20 queued pending rows are written" wait_for 20 rows_written
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$BRIDGE_URL/health")" = 200 ]; }
check "PG back: /health 200" wait_for 20 healthy
psql -qc "UPDATE nomnom.message_status SET status = 'completed' WHERE message_id = '${ids[0]}'"
http POST /ingest/message -H "Idempotency-Key: ${ids[0]}" -d '{"order_key":"PGDOWN-1"}'
check "a retry of a completed message is a duplicate" [ "$(json_get 'd["duplicate"]' <<<"$BODY")" = True ]
check "  and never downgrades its row to pending" wait_for 5 bash -c "[ \$(psql -Atc \"SELECT status FROM nomnom.message_status WHERE message_id = '${ids[0]}'\") = completed ]"
stop_bridge
check "SIGTERM -> exit 0" [ $? = 0 ]
finish
