#!/usr/bin/env bash
# Lag and `processing` while a worker is stuck. Orders are published while the stream is
# paused (GET /ingest/status: pending); then a session takes an exclusive lock on the orders
# table and the stream resumes, so the worker blocks in the middle of writing its first
# batch. Meanwhile
# nomnom.stream_status shows the consumer's num_pending + num_ack_pending for what was
# published within 5 s (the worker's lag thread, not the blocked writer, refreshes them),
# GET /ingest/status answers `processing` for the messages of the blocked batch (the
# workers' shared memory) and `pending` for the others; once the lock goes they are
# `completed`, the lag falls to 0, and /metrics has the batch commit latency histogram.
set -uo pipefail
# shellcheck source=test/e2e/lib/bridge.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/bridge.bash"

stack_start_nats || exit 1
stack_start_pg preload || exit 1
stack_psql "$NOMNOM_DB" -c "CREATE EXTENSION nomnom" >/dev/null || exit 1
stack_psql "$NOMNOM_DB" -v spec="$(cat "$FIXTURES/tpch/order.json")" \
    <<<"SELECT nomnom.define_entity(:'spec'::jsonb);" >/dev/null || exit 1
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"max_wait_ms\": 100, \"batch_size\": 8}')" >/dev/null || exit 1
start_bridge || exit 1
wait_until 30 curl -fs "$BRIDGE_URL/ready" || { fail "bridge /ready"; finish; }

order() { echo "{\"order_key\":\"$1\",\"customer_key\":\"C\",\"order_status\":\"O\",\"total_price\":1,\"order_date\":\"2025-02-01\"}"; }
http POST '/ingest/message?wait=committed' -d "$(order WARM)"
check "a first order is committed" [ "$HTTP_CODE" = 201 ]
check "stream_status has the consumer's figures (0 pending)" stack_wait_sql "$NOMNOM_DB" 10 \
    "SELECT num_pending = 0 AND num_ack_pending = 0 AND num_redelivered = 0 FROM nomnom.stream_status"

sql "SELECT nomnom.pause_stream('MESSAGES')" >/dev/null
check "the stream pauses" stack_wait_sql "$NOMNOM_DB" 15 "SELECT state = 'paused' AND worker_pid IS NULL FROM nomnom.stream_status"
for i in $(seq 1 20); do order "LAG-$i"; done >"$E2E_TMP/lag.ndjson"
http POST /ingest/batch --data-binary @"$E2E_TMP/lag.ndjson"
check "20 orders accepted" [ "$HTTP_CODE:$(jqb .accepted)" = "202:20" ]
mapfile -t IDS < <(jqb '.results[].message_id')
statuses() {
    for id in "${IDS[@]}"; do curl -s "$BRIDGE_URL/ingest/status/$id" | jq -r .status; done | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}'
}
check "while paused, the 20 are pending" stack_wait_sql "$NOMNOM_DB" 10 "SELECT count(*) = 20 FROM nomnom.message_status WHERE status = 'pending'"
check "GET /ingest/status says pending for each" [ "$(statuses)" = "pending=20 " ]

# The lock holder: a session of its own, ended by pg_terminate_backend below.
psql -X -q -c "SET application_name = 'console-lock'" \
    -c "BEGIN" -c "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(120)" \
    >/dev/null 2>&1 &
LOCK_PID=$!
stack_wait_sql "$NOMNOM_DB" 10 "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'console-lock' AND wait_event = 'PgSleep'" ||
    fail "the lock holder is in place"
sql "SELECT nomnom.resume_stream('MESSAGES')" >/dev/null
resumed_at=$(date +%s.%N)
check "the resumed worker blocks on the lock" stack_wait_sql "$NOMNOM_DB" 15 \
    "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'nomnom worker' AND wait_event_type = 'Lock'"
check "within 5 s, stream_status shows the 20 as the consumer's pending + ack pending" stack_wait_sql "$NOMNOM_DB" 5 \
    "SELECT num_pending + num_ack_pending = 20 AND num_ack_pending > 0 FROM nomnom.stream_status"
log "lag seen $(awk -v a="$resumed_at" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s after the resume"

# processing: the blocked batch's messages; pending: the rest.
wait_until 10 bash -c "curl -s '$BRIDGE_URL/ingest/status/${IDS[0]}' | jq -e '.status == \"processing\"' >/dev/null"
seen=$(statuses)
log "statuses while blocked: $seen; ${IDS[0]}: $(curl -s "$BRIDGE_URL/ingest/status/${IDS[0]}")"
check "GET /ingest/status says processing for the blocked batch (8 messages)" grep -q 'processing=8 ' <<<"$seen"
check "and pending for the other 12" grep -q 'pending=12 ' <<<"$seen"
check "nomnom.message_processing agrees" [ "$(sql "SELECT count(*) FROM nomnom.message_status s WHERE nomnom.message_processing(s.message_id)")" = 8 ]

sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'console-lock'" >/dev/null
wait "$LOCK_PID" 2>/dev/null
check "after the lock goes: 21 orders" stack_wait_sql "$NOMNOM_DB" 30 "SELECT count(*) = 21 FROM orders"
check "every one completed, none processing" [ "$(statuses)" = "completed=20 " ]
check "the lag falls to 0" stack_wait_sql "$NOMNOM_DB" 10 \
    "SELECT num_pending = 0 AND num_ack_pending = 0 FROM nomnom.stream_status"
check "rate_1m counts the messages of the last minute" stack_wait_sql "$NOMNOM_DB" 10 \
    "SELECT rate_1m > 0 FROM nomnom.stream_status"
check "stream_status: the commit latency histogram counted the batches" \
    [ "$(sql "SELECT commit_count >= 3 AND commit_latency_buckets[13] <= commit_count AND commit_latency_sum > 0 FROM nomnom.stream_status")" = t ]

# The console samples every 2 s: wait for a sample with the last batches in it.
wait_until 10 bash -c "curl -s '$BRIDGE_URL/metrics' | grep -Eq '^nomnom_stream_messages_completed_total\{stream=\"MESSAGES\"\} 21$'"
curl -s "$BRIDGE_URL/metrics" >"$E2E_TMP/metrics.txt"
check "promtool check metrics passes" promtool check metrics <"$E2E_TMP/metrics.txt"
check "/metrics: the batch commit latency histogram" \
    grep -Eq '^nomnom_stream_batch_commit_duration_seconds_count\{stream="MESSAGES"\} [1-9][0-9]*$' "$E2E_TMP/metrics.txt"
check "/metrics: the consumer's pending series" \
    grep -q '^nomnom_stream_consumer_pending_messages{stream="MESSAGES"} 0$' "$E2E_TMP/metrics.txt"
stop_bridge
check "SIGTERM -> exit 0" [ $? = 0 ]
finish
