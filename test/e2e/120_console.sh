#!/usr/bin/env bash
# The operator's console, with the real extension, worker and bridge (token configured):
# the page and its assets, /openapi.json through a real validator (swagger-parser), /metrics
# through promtool with the per-stream series, /stats, the token on /api/*, and the
# dashboard itself in headless Chromium (test/console/dashboard.mjs).
set -uo pipefail
# shellcheck source=test/e2e/lib/bridge.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/bridge.bash"

CONSOLE_JS=$BRIDGE_ROOT/test/console
[ -d "$CONSOLE_JS/node_modules/puppeteer-core" ] || { fail "test/console's npm packages (make deps)"; finish; }
command -v promtool >/dev/null || { fail "promtool (make deps: package prometheus)"; finish; }

stack_start_nats || exit 1
stack_start_pg preload || exit 1
stack_psql "$NOMNOM_DB" -c "CREATE EXTENSION nomnom" >/dev/null || exit 1
# Order with its message id, so the lookup finds the rows a message wrote.
ORDER_SPEC=$(jq -c '.fields += [{"name": "message_id", "type": "uuid", "source": "message_id"}]' "$FIXTURES/tpch/order.json")
stack_psql "$NOMNOM_DB" -v spec="$ORDER_SPEC" <<<"SELECT nomnom.define_entity(:'spec'::jsonb);" >/dev/null || exit 1
stack_psql "$NOMNOM_DB" -v spec="$(cat "$FIXTURES/tpch/orderlineitem.json")" \
    <<<"SELECT nomnom.define_entity(:'spec'::jsonb);" >/dev/null || exit 1
# A data error the operator can fix: a negative price is dead-lettered until this goes.
sql "ALTER TABLE orders ADD CONSTRAINT orders_price_positive CHECK (total_price > 0)" >/dev/null
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"max_wait_ms\": 200}')" >/dev/null || exit 1
TOKEN=console-test-token
printf '%s\n' "$TOKEN" >"$E2E_TMP/token"
start_bridge --token-file "$E2E_TMP/token" || exit 1
wait_until 30 curl -fs "$BRIDGE_URL/ready" || { fail "bridge /ready"; finish; }
AUTH=(-H "Authorization: Bearer $TOKEN")

http GET /
check "GET / -> 200 text/html" [ "$HTTP_CODE" = 200 ]
check "the page loads only its own assets" grep -q 'src="/assets/console.js"' <<<"$BODY"
headers=$(curl -s -o /dev/null -D - "$BRIDGE_URL/")
check "the page's Content-Security-Policy allows only its own origin" grep -qi "content-security-policy: default-src 'self'" <<<"$headers"
http GET /assets/console.css
check "GET /assets/console.css -> 200" [ "$HTTP_CODE" = 200 ]
http GET /assets/nope.js
check "GET /assets/nope.js -> 404" [ "$HTTP_CODE" = 404 ]

check "/openapi.json is a valid OpenAPI 3 document naming every endpoint" \
    node "$CONSOLE_JS/validate_openapi.mjs" "$BRIDGE_URL/openapi.json"

http GET /api/overview
check "/api/overview without the token -> 401" [ "$HTTP_CODE" = 401 ]
http POST '/api/dead-letters/replay?all=true'
check "replay without the token -> 401" [ "$HTTP_CODE" = 401 ]
http POST '/ingest/message?wait=committed' "${AUTH[@]}" --data-binary @"$FIXTURES/test_order_with_lineitems.json"
check "an order is committed" [ "$HTTP_CODE" = 201 ]
ID=$(jqb .message_id)
wait_until 15 bash -c "curl -fs -H 'Authorization: Bearer $TOKEN' '$BRIDGE_URL/api/overview' | jq -e '.streams[0].completed >= 1' >/dev/null"
http GET /api/overview "${AUTH[@]}"
check "/api/overview: the stream, its counts and the entities" \
    [ "$(jqb '[.streams[0].name, .streams[0].completed >= 1, ([.entities[].name] | sort | join(","))] | @tsv')" = $'MESSAGES\ttrue\tOrder,OrderLineItem' ]
check "/api/overview: Order's row count and latest row" \
    [ "$(jqb '.entities[] | select(.name == "Order") | [.rows, .latest[0].order_key] | @tsv')" = $'1\tORD-DERIVED-TEST-001' ]
http GET "/api/messages/$ID" "${AUTH[@]}"
check "/api/messages/{id}: completed and the rows it wrote" \
    [ "$(jqb '[.status.status, (.rows[] | select(.entity == "Order") | .rows[0].order_key)] | @tsv')" = $'completed\tORD-DERIVED-TEST-001' ]
http GET /api/messages/not-a-uuid "${AUTH[@]}"
check "/api/messages/not-a-uuid -> 400" [ "$HTTP_CODE" = 400 ]

http GET /stats
check "/stats without the token -> 401 (the counts of /metrics)" [ "$HTTP_CODE" = 401 ]
http GET /stats "${AUTH[@]}"
check "/stats: entity row counts and message counts" \
    [ "$(jqb '[.entities.Order, .entities.OrderLineItem, .messages.completed >= 1] | @tsv')" = $'1\t2\ttrue' ]

curl -s "${AUTH[@]}" "$BRIDGE_URL/metrics" >"$E2E_TMP/metrics.txt"
check "promtool check metrics passes" promtool check metrics <"$E2E_TMP/metrics.txt"
check "/metrics: completed total of the stream" grep -Eq '^nomnom_stream_messages_completed_total\{stream="MESSAGES"\} [1-9]' "$E2E_TMP/metrics.txt"
check "/metrics: the lag series" grep -Eq '^nomnom_stream_lag_messages\{stream="MESSAGES"\} [0-9]' "$E2E_TMP/metrics.txt"
check "/metrics: worker up" grep -q '^nomnom_stream_worker_up{stream="MESSAGES",worker="0"} 1' "$E2E_TMP/metrics.txt"

log "the dashboard in headless Chromium"
SHOT=${NOMNOM_DASHBOARD_SCREENSHOT:-$E2E_TMP/dashboard.png}
BRIDGE_URL=$BRIDGE_URL TOKEN=$TOKEN SCREENSHOT=$SHOT PGDATABASE=$NOMNOM_DB \
    node "$CONSOLE_JS/dashboard.mjs" >"$E2E_TMP/browser.log" 2>&1
browser_rc=$?
# Each of the browser's checks counts as one here.
while IFS= read -r line; do
    case $line in
    "ok - "*) pass "dashboard: ${line#ok - }" ;;
    "not ok - "*) fail "dashboard: ${line#not ok - }" ;;
    esac
done <"$E2E_TMP/browser.log"
check "the browser test ran to its end and exited 0" [ "$browser_rc" = 0 ]
((browser_rc == 0)) || sed 's/^/  browser: /' "$E2E_TMP/browser.log" >&2
stop_bridge
check "SIGTERM -> exit 0" [ $? = 0 ]
finish
