#!/usr/bin/env bash
# The launcher survives its catalog (README "Streams", DESIGN "Privileges"): a stream whose
# row it cannot use (options a worker would refuse, a run_as role dropped or without LOGIN)
# is skipped with one log line and a last_error in stream_status while the other streams
# run; an error reading the catalog is logged once and the running workers go on; a
# dropped nomnom.database is logged and waited for, not retried every 5 seconds.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin publish

stack_start_nats
stack_start_pg preload
sql "CREATE EXTENSION nomnom" >/dev/null
sql "CREATE ROLE nn_writer LOGIN" >/dev/null
sql "CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text)
     ; GRANT INSERT, SELECT ON notes TO nn_writer" >/dev/null
sql "SELECT nomnom.define_entity('{\"name\": \"Note\", \"table\": \"notes\",
     \"fields\": [{\"name\": \"note\", \"type\": \"text\"}]}', false)" >/dev/null
sql "SELECT nomnom.create_stream('GOOD', ARRAY['good.>'], '{\"entity\": \"Note\"}')" >/dev/null
sql "SELECT nomnom.create_stream('BAD', ARRAY['bad.>'], '{\"entity\": \"Note\", \"run_as\": \"nn_writer\"}')" >/dev/null
wait_for 30 "SELECT count(*) = 2 FROM nomnom.stream_status WHERE state = 'running'" "both streams running"
launcher_pid=$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'nomnom launcher'")

note() { # STREAM_SUBJECT TEXT: publishes a note and waits until it is written
    publish --subject "$1" --msg-id "note-$2" --body "{\"note\": \"$2\"}"
    wait_for 30 "SELECT count(*) = 1 FROM notes WHERE note = '$2'" "note $2 written"
}
log_count() { grep -c -- "$1" "$NOMNOM_PG_LOG" || true; }

# --- A row a worker would refuse: skipped, said once, the other stream runs
sql "UPDATE nomnom.stream_catalog SET options = options || '{\"workers\": 2.5}' WHERE name = 'BAD'" >/dev/null
wait_for 30 "SELECT state = 'skipped' FROM nomnom.stream_status WHERE name = 'BAD'" "BAD skipped"
assert_eq "$(sql "SELECT last_error FROM nomnom.stream_status WHERE name = 'BAD'")" \
    'invalid stream options: option "workers" must be an integer' "BAD's last_error says why"
note good.a g1
note good.a g2 # several launcher rounds later
assert_eq "$(log_count 'stream "BAD" skipped: invalid stream options: option "workers" must be an integer')" 1 \
    "the skipped stream is logged once, not every round"
assert_eq "$(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'nomnom worker' AND application_name LIKE '%BAD%'")" 0 \
    "no worker runs for BAD"

# --- Its run_as role without LOGIN, then dropped: skipped each time, with the reason
sql "UPDATE nomnom.stream_catalog SET options = options || '{\"workers\": 1}' WHERE name = 'BAD'" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status WHERE name = 'BAD'" "BAD runs again once its row is fixed"
assert_eq "$(sql "SELECT coalesce(last_error, '') FROM nomnom.stream_status WHERE name = 'BAD'")" "" \
    "BAD's last_error cleared when it runs again"
note bad.a b1
sql "ALTER ROLE nn_writer NOLOGIN" >/dev/null
wait_for 30 "SELECT state = 'skipped' AND last_error LIKE 'its run_as role _nn_writer_ cannot log in'
             FROM nomnom.stream_status WHERE name = 'BAD'" "BAD skipped: its role cannot log in (its worker stopped)"
sql "DROP OWNED BY nn_writer; DROP ROLE nn_writer" >/dev/null
wait_for 30 "SELECT last_error LIKE 'its run_as role _nn_writer_ does not exist'
             FROM nomnom.stream_status WHERE name = 'BAD'" "BAD skipped: its role does not exist"
note good.a g3

# --- The catalog cannot be read: logged once, the running worker goes on, the launcher lives
sql "ALTER TABLE nomnom.stream_catalog RENAME COLUMN paused TO paused_away" >/dev/null
wait_until 30 "grep -q 'nomnom launcher: reading the stream catalog failed' '$NOMNOM_PG_LOG'" ||
    fail "the failed catalog read is not logged"
note good.a g4
note good.a g5
assert_eq "$(log_count 'nomnom launcher: reading the stream catalog failed')" 1 "the failed read is logged once"
sql "ALTER TABLE nomnom.stream_catalog RENAME COLUMN paused_away TO paused" >/dev/null
note good.a g6
assert_eq "$(sql "SELECT pid FROM pg_stat_activity WHERE backend_type = 'nomnom launcher'")" "$launcher_pid" \
    "the same launcher throughout (never crashed)"
assert_eq "$(log_count 'background worker "nomnom launcher" (PID [0-9]*) exited')" 1 \
    "the launcher exited only once (at start, before the test database existed)"

# --- nomnom.database dropped: logged, then waited for; created again: connected again
stack_psql postgres -c "DROP DATABASE $NOMNOM_DB WITH (FORCE)" >/dev/null
wait_until 60 "grep -q 'nomnom launcher: database \"$NOMNOM_DB\" (nomnom.database) does not exist' '$NOMNOM_PG_LOG'" ||
    fail "the launcher does not say that its database is gone"
waiting_pid=$(stack_psql postgres -XtAc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'nomnom launcher'")
[[ -n $waiting_pid ]] || fail "no launcher waits"
# Long enough for two more restarts if it still failed every 5 seconds.
wait_until 30 "[[ \$(stack_psql postgres -XtAc \"SELECT now() - backend_start > interval '12 seconds'
                                                FROM pg_stat_activity WHERE pid = $waiting_pid\") == t ]]" ||
    fail "the waiting launcher did not stay"
failed=$(log_count "FATAL:  database \"$NOMNOM_DB\" does not exist")
((failed <= 3)) || fail "the launcher failed to connect $failed times"
echo "ok: the launcher waits (it failed to connect $failed times, including the one at start)" >&2
stack_psql postgres -c "CREATE DATABASE $NOMNOM_DB" >/dev/null
wait_until 30 "(( \$(grep -c 'nomnom launcher started in database \"$NOMNOM_DB\"' '$NOMNOM_PG_LOG') == 2 ))" ||
    fail "the launcher did not connect to the new database"
sql "CREATE EXTENSION nomnom" >/dev/null
sql "CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text)" >/dev/null
sql "SELECT nomnom.define_entity('{\"name\": \"Note\", \"table\": \"notes\",
     \"fields\": [{\"name\": \"note\", \"type\": \"text\"}]}', false)" >/dev/null
sql "SELECT nomnom.create_stream('GOOD', ARRAY['good.>'], '{\"entity\": \"Note\"}')" >/dev/null
note good.a g7
echo "ok: launcher_catalog" >&2
