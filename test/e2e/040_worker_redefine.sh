#!/usr/bin/env bash
# An entity redefined while its worker runs. The worker's prefetch thread maps the next
# batch ahead with the entity trees of the last batch it wrote, so the first message after
# the change is mapped with the old definition; the writer must see that the tree changed,
# map it again and write it as the new definition says.
# Before that, an invalidation that changes nothing the tree holds (ANALYZE updating the
# table's statistics in pg_class: the entity cache is rebuilt) must keep what was mapped
# ahead: the rebuilt tree is the old one again (bench/README.md, item 25). The worker's
# DEBUG1 lines say what was mapped ahead and what the writer did not take.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin

worker_stack_up
sql "ALTER DATABASE $NOMNOM_DB SET log_min_messages = debug1" >/dev/null # the worker's session
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

# log lines since byte OFFSET: mapped ahead (the prefetch's count a fetch), and not taken
mapped_ahead() { tail -c +$(($1 + 1)) "$NOMNOM_PG_LOG" | grep -o 'messages ([^)]*), [0-9]* mapped ahead' | grep -o '[0-9]* mapped' | awk '{n += $1} END {print n + 0}'; }
not_taken() { tail -c +$(($1 + 1)) "$NOMNOM_PG_LOG" | grep -o '[0-9]* messages mapped ahead not taken' | awk '{n += $1} END {print n + 0}'; }

# ANALYZE sends a relcache invalidation of orders (its pg_class row's statistics): the
# worker's entity cache is rebuilt before the next batch, the same as before.
offset=$(stat -c %s "$NOMNOM_PG_LOG")
sql "ANALYZE orders" >/dev/null
for i in 2 3 4; do
    publish --subject messages.ingest.Order --msg-id "same-$i" --body "$(order "S$i")"
done
wait_for 30 "SELECT count(*) = 4 FROM orders" "the orders after ANALYZE"
ahead=$(mapped_ahead "$offset")
((ahead >= 1)) || fail "no order after ANALYZE was mapped ahead (the test shows nothing)"
assert_eq "$(not_taken "$offset")" 0 "of the $ahead orders mapped ahead after ANALYZE, those the writer did not take"
assert_eq "$(sql "SELECT string_agg(comment, ' ') FROM orders WHERE order_key LIKE 'S%'")" "old old old" \
    "the orders after ANALYZE mapped by the same definition"
offset=$(stat -c %s "$NOMNOM_PG_LOG")

# The same entity, its comment now taken from "note.text".
sql "SELECT nomnom.define_entity(\$\$$(jq -c '(.fields[] | select(.name == "comment")) += {"path": "note.text"}' "$FIXTURES/order.json")\$\$::jsonb)" >/dev/null
for i in 2 3 4; do
    publish --subject messages.ingest.Order --msg-id "after-$i" --body "$(order "K$i")"
done
wait_for 30 "SELECT count(*) = 7 FROM orders" "the orders after the change"
assert_eq "$(sql "SELECT string_agg(order_key || '=' || comment, ' ' ORDER BY order_key) FROM orders WHERE order_key LIKE 'K%' AND order_key <> 'K1'")" \
    "K2=new K3=new K4=new" "every order after the change mapped by the new definition"
# The first of them were mapped ahead with the old tree, and mapped again by the writer.
left=$(not_taken "$offset")
((left >= 1)) || fail "no order mapped ahead with the old definition was left by the writer ($left)"
assert_eq "$(sql "SELECT count(*) FROM nomnom.dead_letters")" 0 "no dead letters"
