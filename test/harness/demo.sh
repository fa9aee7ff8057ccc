#!/usr/bin/env bash
# make demo / make demo-stop: nomnom running locally, end to end.
#
# `demo.sh start` starts PostgreSQL (nomnom preloaded), nats-server -js and nomnom-bridge on
# 127.0.0.1:8080, defines the TPC-H Order/OrderLineItem entities and the MESSAGES stream,
# posts the example order over HTTP, waits until the worker has written it, and prints
# its rows and status. The stack stays up; `demo.sh stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/../.."

export NOMNOM_STACK_DIR=${NOMNOM_DEMO_DIR:-/tmp/nomnom-demo}
export NOMNOM_DB=${NOMNOM_DEMO_DB:-nomnom}
port=${NOMNOM_DEMO_PORT:-8080}
# shellcheck source=test/harness/stack.sh
source test/harness/stack.sh

stop() {
    if [[ ! -f $NOMNOM_STACK_DIR/stack.env ]]; then
        echo "no demo is running (nothing in $NOMNOM_STACK_DIR)"
        return 0
    fi
    # shellcheck disable=SC1091
    source "$NOMNOM_STACK_DIR/stack.env"
    stack_stop_all
    echo "demo stopped"
}

sql() { stack_psql "$NOMNOM_DB" -X -q -v ON_ERROR_STOP=1 "$@"; }

start() {
    if [[ -f $NOMNOM_STACK_DIR/stack.env ]]; then
        echo "a demo is already running ($NOMNOM_STACK_DIR): make demo-stop first" >&2
        exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is taken: stop what listens there, or set NOMNOM_DEMO_PORT" >&2
        exit 1
    fi
    # Stop what was started if any step below fails.
    trap 'echo "demo failed; stopping what it started" >&2; stack_stop_all' ERR

    stack_start_nats
    stack_start_pg preload
    echo "defining the TPC-H entities and the MESSAGES stream"
    sql -c "CREATE EXTENSION nomnom"
    sql -At -c "SELECT nomnom.define_entity(\$\$$(cat test/fixtures/tpch/order.json)\$\$::jsonb)" \
        -c "SELECT nomnom.define_entity(\$\$$(cat test/fixtures/tpch/orderlineitem.json)\$\$::jsonb)" \
        -c "SELECT nomnom.create_stream()" >/dev/null
    NOMNOM_BRIDGE_PORT=$port stack_start_bridge
    trap - ERR

    echo
    echo "\$ curl -d @test/fixtures/test_order_with_lineitems.json $NOMNOM_BRIDGE_URL/ingest/message"
    response=$(curl -sS -d @test/fixtures/test_order_with_lineitems.json "$NOMNOM_BRIDGE_URL/ingest/message")
    echo "$response"
    id=$(jq -r .message_id <<<"$response")
    # The worker writes it within moments; wait for that with a deadline.
    if ! stack_wait_sql "$NOMNOM_DB" 30 \
        "SELECT EXISTS (SELECT 1 FROM nomnom.message_status WHERE message_id = '$id' AND status = 'completed')"; then
        echo "the order was not written within 30 s; see $NOMNOM_STACK_DIR" >&2
    fi
    echo
    sql -c "SELECT id, order_key, customer_key, total_price, order_date, clerk FROM orders"
    sql -c "SELECT id, order_key, line_number, part_key, quantity, extended_price, receipt_date FROM order_line_items ORDER BY line_number"
    sql -c "SELECT message_id, entity, status, attempts, completed_at - received_at AS took FROM nomnom.message_status"
    cat <<INFO
The stack keeps running:
  bridge      $NOMNOM_BRIDGE_URL   (try: curl $NOMNOM_BRIDGE_URL/ingest/status/$id)
  PostgreSQL  psql -h 127.0.0.1 -p $PGPORT -U postgres $NOMNOM_DB
  NATS        $NATS_URL
Stop it with: make demo-stop
INFO
}

case ${1:-start} in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 [start|stop]" >&2
    exit 2
    ;;
esac
