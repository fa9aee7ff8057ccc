#!/usr/bin/env bash
# nomnom.ingest against COPY of the same rows into the same tables, in one run.
# Usage: bench/sql_ingest_bench.sh [orders]   (PGHOST/PGPORT/PGUSER/PGDATABASE point at a
# database where the nomnom extension can be created; the bench recreates its tables).
set -euo pipefail
orders=${1:-10000}
here=$(cd "$(dirname "$0")" && pwd)
fixtures="$here/../test/fixtures/tpch"
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_q -v orders="$orders" -f "$here/tpch_gen.sql"
reset_tables() {
  psql_q >/dev/null <<SQL
DROP EXTENSION IF EXISTS nomnom CASCADE;
DROP TABLE IF EXISTS orders, order_line_items;
CREATE EXTENSION nomnom;
SELECT nomnom.define_entity(\$\$$(cat "$fixtures/order.json")\$\$::jsonb);
SELECT nomnom.define_entity(\$\$$(cat "$fixtures/orderlineitem.json")\$\$::jsonb);
SQL
}
# Seconds a SQL script takes, from psql's own clock around it.
time_sql() {
  local start end
  start=$(date +%s.%N)
  psql_q -c "$1" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

rows=$(psql_q -At -c "SELECT (SELECT count(*) FROM bench_orders) + (SELECT count(*) FROM bench_items)")

psql_q -c "\\copy (SELECT order_key, customer_key, order_status, total_price, order_date, order_priority, clerk, ship_priority, comment FROM bench_orders ORDER BY i) TO '/tmp/nomnom_bench_orders.copy'"
psql_q -c "\\copy (SELECT order_key, line_number, part_key, supplier_key, quantity, extended_price, discount, tax, return_flag, line_status, ship_date, commit_date, receipt_date FROM bench_items ORDER BY order_key, line_number) TO '/tmp/nomnom_bench_items.copy'"

# COPY from the client, as a loader would: the rows go over the wire as text.
run_copy() {
  reset_tables
  local start
  start=$(date +%s.%N)
  psql_q <<'SQL'
BEGIN;
\copy orders (order_key, customer_key, order_status, total_price, order_date, order_priority, clerk, ship_priority, comment) FROM '/tmp/nomnom_bench_orders.copy'
\copy order_line_items (order_key, line_number, part_key, supplier_key, quantity, extended_price, discount, tax, return_flag, line_status, ship_date, commit_date, receipt_date) FROM '/tmp/nomnom_bench_items.copy'
COMMIT;
SQL
  echo "$(date +%s.%N) - $start" | bc -l
}
run_ingest() {
  reset_tables
  time_sql "SELECT count(nomnom.ingest('Order', body)) FROM bench_docs"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Three rounds, alternating, so both see the same machine; the medians are compared.
copy_times=() ingest_times=()
for _ in 1 2 3; do
  copy_times+=("$(run_copy)")
  copied=$(psql_q -At -c "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_line_items)")
  ingest_times+=("$(run_ingest)")
  ingested=$(psql_q -At -c "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_line_items)")
  check=$(psql_q -At -c "SELECT (SELECT sum(extended_price) FROM order_line_items) = (SELECT sum(extended_price) FROM bench_items)")
done
copy_s=$(printf '%s\n' "${copy_times[@]}" | median)
ingest_s=$(printf '%s\n' "${ingest_times[@]}" | median)

[ "$copied" = "$rows" ] && [ "$ingested" = "$rows" ] && [ "$check" = t ] || {
  echo "wrong totals: expected $rows rows, COPY wrote $copied, ingest wrote $ingested, sums equal: $check" >&2
  exit 1
}
awk -v rows="$rows" -v c="$copy_s" -v i="$ingest_s" -v o="$orders" 'BEGIN {
  printf "orders %d, rows %d\n", o, rows
  printf "COPY            %8.0f rows/s (%.2f s)\n", rows / c, c
  printf "nomnom.ingest   %8.0f rows/s (%.2f s)\n", rows / i, i
  printf "ingest / COPY   %8.1f %%\n", 100 * c / i
}'
