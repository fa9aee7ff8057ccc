#!/usr/bin/env bash
# A message delivered more than max_deliver times (never settled: perhaps it crashed the
# worker) is dead-lettered without being parsed: not by the backend, and not ahead of its
# batch on the prefetch thread either, even when that thread has its entity's tree
# (README "Failures"). The worker's DEBUG1 line per fetch says what was mapped ahead.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin publish jstool

stack_start_nats
stack_start_pg preload
sql "CREATE EXTENSION nomnom" >/dev/null
sql "ALTER DATABASE $NOMNOM_DB SET log_min_messages = debug1" >/dev/null # the workers' sessions
sql "CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, k text)" >/dev/null
sql "SELECT nomnom.define_entity('{\"name\": \"Item\", \"table\": \"items\",
     \"fields\": [{\"name\": \"k\", \"type\": \"text\"}]}', false)" >/dev/null
# No worker yet: the consumer exists, and a bare client takes the first message from it.
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'],
     '{\"workers\": 0, \"max_deliver\": 1, \"ack_wait_ms\": 8000, \"batch_size\": 1}')" >/dev/null
publish --subject messages.ingest.Item --msg-id od-1 --body '{"k": "od1"}'
taken=$("$JSTOOL" request "$NATS_URL" '$JS.API.CONSUMER.MSG.NEXT.MESSAGES.workers' '{"batch": 1}')
assert_eq "$taken" '{"k": "od1"}' "od1 delivered once to a client that never acknowledges it"

# The worker starts and writes od2 (so its prefetch thread has Item's tree) while od1 is
# still held; od1 comes back to the worker after ack_wait, on its second delivery.
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"workers\": 1}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status" "the worker runs"
publish --subject messages.ingest.Item --msg-id od-2 --body '{"k": "od2"}'
wait_for 30 "SELECT count(*) = 1 FROM items WHERE k = 'od2'" "od2 written"
wait_for 30 "SELECT count(*) = 1 FROM nomnom.dead_letters" "od1 dead-lettered on its second delivery"
assert_eq "$(sql "SELECT error FROM nomnom.dead_letters")" \
    "delivered 2 times without being acknowledged (max_deliver 1): not written again, the worker may have failed on it" \
    "od1's dead letter says why"
assert_eq "$(sql "SELECT count(*) FROM items WHERE k = 'od1'")" 0 "od1 not written"

# The fetch that brought od1 back had Item's tree and mapped nothing.
fetches() { grep -o 'fetched 1 messages (delivered at most [0-9]* times), [0-9]* mapped ahead with [0-9]* entity trees' "$NOMNOM_PG_LOG"; }
assert_eq "$(fetches | grep -c 'at most 2 times), 0 mapped ahead with 1 entity trees')" 1 \
    "od1 (2 deliveries, max_deliver 1) not mapped ahead, though the thread had Item's tree"
# First deliveries are mapped ahead as usual, once a batch has been written with Item's tree
# (od1's batch wrote nothing, so the next fetch or two may have no tree yet).
mapped=0
for n in 3 4 5 6 7; do
    publish --subject messages.ingest.Item --msg-id "od-$n" --body "{\"k\": \"od$n\"}"
    wait_for 30 "SELECT count(*) = 1 FROM items WHERE k = 'od$n'" "od$n written"
    mapped=$(fetches | grep -c 'at most 1 times), 1 mapped ahead with 1 entity trees' || true)
    ((mapped == 0)) || break
done
fetches >&2 || true
((mapped >= 1)) || fail "no first delivery was mapped ahead"
echo "ok: od$n (first delivery) mapped ahead as usual" >&2
echo "ok: worker_overdelivered" >&2
