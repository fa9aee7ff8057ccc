#!/usr/bin/env bash
# The worker's waits, measured side by side: the same drain with nomnom.pipelined_commit off
# (each commit waits for its WAL flush, then the batch is acknowledged) and on (a full batch
# commits without waiting; its acknowledgements go out once the commit is flushed, while the
# next batch is written), in turn, ROUNDS times each, on emptied tables, track_status on.
#
#   bash bench/waits.sh [--orders N] [--rounds N] [--workers N] [--wal-buffers SIZE]
#                       [--modes 'MODE ...'] [--peer]
#
# --modes: the settings compared, in turn each round; a mode is one or more GUC=VALUE joined
# by commas, e.g. --modes 'nomnom.commits_in_flight=1 nomnom.commits_in_flight=4' (default
# 'nomnom.pipelined_commit=off nomnom.pipelined_commit=on').
# --peer: each round starts with the peer consumer (test/tools/peer_consumer.cpp, as in make
# bench) over the same orders on its own stream, timed from its start to its last commit;
# its row has the seconds and rows/s only.
#
# For each drain: seconds (worker start to the last commit), rows/s, the worker's backend
# thread on CPU, waiting for a CPU (run queue) and off CPU by its own waits (flush, fetch,
# locks: wall - on CPU - run queue), from /proc/PID/task/PID/schedstat; its other threads'
# CPU (the prefetch thread's, mostly); nats-server's CPU;
# the WAL syncs (pg_stat_wal.wal_sync) during the drain. Needs `make` and `make install`
# (the Makefile's bench target takes /tmp/nomnom-install.lock; take it too:
# flock /tmp/nomnom-install.lock bash bench/waits.sh).
# shellcheck disable=SC2154,SC2034
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORDERS=50000 ROUNDS=3 WORKERS=1 WAL_BUFFERS='' MODES='nomnom.pipelined_commit=off nomnom.pipelined_commit=on' WITH_PEER=0
while (($#)); do
    case $1 in
    --orders) ORDERS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --wal-buffers) WAL_BUFFERS=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --peer) WITH_PEER=1; shift ;;
    *) echo "usage: $0 [--orders N] [--rounds N] [--workers N] [--wal-buffers SIZE] [--modes 'MODE ...'] [--peer]" >&2; exit 2 ;;
    esac
done
SEED=42
export NOMNOM_PG_FSYNC=on
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
}

sql "SELECT nomnom.alter_stream('MESSAGES', '{\"track_status\": true, \"workers\": $WORKERS}')" >/dev/null
printf 'round\tmode\tseconds\trows_per_s\tbackend_on_cpu_s\tbackend_run_queue_s\tbackend_off_cpu_s\tother_threads_cpu_s\tnats_cpu_s\twal_syncs\twal_buffers_full\n' >"$WORK/waits.tsv"
if ((WITH_PEER)); then peer_stream_up; fi
for round in $(seq "$ROUNDS"); do
    if ((WITH_PEER)); then
        peer_run W "peer$round-" "$ORDERS"
        printf '%s\tpeer\t%.2f\t%d\t\t\t\t\t\t\t\n' "$round" "$PEER_SECONDS" \
            "$(echo "$W_rows / $PEER_SECONDS" | bc)" | tee -a "$WORK/waits.tsv"
    fi
    for mode in $MODES; do
        IFS=, read -ra assignments <<<"$mode"
        for assignment in "${assignments[@]}"; do
            [[ $assignment =~ ^[a-z_.]+=[A-Za-z0-9_]+$ ]] || fail "--modes: '$assignment' is not GUC=VALUE"
            sql "ALTER SYSTEM SET ${assignment%%=*} = '${assignment#*=}'" >/dev/null
        done
        sql "SELECT pg_reload_conf()" >/dev/null
        reset_tables
        expect_reset
        drain_publish W "w$round$mode-" 0 "$ORDERS"
        sql "SELECT pg_stat_reset_shared('wal')" >/dev/null
        nats0=$(ticks "$NOMNOM_NATS_PID")
        sql "CHECKPOINT" >/dev/null
        resume_stream
        t0=$(now)
        wait_committed
        seconds=$(elapsed "$t0" "$(last_commit)")
        read_worker "$WORKER_PID"
        nats_s=$(echo "($(ticks "$NOMNOM_NATS_PID") - $nats0) / $HZ" | bc -l)
        syncs=$(sql "SELECT wal_sync || E'\t' || wal_buffers_full FROM pg_stat_wal")
        PENDING_MSGS=0 PENDING_ROWS=0
        pause_stream
        check_totals "drain, $mode" EXPECTED
        [[ $(sql "SELECT count(*) FROM nomnom.message_status WHERE status = 'completed'") == "$W_orders" ]] ||
            fail "message_status does not hold $W_orders completed ids"
        printf '%s\t%s\t%.2f\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\n' "$round" "$mode" "$seconds" \
            "$(echo "$W_rows / $seconds" | bc)" "$ONCPU_S" "$QUEUE_S" "$OFFCPU_S" "$THREADS_S" "$nats_s" "$syncs" |
            tee -a "$WORK/waits.tsv"
    done
done
for mode in $MODES; do
    IFS=, read -ra assignments <<<"$mode"
    for assignment in "${assignments[@]}"; do
        sql "ALTER SYSTEM RESET ${assignment%%=*}" >/dev/null
    done
done
echo "orders=$W_orders rows=$W_rows workers=$WORKERS wal_buffers=$(sql 'SHOW wal_buffers') load before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
column -t -s $'\t' "$WORK/waits.tsv"
