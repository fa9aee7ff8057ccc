#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here run through check and wait_until
# nomnom-bridge -> pgbouncer (Debian's, transaction pooling) -> PostgreSQL with the extension
# and a worker: documents and batches are accepted and their pending rows recorded, status
# lookups answer, ?wait=committed sees the worker's commit. Transaction pooling hands each
# transaction to any server connection, so a named prepared statement or a session setting
# would break here.
set -uo pipefail
# shellcheck source=test/e2e/lib/bridge.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/bridge.bash"
TPCH=$BRIDGE_ROOT/test/fixtures/tpch

stack_start_nats || exit 1
stack_start_pg preload || exit 1
sql "CREATE EXTENSION nomnom" >/dev/null
sql "SELECT nomnom.define_entity(\$\$$(cat "$TPCH/order.json")\$\$::jsonb)" >/dev/null
sql "SELECT nomnom.define_entity(\$\$$(cat "$TPCH/orderlineitem.json")\$\$::jsonb)" >/dev/null
sql "SELECT nomnom.create_stream()" >/dev/null
stack_start_pgbouncer || exit 1
# Few server connections for the bridge's many: transactions really are shared out.
start_bridge --database "postgresql://postgres@127.0.0.1:$NOMNOM_PGBOUNCER_PORT/$NOMNOM_DB" \
    --refresh-interval 200ms || exit 1
check "ready through pgbouncer" wait_until 20 curl -fs "$BRIDGE_URL/health"

ORDER=$FIXTURES/test_order_with_lineitems.json
ids=()
for i in $(seq 1 20); do
    http POST /ingest/message --data-binary "$(sed "s/ORD-DERIVED-TEST-001/PGB-$i/" "$ORDER")"
    [ "$HTTP_CODE" = 202 ] && ids+=("$(jqb .message_id)")
done
check "20 documents -> 202 through pgbouncer" [ "${#ids[@]}" = 20 ]
batch=""
for i in $(seq 21 40); do batch+="$(sed "s/ORD-DERIVED-TEST-001/PGB-$i/" "$ORDER" | jq -c .)"$'\n'; done
http POST /ingest/batch --data-binary "$batch"
check "a batch of 20 -> 202, all accepted" [ "$HTTP_CODE:$(jqb .accepted)" = "202:20" ]
check "all 40 written by the worker" \
    wait_until 30 "[ \"\$(sql \"SELECT count(*) FROM orders WHERE order_key LIKE 'PGB-%'\")\" = 40 ]"
http GET "/ingest/status/${ids[0]}"
check "status lookup through pgbouncer -> 200 completed" [ "$HTTP_CODE:$(jqb .status)" = "200:completed" ]
lookups_ok=0
for id in "${ids[@]}"; do
    http GET "/ingest/status/$id"
    [ "$HTTP_CODE" = 200 ] && lookups_ok=$((lookups_ok + 1))
done
check "20 status lookups -> 200" [ "$lookups_ok" = 20 ]
http POST "/ingest/message?wait=committed" --data-binary "$(sed "s/ORD-DERIVED-TEST-001/PGB-41/" "$ORDER")"
check "?wait=committed -> 201 completed" [ "$HTTP_CODE:$(jqb .status)" = "201:completed" ]
check "every message_status row recorded (pending, then completed)" \
    [ "$(sql "SELECT count(*) FROM nomnom.message_status WHERE status = 'completed'")" = 41 ]
check "the bridge logged no PostgreSQL error" \
    bash -c "! grep -Ei 'prepared statement|level=error' '$NOMNOM_BRIDGE_LOG'"
check "the bridge's connections went through pgbouncer" \
    grep -q "login attempt: db=$NOMNOM_DB user=postgres" "$NOMNOM_PGBOUNCER_LOG"

# The console through pgbouncer: its 2 s statement_timeout is SET LOCAL in each of its
# transactions, so it holds on whichever server connection runs them, and stays on none.
psql -X -q -c "BEGIN; LOCK TABLE orders; SELECT pg_sleep(60)" >/dev/null 2>&1 &
locker=$!
check "a session holds the orders table's lock" wait_until 10 \
    "[ \"\$(sql \"SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'orders' AND l.mode = 'AccessExclusiveLock' AND l.granted\")\" = 1 ]"
http GET /api/overview
# Answered while the lock is still held (for 60 s): the console did not wait for it.
check "GET /api/overview with orders locked -> 200, the lock still held" \
    [ "$HTTP_CODE" = 200 -a "$(sql "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'orders' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ]
check "Order's rows: cancelled by the console's statement_timeout ($(jqb '.entities[] | select(.name == "Order") | .error'))" \
    grep -q 'statement timeout' <<<"$(jqb '.entities[] | select(.name == "Order") | .error')"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$locker"
timeouts=$(for _ in $(seq 10); do
    psql -X -Atc "SHOW statement_timeout" "postgresql://postgres@127.0.0.1:$NOMNOM_PGBOUNCER_PORT/$NOMNOM_DB"
done | sort -u | tr '\n' ' ')
check "no server connection kept the console's 2 s (SHOW statement_timeout through pgbouncer: $timeouts)" \
    bash -c '[[ -n $1 && $1 != *2s* ]]' _ "$timeouts"
finish
