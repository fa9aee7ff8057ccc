#!/usr/bin/env bash
# Batch-level failures: the database cannot write for a while (here every commit fails with
# disk_full, SQLSTATE 53100, from a deferred constraint trigger, as long as a flag is set).
# The worker writes the same batch again after a growing pause, holding its messages: no
# delivery is counted against them, so with max_deliver 2 and more than two failed commits
# none is dead-lettered and each completes at its first attempt once the disk is "freed".
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin

worker_stack_up
sql "CREATE TABLE outage (active boolean NOT NULL); INSERT INTO outage VALUES (true)" >/dev/null
sql "CREATE SEQUENCE failed_commits" >/dev/null # not rolled back with the failed commits
sql "CREATE FUNCTION full_disk_at_commit() RETURNS trigger LANGUAGE plpgsql AS \$\$
     BEGIN
         IF (SELECT active FROM outage) THEN
             PERFORM nextval('failed_commits');
             RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';
         END IF;
         RETURN NULL;
     END \$\$" >/dev/null
sql "CREATE CONSTRAINT TRIGGER full_disk AFTER INSERT OR UPDATE ON orders
     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION full_disk_at_commit()" >/dev/null

sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"max_deliver\": 2}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status" "worker running"
publish --count 40 --seed 35

# Five failed commits in a row: the old worker nak'd the batch each time (a delivery each),
# so its messages were dead letters at the third.
wait_for 30 "SELECT last_value >= 5 FROM failed_commits" "five failed commits"
assert_eq "$(sql "SELECT last_error LIKE 'writing a batch failed: 53100: could not extend file%not counted against its messages'' deliveries)' FROM nomnom.stream_status")" t \
    "last_error says the batch is written again, not charged"
assert_eq "$(sql "SELECT count(*) FROM orders")" 0 "nothing committed during the outage"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters") $(sql "SELECT count(*) FROM nomnom.message_status WHERE status <> 'completed'")" \
    "0 0" "no dead letter and no failed status during the outage"
sql "UPDATE outage SET active = false" >/dev/null

wait_for 60 "SELECT count(*) = 40 FROM orders" "40 orders once the disk is free"
assert_eq "$(table_totals)" "$expected_orders $expected_line_items $expected_sum_extended_price" "orders, line items, sum(extended_price)"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters")" 0 "no dead letter"
assert_eq "$(sql "SELECT count(*), min(attempts), max(attempts) FROM nomnom.message_status WHERE status = 'completed'")" "40|1|1" \
    "40 completed, each at its first delivery"
assert_eq "$(sql "SELECT failed, dead_lettered FROM nomnom.stream_status")" "0|0" "stream_status counts no failed message"
wait_for 10 "SELECT num_redelivered = 0 AND num_ack_pending = 0 FROM nomnom.stream_status" "the consumer redelivered nothing"
grep -q "MESSAGES/0: the batch was written after [0-9]* failures" "$NOMNOM_PG_LOG" || fail "the log says the batch was written after its failures"
echo "ok: log says the batch was written after its failures" >&2
echo "worker_batch_failures passed"
