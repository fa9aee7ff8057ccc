#!/usr/bin/env bash
# Where the worker's backend thread's CPU goes, against a client \copy's backend on the same
# rows: user and system CPU seconds and page faults (minor, major) from /proc/PID/task/TID/stat
# over a drain of N orders (track_status on, one worker) and over a \copy of the same rows
# into the emptied tables, ROUNDS times in turn. Per document, in µs and faults; and each
# one's context switches (voluntary: it waited; involuntary: preempted) and the time it
# waited for a CPU while runnable (schedstat), a 1,000 documents.
#
#   bash bench/cpu_split.sh [--orders N] [--rounds R] [--pin CPU] [--batch-size N] [--other-so FILE]
#   (default 20000 orders, 2 rounds)
#
# --pin CPU: every other round, the worker's threads (the backend, the prefetch thread,
# nats.c's) all on that one CPU (taskset), to see what the backend's CPU a document does
# when the batch it writes was mapped on its own core.
# --batch-size N: every other round, the stream's batch_size N (1000 otherwise): whether the
# backend's CPU a document follows the size of the batch mapped ahead of it.
# --other-so FILE: every other round, FILE as nomnom.so (the installed one otherwise), the
# server restarted before each round with the one it runs: two builds paired round by round.
# shellcheck disable=SC2154,SC2034
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORDERS=20000 ROUNDS=2 PIN='' OTHER_BATCH='' OTHER_SO=''
usage="usage: $0 [--orders N] [--rounds R] [--pin CPU] [--batch-size N] [--other-so FILE]"
while (($#)); do
    case $1 in
    --other-so) OTHER_SO=$(realpath "$2"); shift 2 ;;
    --batch-size) OTHER_BATCH=$2; shift 2 ;;
    --pin) PIN=$2; shift 2 ;;
    --orders) ORDERS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
    esac
done
# shellcheck source=lib.sh
source "$HERE/lib.sh"
bench_begin
generate M 0 "$ORDERS"
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"track_status\": true, \"workers\": 1, \"publish_entities\": false}')" >/dev/null
HZ=$(getconf CLK_TCK)
if [[ -n $OTHER_SO ]]; then
    [[ -f $OTHER_SO ]] || fail "$OTHER_SO: no such file"
    SO=$("${PG_CONFIG:-pg_config}" --pkglibdir)/nomnom.so
    cp "$SO" "$WORK/installed.so"
