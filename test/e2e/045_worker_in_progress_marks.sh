#!/usr/bin/env bash
# Messages the worker holds stay marked in progress until they are acknowledged, at a tight
# ack_wait (600 ms: a mark every 200 ms), across the worker's hand-overs: fetched by the
# prefetch thread during the write before, taken by the writer, committed pipelined (acks after
# the WAL flush), then held while the next fetch waits idle (up to 1 s) before
# acknowledge_if_idle acknowledges them. Unmarked for that idle fetch (as they were before the
# held batches stayed with the InProgressKeeper between writes), each round's second batch was
# redelivered: the consumer's deliveries outran the messages.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin jstool
consumer_info() { "$JSTOOL" request "$NATS_URL" '$JS.API.CONSUMER.INFO.MESSAGES.workers'; }

worker_stack_up
assert_eq "$(sql "SHOW nomnom.pipelined_commit")" on "full batches commit pipelined"
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'],
     '{\"workers\": 1, \"batch_size\": 10, \"ack_wait_ms\": 600, \"max_wait_ms\": 1000, \"max_deliver\": 5}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status" "worker running"

total=0
for round in 1 2 3; do
    # 20 orders waiting when the worker starts: two full batches, the second fetched while the
    # first is written.
    sql "SELECT nomnom.pause_stream('MESSAGES')" >/dev/null
    wait_for 30 "SELECT state = 'paused' AND worker_pid IS NULL FROM nomnom.stream_status" "round $round: paused"
    publish --count 20 --seed $((44 + round))
    total=$((total + 20))
    sql "SELECT nomnom.resume_stream('MESSAGES')" >/dev/null
    wait_for 60 "SELECT count(*) = $total FROM orders" "round $round: $total orders"
    wait_until 30 "[[ \$(consumer_info | jq .num_ack_pending) == 0 ]]" ||
        fail "round $round: acknowledgements still pending: $(consumer_info | jq -c '{num_ack_pending, delivered}')"
    # Each batch is one transaction: its claims share an xmin. A full batch commits pipelined.
    full=$(sql "SELECT count(*) FROM (SELECT 1 FROM nomnom.message_status WHERE stream_seq > $((total - 20))
                GROUP BY xmin::text HAVING count(*) = 10) b")
    [[ $full -ge 1 ]] || fail "round $round: no full batch of 10, so no pipelined commit to hold"
    echo "ok: round $round: $full full batches of 10" >&2
    assert_eq "$(consumer_info | jq -r '"\(.delivered.consumer_seq) \(.delivered.stream_seq) \(.num_redelivered)"')" \
        "$total $total 0" "round $round: one delivery a message, none redelivered"
done
assert_eq "$(sql "SELECT count(*), max(attempts) FROM nomnom.message_status WHERE status = 'completed'")" "60|1" \
    "60 completed, each at its first delivery"
echo "worker_in_progress_marks passed"
