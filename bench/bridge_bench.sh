#!/usr/bin/env bash
# The bridge's HTTP path under load, next to a bare nats.c JetStream publisher.
#
#   bash bench/bridge_bench.sh            # DURATION=10 CONNECTIONS=32 BATCH=500 BATCH_CONNECTIONS=8
#
# Starts its own stack (test/harness/stack.sh): nats-server -js, PostgreSQL (the bridge's
# schema objects only: no worker drains the stream, so this measures HTTP -> JetStream ack
# -> pending rows), the bridge built in build/. Then:
#   1. nats.c publisher, async with acks and sync (one ack per round trip), 1 KB messages
#   2. wrk, single-document POSTs of the example order at $CONNECTIONS connections
#   3. wrk, NDJSON batches of $BATCH documents at $BATCH_CONNECTIONS connections
# and prints one table. Results also go to bench/results/bridge-<time>.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/harness/stack.sh"
stack_trap

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
BATCH=${BATCH:-500}
BATCH_CONNECTIONS=${BATCH_CONNECTIONS:-8}
NATS_MSGS=${NATS_MSGS:-200000}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
ORDER_FILE=$ROOT/test/fixtures/test_order_with_lineitems.json
export ORDER_FILE
mkdir -p "$ROOT/bench/results"
OUT=$ROOT/bench/results/bridge-$(date -u +%Y%m%dT%H%M%SZ).txt

[[ -x $BUILD_DIR/bridge/nomnom-bridge ]] || { echo "build first: make (or cmake --build build)" >&2; exit 1; }
stack_start_nats
stack_start_pg
stack_psql "$NOMNOM_DB" -f "$ROOT/test/e2e/lib/bridge_schema.sql" >/dev/null
"$BUILD_DIR/bridge/nomnom-jstool" create-stream "$NATS_URL" MESSAGES 'messages.ingest.>' >/dev/null
"$BUILD_DIR/bridge/nomnom-jstool" create-stream "$NATS_URL" BENCH 'bench.>' >/dev/null
NOMNOM_BRIDGE_BIN=$BUILD_DIR/bridge/nomnom-bridge stack_start_bridge --log-level warn
wait_until 30 curl -fs "$NOMNOM_BRIDGE_URL/ready"

size=$(tr '\n' ' ' <"$ORDER_FILE" | wc -c)
echo "== nats.c JetStream publisher ($NATS_MSGS msgs of $size bytes)" | tee "$OUT"
nats_async=$("$BUILD_DIR/bridge/nomnom-jstool" bench "$NATS_URL" bench.x "$NATS_MSGS" "$size" async | tee -a "$OUT")
nats_sync=$("$BUILD_DIR/bridge/nomnom-jstool" bench "$NATS_URL" bench.x $((NATS_MSGS / 10)) "$size" sync | tee -a "$OUT")

run_wrk() { # label connections batch_lines
    echo "== $1" | tee -a "$OUT"
    BATCH_LINES=$3 wrk -t2 -c"$2" -d"${DURATION}s" --latency -s "$ROOT/bench/bridge_post.lua" \
        "$NOMNOM_BRIDGE_URL" | tee -a "$OUT"
}
single=$(run_wrk "single documents, $CONNECTIONS connections" "$CONNECTIONS" 0)
batch=$(run_wrk "NDJSON batches of $BATCH, $BATCH_CONNECTIONS connections" "$BATCH_CONNECTIONS" "$BATCH")
curl -s "$NOMNOM_BRIDGE_URL/metrics" | grep -E '^nomnom_bridge_(published|publish_failures|status_rows_(written|dropped))_total' | tee -a "$OUT"

rate() { awk '/^Requests\/sec/ {print $2}' <<<"$1"; }
pct() { awk -v p="$2" '$1 == p {print $2}' <<<"$1"; }
non2xx() { awk '/Non-2xx/ {print $NF}' <<<"$1"; }
msgs() { sed -E 's/.*= ([0-9]+) msgs\/s/\1/' <<<"$1"; }
single_rps=$(rate "$single")
batch_rps=$(rate "$batch")
{
    echo
    printf '%-44s %14s %10s %10s %8s\n' "path" "docs/s" "p50" "p99" "non-202"
    printf '%-44s %14s %10s %10s %8s\n' "nats.c js_PublishMsgAsync (acks awaited)" "$(msgs "$nats_async")" "-" "-" "-"
    printf '%-44s %14s %10s %10s %8s\n' "nats.c js_PublishMsg (sync)" "$(msgs "$nats_sync")" "-" "-" "-"
    printf '%-44s %14.0f %10s %10s %8s\n' "bridge single POST x$CONNECTIONS conns" "$single_rps" \
        "$(pct "$single" 50%)" "$(pct "$single" 99%)" "$(non2xx "$single")"
    printf '%-44s %14.0f %10s %10s %8s\n' "bridge NDJSON $BATCH/batch x$BATCH_CONNECTIONS conns" \
        "$(awk -v r="$batch_rps" -v b="$BATCH" 'BEGIN {print r * b}')" \
        "$(pct "$batch" 50%)" "$(pct "$batch" 99%)" "$(non2xx "$batch")"
} | tee -a "$OUT"
echo "results: $OUT"
