#!/usr/bin/env bash
# The worker's waits, measured side by side: the same drain with nomnom.pipelined_commit off
# (each commit waits for its WAL flush, then the batch is acknowledged) and on (a full batch
# commits without waiting; its acknowledgements go out once the commit is flushed, while the
# next batch is written), in turn, ROUNDS times each, on emptied tables, track_status on.
#
#   bash bench/waits.sh [--orders N] [--rounds N] [--workers N] [--wal-buffers SIZE]
#                       [--modes 'MODE ...'] [--peer] [--perf-nats] [--perf-worker]
#
# --modes: the settings compared, in turn each round; a mode is one or more GUC=VALUE joined
# by commas, e.g. --modes 'nomnom.commits_in_flight=1 nomnom.commits_in_flight=4' (default
# 'nomnom.pipelined_commit=off nomnom.pipelined_commit=on'); stream.KEY=VALUE sets the
# stream's option KEY for that mode (nomnom.alter_stream), e.g. stream.batch_size=2000.
# --peer: each round starts with the peer consumer (test/tools/peer_consumer.cpp, as in make
# bench) over the same orders on its own stream, timed from its start to its last commit;
# its row has the seconds, rows/s, its own CPU (user + system) and nats-server's CPU.
# --perf-nats: nats-server under `perf record` during each drain and peer run; where its CPU
# went (Go functions, from its .gopclntab: bench/gosym.py) is printed at the end.
# --perf-worker: the worker under `perf record` (no call graphs) during each drain; its
# prefetch thread's and its other threads' top functions are printed at the end.
#
# For each drain: seconds (worker start to the last commit), rows/s, the worker's backend
# thread on CPU, waiting for a CPU (run queue) and off CPU by its own waits (flush, fetch,
# locks: wall - on CPU - run queue), from /proc/PID/task/PID/schedstat; its other threads'
# CPU, and of them the prefetch thread's (named nn_prefetch); nats-server's CPU, and both
# in µs a document, and its read and write system calls a 1,000 documents (/proc/PID/io);
# every PostgreSQL process's CPU (the worker, or the peer's backend, and the background
# processes, the poll of the drain's end too) and the total with nats-server's (and the
# peer's own) in µs a document;
# the WAL syncs (pg_stat_wal.wal_sync) during the drain; with log_min_messages=debug1 in a
# mode (e.g. --modes 'log_min_messages=debug1'), the messages the prefetch thread mapped
# ahead and, of those, the ones the writer did not take and mapped again (the worker's DEBUG1
# lines; 0 otherwise). Needs `make` and `make install`
# (the Makefile's bench target takes /tmp/nomnom-install.lock; take it too:
# flock /tmp/nomnom-install.lock bash bench/waits.sh).
# shellcheck disable=SC2154,SC2034
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORDERS=50000 ROUNDS=3 WORKERS=1 WAL_BUFFERS='' MODES='nomnom.pipelined_commit=off nomnom.pipelined_commit=on' WITH_PEER=0 PERF_NATS=0 PERF_WORKER=0
while (($#)); do
    case $1 in
    --orders) ORDERS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --wal-buffers) WAL_BUFFERS=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --peer) WITH_PEER=1; shift ;;
    --perf-nats) PERF_NATS=1; shift ;;
    --perf-worker) PERF_WORKER=1; shift ;;
    *) echo "usage: $0 [--orders N] [--rounds N] [--workers N] [--wal-buffers SIZE] [--modes 'MODE ...'] [--peer] [--perf-nats] [--perf-worker]" >&2; exit 2 ;;
    esac
done
# shellcheck source=lib.sh
source "$HERE/lib.sh"
PEER=$BUILD/test/tools/nomnom-peer-consumer
if ((WITH_PEER)); then bench_begin "$PEER"; else bench_begin; fi
if [[ -n $WAL_BUFFERS ]]; then
    sql "ALTER SYSTEM SET wal_buffers = '$WAL_BUFFERS'" >/dev/null
    stack_restart_pg
fi
generate W 0 "$ORDERS"
W_rows=$((W_orders + W_line_items))
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, all threads
HZ=$(getconf CLK_TCK)

