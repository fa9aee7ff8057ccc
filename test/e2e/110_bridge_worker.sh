#!/usr/bin/env bash
# nomnom-bridge with the real extension and its background worker: documents posted over
# HTTP become rows, and ?wait=committed answers 201 once they are committed.
#
# Gated: when the extension, nomnom.create_stream or the preloaded worker is missing, every
# check is reported SKIP and the script exits 77 — a skip is never counted as a pass.
set -uo pipefail
# shellcheck source=test/e2e/lib/bridge.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/bridge.bash"

ORDER=$FIXTURES/test_order_with_lineitems.json
CHECKS=("example order ?wait=committed -> 201 completed"
    "its order row (exact numeric) and 2 line item rows are written"
    "GET /ingest/status/{id} says completed"
    "batch of 10 ?wait=committed -> 201, 10 rows"
    "a 202 without waiting becomes completed"
    "same Idempotency-Key twice -> one row")
skip_all() {
    for c in "${CHECKS[@]}"; do skip "$c (pending: $1)"; done
    finish
}

[ -f "$(pg_config --sharedir)/extension/nomnom.control" ] || skip_all "the nomnom extension is not installed"
stack_start_nats || exit 1
stack_start_pg preload || exit 1
stack_psql "$NOMNOM_DB" -c "CREATE EXTENSION nomnom" || skip_all "CREATE EXTENSION nomnom failed"
[ "$(sql "SELECT count(*) FROM pg_proc WHERE proname = 'create_stream' AND pronamespace = 'nomnom'::regnamespace")" -ge 1 ] ||
    skip_all "nomnom.create_stream does not exist yet"

for spec in order orderlineitem; do
    stack_psql "$NOMNOM_DB" -v spec="$(cat "$FIXTURES/tpch/$spec.json")" \
        <<<"SELECT nomnom.define_entity(:'spec'::jsonb);" >/dev/null || exit 1
done
stack_psql "$NOMNOM_DB" -c "SELECT nomnom.create_stream()" >/dev/null || exit 1
start_bridge --wait-timeout 30s || exit 1
wait_until 30 curl -fs "$BRIDGE_URL/ready" || { fail "bridge /ready"; finish; }

http POST '/ingest/message?wait=committed' --data-binary @"$ORDER"
check "${CHECKS[0]}" [ "$HTTP_CODE:$(jqb .status)" = "201:completed" ]
ID=$(jqb .message_id)
check "${CHECKS[1]}" [ "$(sql "SELECT (SELECT count(*) FROM orders WHERE order_key = 'ORD-DERIVED-TEST-001' AND total_price::text = '1234.56') || ',' || (SELECT count(*) FROM order_line_items WHERE order_key = 'ORD-DERIVED-TEST-001')")" = "1,2" ]
http GET "/ingest/status/$ID"
check "${CHECKS[2]}" [ "$HTTP_CODE:$(jqb .status)" = "200:completed" ]

for i in $(seq 1 10); do
    echo "{\"order_key\":\"W-$i\",\"customer_key\":\"C\",\"order_status\":\"O\",\"total_price\":10.00,\"order_date\":\"2025-02-01\"}"
done >"$E2E_TMP/w.ndjson"
http POST '/ingest/batch?wait=committed' --data-binary @"$E2E_TMP/w.ndjson"
check "${CHECKS[3]}" [ "$HTTP_CODE:$(sql "SELECT count(*) FROM orders WHERE order_key LIKE 'W-%'")" = "201:10" ]

ONCE='{"order_key":"ONCE","customer_key":"C","order_status":"O","total_price":1,"order_date":"2025-02-01"}'
http POST /ingest/message -d "$ONCE"
id=$(jqb .message_id)
check "${CHECKS[4]}" stack_wait_sql "$NOMNOM_DB" 30 \
    "SELECT status = 'completed' FROM nomnom.message_status WHERE message_id = '$id'"
http POST /ingest/message -H 'Idempotency-Key: worker-once' -d "$ONCE"
http POST '/ingest/message?wait=committed' -H 'Idempotency-Key: worker-once' -d "$ONCE"
check "${CHECKS[5]}" [ "$HTTP_CODE:$(jqb .duplicate):$(sql "SELECT count(*) FROM orders WHERE order_key = 'ONCE'")" = "201:true:1" ]
stop_bridge
check "SIGTERM -> exit 0" [ $? = 0 ]
finish
