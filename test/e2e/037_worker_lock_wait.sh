#!/usr/bin/env bash
# A batch that waits on a lock longer than ack_wait is not redelivered: while the worker
# holds it, it marks its messages in progress (natsMsg_InProgress), as the prefetch thread
# does for the next batch. With lock_timeout_ms 0 the worker waits on the lock the whole
# time; with lock_timeout_ms 300 each try fails with 55P03 and the batch is written again
# later (a batch-level failure, not counted against the messages). Either way, once the lock
# goes, every message is written once, at its first delivery. statement_timeout_ms cancels
# a write that takes too long (57014), and only that message is retried.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin jstool
# The consumer's deliveries and the last stream sequence delivered: equal when nothing was
# delivered twice.
deliveries() {
    "$JSTOOL" request "$NATS_URL" '$JS.API.CONSUMER.INFO.MESSAGES.workers' |
        jq -r '"\(.delivered.consumer_seq) \(.delivered.stream_seq)"'
}

worker_stack_up
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'],
     '{\"workers\": 2, \"ack_wait_ms\": 1500, \"max_deliver\": 2, \"lock_timeout_ms\": 0, \"batch_size\": 20}')" >/dev/null
running="SELECT count(*) = 2 AND bool_and(state = 'running') FROM nomnom.stream_status"
wait_for 30 "$running" "two workers running"


# 1. lock_timeout_ms 0: a worker waits on the lock with one message for more than three
# times ack_wait. The other worker keeps pulling: had the message's ack_wait run out, JetStream
# would have redelivered it there, and that worker would wait on the lock too.
lock_orders
publish --count 1 --seed 36
waiting="FROM pg_stat_activity WHERE backend_type = 'nomnom worker' AND wait_event_type = 'Lock'"
wait_for 30 "SELECT count(*) = 1 $waiting AND now() - query_start > interval '4.5 seconds'" "a worker waiting on the lock for 3 x ack_wait"
assert_eq "$(sql "SELECT count(*) $waiting")" 1 "one worker waits on the lock: the message was not redelivered to the other"
publish --count 60 --seed 37
wait_for 30 "SELECT count(*) = 2 $waiting AND now() - query_start > interval '4.5 seconds'" "both workers waiting on the lock for 3 x ack_wait"
unlock_orders
wait_for 60 "SELECT count(*) = 61 FROM orders" "61 orders once the lock goes"
assert_eq "$(sql "SELECT count(*), max(attempts) FROM nomnom.message_status WHERE status = 'completed'")" "61|1" \
    "61 completed, each at its first delivery"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters")" 0 "no dead letter"
wait_for 10 "SELECT sum(num_ack_pending) = 0 FROM nomnom.stream_status" "nothing waits for an ack"
assert_eq "$(deliveries)" "61 61" "61 deliveries for 61 messages: none redelivered"
assert_eq "$(sql "SELECT sum(consumed), sum(completed) FROM nomnom.stream_status")" "61|61" "the workers fetched each message once"

# 2. lock_timeout_ms 300: every try times out on the lock, and the batch waits, held, in between.
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"lock_timeout_ms\": 300}')" >/dev/null
wait_for 30 "$running" "two workers running"
lock_orders
publish --count 1 --seed 38
wait_for 30 "SELECT bool_or(last_error LIKE 'writing a batch failed: 55P03: %canceling statement due to lock timeout%not counted%') FROM nomnom.stream_status" \
    "the batch fails on lock_timeout and is written again"
wait_for 30 "SELECT bool_or(last_error ~ 'failure ([5-9]|[1-9][0-9]) in a row') FROM nomnom.stream_status" "five failures in a row (> 3 x ack_wait)"
assert_eq "$(sql "SELECT count(*) FROM nomnom.stream_status WHERE last_error LIKE '%55P03%'")" 1 \
    "one worker meets the lock: the message was not redelivered to the other"
publish --count 60 --seed 39
unlock_orders
wait_for 60 "SELECT count(*) = 122 FROM orders" "122 orders once the lock goes"
assert_eq "$(sql "SELECT count(*), max(attempts) FROM nomnom.message_status WHERE status = 'completed'")" "122|1" \
    "122 completed, each at its first delivery"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters")" 0 "no dead letter"
wait_for 10 "SELECT sum(num_ack_pending) = 0 FROM nomnom.stream_status" "nothing waits for an ack"
assert_eq "$(deliveries)" "122 122" "122 deliveries for 122 messages: none redelivered"

# 3. statement_timeout_ms 500: a trigger that takes 3 s for one order is canceled; that
# message is retried (its delivery counted), its neighbours are written.
sql "CREATE TABLE slow (order_key text PRIMARY KEY); INSERT INTO slow VALUES ('S40-00000003')" >/dev/null
sql "CREATE FUNCTION slow_check() RETURNS trigger LANGUAGE plpgsql AS \$\$
     BEGIN
         IF EXISTS (SELECT 1 FROM slow WHERE order_key = NEW.order_key) THEN
             PERFORM pg_sleep(3);
         END IF;
         RETURN NEW;
     END \$\$" >/dev/null
sql "CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION slow_check()" >/dev/null
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"statement_timeout_ms\": 500, \"max_deliver\": 10}')" >/dev/null
wait_for 30 "$running" "two workers running"
publish --count 10 --seed 40
wait_for 30 "SELECT count(*) = 131 FROM orders" "the 9 other orders written"
wait_for 30 "SELECT count(*) = 1 FROM nomnom.message_status WHERE status = 'failed' AND error LIKE '57014: %canceling statement due to statement timeout%'" \
    "the slow order failed on statement_timeout"
sql "DELETE FROM slow" >/dev/null
wait_for 60 "SELECT count(*) = 132 FROM orders" "the slow order written on a later attempt"
assert_eq "$(sql "SELECT count(*) FILTER (WHERE attempts > 1), count(*) FROM nomnom.message_status WHERE stream_seq > 122 AND status = 'completed'")" "1|10" \
    "the slow order completed at a later attempt, the 9 others at their first"
echo "worker_lock_wait passed"
