#!/usr/bin/env bash
# Where the time goes: perf profiles of (1) the worker draining N pre-published orders
# with track_status on, and (2) the bridge and nats-server taking the same orders as
# NDJSON batches. Writes bench/results/profile-{drain,http}.txt: the top functions by self
# time, then by time including callees. The totals are checked as in bench/run.sh.
#
#   bash bench/profile.sh [--orders N]      (default 50000; run as root for perf -p)
#
# Needs `make` and the extension installed (hold /tmp/nomnom-install.lock around both).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORDERS=50000 OUT=$HERE/results
while (($#)); do
    case $1 in
    --orders) ORDERS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: $0 [--orders N] [--out DIR]" >&2; exit 2 ;;
    esac
done
SEED=42 BATCH_LINES=250
export NOMNOM_PG_FSYNC=on
source "$HERE/../test/harness/stack.sh"
source "$HERE/lib.sh"
BUILD=$NOMNOM_REPO_ROOT/${BUILD_DIR:-build}
PUBLISH=$BUILD/test/tools/nomnom-publish
export NOMNOM_BRIDGE_BIN=$BUILD/bridge/nomnom-bridge
command -v perf >/dev/null || fail "perf missing"
stack_trap
bench_stack_up
generate M 0 "$ORDERS" ndjson
mkdir -p "$OUT"

# DWARF call graphs: PostgreSQL and nomnom.so are built without frame pointers. A low
# frequency keeps the stack dumps small enough for a minute of profile.
perf_start() { # OUTFILE PID[,PID]
    perf record -q -F 299 --call-graph dwarf,16384 -o "$1" -p "$2" 2>"$1.log" &
    PERF_PID=$!
    # perf is attached once it has written its header.
    wait_until 10 "[[ -s $1 ]]" || true
}
perf_stop() {
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" || true
}
perf_summary() { # DATA TITLE OUTFILE
    {
        echo "# $2"
        echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); git $(git -C "$NOMNOM_REPO_ROOT" rev-parse --short HEAD)"
        echo
        echo "## self time (top functions; percentages of all samples)"
        perf report -i "$1" --stdio --no-children --sort comm,dso,symbol -g none --percent-limit 0.8 2>/dev/null |
            grep -v '^$'
        echo
        echo "## time including callees"
        perf report -i "$1" --stdio --children --sort symbol -g none --percent-limit 3 2>/dev/null |
            grep -v '^$'
    } >"$3"
    bench_log "wrote $3"
}

bench_log "profiling the worker's drain of $ORDERS orders (track_status on)"
expect_reset
drain_publish M on- 0 "$ORDERS"
attach_worker() { perf_start "$WORK/drain.perf" "$WORKER_PID"; }
DRAIN_HOOK=attach_worker drain_run ""
perf_stop
perf_summary "$WORK/drain.perf" "perf: nomnom worker draining $ORDERS orders, track_status on" \
    "$OUT/profile-drain.txt"

bench_log "profiling the bridge and nats-server under NDJSON batches of $BATCH_LINES (worker paused)"
reset_tables
perf_start "$WORK/http.perf" "$NOMNOM_BRIDGE_PID,$NOMNOM_NATS_PID"
http_load M "$BATCH_LINES" 4
perf_stop
perf_summary "$WORK/http.perf" "perf: nomnom-bridge + nats-server, $ORDERS orders as NDJSON batches of $BATCH_LINES" \
    "$OUT/profile-http.txt"
bench_log "HTTP batch: $(echo "$M_orders / $HTTP_SECONDS" | bc) docs/s under perf"
