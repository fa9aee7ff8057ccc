#!/usr/bin/env bash
# The worker drains 10,000 generated orders plus re-sent duplicates (same Nats-Msg-Id),
# malformed documents, documents missing a required field and unknown entities: exact row
# counts and sums, exact dead letters (table, message_status and the DLQ stream), and
# nomnom.stream_status counters.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin

worker_stack_up
# A short duplicate window, so that the second run's duplicates reach the worker (JetStream
# would drop them itself within its window) and the worker's own dedup is what is tested.
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"duplicate_window\": 100, \"batch_size\": 500}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "worker running"

# 1. 10,000 orders; every 10th sent twice; 1 in 100 malformed, 1 in 100 unknown entity,
#    1 in 200 missing order_date.
publish --count 10000 --seed 1 --dup-every 10 --malformed-every 100 --unknown-every 100 --invalid-every 200
dead=$expected_dead_letters
wait_for 180 "SELECT count(*) = $expected_orders FROM orders" "$expected_orders orders"
wait_for 60 "SELECT count(*) = $dead FROM nomnom.dead_letters" "$dead dead letters"
wait_for 30 "SELECT pending = 0 FROM nomnom.stream_status WHERE name = 'MESSAGES'" "nothing pending"

assert_eq "$(table_totals)" "$expected_orders $expected_line_items $expected_sum_extended_price" "orders, line items, sum(extended_price)"
assert_eq "$(sql "SELECT count(*) FROM nomnom.message_status WHERE status = 'completed'")" 10000 "completed message_status rows"
assert_eq "$(sql "SELECT count(*) FROM nomnom.message_status WHERE status = 'dead_letter'")" "$dead" "dead_letter message_status rows"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters WHERE entity = 'Unknown' AND error LIKE '42704%'")" 100 "unknown-entity dead letters"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters WHERE error LIKE '22%' AND error ILIKE '%JSON%'")" 100 "malformed dead letters"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters WHERE error LIKE '%order_date%'")" 50 "missing-field dead letters"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters WHERE payload IS NOT NULL AND attempts = 1 AND headers ? 'Nats-Msg-Id'")" "$dead" "dead letters keep payload, headers, attempts"

# The DLQ stream holds one message per dead letter, on messages.dlq.<Entity>.
dlq_count() { curl -fs "$NOMNOM_NATS_MONITOR_URL/jsz?streams=1" | jq '[.account_details[].stream_detail[] | select(.name == "MESSAGESDLQ") | .state.messages] | add // 0'; }
wait_until 30 "[[ \$(dlq_count) == $dead ]]" || fail "MESSAGESDLQ holds $(dlq_count) messages, expected $dead"
echo "ok: MESSAGESDLQ holds $dead messages" >&2

# stream_status counters: JetStream dropped the first run's duplicates itself or not, so
# consumed is between the two; completed + dead_lettered = consumed.
read -r consumed completed failed dead_lettered < <(sql "SELECT consumed, completed, failed, dead_lettered FROM nomnom.stream_status WHERE name = 'MESSAGES'" | tr '|' ' ')
assert_eq "$dead_lettered" "$dead" "stream_status.dead_lettered"
assert_eq "$failed" 0 "stream_status.failed"
assert_eq "$((completed + dead_lettered))" "$consumed" "completed + dead_lettered = consumed"
(( consumed >= 10000 + dead && consumed <= expected_published )) || fail "consumed $consumed out of range"
assert_eq "$(sql "SELECT last_batch_at IS NOT NULL AND last_error LIKE '%dead-lettered%' FROM nomnom.stream_status WHERE name = 'MESSAGES'")" t "last_batch_at and last_error"

# 2. The same 2,000 orders again, long after the duplicate window: JetStream stores them,
#    the worker acknowledges them without writing (their ids are completed).
first=$(table_totals)
before_consumed=$consumed
before_completed=$completed
publish --count 2000 --seed 1
wait_for 60 "SELECT consumed >= $before_consumed + 2000 FROM nomnom.stream_status WHERE name = 'MESSAGES'" "re-sent orders consumed"
assert_eq "$(table_totals)" "$first" "totals unchanged by re-sent orders"
assert_eq "$(sql "SELECT completed - $before_completed FROM nomnom.stream_status WHERE name = 'MESSAGES'")" 2000 "re-sent orders acknowledged"
assert_eq "$(sql "SELECT count(*) FROM nomnom.message_status WHERE status = 'completed'")" 10000 "completed message_status rows after re-send"
assert_eq "$(sql "SELECT count(*) FROM nomnom.message_status WHERE attempts <> 1 AND status = 'completed'")" 0 "re-sent ids untouched"

# 3. A payload that is not text (invalid UTF-8) is dead-lettered as bytes.
publish --subject messages.ingest.Order --msg-id not-text --body $'{"order_key": "\xff\xfe"}'
wait_for 30 "SELECT count(*) = 1 FROM nomnom.dead_letters WHERE payload IS NULL AND payload_bytes IS NOT NULL" "binary dead letter"
assert_eq "$(sql "SELECT encode(payload_bytes, 'hex') FROM nomnom.dead_letters WHERE payload IS NULL")" "7b226f726465725f6b6579223a2022fffe227d" "payload_bytes keep the bytes"
echo "worker_ingest passed"
