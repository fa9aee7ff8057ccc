#!/usr/bin/env bash
# Entity events (DESIGN.md, "Entity events"): a stream with publish_entities publishes every
# row its batches write (line items, derived rows, too) to entities.<Entity> in ENTITIES,
# exactly once in effect, even when the worker dies
#   1. between the commit and the publish (nomnom.test_fault = exit_before_publish): the
#      events wait in nomnom.entity_outbox (checked here: the rows as stored, their subjects,
#      Nats-Msg-Ids and order) and go out when a worker starts again;
#   2. after JetStream stored them but before the outbox forgot them (exit_after_publish):
#      they are published again, and JetStream drops the repeats by their Nats-Msg-Id.
# The stream writes as a role of its own (run_as), so the outbox is written and published
# with nomnom's owner's rights, as the rest of nomnom's bookkeeping.
# A subscriber with the npm nats client (test/harness/nats-client/count-events.js) counts
# exactly one event a row.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin

COUNT_EVENTS=$NOMNOM_REPO_ROOT/test/harness/nats-client/count-events.js
[[ -d $NOMNOM_REPO_ROOT/test/harness/nats-client/node_modules/nats ]] ||
    fail "the npm nats client is not installed (make deps)"
events() { node "$COUNT_EVENTS" "$NATS_URL" ENTITIES; }
rows() { sql "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_line_items)"; }
fault_exits() { grep -c "nomnom.test_fault $1: exiting" "$NOMNOM_PG_LOG" || true; }
set_fault() {
    sql "ALTER SYSTEM SET nomnom.test_fault = '$1'" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
}

worker_stack_up
sql "CREATE ROLE nn_events LOGIN; GRANT SELECT, INSERT, UPDATE, DELETE ON orders, order_line_items TO nn_events;
     GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO nn_events" >/dev/null
set_fault exit_before_publish
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"publish_entities\": true, \"run_as\": \"nn_events\"}')" >/dev/null
assert_eq "$(sql "SELECT options->>'publish_entities' || ' ' || (options->>'entities_stream') FROM nomnom.streams")" \
    "true ENTITIES" "the stream's options"
assert_eq "$(events | jq -c '[.events, .distinct_rows]')" "[0,0]" "create_stream made the ENTITIES stream, empty"
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "worker running"
# publish_paused SEED COUNT: the orders published while the stream is paused, so that the
# worker takes them in one batch when it resumes.
publish_paused() {
    sql "SELECT nomnom.pause_stream('MESSAGES')" >/dev/null
    wait_for 30 "SELECT worker_pid IS NULL AND state = 'paused' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "stream paused"
    publish --count "$2" --seed "$1"
    sql "SELECT nomnom.resume_stream('MESSAGES')" >/dev/null
}

# 1. Dies after the batch's commit, before its publish; started again, it dies before
# publishing what the outbox holds, before it fetches anything: the tables stand still.
publish_paused 21 200
wait_until 60 "(( \$(fault_exits exit_before_publish) >= 2 ))" ||
    fail "the worker did not exit (twice) at exit_before_publish"
echo "ok: the worker exited between commit and publish ($(fault_exits exit_before_publish) times)" >&2
total=$(rows) orders=$(sql "SELECT count(*) FROM orders")
((orders > 0)) || fail "no order committed"
assert_eq "$(sql "SELECT count(*) FROM nomnom.entity_outbox")" "$total" "outbox: one event a row written"
assert_eq "$(sql "SELECT count(*) FROM nomnom.entity_outbox o WHERE o.entity = 'Order'
                  AND EXISTS (SELECT 1 FROM orders t WHERE to_jsonb(t) = o.payload::jsonb)")" "$orders" \
    "outbox: each Order event is the row as stored, id included"
assert_eq "$(sql "SELECT count(*) FROM nomnom.entity_outbox o WHERE o.entity = 'OrderLineItem'
                  AND EXISTS (SELECT 1 FROM order_line_items t WHERE to_jsonb(t) = o.payload::jsonb)")" \
    "$(sql "SELECT count(*) FROM order_line_items")" "outbox: each line item event (a derived row) is the row as stored"
assert_eq "$(sql "SELECT count(*) FROM nomnom.entity_outbox
                  WHERE subject = 'entities.' || entity AND stream = 'MESSAGES'
                    AND msg_id ~ ('^' || message_id || ':' || entity || ':[0-9]+$')")" "$total" \
    "outbox: subject entities.<Entity>, Nats-Msg-Id <message id>:<entity>:<row's place>"
assert_eq "$(sql "SELECT count(DISTINCT msg_id) FROM nomnom.entity_outbox")" "$total" "outbox: distinct Nats-Msg-Ids"
assert_eq "$(sql "SELECT count(*) FROM nomnom.entity_outbox o JOIN nomnom.message_status s USING (message_id)
                  WHERE s.status = 'completed'")" "$total" "outbox: every event's message is completed"
# In order: a message's events in the order of its document's rows, its order first.
assert_eq "$(sql "SELECT count(*) FROM (SELECT message_id, array_agg(entity ORDER BY seq) AS e,
                         array_agg(split_part(msg_id, ':', 3)::int ORDER BY seq) AS place
                  FROM nomnom.entity_outbox GROUP BY message_id) m
                  WHERE e[1] = 'Order' AND place = (SELECT array_agg(x ORDER BY x) FROM unnest(place) x)")" \
    "$orders" "outbox: each message's events in its rows' order, the order first"
assert_eq "$(events | jq .events)" 0 "nothing published before the worker came back"

set_fault ''
wait_for 60 "SELECT count(*) = 200 FROM orders" "all 200 orders committed"
wait_for 60 "SELECT count(*) = 0 FROM nomnom.entity_outbox" "the outbox published after the restart"
total=$(rows)
summary=$(events)
echo "subscriber: $summary" >&2
assert_eq "$(jq -c '[.events, .distinct_msg_ids, .distinct_rows]' <<<"$summary")" "[$total,$total,$total]" \
    "exactly one event a row after the crash between commit and publish"
assert_eq "$(jq -c '[.by_entity.Order, .missing_headers, .subjects_ok]' <<<"$summary")" "[200,0,true]" \
    "one event an order; Nomnom-Message-Id and Nats-Msg-Id on each, subjects entities.<Entity>"

# 2. Dies after JetStream stored the events, before the outbox forgot them: republished.
set_fault exit_after_publish
publish_paused 22 100
wait_until 60 "(( \$(fault_exits exit_after_publish) >= 2 ))" ||
    fail "the worker did not exit (twice) at exit_after_publish"
echo "ok: the worker exited after publishing, twice: the second time the events were published again" >&2
set_fault ''
wait_for 60 "SELECT count(*) = 300 FROM orders" "all 300 orders committed"
wait_for 60 "SELECT count(*) = 0 FROM nomnom.entity_outbox" "the outbox empty after the restart"
total=$(rows)
summary=$(events)
echo "subscriber: $summary" >&2
assert_eq "$(jq -c '[.events, .distinct_msg_ids, .distinct_rows]' <<<"$summary")" "[$total,$total,$total]" \
    "exactly one event a row after republishing (JetStream dropped the duplicates)"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters")" 0 "no dead letters"
echo "entity_events passed"