# The worker's figures over its life (it starts with the drain), read before the stream is
# paused (pausing ends the worker).
read_worker() {
    local pid=$1 on_ns queue_ns start_ticks up
    read -r on_ns queue_ns _ <"/proc/$pid/task/$pid/schedstat"
    start_ticks=$(awk '{print $22}' "/proc/$pid/stat")
    up=$(awk '{print $1}' /proc/uptime)
    WALL_S=$(echo "$up - $start_ticks / $HZ" | bc -l)
    ONCPU_S=$(echo "$on_ns / 1000000000" | bc -l)
    QUEUE_S=$(echo "$queue_ns / 1000000000" | bc -l)
    OFFCPU_S=$(echo "$WALL_S - $ONCPU_S - $QUEUE_S" | bc -l)
    # The worker's other threads (prefetch, mapping, lag, nats.c's; ended ones included):
    # the process's CPU time less the backend thread's.
    THREADS_S=$(echo "$(ticks "$pid") / $HZ - $ONCPU_S" | bc -l)
    local task name ns
    PREFETCH_S=0
    for task in /proc/"$pid"/task/*; do
        name=$(cat "$task/comm" 2>/dev/null) || continue
        [[ $name == nn_prefetch ]] || continue
        read -r ns _ <"$task/schedstat"
        PREFETCH_S=$(echo "$ns / 1000000000" | bc -l)
    done
}
peer_before() {
    BACKENDS0=" $(client_backends | cut -d' ' -f1 | tr '\n' ' ') "
    perf_start "peer$round"
    PEER_PG0=$(pg_ticks)
    PEER_CALLS0=$(syscalls "$NOMNOM_NATS_PID")
    PEER_MSGS0=$(nats_msgs)
}
peer_after() {
    PEER_CALLS1=$(syscalls "$NOMNOM_NATS_PID")
    PEER_MSGS1=$(nats_msgs)
    # The peer's backend ends after its client: counted once it is in the postmaster's cutime.
    wait_until 10 peer_backend_gone || fail "the peer's backend still runs 10 s after the peer ended: $(new_client_backends)"
    PEER_PG1=$(pg_ticks)
    perf_stop
}
# CPU ticks of every PostgreSQL process so far: the postmaster, its live children, and its
# children that ended (its cutime + cstime: a worker that exited, the peer's backend, psql's
# sessions, autovacuum).
pg_ticks() {
    local n child
    n=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$NOMNOM_PG_PID/stat")
    for child in $(pgrep -P "$NOMNOM_PG_PID"); do
        n=$((n + $(awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || echo 0)))
    done
    echo "$n"
}
# The postmaster's children that serve a client ("postgres: USER DB HOST(PORT) ..." or
# "[local]": the peer's backend, psql's, the bridge's) or have exited and are not reaped yet
# (their CPU not yet in its cutime); one "PID what" a line.
client_backends() {
    local child cmd state re='(\[local\]|[0-9a-f.:]+\([0-9]+\))'
    for child in $(pgrep -P "$NOMNOM_PG_PID"); do
        state=$(awk '{print $3}' "/proc/$child/stat" 2>/dev/null) || continue
        if [[ $state == Z ]]; then echo "$child exited"; continue; fi
        cmd=$(tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null) || continue
        if [[ $cmd =~ $re ]]; then echo "$child $cmd"; fi
    done
}
# Those that were not there when the peer started ($BACKENDS0): its own backend.
new_client_backends() {
    local line
    while read -r line; do
        [[ -z $line || $BACKENDS0 == *" ${line%% *} "* ]] || echo "$line"
    done <<<"$(client_backends)"
}
peer_backend_gone() { [[ -z $(new_client_backends) ]]; }
# A process's read and write system calls so far (all its threads): nats-server's, a drain's
# socket reads (acks, pull requests) and writes (deliveries).
syscalls() { awk '/^sysc[rw]:/ {n += $2} END {print n}' "/proc/$1/io"; }
# nats-server's messages in and out so far (/varz: every client's publishes, acks and
# requests in; deliveries and replies out): "in out".
nats_msgs() { curl -fs "$NOMNOM_NATS_MONITOR_URL/varz" | jq -r '"\(.in_msgs) \(.out_msgs)"'; }
# in_out_per_batch "IN0 OUT0" "IN1 OUT1": both differences a 1,000 documents, "in/out".
in_out_per_batch() {
    local a b
    read -ra a <<<"$1"
    read -ra b <<<"$2"
    echo "$(per_batch "$((b[0] - a[0]))")/$(per_batch "$((b[1] - a[1]))")"
}
per_batch() { echo "$1 * 1000 / $W_orders" | bc; } # a count -> a 1,000 documents
# set_option NAME VALUE: a GUC by ALTER SYSTEM, or stream.KEY: the stream's option KEY by
# nomnom.alter_stream (reset_option puts it back to its default after the drain).
set_option() {
    if [[ $1 == stream.* ]]; then
        local value=$2
        [[ $value =~ ^[0-9]+$|^true$|^false$ ]] || value="\"$value\""
        sql "SELECT nomnom.alter_stream('MESSAGES', '{\"${1#stream.}\": $value}')" >/dev/null
    else
        sql "ALTER SYSTEM SET $1 = '$2'" >/dev/null
    fi
}
reset_option() {
    if [[ $1 == stream.* ]]; then
        sql "SELECT nomnom.alter_stream('MESSAGES', '{\"${1#stream.}\": null}')" >/dev/null
    else
        sql "ALTER SYSTEM RESET $1" >/dev/null
    fi
}
# log_count PATTERN: the numbers leading PATTERN's matches in the log since byte $log0, summed
log_count() { tail -c +$((log0 + 1)) "$NOMNOM_PG_LOG" | { grep -o "$1" || true; } | awk '{n += $1} END {print n + 0}'; }
per_doc() { echo "$1 * 1000000 / $W_orders" | bc; } # seconds -> µs a document
# perf_start NAME / perf_stop: nats-server sampled meanwhile (--perf-nats), into NAME.perf.
perf_start() {
    ((PERF_NATS)) || return 0
    perf record -q -F 2999 -g -p "$NOMNOM_NATS_PID" -o "$WORK/$1.perf" >/dev/null 2>&1 &
    PERF_PID=$!
    # Attached once its events are open (perf_event file descriptors of its own).
    wait_until 10 perf_attached || fail "perf record did not attach to nats-server in 10 s"
}
perf_attached() {
    stack_pid_alive "$PERF_PID" || return 1
    find "/proc/$PERF_PID/fd" -lname 'anon_inode:*perf_event*' 2>/dev/null | grep -q .
}
perf_stop() {
    ((PERF_NATS)) || return 0
    kill -INT "$PERF_PID"
    wait "$PERF_PID" || true
}
# Where nats-server's samples went: by its own function, and by every function on the stack.
perf_report() {
    local f
    for f in "$WORK"/*.perf; do
        perf script -i "$f" -F ip 2>/dev/null >"$f.ips"
        echo "== $(basename "$f" .perf): nats-server's samples by function (self)"
        python3 "$HERE/gosym.py" /usr/sbin/nats-server --top 25 <"$f.ips"
        echo "== $(basename "$f" .perf): by function on the stack (inclusive)"
        python3 "$HERE/gosym.py" /usr/sbin/nats-server --top 60 --inclusive <"$f.ips"
    done
}
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"track_status\": true, \"workers\": $WORKERS}')" >/dev/null
printf 'round\tmode\tseconds\trows_per_s\tbackend_on_cpu_s\tbackend_run_queue_s\tbackend_off_cpu_s\tother_threads_cpu_s\tprefetch_us_doc\tnats_cpu_s\tnats_us_doc\tnats_syscalls_per_1000\tnats_msgs_in/out_per_1000\tpg_all_us_doc\ttotal_us_doc\twal_syncs\twal_buffers_full\tmapped_ahead\tnot_taken\n' >"$WORK/waits.tsv"
if ((WITH_PEER)); then peer_stream_up; fi
for round in $(seq "$ROUNDS"); do
    if ((WITH_PEER)); then
        peer_run W "peer$round-" "$ORDERS"
        nats_s=$(echo "($PEER_NATS1 - $PEER_NATS0) / $HZ" | bc -l)
        pg_s=$(echo "($PEER_PG1 - $PEER_PG0) / $HZ" | bc -l)
        printf '%s\tpeer\t%.2f\t%d\t%.2f\t\t\t\t\t%.2f\t%d\t%d\t%s\t%d\t%d\t\t\t\t\n' "$round" "$PEER_SECONDS" \
            "$(echo "$W_rows / $PEER_SECONDS" | bc)" "$PEER_CPU_S" "$nats_s" "$(per_doc "$nats_s")" \
            "$(per_batch "$((PEER_CALLS1 - PEER_CALLS0))")" "$(in_out_per_batch "$PEER_MSGS0" "$PEER_MSGS1")" \
            "$(per_doc "$pg_s")" "$(per_doc "$(echo "$pg_s + $nats_s + $PEER_CPU_S" | bc -l)")" |
            tee -a "$WORK/waits.tsv"
    fi
    for mode in $MODES; do
        IFS=, read -ra assignments <<<"$mode"
        for assignment in "${assignments[@]}"; do
            [[ $assignment =~ ^[a-z_.]+=[A-Za-z0-9_]+$ ]] || fail "--modes: '$assignment' is not GUC=VALUE"
            set_option "${assignment%%=*}" "${assignment#*=}"
        done
        sql "SELECT pg_reload_conf()" >/dev/null
        reset_tables
        expect_reset
        drain_publish W "w$round$mode-" 0 "$ORDERS"
        sql "SELECT pg_stat_reset_shared('wal')" >/dev/null
        nats0=$(ticks "$NOMNOM_NATS_PID")
        nats_calls0=$(syscalls "$NOMNOM_NATS_PID")
        nats_msgs0=$(nats_msgs)
        sql "CHECKPOINT" >/dev/null
        pg0=$(pg_ticks)
        perf_start "drain$round-${mode//[^a-z0-9_=]/_}"
        log0=$(stat -c %s "$NOMNOM_PG_LOG")
        resume_stream
        t0=$(now)
        if ((PERF_WORKER)); then
            perf record -q -F 999 -p "$WORKER_PID" -o "$WORK/drain$round-${mode//[^a-z0-9_=]/_}.worker" >/dev/null 2>&1 &
            WORKER_PERF_PID=$!
        fi
        wait_committed
        perf_stop
        if ((PERF_WORKER)); then kill -INT "$WORKER_PERF_PID"; wait "$WORKER_PERF_PID" || true; fi
        seconds=$(elapsed "$t0" "$(last_commit)")
        read_worker "$WORKER_PID"
        nats_s=$(echo "($(ticks "$NOMNOM_NATS_PID") - $nats0) / $HZ" | bc -l)
        syncs=$(sql "SELECT wal_sync || E'\t' || wal_buffers_full FROM pg_stat_wal")
        ahead=$(log_count '[0-9]* mapped ahead with') not_taken=$(log_count '[0-9]* messages mapped ahead not taken')
        PENDING_MSGS=0 PENDING_ROWS=0
        pause_stream
        nats_msgs1=$(nats_msgs) # the last batch's acknowledgements out (the worker's exit)
        pg_s=$(echo "($(pg_ticks) - $pg0) / $HZ" | bc -l)
        check_totals "drain, $mode" EXPECTED
        [[ $(sql "SELECT count(*) FROM nomnom.message_status WHERE status = 'completed'") == "$W_orders" ]] ||
            fail "message_status does not hold $W_orders completed ids"
        for assignment in "${assignments[@]}"; do
            if [[ $assignment == stream.* ]]; then reset_option "${assignment%%=*}"; fi
        done
        printf '%s\t%s\t%.2f\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%.2f\t%d\t%d\t%s\t%d\t%d\t%s\t%s\t%s\n' "$round" "$mode" "$seconds" \
            "$(echo "$W_rows / $seconds" | bc)" "$ONCPU_S" "$QUEUE_S" "$OFFCPU_S" "$THREADS_S" \
            "$(per_doc "$PREFETCH_S")" "$nats_s" "$(per_doc "$nats_s")" \
            "$(per_batch "$(($(syscalls "$NOMNOM_NATS_PID") - nats_calls0))")" \
            "$(in_out_per_batch "$nats_msgs0" "$nats_msgs1")" "$(per_doc "$pg_s")" \
            "$(per_doc "$(echo "$pg_s + $nats_s" | bc -l)")" "$syncs" "$ahead" "$not_taken" |
            tee -a "$WORK/waits.tsv"
    done
done
for mode in $MODES; do
    IFS=, read -ra assignments <<<"$mode"
    for assignment in "${assignments[@]}"; do
        reset_option "${assignment%%=*}"
    done
done
echo "orders=$W_orders rows=$W_rows workers=$WORKERS wal_buffers=$(sql 'SHOW wal_buffers') load before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
column -t -s $'\t' "$WORK/waits.tsv"
if ((PERF_NATS)); then perf_report; fi
if ((PERF_WORKER)); then
    for f in "$WORK"/*.worker; do
        echo "== $(basename "$f" .worker): the worker's prefetch thread (nn_prefetch), by function"
        perf report -i "$f" --stdio --comm nn_prefetch --sort sym 2>/dev/null | grep -v '^#' | grep . | head -40
        echo "== $(basename "$f" .worker): the worker's threads, by thread and shared object"
        perf report -i "$f" --stdio --sort comm,dso 2>/dev/null | grep -v '^#' | grep . | head -20
    done
fi
