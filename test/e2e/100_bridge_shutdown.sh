#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here run through check and wait_until
# nomnom-bridge on SIGTERM: stops accepting at once, finishes the requests in flight (their
# clients get their answers), writes the pending rows, exits 0.
# Requests are kept in flight with ?wait=committed and no worker: each waits --wait-timeout.
set -uo pipefail
# shellcheck source=test/e2e/lib/bridge.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/bridge.bash"

stack_start_nats || exit 1
stack_start_pg || exit 1
load_bridge_schema
create_stream MESSAGES 'messages.ingest.>'
# Long enough that the bridge is surely still finishing when the refusal is seen, at any load.
start_bridge --wait-timeout 8s || exit 1
ORDER=$FIXTURES/test_order_with_lineitems.json

N=8
curl_pids=()
for i in $(seq 1 $N); do
    curl -s -o "$E2E_TMP/inflight.$i" -w '%{http_code}' -X POST --data-binary @"$ORDER" \
        "$BRIDGE_URL/ingest/message?wait=committed" >"$E2E_TMP/code.$i" &
    curl_pids+=($!)
done
in_flight_at_least() {
    local n
    n=$(curl -s "$BRIDGE_URL/metrics" | awk '/^nomnom_bridge_requests_in_flight/ {print $2}')
    [ "${n:-0}" -ge "$1" ]
}
check "$N requests in flight (the /metrics request itself is one more)" wait_until 10 in_flight_at_least $((N + 1))

kill -TERM "$NOMNOM_BRIDGE_PID"
refused() { curl -s -o /dev/null --max-time 2 "$BRIDGE_URL/health"; [ $? = 7 ]; }
check "after SIGTERM new connections are refused" wait_until 5 refused
check "  while the bridge is still finishing its requests" stack_pid_alive "$NOMNOM_BRIDGE_PID"

for pid in "${curl_pids[@]}"; do wait "$pid"; done
codes=$(for f in "$E2E_TMP"/code.*; do cat "$f"; echo; done | sort | uniq -c | tr -s ' ')
check "every in-flight request got its answer: $N x 202 (got:$codes)" [ "$codes" = " $N 202" ]
check "  each with a message_id" [ "$(grep -l message_id "$E2E_TMP"/inflight.* | wc -l)" = "$N" ]
rc=0
wait "$NOMNOM_BRIDGE_PID" || rc=$?
NOMNOM_BRIDGE_PID=
check "bridge exited 0 (rc=$rc)" [ "$rc" = 0 ]
check "  its pending rows were written before exiting" \
    [ "$(sql "SELECT count(*) FROM nomnom.message_status")" = "$N" ]
check "  and it logged the stop" grep -q 'level=info msg="stopping: no new connections' "$NOMNOM_BRIDGE_LOG"
check "bridge starts with flags only and stops cleanly again" start_bridge
stop_bridge
check "  exit 0" [ $? = 0 ]
finish
