#!/usr/bin/env bash
# Where the time goes: perf profiles of (1) the worker draining N pre-published orders
# with track_status on, and (2) the bridge and nats-server taking the same orders as
# NDJSON batches, and (3) the SQL path (nomnom.ingest) on the same documents. Writes
# bench/results/latest-profile-{drain,sql,http}.txt: the top functions by self
# time, then by time including callees. The totals are checked as in bench/run.sh.
#
#   bash bench/profile.sh [--orders N]      (default 50000; run as root for perf -p)
#
# Needs `make` and the extension installed (hold /tmp/nomnom-install.lock around both).
# The sets' totals (M_orders, ...) come from printf -v in lib.sh, which reads settings here.
# shellcheck disable=SC2154,SC2034
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
BATCH_LINES=250
PERF_DIR=${PERF_DIR:-/tmp/nomnom-bench-perf} # perf.data kept here for `perf report -i`
mkdir -p "$PERF_DIR"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
command -v perf >/dev/null || fail "perf missing"
bench_begin
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
perf_report() { # perf report ARGS..., without headers, blank lines, unresolved frames and padding
    perf report -i "$PERF_DATA" --stdio -g none "$@" 2>/dev/null |
        grep -v -e '^#' -e '^$' -e '\] 0x0000' | sed -E 's/ +- +- *$//; s/ +$//'
}
perf_summary() { # DATA TITLE OUTFILE NOTE
    PERF_DATA=$1
    {
        echo "# $2"
        echo "# $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); git $(git -C "$NOMNOM_REPO_ROOT" rev-parse --short HEAD); perf -F 299, DWARF call graphs"
        echo "# $4"
        echo
        echo "## self time: top functions (% of on-CPU samples)"
        perf_report --no-children --sort comm,dso,sym --percent-limit 0.7
        echo
        echo "## inclusive time: function and its callees (% of on-CPU samples)"
        perf_report --children --sort sym --percent-limit 1.5
    } >"$3"
    bench_log "wrote $3"
}

bench_log "profiling the worker's drain of $ORDERS orders (track_status on)"
expect_reset
drain_publish M on- 0 "$ORDERS"
attach_worker() {
    perf_start "$PERF_DIR/drain.perf" "$WORKER_PID"
    WORKER_CPU0=$(cpu_seconds "$WORKER_PID")
}
# The worker's CPU time over the drain's wall time: how much of it perf can see at all
# (waits for fsync and for NATS are off-CPU).
sample_worker_cpu() { WORKER_CPU1=$(cpu_seconds "$WORKER_PID"); }
wait_committed() { # lib.sh's, plus the CPU reading before the pause ends the worker
    wait_drained
    sample_worker_cpu
}
DRAIN_HOOK=attach_worker drain_run ""
perf_stop
perf_summary "$PERF_DIR/drain.perf" "perf: nomnom worker draining $ORDERS orders, track_status on" \
    "$OUT/latest-profile-drain.txt" \
    "drain: $DRAIN_ROWS rows in $DRAIN_SECONDS s under perf; worker on CPU $(echo "scale=1; 100 * ($WORKER_CPU1 - $WORKER_CPU0) / $DRAIN_SECONDS" | bc)% of that time"

bench_log "profiling the SQL path: nomnom.ingest over $ORDERS documents in one statement"
reset_tables
sql "CREATE TABLE bench_docs (body text)" >/dev/null
stack_psql "$NOMNOM_DB" -c "\\copy bench_docs FROM '$WORK/M/docs.ndjson'"
rm -f "$WORK/sql.pid" "$WORK/sql.go"
# The session writes its backend's PID (\! would not expand a variable), then waits
# (30 s at most) until perf is attached.
stack_psql "$NOMNOM_DB" >/dev/null <<SQL &
\\t on
\\a
\\o $WORK/sql.pid
SELECT pg_backend_pid();
\\o
\\! timeout 30 sh -c 'until [ -e $WORK/sql.go ]; do sleep 0.05; done'
SELECT count(nomnom.ingest('Order', body)) FROM bench_docs;
SQL
psql_pid=$!
wait_until 30 "[[ -s $WORK/sql.pid ]]" || fail "no backend PID"
perf_start "$PERF_DIR/sql.perf" "$(cat "$WORK/sql.pid")"
t0=$(now)
touch "$WORK/sql.go"
wait "$psql_pid" || fail "nomnom.ingest failed"
sql_seconds=$(elapsed "$t0" "$(now)")
perf_stop
check_totals "SQL nomnom.ingest" M
perf_summary "$PERF_DIR/sql.perf" "perf: backend running SELECT count(nomnom.ingest('Order', body)) over $ORDERS documents" \
    "$OUT/latest-profile-sql.txt" "SQL: $((M_orders + M_line_items)) rows in $sql_seconds s under perf"

bench_log "profiling the bridge and nats-server under NDJSON batches of $BATCH_LINES (worker paused)"
reset_tables
perf_start "$PERF_DIR/http.perf" "$NOMNOM_BRIDGE_PID,$NOMNOM_NATS_PID"
bridge_cpu0=$(cpu_seconds "$NOMNOM_BRIDGE_PID") nats_cpu0=$(cpu_seconds "$NOMNOM_NATS_PID")
http_load M "$BATCH_LINES" 4
bridge_cpu=$(echo "$(cpu_seconds "$NOMNOM_BRIDGE_PID") - $bridge_cpu0" | bc)
nats_cpu=$(echo "$(cpu_seconds "$NOMNOM_NATS_PID") - $nats_cpu0" | bc)
perf_stop
perf_summary "$PERF_DIR/http.perf" "perf: nomnom-bridge + nats-server, $ORDERS orders as NDJSON batches of $BATCH_LINES" \
    "$OUT/latest-profile-http.txt" \
    "HTTP batch: $(echo "$M_orders / $HTTP_SECONDS" | bc) docs/s under perf over $HTTP_SECONDS s; CPU seconds: bridge $bridge_cpu, nats-server $nats_cpu (wrk takes the rest)"
