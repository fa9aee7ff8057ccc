# shellcheck shell=bash
# Helpers for the worker end-to-end tests (test/e2e/0*_worker_*.sh and others). Sources
# test/harness/stack.sh itself when it is not sourced yet. A test begins:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
#   worker_test_begin [publish] [jstool]

if ! declare -F stack_init >/dev/null; then
    # shellcheck source=test/harness/stack.sh
    source "$(dirname "${BASH_SOURCE[0]}")/../../harness/stack.sh"
fi

PUBLISH=${NOMNOM_PUBLISH:-$NOMNOM_REPO_ROOT/${BUILD_DIR:-build}/test/tools/nomnom-publish}
# A bare nats.c JetStream client built with the bridge (bridge/tools/jstool.cpp): raw API requests,
# streams created, purged.
JSTOOL=${NOMNOM_JSTOOL:-$NOMNOM_REPO_ROOT/${BUILD_DIR:-build}/bridge/nomnom-jstool}
FIXTURES=$NOMNOM_REPO_ROOT/test/fixtures/tpch

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# worker_test_begin [publish] [jstool]: the stack's exit trap (everything started is stopped,
# the logs shown on a failure), and each tool named checked built: nomnom-publish ($PUBLISH),
# nomnom-jstool ($JSTOOL).
# shellcheck disable=SC2120 # the tools are optional
worker_test_begin() {
    stack_trap
    local tool bin
    for tool in "$@"; do
        case $tool in
        publish) bin=$PUBLISH ;;
        jstool) bin=$JSTOOL ;;
        *) fail "worker_test_begin: no tool \"$tool\" (publish, jstool)" ;;
        esac
        [[ -x $bin ]] || fail "$bin is not built (make)"
    done
}

# sql "SELECT ..." -> the result, unaligned, tuples only
sql() { stack_psql "$NOMNOM_DB" -v ON_ERROR_STOP=1 -XtAq -c "$1"; }

# A fresh database with the extension and the TPC-H Order/OrderLineItem entities, a
# preloaded PostgreSQL (launcher reading $NOMNOM_DB) and nats-server -js.
worker_stack_up() {
    [[ -x $PUBLISH ]] || fail "$PUBLISH is not built (make)"
    # shellcheck disable=SC2119 # no extra nats-server arguments
    stack_start_nats
    stack_start_pg preload
    sql "CREATE EXTENSION IF NOT EXISTS nomnom" >/dev/null
    sql "SELECT nomnom.define_entity(\$\$$(cat "$FIXTURES/order.json")\$\$::jsonb)" >/dev/null
    sql "SELECT nomnom.define_entity(\$\$$(cat "$FIXTURES/orderlineitem.json")\$\$::jsonb)" >/dev/null
}

# publish ARGS... : runs nomnom-publish against $NATS_URL and sets expected_* from its report
# shellcheck disable=SC2034 # read by the scripts that source this file
expected_orders=0 expected_line_items=0 expected_sum_extended_price=0 expected_published=0 expected_dead_letters=0
publish() {
    local report
    report=$("$PUBLISH" --url "$NATS_URL" "$@") || fail "nomnom-publish $* failed: $report"
    echo "published: $report" >&2
    local kv
    for kv in $report; do
        printf -v "expected_${kv%%=*}" '%s' "${kv#*=}"
    done
}

# wait_for SECONDS "SQL returning true" [description]
wait_for() {
    local secs=$1 query=$2 what=${3:-$2}
    wait_until "$secs" "[[ \$(sql \"$query\") == t ]]" || {
        echo "--- stream_status:" >&2
        sql "SELECT * FROM nomnom.stream_status" >&2 || true
        stack_tail_log "$NOMNOM_PG_LOG" 60
        fail "timed out after ${secs}s waiting for: $what"
    }
}

# The number of rows and the sum the tables hold.
table_totals() {
    sql "SELECT (SELECT count(*) FROM orders) || ' ' || (SELECT count(*) FROM order_line_items) || ' ' ||
                (SELECT coalesce(sum(extended_price), 0) FROM order_line_items)"
}

# js_stream_exists NAME -> 0 when JetStream has stream NAME (nats-server's monitor)
js_stream_exists() {
    local jsz
    jsz=$(curl -fs "$NOMNOM_NATS_MONITOR_URL/jsz?streams=1") || fail "reading jsz failed"
    jq -e --arg n "$1" '[.account_details[]?.stream_detail[]? | select(.name == $n)] | length > 0' <<<"$jsz" >/dev/null
}

assert_eq() { # ACTUAL EXPECTED WHAT
    [[ $1 == "$2" ]] || fail "$3: got '$1', expected '$2'"
    echo "ok: $3 = $1" >&2
}

# The worker processes of a stream (from nomnom.stream_status)
# shellcheck disable=SC2120 # the stream name is optional
worker_pids() { sql "SELECT worker_pid FROM nomnom.stream_status WHERE name = '${1:-MESSAGES}' AND worker_pid IS NOT NULL ORDER BY worker"; }

# lock_orders [SECONDS]: a session of its own holds the orders table (ACCESS EXCLUSIVE) until
# unlock_orders; waits up to SECONDS (10) for it to be in place. Workers writing orders then
# wait on the lock (e2e 037, 046).
LOCK_PID=
# shellcheck disable=SC2120 # the wait is optional
lock_orders() {
    stack_psql "$NOMNOM_DB" -X -q -c "SET application_name = 'lock-holder'" -c "BEGIN" \
        -c "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
    LOCK_PID=$!
    wait_for "${1:-10}" "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'lock-holder' AND wait_event = 'PgSleep'" \
        "the lock holder in place"
}
unlock_orders() {
    sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lock-holder'" >/dev/null
    wait "$LOCK_PID" 2>/dev/null || true
}
