#!/usr/bin/env bash
# Nothing lost, nothing duplicated when, in the middle of a drain: nats-server stops and
# comes back (stream_status shows 'disconnected' and nats_state 'reconnecting' meanwhile), the worker is SIGTERMed, the
# worker is SIGKILLed (PostgreSQL then restarts all backends), PostgreSQL restarts.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin

worker_stack_up
# Small batches make the drain last long enough to interrupt it.
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"batch_size\": 100}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "worker running"

total_orders=0 total_lines=0 total_sum=0
# One phase: publish COUNT orders while the stream is paused, resume, run the disruption once
# some but not all of them are written, then wait for every row.
phase() { # NAME SEED COUNT DISRUPTION...
    local name=$1 seed=$2 count=$3
    shift 3
    sql "SELECT nomnom.pause_stream('MESSAGES')" >/dev/null
    wait_for 30 "SELECT worker_pid IS NULL AND state = 'paused' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "stream paused"
    publish --count "$count" --seed "$seed"
    total_orders=$((total_orders + expected_orders))
    total_lines=$((total_lines + expected_line_items))
    total_sum=$(echo "$total_sum + $expected_sum_extended_price" | bc)
    local start
    start=$(sql "SELECT count(*) FROM orders")
    sql "SELECT nomnom.resume_stream('MESSAGES')" >/dev/null
    wait_for 60 "SELECT count(*) >= $start + 500 FROM orders" "$name: the drain started"
    local at
    at=$(sql "SELECT count(*) FROM orders")
    "$@"
    echo "$name: disrupted at $at of $total_orders orders" >&2
    ((at < total_orders)) || echo "WARNING: $name: the drain had finished before the disruption" >&2
    wait_for 300 "SELECT count(*) = $total_orders FROM orders" "$name: all $total_orders orders"
    wait_for 60 "SELECT coalesce(sum(pending), 0) = 0 FROM nomnom.stream_status WHERE name = 'MESSAGES'" "$name: nothing pending"
    assert_eq "$(table_totals)" "$total_orders $total_lines $total_sum" "$name: orders, line items, sum(extended_price)"
    assert_eq "$(sql "SELECT count(*) FROM nomnom.message_status WHERE status = 'completed'")" "$total_orders" "$name: completed ids"
    assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters")" 0 "$name: no dead letters"
}

nats_outage() {
    assert_eq "$(sql "SELECT nats_server || ' ' || nats_state FROM nomnom.stream_status WHERE name = 'MESSAGES'")" \
        "$NATS_URL connected" "stream_status: the worker's server and connection state"
    stack_stop_nats
    wait_for 30 "SELECT state = 'disconnected' AND last_error LIKE '%NATS%' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "state disconnected while NATS is down"
    echo "ok: state disconnected: $(sql "SELECT last_error FROM nomnom.stream_status WHERE name = 'MESSAGES'")" >&2
    # nats.c reconnects: stream_status says so, and which server it lost.
    wait_for 30 "SELECT nats_state = 'reconnecting' AND nats_server = '$NATS_URL' FROM nomnom.stream_status WHERE name = 'MESSAGES'" \
        "nats_state reconnecting (nats_server the server it lost) while NATS is down"
    _stack_nats_launch && stack_save_env
    wait_for 60 "SELECT state = 'running' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "running again after NATS came back"
    wait_for 30 "SELECT nats_state = 'connected' AND nats_server = '$NATS_URL' FROM nomnom.stream_status WHERE name = 'MESSAGES'" \
        "nats_state connected again"
}

sigterm_worker() {
    local pid
    pid=$(worker_pids MESSAGES)
    [[ -n $pid ]] || fail "no worker pid"
    kill -TERM "$pid"
    wait_until 10 "! kill -0 $pid" || fail "worker $pid did not exit within 10 s of SIGTERM"
    echo "ok: worker $pid exited on SIGTERM" >&2
}

sigkill_worker() {
    local pid
    pid=$(worker_pids MESSAGES)
    [[ -n $pid ]] || fail "no worker pid"
    kill -KILL "$pid"
    # The postmaster restarts every backend; the launcher and a new worker come back.
    wait_for 60 "SELECT worker_pid IS NOT NULL AND worker_pid <> $pid AND state = 'running' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "a new worker after SIGKILL"
}

restart_pg() {
    stack_restart_pg
}

phase "nats restart" 11 20000 nats_outage
phase "worker SIGTERM" 12 20000 sigterm_worker
phase "worker SIGKILL" 13 20000 sigkill_worker
phase "PostgreSQL restart" 14 20000 restart_pg
echo "worker_restarts passed"
