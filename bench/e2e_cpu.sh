#!/usr/bin/env bash
# Where the CPU of the end-to-end row goes: CPU seconds per process and thread (from
# /proc/PID/task/TID/schedstat, before and after) of nomnom-bridge, nats-server, wrk and
# every PostgreSQL process (the worker backend, its prefetch thread, the bridge's
# connections, walwriter, ...) over three runs of the same orders, as bench/run.sh runs
# them: HTTP only (NDJSON batches of 250 over 4 connections, worker paused), the drain of
# what that published (each message has the bridge's pending row), the drain of the same
# orders published by nomnom-publish (no pending rows, as bench/run.sh's drain rows), and end
# to end (HTTP in while the worker drains, until the last
# row is committed). Prints microseconds of CPU per document for each component and run:
# a figure that other load on the machine changes far less than wall time.
#
#   bash bench/e2e_cpu.sh [--orders N] [--out FILE] [--against BRIDGE [--rounds N]]
#
#   --orders N       orders in the set (default 50000)
#   --out FILE       the table also into FILE
#   --against BIN    then end to end with another nomnom-bridge binary and this build's, in
#                    turn --rounds times (default 3; the other first in odd rounds, this
#                    build's in even ones): each round's seconds and CPU per document, and
#                    the fastest of each (a paired comparison of two bridges)
#
# Needs `make` and the extension installed (hold /tmp/nomnom-install.lock around both).
# Processes that end within a run (autovacuum workers, the psql polls) are not counted.
# shellcheck disable=SC2154,SC2034,SC2153,SC2317
set -euo pipefail
export LC_ALL=C # sort and join agree on the order
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORDERS=50000 OUT='' AGAINST='' ROUNDS=3
while (($#)); do
    case $1 in
    --orders) ORDERS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --against) AGAINST=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "usage: $0 [--orders N] [--out FILE] [--against BRIDGE [--rounds N]]" >&2; exit 2 ;;
    esac
done
BATCH_LINES=250
# shellcheck source=lib.sh
source "$HERE/lib.sh"
bench_begin
generate M 0 "$ORDERS" ndjson
# Waits of over a second (deadlock_timeout) on a lock are logged, and counted in the report:
# the bridge's pending rows and the worker's claim write the same ids.
sql "ALTER SYSTEM SET log_lock_waits = on" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
best() { if [[ -z $1 ]] || (($(echo "$2 < $1" | bc))); then echo "$2"; else echo "$1"; fi; }

# snapshot FILE: "pid tid ns" for every thread of the bridge, nats-server and PostgreSQL,
# and (as pid 0) what PostgreSQL processes that have ended used (the postmaster's children's
# times: autovacuum workers, the bench's own polls).
snapshot() {
    local pid task
    awk -v hz="$(getconf CLK_TCK)" '{print 0, 0, 1e9 * ($16 + $17) / hz}' "/proc/$NOMNOM_PG_PID/stat" >"$1.ended"
    for pid in "$NOMNOM_BRIDGE_PID" "$NOMNOM_NATS_PID" "$NOMNOM_PG_PID" $(pgrep -P "$NOMNOM_PG_PID"); do
        for task in /proc/"$pid"/task/*; do
            [[ -r $task/schedstat ]] || continue
            read -r ns _ <"$task/schedstat" 2>/dev/null || continue
            echo "$pid ${task##*/} $ns"
        done
    done | cat "$1.ended" - >"$1"
    nats_counters >"$1.nats"
}
# nats_counters: nats-server's messages in and out (/varz: publishes, acks, pull requests in;
# deliveries, PubAcks out) and its read and write system calls (/proc/PID/io), so far.
nats_counters() {
    echo "$(curl -fs "$NOMNOM_NATS_MONITOR_URL/varz" | jq -r '"\(.in_msgs) \(.out_msgs)"')" \
        "$(awk '$1 == "syscr:" || $1 == "syscw:" {printf "%s ", $2}' "/proc/$NOMNOM_NATS_PID/io")"
}
# nats_line NAME DOCS: nats-server's messages in and out, reads and writes a 1,000 documents
# over run NAME.
nats_line() {
    paste -d' ' "$WORK/$1.0.nats" "$WORK/$1.1.nats" | awk -v name="$1" -v docs="$2" '{
        k = 1000 / docs
        printf "| %s | %.0f | %.0f | %.0f | %.0f |\n", name, ($5 - $1) * k, ($6 - $2) * k, ($7 - $3) * k, ($8 - $4) * k}'
}
# labels FILE: "pid label" for the PostgreSQL processes (the worker is $WORKER_PID).
labels() {
    {
        echo "$NOMNOM_BRIDGE_PID bridge"
        echo "$NOMNOM_NATS_PID nats-server"
        echo "$NOMNOM_PG_PID postmaster"
        echo "0 pg-ended-processes"
        sql "SELECT pid, CASE WHEN pid = ${WORKER_PID:-0} THEN 'worker'
                              WHEN application_name = 'nomnom-bridge' THEN 'pg-for-bridge'
                              WHEN backend_type = 'client backend' THEN 'pg-other-client'
                              ELSE 'pg-' || replace(backend_type, ' ', '-') END
             FROM pg_stat_activity" | tr '|' ' '
    } >"$1"
}
# cpu_table NAME DOCS: the per-component CPU of run NAME ($WORK/NAME.{0,1,labels}), in
# seconds and microseconds a document, into $WORK/NAME.tsv; the worker's other threads
# are its prefetch thread.
cpu_table() {
    awk -v docs="$2" -v wrk="${WRK_CPU:-0}" -v OFS='\t' '
        FILENAME ~ /labels$/ {label[$1] = $2; next}
        FILENAME ~ /\.0$/ {before[$1 " " $2] = $3; next}
        {l = ($1 in label) ? label[$1] : "pg-ended-or-unknown"
         if (l == "worker" && $2 != $1) l = "worker-prefetch-thread"
         cpu[l] += ($3 - before[$1 " " $2]) / 1e9}
        END {cpu["wrk"] = wrk
             for (l in cpu) if (cpu[l] > 0.005) {print l, cpu[l], 1e6 * cpu[l] / docs; total += cpu[l]}
             print "total", total, 1e6 * total / docs}' \
        "$WORK/$1.labels" "$WORK/$1.0" "$WORK/$1.1" | sort >"$WORK/$1.tsv"
}

