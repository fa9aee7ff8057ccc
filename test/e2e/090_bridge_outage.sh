#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here run through check and wait_until
# nomnom-bridge when its dependencies go away and come back:
#  - nats-server stopped: every ingest is 503 with Retry-After (never 202), /health and /ready
#    are 503 naming NATS; after a restart it accepts again by itself.
#  - PostgreSQL stopped: ingest still 202 (messages are safe in JetStream), /health 503 naming
#    postgres, pending rows wait in a bounded queue (overflow counted) and are written later.
set -uo pipefail
# shellcheck source=test/e2e/lib/bridge.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/bridge.bash"

stack_start_nats || exit 1
stack_start_pg || exit 1
load_bridge_schema
create_stream MESSAGES 'messages.ingest.>'
start_bridge --publish-timeout 1s --refresh-interval 200ms --status-queue 20 || exit 1
ORDER=$FIXTURES/test_order_with_lineitems.json

http POST /ingest/message --data-binary @"$ORDER"
check "baseline: 202" [ "$HTTP_CODE" = 202 ]

# --- NATS down ------------------------------------------------------------------------------
stack_stop_nats
codes=""
retry_after=0
for _ in $(seq 1 20); do
    code=$(curl -s -o "$E2E_TMP/out" -D "$E2E_TMP/hdr" -w '%{http_code}' -X POST --data-binary @"$ORDER" "$BRIDGE_URL/ingest/message")
    codes+="$code "
    grep -qi '^Retry-After:' "$E2E_TMP/hdr" && retry_after=$((retry_after + 1))
done
check "NATS down: 20 posts, none 202 (got: $codes)" [ "${codes//202/}" = "$codes" ]
check "NATS down: every post 503" [ "$(tr ' ' '\n' <<<"$codes" | grep -v '^$' | sort -u)" = 503 ]
check "  every 503 carries Retry-After" [ "$retry_after" = 20 ]
check "  503 is a JSON error" [ "$(jq -r 'has("error")' "$E2E_TMP/out")" = true ]
printf '{"order_key":"x"}\n{"order_key":"y"}\n' >"$E2E_TMP/two.ndjson"
http POST /ingest/batch --data-binary @"$E2E_TMP/two.ndjson"
check "NATS down: batch -> 503" [ "$HTTP_CODE" = 503 ]
http GET /health
check "NATS down: /health 503 naming nats" [ "$HTTP_CODE:$(jqb '.error | contains("nats")')" = "503:true" ]
http GET /ready
check "NATS down: /ready 503" [ "$HTTP_CODE" = 503 ]

stack_restart_nats || exit 1 # same port and store
check "NATS back: /ready 200 again without a bridge restart" wait_until 20 curl -fs "$BRIDGE_URL/ready"
http POST /ingest/message --data-binary @"$ORDER"
check "NATS back: 202" [ "$HTTP_CODE" = 202 ]
check "  the stream kept its messages and has the new one" [ "$(stream_messages MESSAGES)" = 2 ]

# --- PostgreSQL down ------------------------------------------------------------------------
stack_stop_pg
health_names_pg() {
    http GET /health
    [ "$HTTP_CODE:$(jqb '.error | contains("postgres")')" = "503:true" ]
}
check "PG down: /health 503 naming postgres" wait_until 10 health_names_pg
ids=()
codes=""
for i in $(seq 1 30); do
    http POST /ingest/message -d "{\"order_key\":\"PGDOWN-$i\"}"
    codes+="$HTTP_CODE "
    [ "$HTTP_CODE" = 202 ] && ids+=("$(jqb .message_id)")
done
check "PG down: ingest still 202 (30 posts)" [ "${#ids[@]}" = 30 ]
dropped() { [ "$(curl -s "$BRIDGE_URL/metrics" | awk '/^nomnom_bridge_status_rows_dropped_total/ {print $2}')" -ge 10 ]; }
check "  queue bounded at --status-queue 20: overflow counted in /metrics" dropped

stack_restart_pg || exit 1 # same port and data
check "PG back: the 20 queued pending rows are written" stack_wait_sql "$NOMNOM_DB" 20 \
    "SELECT count(*) = 20 FROM nomnom.message_status WHERE message_id = ANY('{$(IFS=,; echo "${ids[*]}")}'::uuid[])"
check "PG back: /health 200" wait_until 20 curl -fs "$BRIDGE_URL/health"
sql "UPDATE nomnom.message_status SET status = 'completed' WHERE message_id = '${ids[0]}'" >/dev/null
http POST /ingest/message -H "Idempotency-Key: ${ids[0]}" -d '{"order_key":"PGDOWN-1"}'
check "a retry of a completed message is a duplicate" [ "$(jqb .duplicate)" = true ]
# The pending row for the retry goes through the recorder: wait until it has written
# everything queued, then the row must still say completed.
queue_empty() { [ "$(curl -s "$BRIDGE_URL/metrics" | awk '/^nomnom_bridge_status_queue_depth/ {print $2}')" = 0 ]; }
completed_kept() {
    wait_until 10 queue_empty &&
        [ "$(sql "SELECT status FROM nomnom.message_status WHERE message_id = '${ids[0]}'")" = completed ]
}
check "  and its pending row never downgrades the completed one" completed_kept
stop_bridge
check "SIGTERM -> exit 0" [ $? = 0 ]
finish