fi
# "voluntary involuntary" context switches of a /proc status
switches() { awk '/^voluntary_ctxt_switches/ {v = $2} /^nonvoluntary_ctxt_switches/ {n = $2} END {print v, n}'; }
per_k() { # LABEL "voluntary involuntary run_ns wait_ns" (after) "..." (before)
    read -r v1 n1 r1 w1 <<<"$2"
    read -r v0 n0 r0 w0 <<<"${3:-0 0 0 0}"
    awk -v l="$1" -v n="$ORDERS" -v v="$((v1 - v0))" -v i="$((n1 - n0))" -v w="$((w1 - w0))" \
        'BEGIN { printf "%s: a 1,000 documents %.1f voluntary and %.1f involuntary switches, %.2f ms waiting for a CPU\n", l, v * 1000 / n, i * 1000 / n, w / 1e6 * 1000 / n }'
}
# minflt majflt utime stime of a /proc stat line (the fields after the command's parentheses)
split() { sed 's/.*) //' | awk '{print $8, $10, $12, $13}'; }
per_doc() { # LABEL "minflt majflt utime stime" (after) "..." (before)
    read -r f1 m1 u1 s1 <<<"$2"
    read -r f0 m0 u0 s0 <<<"${3:-0 0 0 0}"
    awk -v l="$1" -v n="$ORDERS" -v hz="$HZ" -v f="$((f1 - f0))" -v m="$((m1 - m0))" -v u="$((u1 - u0))" -v s="$((s1 - s0))" \
        'BEGIN { printf "%s: user %.1f µs/doc, system %.1f µs/doc, minor faults %.2f/doc, major %d\n", l, u / hz * 1e6 / n, s / hz * 1e6 / n, f / n, m }'
}
for ((round = 1; round <= ROUNDS; round++)); do
    build=''
    if [[ -n $OTHER_SO ]]; then
        # a new file renamed over the old (the running server keeps its mapping of the old)
        if ((round % 2 == 0)); then cp "$OTHER_SO" "$SO.new"; build=", $OTHER_SO"; else cp "$WORK/installed.so" "$SO.new"; fi
        mv "$SO.new" "$SO"
        stack_restart_pg
    fi
    reset_tables
    expect_reset
    drain_publish M "r$round-" 0 "$ORDERS"
    sample_worker() {
        local t=/proc/$WORKER_PID/task/$WORKER_PID
        WORKER_AFTER=$(split <"$t/stat")
        WORKER_SWITCHES="$(switches <"$t/status") $(cut -d' ' -f1-2 "$t/schedstat")"
    }
    wait_committed() { wait_drained; sample_worker; }
    pinned=''
    if [[ -n $PIN ]] && ((round % 2 == 0)); then
        pin_worker() { taskset -a -p -c "$PIN" "$WORKER_PID" >/dev/null; }
        DRAIN_HOOK=pin_worker
        pinned=", all its threads on CPU $PIN"
    else
        DRAIN_HOOK=''
    fi
    if [[ -n $OTHER_BATCH ]]; then
        batch=$((round % 2 == 0 ? OTHER_BATCH : 1000))
        sql "SELECT nomnom.alter_stream('MESSAGES', '{\"batch_size\": $batch}')" >/dev/null
        pinned+=", batch_size $batch"
    fi
    drain_run
    per_doc "round $round, worker backend thread$pinned$build (load $(cut -d' ' -f1 /proc/loadavg))" "$WORKER_AFTER"
    per_k "round $round, worker backend thread" "$WORKER_SWITCHES"
    reset_tables
    sql "CHECKPOINT" >/dev/null
    out=$(stack_psql "$NOMNOM_DB" -tA <<SQL
SELECT pg_read_file('/proc/self/stat');
SELECT replace(pg_read_file('/proc/self/status') || pg_read_file('/proc/self/schedstat'), E'\n', ' ');
BEGIN;
\copy orders (order_key, customer_key, order_status, total_price, order_date, order_priority, clerk, ship_priority, comment) FROM '$WORK/M/orders.csv' (FORMAT csv)
\copy order_line_items (order_key, line_number, part_key, supplier_key, quantity, extended_price, discount, tax, return_flag, line_status, ship_date, commit_date, receipt_date) FROM '$WORK/M/order_line_items.csv' (FORMAT csv)
COMMIT;
SELECT replace(pg_read_file('/proc/self/status') || pg_read_file('/proc/self/schedstat'), E'\n', ' ');
SELECT pg_read_file('/proc/self/stat');
SQL
    )
    check_totals "COPY" M
    per_doc "round $round, COPY backend" "$(tail -1 <<<"$out" | split)" "$(head -1 <<<"$out" | split)"
    # the Nth status line of the output: the backend's status and schedstat on one line
    copy_switches() {
        local line
        line=$(grep voluntary_ctxt_switches <<<"$out" | sed -n "${1}p")
        echo "$(tr -s ' \t' '\n' <<<"$line" | awk '$1 == "voluntary_ctxt_switches:" {getline; v = $1} $1 == "nonvoluntary_ctxt_switches:" {getline; n = $1} END {print v, n}') $(awk '{print $(NF-2), $(NF-1)}' <<<"$line")"
    }
    per_k "round $round, COPY backend" "$(copy_switches 2)" "$(copy_switches 1)"
done
if [[ -n $OTHER_SO ]]; then # the installed build back (for the next server start)
    cp "$WORK/installed.so" "$SO.new"
    mv "$SO.new" "$SO"
fi