# What went wrong on the way, so far: deadlocks, lock waits and crashes in PostgreSQL's log,
# the bridge's failed pending-row writes (a deadlock victim's retry counts here).
log_counts() {
    echo "PostgreSQL's log: $(grep -c 'deadlock detected' "$NOMNOM_PG_LOG") deadlocks," \
        "$(grep -c 'still waiting for' "$NOMNOM_PG_LOG") lock waits over deadlock_timeout," \
        "$(grep -c 'terminated by signal' "$NOMNOM_PG_LOG") processes ended by a signal;" \
        "the bridge's failed pending-row writes: $(curl -s "$NOMNOM_BRIDGE_URL/metrics" |
            awk '$1 == "nomnom_bridge_status_write_failures_total" {print $2}')"
}

bench_log "CPU: HTTP only ($ORDERS orders as NDJSON batches of $BATCH_LINES, 4 connections, worker paused)"
reset_tables
expect_reset
expect_add M
snapshot "$WORK/http.0"
http_load M "$BATCH_LINES" 4 # returns once the bridge's status queue is empty
snapshot "$WORK/http.1"
labels "$WORK/http.labels"
cpu_table http "$M_orders"
http_seconds=$HTTP_SECONDS

bench_log "CPU: the drain of what the HTTP run published"
snap_drain_start() { snapshot "$WORK/drain.0"; }
wait_committed() { # lib.sh's, then the snapshot before the pause ends the worker
    wait_drained
    snapshot "$WORK/drain.1"
    labels "$WORK/drain.labels"
}
WRK_CPU=0 DRAIN_HOOK=snap_drain_start drain_run ""
WRK_CPU=0 cpu_table drain "$M_orders"
drain_seconds=$DRAIN_SECONDS

bench_log "CPU: the drain of the same orders published by nomnom-publish (no pending rows)"
reset_tables
expect_reset
drain_publish M pub- 0 "$ORDERS"
wait_committed() {
    wait_drained
    snapshot "$WORK/drain0.1"
    labels "$WORK/drain0.labels"
}
snap_drain_start() { snapshot "$WORK/drain0.0"; }
WRK_CPU=0 DRAIN_HOOK=snap_drain_start drain_run ""
WRK_CPU=0 cpu_table drain0 "$M_orders"
drain0_seconds=$DRAIN_SECONDS

