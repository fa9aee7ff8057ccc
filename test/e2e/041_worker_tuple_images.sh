#!/usr/bin/env bash
# The drain writes its new rows from the heap tuples laid out ahead (bench/README.md, item
# 39): every order and line item of a table of nomnom's own shape, never the ledger's rows.
# A table altered away from that shape (a column of the user's own) keeps the COPY-style
# write but fills each row's values instead, with the same rows. The worker says which way a
# statement's rows went in a DEBUG2 line.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin publish

worker_stack_up
sql "ALTER DATABASE $NOMNOM_DB SET log_min_messages = debug2" >/dev/null # the worker's session
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"batch_size\": 100}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status" "worker running"

# TABLE's COPY-style statements in the log since $offset: their rows, and how many of them
# came from images, must be ROWS_FROM_IMAGES ("all" or "none"). Which statements are
# COPY-style depends on how the messages fell into batches (an entity's rows of a batch
# under 16 take the upsert, which writes no image), so only some rows must be.
expect_images() { # TABLE ROWS_FROM_IMAGES WHAT
    local rows images
    read -r rows images < <(tail -c +$((offset + 1)) "$NOMNOM_PG_LOG" |
        grep -o "nomnom: [0-9]* rows into \"$1\" COPY-style, [0-9]* of them from tuple images" |
        awk '{rows += $2; images += $7} END {print rows + 0, images + 0}')
    ((rows > 0)) || fail "$3: no COPY-style statement into $1"
    case $2 in
    all) ((images == rows)) || fail "$3: $images of $rows rows from images, expected all" ;;
    none) ((images == 0)) || fail "$3: $images of $rows rows from images, expected none" ;;
    esac
    echo "ok: $3: $images of $rows COPY-style rows from images" >&2
}

# 1. nomnom's own tables: every row from its image.
offset=$(stat -c %s "$NOMNOM_PG_LOG")
publish --count 300 --seed 41
first_items=$expected_line_items first_sum=$expected_sum_extended_price
wait_for 120 "SELECT count(*) = 300 FROM orders" "300 orders"
wait_for 30 "SELECT count(*) = 300 FROM nomnom.message_status WHERE status = 'completed'" "300 completed"
expect_images orders all "orders"
expect_images order_line_items all "line items"
expect_images message_status none "the ledger's rows"
assert_eq "$(table_totals)" "300 $first_items $first_sum" "orders, line items, sum(extended_price)"

# 2. A column of the user's own on orders: its rows are filled, the line items keep images.
sql "ALTER TABLE orders ADD COLUMN note text" >/dev/null
offset=$(stat -c %s "$NOMNOM_PG_LOG")
publish --count 200 --seed 42
items=$((first_items + expected_line_items))
sum=$(sql "SELECT $first_sum + $expected_sum_extended_price")
wait_for 120 "SELECT count(*) = 500 FROM orders" "500 orders"
expect_images orders none "orders after the ALTER"
expect_images order_line_items all "line items after the ALTER"
assert_eq "$(table_totals)" "500 $items $sum" "orders, line items, sum(extended_price)"
assert_eq "$(sql "SELECT count(*) FROM orders WHERE note IS NULL")" 500 "orders with no note"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters")" 0 "no dead letters"
echo "worker_tuple_images passed"
