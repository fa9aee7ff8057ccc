#!/usr/bin/env bash
# Stream administration with running workers: option errors, the subject-mismatch error,
# unreachable NATS, pause/resume, stream_status, two workers sharing one durable consumer,
# replay of dead letters once their cause is fixed, drop_stream.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin

worker_stack_up

# sql_error "SQL" -> the error message (fails when the statement succeeds)
sql_error() {
    local out
    if out=$(stack_psql "$NOMNOM_DB" -v ON_ERROR_STOP=1 -XtAq -c "$1" 2>&1); then
        fail "expected an error from: $1"
    fi
    echo "$out"
}
assert_contains() { # TEXT NEEDLE WHAT
    [[ $1 == *"$2"* ]] || fail "$3: '$1' does not contain '$2'"
    echo "ok: $3" >&2
}

# --- Errors that leave nothing behind
err=$(sql_error "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"wrokers\": 2}')")
assert_contains "$err" 'unknown option "wrokers"' "unknown option is an error"
err=$(sql_error "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"batch_size\": 0}')")
assert_contains "$err" 'batch_size' "out-of-range option is an error"
err=$(sql_error "SELECT nomnom.create_stream('BAD NAME')")
assert_contains "$err" 'not a valid JetStream stream name' "bad stream name is an error"
err=$(sql_error "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"nats_url\": \"nats://127.0.0.1:1\"}')")
assert_contains "$err" 'nats://127.0.0.1:1' "unreachable NATS names the URL"
assert_eq "$(sql "SELECT count(*) FROM nomnom.streams")" 0 "failed create_stream records nothing"

# --- An existing JetStream stream with other subjects: an error showing both
sql "SELECT nomnom.create_stream('OTHER', ARRAY['other.>'])" >/dev/null
sql "SELECT nomnom.drop_stream('OTHER')" >/dev/null # forgets it; the JetStream stream stays
err=$(sql_error "SELECT nomnom.create_stream('OTHER', ARRAY['messages.other.>'])")
assert_contains "$err" '[other.>]' "mismatch error shows the existing subjects"
assert_contains "$err" '[messages.other.>]' "mismatch error shows the requested subjects"
sql "SELECT nomnom.create_stream('OTHER', ARRAY['other.>'])" >/dev/null # the same: verified
sql "SELECT nomnom.drop_stream('OTHER', delete_jetstream => true)" >/dev/null
sql "SELECT nomnom.create_stream('OTHER', ARRAY['messages.other.>'])" >/dev/null # deleted: recreated
sql "SELECT nomnom.drop_stream('OTHER', true)" >/dev/null

# --- drop_stream(..., true) while the stream's workers start and verify their JetStream
# stream: none re-creates it (a worker ensures it only while its catalog row, locked FOR KEY
# SHARE, still exists). Absent at every look until the stream's last worker is gone, after
# which no worker is left that could.
for round in 1 2 3; do
    sql "SELECT nomnom.create_stream('OTHER', ARRAY['other.>'], '{\"workers\": 3}')" >/dev/null
    js_stream_exists OTHER || fail "round $round: create_stream made no JetStream stream OTHER"
    sql "SELECT nomnom.drop_stream('OTHER', true)" >/dev/null
    deadline=$(($(date +%s) + 30))
    while [[ $(sql "SELECT count(*) FROM nomnom.worker_slots() WHERE name = 'OTHER' AND worker_pid IS NOT NULL") != 0 ]]; do
        js_stream_exists OTHER && fail "round $round: a worker re-created JetStream stream OTHER after drop_stream(..., true)"
        (($(date +%s) < deadline)) || fail "round $round: OTHER's workers still run 30 s after drop_stream"
        sleep 0.1
    done
    js_stream_exists OTHER && fail "round $round: JetStream stream OTHER exists after drop_stream(..., true)"
done
echo "ok: no worker re-creates a stream that drop_stream(..., true) deleted" >&2

# --- The default stream; effective options in nomnom.streams
sql "SELECT nomnom.create_stream()" >/dev/null
assert_eq "$(sql "SELECT subjects::text, options->>'workers', options->>'consumer', options->>'max_deliver', options->>'dlq_stream', options->>'track_status', options->>'nats_url' = '$NATS_URL', paused FROM nomnom.streams")" \
    "{messages.ingest.>}|1|workers|5|MESSAGESDLQ|true|t|f" "nomnom.streams shows effective options"