# e2e_once NAME: the end-to-end run into $WORK/NAME.*; sets E2E_SECONDS.
e2e_once() {
    reset_tables
    expect_reset
    expect_add M
    sql "CHECKPOINT" >/dev/null
    resume_stream
    snapshot "$WORK/$1.0"
    local t0
    t0=$(now)
    http_load M "$BATCH_LINES" 4
    wait_drained
    PENDING_MSGS=0 PENDING_ROWS=0
    snapshot "$WORK/$1.1"
    labels "$WORK/$1.labels"
    E2E_SECONDS=$(elapsed "$t0" "$(last_commit)")
    pause_stream
    check_totals "end to end" EXPECTED
    cpu_table "$1" "$M_orders"
}
bench_log "CPU: end to end (HTTP in while the worker drains, until the last row is committed)"
e2e_once e2e
e2e_seconds=$E2E_SECONDS

{
    echo "CPU per document, $M_orders orders ($((M_orders + M_line_items)) rows); git $(git -C "$NOMNOM_REPO_ROOT" rev-parse --short HEAD);" \
        "load $(cut -d' ' -f1-3 /proc/loadavg); wall: HTTP ${http_seconds} s, drain ${drain_seconds} s, drain without pending rows ${drain0_seconds} s, end to end ${e2e_seconds} s"
    echo
    echo "| component | HTTP only s | µs/doc | drain s | µs/doc | drain, no pending rows s | µs/doc | end to end s | µs/doc |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    join -t $'\t' -a1 -a2 -e 0 -o 0,1.2,1.3,2.2,2.3 "$WORK/http.tsv" "$WORK/drain.tsv" |
        join -t $'\t' -a1 -a2 -e 0 -o 0,1.2,1.3,1.4,1.5,2.2,2.3 - "$WORK/drain0.tsv" |
        join -t $'\t' -a1 -a2 -e 0 -o 0,1.2,1.3,1.4,1.5,1.6,1.7,2.2,2.3 - "$WORK/e2e.tsv" |
        awk -F'\t' '{line = sprintf("| %s | %.2f | %.0f | %.2f | %.0f | %.2f | %.0f | %.2f | %.0f |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9)
                     if ($1 == "total") last = line; else printf "%s", line} END {printf "%s", last}'
    echo
    echo "nats-server a 1,000 documents: | run | messages in | messages out | reads | writes |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for run in http drain drain0 e2e; do nats_line "$run" "$M_orders"; done
    echo
    log_counts
} | tee ${OUT:+"$OUT"}

if [[ -n $AGAINST ]]; then
    [[ -x $AGAINST ]] || fail "--against $AGAINST: not an executable"
    bridge_with() { # BIN
        stack_stop_bridge
        NOMNOM_BRIDGE_BIN=$1 stack_start_bridge --log-level warn
        wait_until 30 curl -fs "$NOMNOM_BRIDGE_URL/ready" || fail "bridge not ready"
    }
    best_a='' best_b=''
    for round in $(seq "$ROUNDS"); do
        # a first in odd rounds, b first in even ones: a run may pay for the autovacuum of
        # the run before it, which the side always second would pay more often.
        for side in $( ((round % 2)) && echo a b || echo b a); do
            bridge_with "$([[ $side == a ]] && echo "$AGAINST" || echo "$BUILD/bridge/nomnom-bridge")"
            bench_log "end to end, round $round, bridge $side"
            e2e_once "pair-$side-$round"
            per_doc=$(awk -F'\t' '$1 == "total" {print $3}' "$WORK/pair-$side-$round.tsv")
            bench_log "round $round, bridge $side: $E2E_SECONDS s, $(printf %.0f "$per_doc") µs CPU a document"
            if [[ $side == a ]]; then best_a=$(best "$best_a" "$E2E_SECONDS"); else best_b=$(best "$best_b" "$E2E_SECONDS"); fi
        done
    done
    {
        echo
        echo "End to end, fastest of $ROUNDS rounds in turn: a ($AGAINST) $best_a s, b (this build) $best_b s:" \
            "b at $(echo "scale=3; $best_a / $best_b" | bc)x a's rate"
        echo
        echo "| component | a: µs/doc each round | b: µs/doc each round |"
        echo "| --- | --- | --- |"
        awk -F'\t' '{n = FILENAME; sub(/.*\//, "", n); split(n, f, "-"); side = f[2]; v[$1 "\t" side] = v[$1 "\t" side] sprintf(" %.0f", $3); seen[$1] = 1}
            END {for (c in seen) printf "| %s |%s |%s |\n", c, v[c "\ta"], v[c "\tb"]}' \
            "$WORK"/pair-[ab]-*.tsv | sort
        echo
        echo "| nats-server a 1,000 documents | messages in | messages out | reads | writes |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        for f in "$WORK"/pair-[ab]-*.0.nats; do f=${f##*/}; nats_line "${f%.0.nats}" "$M_orders"; done
        echo
        log_counts
    } | tee -a ${OUT:+"$OUT"}
fi
