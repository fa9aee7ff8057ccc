#!/usr/bin/env bash
# The JetStream drain: N pre-published orders (1-7 line items, ~4 on average) written by
# the background worker, against COPY of the same rows into the same tables and a naive
# consumer (one transaction and one ack a message), in one run on one stack.
# synchronous_commit on, fsync on, track_status on. Prints rows/s, ratios and the worker's
# peak RSS after 10,000 and after N orders. Rough on purpose: a few seconds of noise.
#
#   bench/drain_bench.sh [orders=100000] [naive_messages=3000] [batch_size=1000] [workers=1]
set -euo pipefail
orders=${1:-100000}
naive_messages=${2:-3000}
batch_size=${3:-1000}
workers=${4:-1}
here=$(cd "$(dirname "$0")" && pwd)
export NOMNOM_PG_FSYNC=on
# shellcheck source=test/harness/stack.sh
source "$here/../test/harness/stack.sh"
# shellcheck source=test/e2e/lib/worker.sh
source "$here/../test/e2e/lib/worker.sh"
NAIVE=$NOMNOM_REPO_ROOT/${BUILD_DIR:-build}/test/tools/nomnom-naive-consumer
stack_trap

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }
# Peak and current resident memory of a process, in MiB.
rss() { awk '/^VmHWM|^VmRSS|^RssAnon/ {printf "%s %.1f MiB  ", $1, $2 / 1024}' "/proc/$1/status"; }

worker_stack_up
[[ $(sql "SHOW synchronous_commit") == on ]] || fail "synchronous_commit is not on"
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"batch_size\": $batch_size, \"max_wait_ms\": 200, \"track_status\": true, \"workers\": $workers}')" >/dev/null
wait_for 30 "SELECT bool_and(state = 'running') AND count(*) = $workers FROM nomnom.stream_status" "workers running"

# drain SEED COUNT [COPY_DIR]: pre-publish while paused, resume, time until every order is in.
drain() {
    local seed=$1 count=$2 copy_dir=${3:-}
    sql "SELECT nomnom.pause_stream('MESSAGES')" >/dev/null
    wait_for 30 "SELECT bool_and(worker_pid IS NULL) FROM nomnom.stream_status" "paused"
    sql "TRUNCATE orders, order_line_items, nomnom.message_status" >/dev/null
    publish --count "$count" --seed "$seed" ${copy_dir:+--copy-dir "$copy_dir"} 2>/dev/null
    sql "CHECKPOINT" >/dev/null
    local t0 t1 t2
    t0=$(now)
    sql "SELECT nomnom.resume_stream('MESSAGES')" >/dev/null
    wait_until 60 "[[ \$(sql 'SELECT count(*) > 0 FROM orders') == t ]]" || fail "drain did not start"
    t1=$(now)
    wait_until 1800 "[[ \$(sql 'SELECT count(*) = $count FROM orders') == t ]]" || fail "drain did not finish"
    t2=$(now)
    drain_rows=$((expected_orders + expected_line_items))
    drain_s=$(elapsed "$t1" "$t2")
    drain_total_s=$(elapsed "$t0" "$t2")
    [[ $(table_totals) == "$expected_orders $expected_line_items $expected_sum_extended_price" ]] || fail "wrong totals after the drain: $(table_totals)"
    worker_pid=$(worker_pids MESSAGES | head -1)
    worker_rss=$(rss "$worker_pid")
}

drain 100 10000
rss_10k=$worker_rss
echo "10k drain: $(echo "$drain_rows / $drain_s" | bc) rows/s; worker $worker_pid $rss_10k" >&2

copy_dir=$(mktemp -d "$NOMNOM_STACK_DIR/copy.XXXXXX")
chmod 755 "$copy_dir"
drain 101 "$orders" "$copy_dir"
rows=$drain_rows
rss_n=$worker_rss
worker_rate=$(echo "$rows / $drain_s" | bc -l)
echo "drain: $rows rows in $drain_s s (from resume: $drain_total_s s); worker $worker_pid $rss_n" >&2

# COPY of the same rows into the same (emptied) tables, one transaction, from the client.
sql "SELECT nomnom.pause_stream('MESSAGES')" >/dev/null
sql "TRUNCATE orders, order_line_items" >/dev/null
sql "CHECKPOINT" >/dev/null
t0=$(now)
stack_psql "$NOMNOM_DB" -Xq -v ON_ERROR_STOP=1 <<SQL
BEGIN;
\copy orders (order_key, customer_key, order_status, total_price, order_date, order_priority, clerk, ship_priority, comment) FROM '$copy_dir/orders.csv' (FORMAT csv)
\copy order_line_items (order_key, line_number, part_key, supplier_key, quantity, extended_price, discount, tax, return_flag, line_status, ship_date, commit_date, receipt_date) FROM '$copy_dir/order_line_items.csv' (FORMAT csv)
COMMIT;
SQL
copy_s=$(elapsed "$t0" "$(now)")
[[ $(table_totals) == "$expected_orders $expected_line_items $expected_sum_extended_price" ]] || fail "wrong totals after COPY: $(table_totals)"
copy_rate=$(echo "$rows / $copy_s" | bc -l)

# The naive consumer: its own durable consumer from the start of the stream.
sql "TRUNCATE orders, order_line_items, nomnom.message_status" >/dev/null
naive=$("$NAIVE" --url "$NATS_URL" --stream MESSAGES --consumer naive \
    --dsn "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$NOMNOM_DB" --count "$naive_messages")
echo "naive: $naive" >&2
naive_msgs_per_s=${naive##*rate=}
rows_per_order=$(echo "$rows / $orders" | bc -l)
naive_rate=$(echo "$naive_msgs_per_s * $rows_per_order" | bc -l)

awk -v o="$orders" -v rows="$rows" -v w="$worker_rate" -v c="$copy_rate" -v n="$naive_rate" \
    -v ws="$drain_s" -v cs="$copy_s" -v b="$batch_size" -v r10="$rss_10k" -v rn="$rss_n" -v nw="$workers" 'BEGIN {
  printf "orders %d, rows %d (orders + line items), batch_size %d, workers %d, synchronous_commit on, track_status on\n", o, rows, b, nw
  printf "COPY             %9.0f rows/s (%.2f s)\n", c, cs
  printf "worker drain     %9.0f rows/s (%.2f s)   %5.1f %% of COPY\n", w, ws, 100 * w / c
  printf "naive consumer   %9.0f rows/s             worker = %.1fx naive\n", n, w / n
  printf "worker RSS after 10k orders: %s\n", r10
  printf "worker RSS after %d orders: %s\n", o, rn
}'
