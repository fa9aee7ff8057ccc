#!/usr/bin/env bash
# Batches the prefetch thread does not map (here: every batch, as a field takes the message
# id, which only the backend formats) are mapped by the writer on the backend's thread alone:
# no thread is added for them (a second thread for half of a batch took more CPU and no less
# time on two cores: bench/README.md, item 25), and each order gets its own message id.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin publish

worker_stack_up
sql "ALTER DATABASE $NOMNOM_DB SET log_min_messages = debug1" >/dev/null # the worker's session
# The order's comment is its message id: the prefetch thread maps no order ahead.
sql "SELECT nomnom.define_entity(\$\$$(jq -c '(.fields[] | select(.name == "comment")) += {"source": "message_id"}' "$FIXTURES/order.json")\$\$::jsonb)" >/dev/null
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"batch_size\": 100}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status" "worker running"
pid=$(worker_pids)
threads() { ls "/proc/$pid/task" | sort -n | tr '\n' ' '; }
# A batch of one starts the worker's other threads.
publish --count 1 --seed 38
wait_for 60 "SELECT count(*) = 1 FROM orders" "the first order"
before=$(threads)
offset=$(stat -c %s "$NOMNOM_PG_LOG")

publish --count 800 --seed 39
wait_for 120 "SELECT count(*) = 801 FROM orders" "801 orders"
assert_eq "$(worker_pids)" "$pid" "the same worker"
assert_eq "$(threads)" "$before" "the worker's thread ids after 800 more orders"
# Batches of 64 or more, none mapped ahead: the writer mapped them.
big=$(tail -c +$((offset + 1)) "$NOMNOM_PG_LOG" | grep -o 'fetched [0-9]* messages ([^)]*), 0 mapped ahead' |
    awk '$2 >= 64' | wc -l)
((big >= 4)) || fail "expected 4 or more batches of 64 or more mapped by the writer, got $big"
assert_eq "$(sql "SELECT count(*) FROM orders o JOIN nomnom.message_status s ON s.message_id = o.comment::uuid")" 801 \
    "every order's comment is its message id"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters")" 0 "no dead letters"
echo "worker_writer_maps passed"