wait_for 30 "SELECT state = 'running' AND worker_pid IS NOT NULL FROM nomnom.stream_status WHERE name = 'MESSAGES'" "worker running"
assert_eq "$(sql "SELECT consumed, completed, failed, dead_lettered, last_error IS NULL FROM nomnom.stream_status")" "0|0|0|0|t" "fresh stream_status"

# --- Pause / resume
sql "SELECT nomnom.pause_stream('MESSAGES')" >/dev/null
wait_for 30 "SELECT state = 'paused' AND worker_pid IS NULL FROM nomnom.stream_status WHERE name = 'MESSAGES'" "paused"
publish --count 300 --seed 21
# Paused: the messages wait in JetStream (the consumer has them pending), no rows appear.
consumer_pending() { curl -fs "$NOMNOM_NATS_MONITOR_URL/jsz?consumers=1" | jq '[.account_details[].stream_detail[] | select(.name == "MESSAGES") | .consumer_detail[] | select(.name == "workers") | .num_pending] | add // 0'; }
wait_until 10 "[[ \$(consumer_pending) == 300 ]]" || fail "consumer pending is $(consumer_pending), expected 300"
assert_eq "$(sql "SELECT count(*) FROM orders")" 0 "no rows while paused"
sql "SELECT nomnom.resume_stream('MESSAGES')" >/dev/null
wait_for 60 "SELECT count(*) = 300 FROM orders" "300 orders after resume"
assert_eq "$(table_totals)" "$expected_orders $expected_line_items $expected_sum_extended_price" "totals after resume"
err=$(sql_error "SELECT nomnom.pause_stream('NOPE')")
assert_contains "$err" 'does not exist' "pausing an unknown stream is an error"

# --- Two workers on one durable consumer, set live with alter_stream
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"workers\": 2, \"batch_size\": 100}')" >/dev/null
wait_for 30 "SELECT count(*) = 2 AND count(DISTINCT worker_pid) = 2 AND bool_and(state = 'running') FROM nomnom.stream_status WHERE name = 'MESSAGES'" "two running workers"
assert_eq "$(sql "SELECT options->>'workers' || '/' || (options->>'batch_size') FROM nomnom.streams")" "2/100" "alter_stream merged options"
publish --count 10000 --seed 22
wait_for 120 "SELECT count(*) = 10300 FROM orders" "10300 orders with two workers"
read -r lines sum < <(sql "SELECT count(*), sum(extended_price) FROM order_line_items o WHERE order_key LIKE 'S22-%'" | tr '|' ' ')
assert_eq "$lines $sum" "$expected_line_items $expected_sum_extended_price" "two workers: line items and sum"
assert_eq "$(sql "SELECT bool_and(consumed > 0) FROM nomnom.stream_status WHERE name = 'MESSAGES'")" t "both workers consumed"
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"workers\": null}')" >/dev/null # back to the default, 1
wait_for 30 "SELECT count(*) = 1 FROM nomnom.stream_status WHERE name = 'MESSAGES'" "one worker again"

# --- Dead letters, then replay once the cause is fixed
sql "CREATE TABLE customers (id bigint generated always as identity primary key, customer_key text unique not null, name text not null)" >/dev/null
for i in 1 2 3 4 5; do
    publish --subject messages.ingest.Customer --msg-id "customer-$i" --body "{\"customer_key\": \"C$i\", \"name\": \"Customer $i\"}"
done
wait_for 60 "SELECT count(*) = 5 FROM nomnom.dead_letters WHERE entity = 'Customer'" "5 Customer dead letters"
sql "SELECT nomnom.define_entity('{\"name\": \"Customer\", \"table\": \"customers\", \"fields\": [{\"name\": \"customer_key\", \"type\": \"text\", \"nullable\": false}, {\"name\": \"name\", \"type\": \"text\", \"nullable\": false}], \"unique\": [\"customer_key\"]}'::jsonb)" >/dev/null
ids=$(sql "SELECT array_agg(message_id ORDER BY message_id)::text FROM nomnom.dead_letters WHERE entity = 'Customer'")
assert_eq "$(sql "SELECT nomnom.replay_dead_letters('MESSAGES', (SELECT array_agg(message_id) FROM nomnom.dead_letters WHERE entity = 'Customer' AND subject LIKE '%.Customer'))")" 5 "replayed 5 dead letters"
wait_for 60 "SELECT count(*) = 5 FROM customers" "5 customers after replay"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters WHERE entity = 'Customer'")" 0 "no Customer dead letters left"
assert_eq "$(sql "SELECT array_agg(message_id ORDER BY message_id)::text FROM nomnom.message_status WHERE entity = 'Customer' AND status = 'completed'")" "$ids" "replayed messages keep their ids"
assert_eq "$(sql "SELECT nomnom.replay_dead_letters()")" 0 "nothing left to replay"

