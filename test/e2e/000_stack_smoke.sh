#!/usr/bin/env bash
# The harness itself: PostgreSQL and nats-server start, answer, restart on the same
# ports, and stop by PID. If this fails, every other end-to-end test would too.
set -euo pipefail
# shellcheck source=test/harness/stack.sh
source "$(dirname "${BASH_SOURCE[0]}")/../harness/stack.sh"
stack_trap

fail() { echo "FAIL: $*" >&2; exit 1; }

# A NATS server answers a new connection with an INFO line.
nats_answers() {
    local line
    exec 3<>"/dev/tcp/127.0.0.1/$NOMNOM_NATS_PORT" || return 1
    read -r -t 5 line <&3 || true
    exec 3<&-
    [[ $line == INFO* ]] || return 1
    curl -fs --max-time 5 "$NOMNOM_NATS_MONITOR_URL/jsz" | jq -e '.config.store_dir' >/dev/null
}
pg_answers() {
    [[ $(stack_psql "$NOMNOM_DB" -tA -c 'SELECT current_database()') == "$NOMNOM_DB" ]]
}

stack_start_nats
# NOMNOM_PG_START_TIMEOUT: a bad value is refused, with its name, before anything starts.
if err=$(NOMNOM_PG_START_TIMEOUT=soon stack_start_pg 2>&1); then fail "NOMNOM_PG_START_TIMEOUT=soon accepted"; fi
[[ $err == *"NOMNOM_PG_START_TIMEOUT must be a whole number of seconds, not 'soon'"* ]] ||
    fail "no clear error for NOMNOM_PG_START_TIMEOUT=soon: $err"
[[ ! -e $NOMNOM_STACK_DIR/pg ]] || fail "a PostgreSQL cluster was made despite the bad timeout"
NOMNOM_PG_START_TIMEOUT=120 stack_start_pg
nats_answers || fail "nats-server does not answer on $NATS_URL"
pg_answers || fail "PostgreSQL does not answer on port $PGPORT"
[[ $(stack_psql postgres -tA -c 'SHOW fsync') == "${NOMNOM_PG_FSYNC:-on}" ]] ||
    fail "fsync is not ${NOMNOM_PG_FSYNC:-on}"

# Restarts keep the address (clients reconnect to the same URL) and change the PID.
old_url=$NATS_URL old_pid=$NOMNOM_NATS_PID
stack_restart_nats
[[ $NATS_URL == "$old_url" ]] || fail "NATS moved from $old_url to $NATS_URL"
[[ $NOMNOM_NATS_PID != "$old_pid" ]] || fail "NATS PID unchanged after restart"
! stack_pid_alive "$old_pid" || fail "old nats-server $old_pid still runs"
nats_answers || fail "nats-server does not answer after restart"

old_port=$PGPORT old_pid=$NOMNOM_PG_PID
stack_psql "$NOMNOM_DB" -c 'CREATE TABLE survives_restart(x int); INSERT INTO survives_restart VALUES (42)'
stack_restart_pg
[[ $PGPORT == "$old_port" ]] || fail "PostgreSQL moved from $old_port to $PGPORT"
! stack_pid_alive "$old_pid" || fail "old postmaster $old_pid still runs"
[[ $(stack_psql "$NOMNOM_DB" -tA -c 'SELECT x FROM survives_restart') == 42 ]] ||
    fail "data lost across the PostgreSQL restart"

# Stopping by PID leaves nothing behind.
pg_pid=$NOMNOM_PG_PID nats_pid=$NOMNOM_NATS_PID dir=$NOMNOM_STACK_DIR
stack_stop_all
! stack_pid_alive "$pg_pid" || fail "postmaster $pg_pid survived stack_stop_all"
! stack_pid_alive "$nats_pid" || fail "nats-server $nats_pid survived stack_stop_all"
[[ ! -d $dir ]] || fail "$dir not removed"
echo "stack smoke test passed"
