#!/usr/bin/env bash
# nomnom-bridge starts with flags alone while neither NATS nor PostgreSQL is up (as in
# `make demo`, where the order of start-up is not guaranteed): it listens at once, answers
# 503 saying what is missing, stops cleanly on SIGTERM, and once both come up it accepts
# documents without a restart.
set -uo pipefail
# shellcheck source=test/e2e/lib/bridge.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/bridge.bash"

# Start both once to own their ports and data, then stop them: the bridge will point at
# two addresses where nothing listens.
stack_start_nats || exit 1
stack_start_pg || exit 1
load_bridge_schema
stack_stop_nats || exit 1
stack_stop_pg || exit 1

start_bridge || exit 1
check "starts and listens with NATS and PostgreSQL down" [ -n "$BRIDGE_URL" ]
http GET /health
check "/health -> 503 naming nats and postgres" \
    [ "$HTTP_CODE:$(jqb '.error')" = "503:unavailable: nats, stream, postgres" ]
http GET /ready
check "/ready -> 503" [ "$HTTP_CODE" = 503 ]
http POST /ingest/message --data-binary @"$FIXTURES/test_order_with_lineitems.json"
check "ingest -> 503, not 202" [ "$HTTP_CODE" = 503 ]
stop_bridge
check "SIGTERM while NATS and PostgreSQL are down -> exit 0" [ $? = 0 ]

start_bridge --refresh-interval 200ms || exit 1
stack_restart_pg || exit 1   # same port and data
stack_restart_nats || exit 1 # same port and store
create_stream MESSAGES 'messages.ingest.>'
check "both back: /health 200 without a bridge restart" wait_until 30 curl -fs "$BRIDGE_URL/health"
http POST /ingest/message --data-binary @"$FIXTURES/test_order_with_lineitems.json"
check "  and the example order -> 202" [ "$HTTP_CODE:$(jqb .status)" = "202:pending" ]
check "connected to NATS later: logged" grep -q 'msg="connected to NATS"' "$NOMNOM_BRIDGE_LOG"
stop_bridge
check "SIGTERM -> exit 0" [ $? = 0 ]
finish
