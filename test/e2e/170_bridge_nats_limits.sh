#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here run through check and wait_until
# nomnom-bridge at the NATS server's limits (nats-server -c): a document over the server's
# max_payload is a 413 naming the limit (not a retryable 503); a full stream (max_bytes,
# discard new) is a 507 with JetStream's reason, never a 202, until space frees; and every
# 202 is a message the stream holds.
set -uo pipefail
# shellcheck source=test/e2e/lib/bridge.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/bridge.bash"

printf 'max_payload: 8192\n' >"$E2E_TMP/nats.conf"
stack_start_nats -c "$E2E_TMP/nats.conf" || exit 1
stack_start_pg || exit 1
load_bridge_schema
JSTOOL_MAX_BYTES=16384 create_stream MESSAGES 'messages.ingest.>'
start_bridge --refresh-interval 200ms || exit 1
wait_until 20 curl -fs "$BRIDGE_URL/ready" || { fail "bridge not ready"; finish; }
sql "INSERT INTO nomnom.entity_catalog (name, table_name, spec) VALUES ('Customer', 'customers', '{}')" >/dev/null

big=$(printf '{"customer_key":"C1","note":"%s"}' "$(head -c 9000 /dev/zero | tr '\0' x)")
http POST /ingest/message/Customer --data-binary "$big"
check "a document over max_payload -> 413" [ "$HTTP_CODE" = 413 ]
check "  naming the server's limit" grep -q "max_payload of 8192 bytes" <<<"$BODY"
check "  and nothing stored" [ "$(stream_messages MESSAGES)" = 0 ]

# Documents of ~1 KB until the 16 KB stream is full: 202s, then 507s with JetStream's reason.
doc=$(printf '{"customer_key":"C2","note":"%s"}' "$(head -c 1000 /dev/zero | tr '\0' y)")
accepted=0 full=0 other=0
for _ in $(seq 1 30); do
    http POST /ingest/message/Customer --data-binary "$doc"
    case $HTTP_CODE in
    202) accepted=$((accepted + 1)) ;;
    507) full=$((full + 1)) && FULL_BODY=$BODY ;;
    *) other=$((other + 1)) && log "unexpected $HTTP_CODE: $BODY" ;;
    esac
done
check "a full stream: some 202s, then 507s ($accepted accepted, $full full)" \
    [ "$accepted" -gt 5 -a "$full" -gt 0 -a "$other" = 0 ]
check "  the 507 carries JetStream's reason" grep -qi "maximum bytes exceeded" <<<"${FULL_BODY:-}"
check "  every 202 is a stored message, and only those" [ "$(stream_messages MESSAGES)" = "$accepted" ]
check "  every 202 recorded as pending" \
    wait_until 10 "[ \"\$(sql 'SELECT count(*) FROM nomnom.message_status')\" = $accepted ]"

"$JSTOOL_BIN" purge "$NATS_URL" MESSAGES || fail "purge"
http POST /ingest/message/Customer --data-binary "$doc"
check "space freed: 202 again" [ "$HTTP_CODE" = 202 ]
finish
