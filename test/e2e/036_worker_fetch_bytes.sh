#!/usr/bin/env bash
# A fetch is bounded by bytes as well as by count (stream option batch_bytes, JetStream's
# max_bytes): 200 orders waiting in the stream, batch_size 1000 and batch_bytes 4096, are
# written in many small batches, none over 4096 bytes of payload; a message bigger than
# batch_bytes by itself is fetched alone instead of stopping the consumer.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin jstool

worker_stack_up
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"batch_size\": 1000, \"batch_bytes\": 4096}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status" "worker running"
sql "SELECT nomnom.pause_stream('MESSAGES')" >/dev/null
wait_for 30 "SELECT state = 'paused' AND worker_pid IS NULL FROM nomnom.stream_status" "stream paused"

publish --count 200 --seed 36
# One order of ~6 KB, more than batch_bytes alone, published in the middle of the stream's
# messages (a request to a stream's subject is a JetStream publish).
big="{\"order_key\":\"BIG-1\",\"customer_key\":\"C\",\"order_status\":\"O\",\"total_price\":1,\"order_date\":\"2025-02-01\",\"comment\":\"$(printf 'x%.0s' $(seq 1 6000))\"}"
"$JSTOOL" request "$NATS_URL" messages.ingest.Order "$big" >/dev/null || fail "publishing the big order"
publish --count 20 --seed 37

sql "SELECT nomnom.resume_stream('MESSAGES')" >/dev/null
wait_for 60 "SELECT count(*) = 221 FROM orders" "221 orders"
assert_eq "$(sql "SELECT length(comment) FROM orders WHERE order_key = 'BIG-1'")" 6000 "the order bigger than batch_bytes is written"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters")" 0 "no dead letter"
# Every batch is one transaction: its claims in message_status share an xmin.
batches=$(sql "SELECT count(DISTINCT xmin::text) FROM nomnom.message_status")
largest=$(sql "SELECT max(n) FROM (SELECT count(*) AS n FROM nomnom.message_status GROUP BY xmin::text) b")
big_batch=$(sql "SELECT count(*) FROM nomnom.message_status WHERE xmin::text = (SELECT xmin::text FROM nomnom.message_status WHERE stream_seq = 201)")
echo "221 messages in $batches batches, the largest of $largest" >&2
# The orders are 250-700 bytes each (with their subject and headers): at most 16 fit in 4096.
[[ $batches -ge 15 ]] || fail "expected 15 or more batches of at most 4096 bytes, got $batches"
echo "ok: $batches batches (one without the bound)" >&2
[[ $largest -le 16 ]] || fail "a batch of $largest messages: more than 4096 bytes"
echo "ok: the largest batch holds $largest messages" >&2
assert_eq "$big_batch" 1 "the big order came in a batch of its own"
echo "worker_fetch_bytes passed"
