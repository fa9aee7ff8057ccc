# shellcheck shell=bash
# Helpers shared by test/e2e/bridge_*.sh (not a test itself, hence .bash), on top of the
# project harness (test/harness/stack.sh): check/pass/fail counting, the bridge started with
# the flags a test needs, curl and jq shorthands, and the JetStream stream and schema
# objects for tests that run the bridge without the extension.
# shellcheck source=test/harness/stack.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../harness/stack.sh"

BRIDGE_ROOT=$NOMNOM_REPO_ROOT
BUILD_DIR=${BUILD_DIR:-$BRIDGE_ROOT/build}
JSTOOL_BIN=${JSTOOL_BIN:-$BUILD_DIR/bridge/nomnom-jstool}
# shellcheck disable=SC2034 # used by the scripts that source this file
FIXTURES=$BRIDGE_ROOT/test/fixtures
export PGDATABASE=$NOMNOM_DB # plain `psql` in the tests talks to the stack's database

E2E_TMP=$(mktemp -d /tmp/nomnom-bridge-e2e.XXXXXX)
PASSED=0
FAILED=0
SKIPPED=0

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
pass() { PASSED=$((PASSED + 1)); log "ok   - $*"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL - $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); log "SKIP - $*"; }
check() { # check "description" command [args...]
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# finish: the summary line; exit status 0 only when nothing failed and nothing was skipped
# (77, the usual "skipped", when checks were skipped: a skip is not a pass).
finish() {
    log "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    ((FAILED > 0)) && exit 1
    ((SKIPPED > 0)) && exit 77
    exit 0
}

bridge_on_exit() {
    local rc=$?
    ((rc != 0 && rc != 77)) && stack_dump_logs
    stack_stop_all
    rm -rf "$E2E_TMP"
    exit "$rc"
}
trap bridge_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bridge [flags...]: the bridge on the stack (stack_start_bridge), plus BRIDGE_URL.
start_bridge() {
    stack_start_bridge "$@" || return 1
    BRIDGE_URL=$NOMNOM_BRIDGE_URL
}

# stop_bridge: SIGTERM, then the bridge's own exit status.
stop_bridge() {
    [[ -n ${NOMNOM_BRIDGE_PID:-} ]] || return 0
    kill -TERM "$NOMNOM_BRIDGE_PID"
    local rc=0
    wait "$NOMNOM_BRIDGE_PID" || rc=$?
    NOMNOM_BRIDGE_PID=
    return $rc
}

# The JetStream stream, for tests without the extension (nomnom.create_stream makes it
# otherwise): nomnom-jstool is a bare nats.c client built with the bridge.
create_stream() { # name subjects...
    "$JSTOOL_BIN" create-stream "$NATS_URL" "$@" >/dev/null
}

# Messages stored in a stream, from the NATS monitoring endpoint.
stream_messages() { # name
    curl -sf "$NOMNOM_NATS_MONITOR_URL/jsz?streams=true" |
        jq -r --arg n "$1" '[.account_details[]?.stream_detail[]? | select(.name == $n) | .state.messages] | first // 0'
}

# The schema objects the bridge reads and writes, created by hand (no extension).
load_bridge_schema() {
    psql -X -q -v ON_ERROR_STOP=1 -f "$BRIDGE_ROOT/test/e2e/lib/bridge_schema.sql" >/dev/null
}

# http METHOD PATH [curl args...]: sets HTTP_CODE and BODY.
http() {
    local method=$1 path=$2 out
    shift 2
    out=$(curl -s -X "$method" -w '\n%{http_code}' "$@" "$BRIDGE_URL$path")
    # shellcheck disable=SC2034 # read by the scripts that source this file
    HTTP_CODE=${out##*$'\n'}
    BODY=${out%$'\n'*}
}

# jqb FILTER: FILTER applied to $BODY, raw output.
jqb() { jq -r "$1" <<<"$BODY"; }

# sql QUERY: one value.
sql() { psql -X -Atc "$1"; }
