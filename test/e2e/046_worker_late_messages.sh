#!/usr/bin/env bash
# Messages that reach the worker's subscription after its fetch returned stay marked in
# progress. nats.c's fetch returns at its deadline with what it has read by then; on a
# starved thread the rest of the server's answer lands in the subscription afterwards. The
# next fetch takes such messages first, but while the batch before waits on a lock that
# fetch does not come, so the prefetch thread takes them into the batch it holds and marks
# them with it. Here a pull sent by the test into the worker's inbox (nomnom-jstool publish)
# stands for the answer that came late. On the old worker code those messages went unmarked
# until the lock went and were redelivered: round 1 "got '45 35'". e2e 037 failed so, rarely:
# "got '80 61'", 19 of a pull's 20 late.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin jstool
consumer_info() { "$JSTOOL" request "$NATS_URL" '$JS.API.CONSUMER.INFO.MESSAGES.workers'; }
consumer() { consumer_info | jq -r "$1"; }
# The worker's pull subscription: the inbox of its connection that has no wildcard.
worker_inbox() {
    curl -fs "$NOMNOM_NATS_MONITOR_URL/connz?subs=detail" |
        jq -r '.connections[] | select(.name == "nomnom worker MESSAGES/0") |
               .subscriptions_list_detail[].subject | select(test("^_INBOX\\.[^.*]+$"))'
}
# N messages of the consumer answered into the worker's inbox, with no fetch waiting for them.
late_pull() {
    local inbox
    inbox=$(worker_inbox)
    [[ $inbox == _INBOX.* ]] || fail "no pull subscription of the worker in connz: '$inbox'"
    "$JSTOOL" publish "$NATS_URL" '$JS.API.CONSUMER.MSG.NEXT.MESSAGES.workers' "$inbox" \
        "{\"batch\": $1, \"no_wait\": true}" || fail "the late pull could not be sent"
}
waiting="FROM pg_stat_activity WHERE backend_type = 'nomnom worker' AND wait_event_type = 'Lock'"

worker_stack_up
# ack_wait 1.5 s: a mark every 0.5 s. One worker, batches of 20.
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'],
     '{\"workers\": 1, \"batch_size\": 20, \"ack_wait_ms\": 1500, \"max_wait_ms\": 1000,
       \"max_deliver\": 5, \"lock_timeout_ms\": 0}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status" "worker running"

# round WAITING PREFETCHED LATE: with the stream paused, WAITING orders published; resumed with
# orders locked, the worker writes a batch of 20 and waits on the lock, its prefetch thread
# holding the other PREFETCHED (0: its pull ended empty). Then LATE more orders reach the
# worker's subscription, and the lock is held for 3 x ack_wait.
total=0
round() {
    local n=$1 waiting_orders=$2 prefetched=$3 late=$4 # PREFETCHED = WAITING - 20
    sql "SELECT nomnom.pause_stream('MESSAGES')" >/dev/null
    wait_for 30 "SELECT state = 'paused' AND worker_pid IS NULL FROM nomnom.stream_status" "round $n: paused"
    publish --count "$waiting_orders" --seed $((46 + n))
    lock_orders 30
    sql "SELECT nomnom.resume_stream('MESSAGES')" >/dev/null
    wait_for 30 "SELECT count(*) = 1 $waiting" "round $n: the worker waiting on the lock"
    wait_until 30 "[[ \$(consumer '\"\(.num_ack_pending) \(.num_waiting)\"') == '$waiting_orders 0' ]]" ||
        fail "round $n: not all $waiting_orders delivered, or a pull still waiting: $(consumer_info | jq -c '{num_ack_pending, num_waiting}')"
    if ((prefetched == 0)); then
        # The prefetch thread's pull, sent before the write began, waits up to 1 s for nothing.
        wait_for 30 "SELECT count(*) = 1 $waiting AND now() - query_start > interval '1.5 seconds'" "round $n: the prefetch's pull over"
        wait_until 30 "[[ \$(consumer .num_waiting) == 0 ]]" || fail "round $n: a pull still waits"
    fi
    publish --count "$late" --seed $((56 + n))
    local late_at
    late_at=$(sql "SELECT extract(epoch FROM clock_timestamp())")
    late_pull "$late"
    total=$((total + waiting_orders + late))
    wait_until 30 "[[ \$(consumer .num_ack_pending) == $((waiting_orders + late)) ]]" ||
        fail "round $n: the $late late orders were not delivered: $(consumer_info | jq -c '{num_ack_pending, num_waiting}')"
    wait_for 30 "SELECT count(*) = 1 $waiting AND clock_timestamp() > to_timestamp($late_at) + interval '4.5 seconds'" \
        "round $n: the worker waiting on the lock for 3 x ack_wait after the late orders came"
    unlock_orders
    wait_for 60 "SELECT count(*) = $total FROM orders" "round $n: $total orders once the lock goes"
    wait_until 30 "[[ \$(consumer .num_ack_pending) == 0 ]]" ||
        fail "round $n: acknowledgements still pending: $(consumer_info | jq -c '{num_ack_pending, delivered}')"
    assert_eq "$(consumer '"\(.delivered.consumer_seq) \(.delivered.stream_seq)"')" "$total $total" \
        "round $n: one delivery a message, none redelivered"
}
round 1 25 5 10 # the late ones join the 5 the prefetch thread holds
round 2 20 0 10 # the prefetch thread holds nothing: it looks for them all the same
assert_eq "$(sql "SELECT count(*), max(attempts) FROM nomnom.message_status WHERE status = 'completed'")" "$total|1" \
    "$total completed, each at its first delivery"
echo "worker_late_messages passed"
