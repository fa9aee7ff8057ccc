# Shared helpers for test/e2e/bridge_*.sh: a throwaway PostgreSQL, nats-server and bridge,
# each on 127.0.0.1 and a free port, data in a temp dir, stopped by PID.
#
# When the project harness (test/harness/stack.sh) exists it provides stack_start_pg,
# stack_start_nats and stack_stop_all and we use it; the fallbacks below define the same
# functions and variables, so switching over is deleting them.
# shellcheck shell=bash

BRIDGE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$BRIDGE_ROOT/build}
BRIDGE_BIN=${BRIDGE_BIN:-$BUILD_DIR/bridge/nomnom-bridge}
JSTOOL_BIN=${JSTOOL_BIN:-$BUILD_DIR/bridge/nomnom-jstool}
PG_BIN=${PG_BIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
FIXTURES=$BRIDGE_ROOT/test/fixtures

E2E_TMP=$(mktemp -d /tmp/nomnom-e2e.XXXXXX)
chmod 755 "$E2E_TMP"
PASSED=0
FAILED=0
SKIPPED=0

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
pass() { PASSED=$((PASSED + 1)); log "ok   - $*"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL - $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); log "skip - $*"; }
check() { # check "description" command...
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# wait_for DEADLINE_SECONDS command...: polls until the command succeeds or time runs out.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.05
    done
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

if [[ -f $BRIDGE_ROOT/test/harness/stack.sh ]]; then
    # shellcheck source=/dev/null
    source "$BRIDGE_ROOT/test/harness/stack.sh"
else
    stack_start_pg() {
        PGPORT=$(free_port)
        PGDATA_DIR=$E2E_TMP/pg
        mkdir -p "$PGDATA_DIR" && chown postgres: "$PGDATA_DIR"
        touch "$E2E_TMP/pg.log" && chown postgres: "$E2E_TMP/pg.log"
        runuser -u postgres -- "$PG_BIN/initdb" -D "$PGDATA_DIR" -A trust -U postgres >"$E2E_TMP/initdb.log" 2>&1 || return 1
        if [[ -n ${NOMNOM_PRELOAD:-} ]]; then
            printf "shared_preload_libraries = 'nomnom'\nnomnom.database = 'postgres'\n" \
                >>"$PGDATA_DIR/postgresql.conf"
        fi
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$E2E_TMP/pg.log" -w \
            -o "-p $PGPORT -k $PGDATA_DIR -c listen_addresses=127.0.0.1" start >/dev/null || return 1
        PG_PID=$(head -1 "$PGDATA_DIR/postmaster.pid")
        export PGHOST=127.0.0.1 PGPORT PGUSER=postgres PGDATABASE=postgres PG_PID
        export DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/postgres"
    }
    stack_stop_pg() {
        [[ -n ${PG_PID:-} ]] || return 0
        kill -INT "$PG_PID" 2>/dev/null
        wait_for 30 bash -c "! kill -0 $PG_PID 2>/dev/null"
        PG_PID=
    }
    stack_restart_pg() {
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$E2E_TMP/pg.log" -w \
            -o "-p $PGPORT -k $PGDATA_DIR -c listen_addresses=127.0.0.1" start >/dev/null || return 1
        PG_PID=$(head -1 "$PGDATA_DIR/postmaster.pid")
    }
    stack_start_nats() {
        NATS_PORT=${NATS_PORT:-$(free_port)}
        NATS_MONITOR_PORT=${NATS_MONITOR_PORT:-$(free_port)}
        mkdir -p "$E2E_TMP/nats"
        nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" -sd "$E2E_TMP/nats" \
            >>"$E2E_TMP/nats.log" 2>&1 &
        NATS_PID=$!
        export NATS_PORT NATS_MONITOR_PORT NATS_PID NATS_URL="nats://127.0.0.1:$NATS_PORT"
        wait_for 20 curl -sf -o /dev/null "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true"
    }
    stack_stop_nats() {
        [[ -n ${NATS_PID:-} ]] || return 0
        kill "$NATS_PID" 2>/dev/null
        wait "$NATS_PID" 2>/dev/null
        NATS_PID=
    }
    stack_stop_all() {
        stack_stop_nats
        stack_stop_pg
    }
fi

# --- the bridge --------------------------------------------------------------------------

start_bridge() { # extra flags...
    BRIDGE_PORT=$(free_port)
    BRIDGE_URL="http://127.0.0.1:$BRIDGE_PORT"
    "$BRIDGE_BIN" --listen "127.0.0.1:$BRIDGE_PORT" --nats "$NATS_URL" --database "$DATABASE_URL" \
        --stream "${NATS_STREAM:-MESSAGES}" "$@" >>"$E2E_TMP/bridge.log" 2>&1 &
    BRIDGE_PID=$!
    wait_for 20 curl -s -o /dev/null "$BRIDGE_URL/health"
}

stop_bridge() { # returns the bridge's exit code
    [[ -n ${BRIDGE_PID:-} ]] || return 0
    kill -TERM "$BRIDGE_PID" 2>/dev/null
    local rc=0
    wait "$BRIDGE_PID" || rc=$?
    BRIDGE_PID=
    return $rc
}

cleanup() {
    stop_bridge || true
    stack_stop_all || true
    if ((FAILED > 0)); then
        log "logs kept in $E2E_TMP"
    else
        rm -rf "$E2E_TMP"
    fi
}

# Creates the JetStream stream the bridge publishes to. nomnom.create_stream does this once
# the extension's workers land; until then the bare nats.c tool does.
create_stream() { # name subjects...
    "$JSTOOL_BIN" create-stream "$NATS_URL" "$@" >/dev/null
}

# Messages stored in a stream, from the NATS monitoring endpoint.
stream_messages() { # name
    curl -sf "http://127.0.0.1:$NATS_MONITOR_PORT/jsz?streams=true" |
        python3 -c 'import json,sys
name=sys.argv[1]
d=json.load(sys.stdin)
for acc in d.get("account_details", []):
    for s in acc.get("stream_detail", []):
        if s["name"] == name:
            print(s["state"]["messages"]); sys.exit(0)
print(0)' "$1"
}

# The part of the schema the bridge reads and writes, for a database without the extension.
load_bridge_schema() {
    psql -q -v ON_ERROR_STOP=1 -f "$BRIDGE_ROOT/test/e2e/bridge_schema.sql" >/dev/null
}

extension_available() {
    [[ -f $(pg_config --sharedir)/extension/nomnom.control ]]
}

# curl wrapper: sets HTTP_CODE and BODY. Usage: http METHOD PATH [curl args...]
http() {
    local method=$1 path=$2; shift 2
    local out
    out=$(curl -s -X "$method" -w '\n%{http_code}' "$@" "$BRIDGE_URL$path")
    HTTP_CODE=${out##*$'\n'}
    BODY=${out%$'\n'*}
}

json_get() { # json_get 'python expression on d' <<<"$json"
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

finish() {
    log "$PASSED passed, $FAILED failed, $SKIPPED skipped (pending)"
    ((FAILED == 0))
}
