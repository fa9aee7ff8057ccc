#!/usr/bin/env bash
# Backups keep every message's fate (README "Backups"): pg_dump of a database with running
# workers has its entities, streams, message_status and dead letters, and prints no warning;
# restored into another database that nomnom.database then points at, the workers read the
# whole stream again (a new consumer) and write only what was never completed.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin publish

stack_start_nats
stack_start_pg preload
bindir=$(_stack_pg_bindir)
sql "CREATE EXTENSION nomnom" >/dev/null
# No unique key: a message written twice would be two rows.
sql "SELECT nomnom.define_entity('{\"name\": \"Note\", \"table\": \"notes\",
     \"fields\": [{\"name\": \"n\", \"type\": \"int4\", \"nullable\": false}, {\"name\": \"text\", \"type\": \"text\"}]}')" >/dev/null
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"max_deliver\": 1}')" >/dev/null
note() { # N [ID]
    publish --subject messages.ingest.Note --msg-id "$2" --body "{\"n\": $1, \"text\": \"note $1\"}"
}
for n in 1 2 3; do note "$n" "b0000000-0000-4000-8000-00000000000$n"; done
publish --subject messages.ingest.Note --msg-id b0000000-0000-4000-8000-0000000000ff --body '{"text": "no n"}'
wait_for 60 "SELECT count(*) = 3 FROM notes" "3 notes written"
wait_for 60 "SELECT count(*) = 1 FROM nomnom.dead_letters" "1 dead letter"
before=$(sql "SELECT string_agg(message_id || ' ' || completed_at, ',' ORDER BY message_id) FROM nomnom.message_status WHERE status = 'completed'")

# --- Dump (no warning), restore into another database
dump=$NOMNOM_STACK_DIR/nomnom_test.dump
"$bindir/pg_dump" -h 127.0.0.1 -p "$PGPORT" -U postgres -Fc -f "$dump" "$NOMNOM_DB" 2>"$NOMNOM_STACK_DIR/pg_dump.err" ||
    fail "pg_dump failed: $(cat "$NOMNOM_STACK_DIR/pg_dump.err")"
[[ ! -s $NOMNOM_STACK_DIR/pg_dump.err ]] || fail "pg_dump printed: $(cat "$NOMNOM_STACK_DIR/pg_dump.err")"
echo "ok: pg_dump printed nothing" >&2
stack_psql postgres -c "CREATE DATABASE restored"
"$bindir/pg_restore" -h 127.0.0.1 -p "$PGPORT" -U postgres -d restored --exit-on-error "$dump" ||
    fail "pg_restore failed"
rsql() { stack_psql restored -v ON_ERROR_STOP=1 -XtAq -c "$1"; }
assert_eq "$(rsql "SELECT string_agg(message_id || ' ' || completed_at, ',' ORDER BY message_id) FROM nomnom.message_status WHERE status = 'completed'")" \
    "$before" "message_status restored (ids and completion times)"
assert_eq "$(rsql "SELECT entity || ' ' || payload FROM nomnom.dead_letters")" 'Note {"text": "no n"}' \
    "the dead letter and its payload restored"
assert_eq "$(rsql "SELECT name || ' ' || (options->>'max_deliver') FROM nomnom.streams")" "MESSAGES 1" "the stream restored"

# --- The restored database takes over: a new consumer reads the stream from its start
rsql "SELECT nomnom.alter_stream('MESSAGES', '{\"consumer\": \"restored\"}')" >/dev/null
stack_psql postgres -c "ALTER SYSTEM SET nomnom.database = 'restored'"
stack_restart_pg
note 4 b0000000-0000-4000-8000-000000000004
NOMNOM_DB=restored wait_for 60 "SELECT count(*) = 4 FROM notes" "the new note written in the restored database"
NOMNOM_DB=restored wait_for 60 "SELECT consumed >= 5 FROM nomnom.stream_status" "every message of the stream read again"
assert_eq "$(rsql "SELECT string_agg(n::text, ',' ORDER BY n) FROM notes")" "1,2,3,4" "completed ids were not written again"
assert_eq "$(rsql "SELECT string_agg(message_id || ' ' || completed_at, ',' ORDER BY message_id) FROM nomnom.message_status WHERE status = 'completed' AND message_id <> 'b0000000-0000-4000-8000-000000000004'")" \
    "$before" "their message_status rows are untouched"
assert_eq "$(sql "SELECT count(*) FROM notes")" 3 "the old database no longer consumes"
echo "ok: backup and restore keep every message's fate" >&2
