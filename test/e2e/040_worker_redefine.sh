#!/usr/bin/env bash
# An entity redefined while its worker runs. The worker's prefetch thread maps the next
# batch ahead with the entity trees of the last batch it wrote, so the first message after
# the change is mapped with the old definition; the writer must see that the tree changed,
# map it again and write it as the new definition says.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin

worker_stack_up
sql "SELECT nomnom.create_stream()" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status WHERE name = 'MESSAGES'" "worker running"

order() { # KEY: an order whose comment is at "comment" ("old") and at "note.text" ("new")
    echo "{\"order_key\": \"$1\", \"customer_key\": \"C1\", \"order_status\": \"O\", \"total_price\": 10.50,
           \"order_date\": \"2025-01-15\", \"comment\": \"old\", \"note\": {\"text\": \"new\"}, \"line_items\": []}"
}

# Under the fixture's definition: the comment comes from "comment". The worker writes a
# batch with the Order tree, which its prefetch thread then maps ahead with.
publish --subject messages.ingest.Order --msg-id before-1 --body "$(order K1)"
wait_for 30 "SELECT count(*) = 1 FROM orders" "the first order"
assert_eq "$(sql "SELECT comment FROM orders WHERE order_key = 'K1'")" old "mapped by the first definition"

# The same entity, its comment now taken from "note.text".
sql "SELECT nomnom.define_entity(\$\$$(jq -c '(.fields[] | select(.name == "comment")) += {"path": "note.text"}' "$FIXTURES/order.json")\$\$::jsonb)" >/dev/null
for i in 2 3 4; do
    publish --subject messages.ingest.Order --msg-id "after-$i" --body "$(order "K$i")"
done
wait_for 30 "SELECT count(*) = 4 FROM orders" "the orders after the change"
assert_eq "$(sql "SELECT string_agg(order_key || '=' || comment, ' ' ORDER BY order_key) FROM orders WHERE order_key <> 'K1'")" \
    "K2=new K3=new K4=new" "every order after the change mapped by the new definition"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters")" 0 "no dead letters"
