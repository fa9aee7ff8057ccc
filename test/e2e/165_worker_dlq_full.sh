#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here run through wait_until
# A full DLQ stream (max_bytes, discard new): the worker's publish of a dead letter fails
# with JetStream's "maximum bytes exceeded", and still
#   - the dead letter lands in nomnom.dead_letters with its payload and its own error (not
#     overwritten by the redeliveries that try the DLQ again), its status dead_letter;
#   - last_error says the DLQ publish failed, and why;
#   - the good messages around it are written, each once; nothing is written twice;
#   - once the DLQ has room again, the dead letters reach it (the redelivery publishes them,
#     without writing the message again).
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin jstool

worker_stack_up
# The DLQ stream made beforehand, 16 KiB at most and refusing what does not fit; the worker
# adopts it as it is. A filler message leaves no room for a dead letter.
JSTOOL_MAX_BYTES=16384 "$JSTOOL" create-stream "$NATS_URL" MESSAGESDLQ 'messages.dlq.>' >&2
"$PUBLISH" --url "$NATS_URL" --subject messages.dlq.filler --body "$(head -c 16000 /dev/zero | tr '\0' x)" >&2
dlq_messages() {
    curl -fs "$NOMNOM_NATS_MONITOR_URL/jsz?streams=true&accounts=true" |
        jq '[.account_details[]?.stream_detail[]? | select(.name == "MESSAGESDLQ") | .state.messages] | first // 0'
}
assert_eq "$(dlq_messages)" 1 "the DLQ holds the filler"

sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"max_deliver\": 6}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "worker running"

# 40 orders, every 10th malformed JSON: 36 good, 4 dead letters.
publish --count 40 --seed 165 --malformed-every 10
assert_eq "$expected_dead_letters" 4 "4 malformed messages published"
wait_for 30 "SELECT count(*) = $expected_orders FROM orders" "the $expected_orders good orders written"
wait_for 30 "SELECT count(*) = 4 FROM nomnom.dead_letters" "4 dead letters in nomnom.dead_letters despite the full DLQ"
wait_for 30 "SELECT last_error LIKE '%could not republish dead letter%to the DLQ%maximum bytes%' FROM nomnom.stream_status WHERE name = 'MESSAGES'" \
    "last_error says the DLQ publish failed, and why"
echo "ok: last_error: $(sql "SELECT last_error FROM nomnom.stream_status WHERE name = 'MESSAGES'")" >&2
assert_eq "$(dlq_messages)" 1 "the full DLQ took nothing"

# The worker tries the DLQ again on each redelivery: the dead letters stay as they were.
first_error=$(sql "SELECT string_agg(error, '|' ORDER BY message_id) FROM nomnom.dead_letters")
[[ $first_error == *"invalid JSON"* || $first_error == *"JSON"* ]] || fail "the dead letters' error is not the JSON error: $first_error"
wait_for 30 "SELECT count(*) = 4 FROM nomnom.dead_letters WHERE attempts >= 2" \
    "the 4 dead letters redelivered at least once (to try the DLQ again)"
assert_eq "$(sql "SELECT count(*) FROM nomnom.message_status WHERE status = 'dead_letter'")" 4 "4 ids with status dead_letter"
assert_eq "$(sql "SELECT dead_lettered FROM nomnom.stream_status WHERE name = 'MESSAGES'")" 4 \
    "stream_status counts each dead letter once"
assert_eq "$(sql "SELECT string_agg(error, '|' ORDER BY message_id) FROM nomnom.dead_letters")" "$first_error" \
    "a redelivery keeps the dead letter's own error"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters WHERE payload IS NOT NULL OR payload_bytes IS NOT NULL")" 4 \
    "every dead letter keeps its payload"
assert_eq "$(table_totals)" "$expected_orders $expected_line_items $expected_sum_extended_price" \
    "orders, line items, sum(extended_price): each good order written once"
assert_eq "$(sql "SELECT count(*) FROM nomnom.message_status WHERE status = 'completed'")" "$expected_orders" \
    "completed ids"

# Room again: the next redelivery publishes each dead letter to the DLQ, once.
"$JSTOOL" purge "$NATS_URL" MESSAGESDLQ >&2
wait_until 60 "(( \$(dlq_messages) == 4 ))" || fail "the DLQ did not get the 4 dead letters once it had room (it holds $(dlq_messages))"
echo "ok: the DLQ got the 4 dead letters once it had room" >&2
wait_for 30 "SELECT num_ack_pending = 0 AND num_pending = 0 FROM nomnom.stream_status WHERE name = 'MESSAGES'" \
    "every message settled"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters")" 4 "still 4 dead letters"
assert_eq "$(sql "SELECT string_agg(error, '|' ORDER BY message_id) FROM nomnom.dead_letters")" "$first_error" \
    "the dead letters' errors unchanged"
assert_eq "$(table_totals)" "$expected_orders $expected_line_items $expected_sum_extended_price" "nothing written twice"
echo "worker_dlq_full passed"
