#!/usr/bin/env bash
# The JetStream side of drop_stream and create_stream follows their transaction:
# drop_stream(..., true) deletes the JetStream stream only once its transaction commits (a
# drop rolled back, or rolled back to a savepoint, keeps the stream and its catalog row), a
# create_stream rolled back deletes the JetStream stream it made (none is left orphaned), a
# stream dropped with delete_jetstream cannot be created again in the same transaction nor
# the transaction prepared, and a deletion that fails at commit is a WARNING after the
# commit, the catalog row gone.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin

stack_start_nats
stack_start_pg preload
sql "CREATE EXTENSION nomnom" >/dev/null

in_catalog() { sql "SELECT count(*) FROM nomnom.streams WHERE name = '$1'"; }
# psql_script SQL -> stdout and stderr of a multi-statement script (errors do not stop it)
psql_script() { stack_psql "$NOMNOM_DB" -XtAq -c "$1" 2>&1 || true; }
expect_stream() { # NAME 0|1 WHAT: JetStream has it (1) or not (0), and so has the catalog
    local js=0
    if js_stream_exists "$1"; then js=1; fi
    assert_eq "$js $(in_catalog "$1")" "$2 $2" "$3 (JetStream, catalog)"
}

sql "SELECT nomnom.create_stream('KEEP', ARRAY['keep.>'], '{\"workers\": 0}')" >/dev/null
expect_stream KEEP 1 "create_stream committed"

# --- A drop rolled back keeps both sides.
psql_script "BEGIN; SELECT nomnom.drop_stream('KEEP', true); ROLLBACK;" >/dev/null
expect_stream KEEP 1 "drop_stream(..., true) rolled back"
psql_script "BEGIN; SAVEPOINT s; SELECT nomnom.drop_stream('KEEP', true); ROLLBACK TO SAVEPOINT s; COMMIT;" >/dev/null
expect_stream KEEP 1 "drop_stream(..., true) rolled back to a savepoint, the transaction committed"
out=$(psql_script "BEGIN; SELECT nomnom.drop_stream('KEEP', true); PREPARE TRANSACTION 'keep';")
[[ $out == *"cannot PREPARE a transaction that created or dropped a JetStream stream"* ]] ||
    fail "PREPARE after drop_stream(..., true): $out"
expect_stream KEEP 1 "drop_stream(..., true) in a transaction that could not be prepared"

# --- Dropped and created again in one transaction: an error, nothing changes.
out=$(psql_script "BEGIN; SELECT nomnom.drop_stream('KEEP', true); SELECT nomnom.create_stream('KEEP', ARRAY['keep.>'], '{\"workers\": 0}'); COMMIT;")
[[ $out == *'stream "KEEP" was dropped with delete_jetstream in this transaction'* ]] ||
    fail "create_stream after drop_stream(..., true) in one transaction: $out"
expect_stream KEEP 1 "drop then create in one transaction"

# --- A drop committed removes both, also from a released savepoint.
psql_script "BEGIN; SAVEPOINT s; SELECT nomnom.drop_stream('KEEP', true); RELEASE SAVEPOINT s; COMMIT;" >/dev/null
expect_stream KEEP 0 "drop_stream(..., true) in a released savepoint, committed"
sql "SELECT nomnom.create_stream('KEEP', ARRAY['keep.>'], '{\"workers\": 0}')" >/dev/null
sql "SELECT nomnom.drop_stream('KEEP', true)" >/dev/null
expect_stream KEEP 0 "drop_stream(..., true) committed"

# --- A create rolled back leaves no JetStream stream behind; one that found the stream
# there keeps it.
psql_script "BEGIN; SELECT nomnom.create_stream('GONE', ARRAY['gone.>'], '{\"workers\": 0}'); ROLLBACK;" >/dev/null
expect_stream GONE 0 "create_stream rolled back"
psql_script "BEGIN; SAVEPOINT s; SELECT nomnom.create_stream('GONE', ARRAY['gone.>'], '{\"workers\": 0}'); ROLLBACK TO SAVEPOINT s; COMMIT;" >/dev/null
expect_stream GONE 0 "create_stream rolled back to a savepoint"
sql "SELECT nomnom.create_stream('THERE', ARRAY['there.>'], '{\"workers\": 0}')" >/dev/null
sql "SELECT nomnom.drop_stream('THERE')" >/dev/null # forgets it; the JetStream stream stays
psql_script "BEGIN; SELECT nomnom.create_stream('THERE', ARRAY['there.>'], '{\"workers\": 0}'); ROLLBACK;" >/dev/null
js_stream_exists THERE || fail "a create_stream rolled back deleted a JetStream stream it did not make"
echo "ok: a create_stream rolled back keeps the JetStream stream it found" >&2

# --- NATS gone at commit: the drop commits, with a WARNING naming the stream.
sql "SELECT nomnom.create_stream('LATE', ARRAY['late.>'], '{\"workers\": 0}')" >/dev/null
stack_stop_nats || fail "stopping nats-server"
out=$(psql_script "SELECT nomnom.drop_stream('LATE', true)")
[[ $out == *'WARNING:  nomnom: JetStream stream "LATE" was not deleted'* ]] ||
    fail "drop_stream(..., true) with NATS gone: no WARNING: $out"
[[ $out != *ERROR* ]] || fail "drop_stream(..., true) with NATS gone: $out"
assert_eq "$(in_catalog LATE)" 0 "drop_stream(..., true) with NATS gone: committed"
echo "ok: all" >&2