# --- Publisher headers count only with trust_headers (default false)
publish --subject messages.ingest.whatever --msg-id header-untrusted --header Nomnom-Entity:Customer \
    --body '{"customer_key": "H0", "name": "Header not trusted"}'
wait_for 30 "SELECT count(*) = 1 FROM nomnom.dead_letters WHERE entity = 'whatever'" "an untrusted Nomnom-Entity is ignored (routed by subject)"
completed_id=$(sql "SELECT min(message_id::text) FROM nomnom.message_status WHERE entity = 'Customer' AND status = 'completed'")
publish --subject messages.ingest.Customer --msg-id forged-id --header "Nomnom-Message-Id:$completed_id" \
    --body '{"customer_key": "F1", "name": "Forged id"}'
wait_for 30 "SELECT count(*) = 1 FROM customers WHERE customer_key = 'F1'" "an untrusted Nomnom-Message-Id cannot suppress a message"
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"trust_headers\": true}')" >/dev/null
wait_for 30 "SELECT (options->>'trust_headers')::bool FROM nomnom.streams" "trust_headers recorded"

# --- Routing: the Nomnom-Entity header, then routes, then the subject's last token
publish --subject messages.ingest.whatever --msg-id header-routed --header Nomnom-Entity:Customer \
    --body '{"customer_key": "H1", "name": "By header"}'
wait_for 30 "SELECT count(*) = 1 FROM customers WHERE customer_key = 'H1'" "routed by the Nomnom-Entity header"
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"trust_headers\": null}')" >/dev/null
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"routes\": {\"messages.ingest.crm.>\": \"Customer\"}}')" >/dev/null
wait_for 30 "SELECT options->'routes' IS NOT NULL FROM nomnom.streams" "routes recorded"
publish --subject messages.ingest.crm.eu --msg-id route-routed --body '{"customer_key": "R1", "name": "By route"}'
wait_for 30 "SELECT count(*) = 1 FROM customers WHERE customer_key = 'R1'" "routed by the routes option"
assert_eq "$(sql "SELECT entity || ' ' || subject FROM nomnom.message_status WHERE message_id = (SELECT message_id FROM nomnom.message_status WHERE subject = 'messages.ingest.crm.eu')")" "Customer messages.ingest.crm.eu" "message_status records the routed entity"
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"routes\": null}')" >/dev/null

# --- purge_message_status
assert_eq "$(sql "SELECT nomnom.purge_message_status('1 hour')")" 0 "nothing older than an hour"
assert_eq "$(sql "SELECT nomnom.purge_message_status('-1 minute') > 0")" t "purge removes completed rows"

# --- SIGHUP: a new nomnom.nats_url reaches the worker (the stream has no nats_url option)
sql "ALTER SYSTEM SET nomnom.nats_url = 'nats://127.0.0.1:1'" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
wait_for 30 "SELECT state = 'disconnected' AND last_error LIKE '%nats://127.0.0.1:1%' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "worker follows nomnom.nats_url after a reload"
sql "ALTER SYSTEM RESET nomnom.nats_url" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "back on the harness NATS after a reload"

# --- drop_stream stops the workers
sql "SELECT nomnom.drop_stream('MESSAGES')" >/dev/null
wait_for 30 "SELECT count(*) = 0 FROM nomnom.worker_slots() WHERE worker_pid IS NOT NULL" "workers gone after drop_stream"
assert_eq "$(sql "SELECT count(*) FROM nomnom.stream_status")" 0 "no stream_status rows after drop"

# --- DROP EXTENSION while a worker runs: it stops; the launcher waits for the extension.
sql "SELECT nomnom.create_stream()" >/dev/null
wait_for 30 "SELECT worker_pid IS NOT NULL AND state = 'running' FROM nomnom.stream_status" "worker running again"
pid=$(worker_pids MESSAGES)
sql "DROP EXTENSION nomnom CASCADE" >/dev/null
wait_until 30 "! kill -0 $pid" || fail "worker $pid still runs after DROP EXTENSION"
sql "CREATE EXTENSION nomnom" >/dev/null
assert_eq "$(sql "SELECT count(*) FROM nomnom.streams")" 0 "a new extension has no streams"
echo "worker_control passed"
