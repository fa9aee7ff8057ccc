#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here run through check and wait_until
# nomnom-bridge hardening (issue 13, item 6), with a real bridge, curl and raw sockets:
#  - the token is checked on the headers: 401 before the body is read;
#  - a connection that does not deliver a whole request within --request-timeout is closed
#    (slowloris: trickled headers, a body that never comes);
#  - --max-connections-per-client: one more connection from the same address is refused;
#  - NDJSON: more lines than --max-batch-lines is 413, a line over --max-line-bytes that
#    line's error;
#  - with a token, /health's details and /metrics need it (--public-details opens them);
#    an unknown-entity error lists the entities only to a caller with the token;
#  - HTTPS with --tls-cert-file/--tls-key-file (a certificate made here by openssl).
set -uo pipefail
# shellcheck source=test/e2e/lib/bridge.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/bridge.bash"

stack_start_nats || exit 1
stack_start_pg || exit 1
load_bridge_schema
create_stream MESSAGES 'messages.ingest.>'
echo "s3cret-token" >"$E2E_TMP/token"
AUTH=(-H "Authorization: Bearer s3cret-token")
ORDER=$FIXTURES/test_order_with_lineitems.json

# Raw connections to the bridge: open_conn VAR opens one and puts its fd in VAR.
open_conn() { exec {fd}<>"/dev/tcp/127.0.0.1/$NOMNOM_BRIDGE_PORT" && printf -v "$1" %s "$fd"; }
# status_line FD SECONDS: the first line the bridge answered, or "" (nothing, or closed).
status_line() {
    local line=''
    IFS= read -r -t "$2" -u "$1" line || true
    printf '%s' "${line%$'\r'}"
}
# closed FD: the bridge closed the connection (end of file, no answer).
closed() {
    local line rc
    IFS= read -r -t 0.2 -u "$1" line
    rc=$?
    ((rc == 1)) && [[ -z $line ]] # 1: end of file; >128: nothing yet
}

start_bridge --token-file "$E2E_TMP/token" --request-timeout 1s --max-batch-lines 3 \
    --max-line-bytes 200 --refresh-interval 200ms || exit 1

# --- the token before the body ---------------------------------------------------------------
# Headers announcing a 1 MB body, and no body: the 401 comes at once, without the body.
open_conn c
printf 'POST /ingest/message HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n' >&"$c"
check "no token, body announced but not sent -> 401 at once" [ "$(status_line "$c" 3)" = "HTTP/1.1 401 Unauthorized" ]
exec {c}>&-
# The same with the token: the bridge waits for the body (no answer), until the deadline.
open_conn c
printf 'POST /ingest/message HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token\r\nContent-Length: 1000000\r\n\r\n' >&"$c"
check "  with the token the bridge waits for the body" [ "$(status_line "$c" 0.5)" = "" ]
check "  a body that never comes: closed at --request-timeout 1s" wait_until 25 closed "$c"
exec {c}>&-
http POST /ingest/message -H 'Authorization: Bearer wrong' --data-binary @"$ORDER"
check "wrong token with a body -> 401 JSON" [ "$HTTP_CODE:$(jqb 'has("error")')" = "401:true" ]

# --- slowloris: headers trickled a line every 0.2 s, never finished ---------------------------
# For 30 s: the connection must close while they still come (at --request-timeout, however
# slow a loaded machine makes that), so a write of the trickler's fails before its last.
open_conn c
printf 'GET /ready HTTP/1.1\r\nHost: x\r\n' >&"$c"
( trap '' PIPE
  for i in $(seq 1 150); do printf 'X-Slow-%d: y\r\n' "$i" || { echo "$i" >"$E2E_TMP/trickled"; exit 0; }; sleep 0.2; done
) >&"$c" 2>/dev/null &
trickler=$!
check "trickled headers: the connection is closed" wait_until 25 closed "$c"
wait "$trickler"
check "  while bytes still came (the trickler's line $(cat "$E2E_TMP/trickled" 2>/dev/null) of 150 refused)" \
    [ -s "$E2E_TMP/trickled" ]
exec {c}>&-
check "  counted in /metrics" wait_until 5 "curl -s ${AUTH[*]@Q} $BRIDGE_URL/metrics | grep -Eq '^nomnom_bridge_connections_timed_out [1-9]'"
# A normal keep-alive client is not hurt: two requests on one connection.
out=$(curl -s -o /dev/null -w '%{http_code} ' "$BRIDGE_URL/ready" -o /dev/null "$BRIDGE_URL/ready")
check "keep-alive: two requests on one connection -> 200 200" [ "$out" = "200 200 " ]

# --- NDJSON caps ------------------------------------------------------------------------------
printf '{"order_key":"A"}\n{"order_key":"B"}\n\n{"order_key":"C"}\n{"order_key":"D"}\n' >"$E2E_TMP/four.ndjson"
http POST /ingest/batch/Order "${AUTH[@]}" --data-binary @"$E2E_TMP/four.ndjson"
check "4 lines over --max-batch-lines 3 -> 413 naming the flag" \
    [ "$HTTP_CODE:$(jqb '.error | contains("--max-batch-lines (3)")')" = "413:true" ]
long=$(printf '{"order_key":"%0250d"}' 0)
printf '{"order_key":"A"}\n%s\n{"order_key":"C"}\n' "$long" >"$E2E_TMP/long.ndjson"
http POST /ingest/batch/Order "${AUTH[@]}" --data-binary @"$E2E_TMP/long.ndjson"
check "a line over --max-line-bytes 200 -> that line's error, the others accepted" \
    [ "$HTTP_CODE:$(jqb '"\(.accepted),\(.failed)"'):$(jqb '.results[1].error | contains("--max-line-bytes (200)")')" = "202:2,1:true" ]
printf '%s\n' "$long" >"$E2E_TMP/only-long.ndjson"
http POST /ingest/batch/Order "${AUTH[@]}" --data-binary @"$E2E_TMP/only-long.ndjson"
check "  only such lines -> 400" [ "$HTTP_CODE" = 400 ]

# --- /health, /metrics and the entity list behind the token -----------------------------------
http GET /health
check "/health without the token -> 200, the verdict only" [ "$HTTP_CODE:$(jqb 'keys | join(",")')" = "200:status" ]
http GET /health "${AUTH[@]}"
check "/health with the token -> the details" [ "$HTTP_CODE:$(jqb '"\(.nats),\(.postgres)"')" = "200:ok,ok" ]
http GET /metrics
check "/metrics without the token -> 401" [ "$HTTP_CODE" = 401 ]
http GET /metrics "${AUTH[@]}"
metrics_ok() { [ "$HTTP_CODE" = 200 ] && grep -q '^nomnom_bridge_requests_total' <<<"$BODY"; }
check "/metrics with the token -> 200 with the counters" metrics_ok
http GET /ready
check "/ready stays a bare probe without the token -> 200" [ "$HTTP_CODE" = 200 ]
http POST /ingest/message/Invoice "${AUTH[@]}" -d '{}'
check "unknown entity, with the token -> 400 listing the known ones" \
    [ "$HTTP_CODE:$(jqb '.error | contains("known entities: Order")')" = "400:true" ]
stop_bridge

# No token at all: every caller is unauthenticated, so no list; and the connection cap.
start_bridge --max-connections-per-client 3 --refresh-interval 200ms || exit 1
http POST /ingest/message/Invoice -d '{}'
check "no token configured: unknown entity -> 400 without the list" \
    [ "$HTTP_CODE:$(jqb '(.error | contains("Invoice")) and (.error | contains("Order") | not)')" = "400:true" ]
http GET /health
check "no token configured: /health has its details" [ "$HTTP_CODE:$(jqb .nats)" = "200:ok" ]
open_conn c1 && open_conn c2 && open_conn c3
curl -s -o /dev/null --max-time 5 "$BRIDGE_URL/ready"
rc=$?
check "a 4th connection from one address over --max-connections-per-client 3 is refused (curl $rc)" [ "$rc" -ne 0 ]
exec {c1}>&- {c2}>&- {c3}>&-
check "  accepted again once the others close" wait_until 5 curl -fs -o /dev/null "$BRIDGE_URL/ready"
stop_bridge

start_bridge --token-file "$E2E_TMP/token" --public-details true || exit 1
http GET /health
check "--public-details: /health's details without the token" [ "$HTTP_CODE:$(jqb .nats)" = "200:ok" ]
http GET /metrics
check "--public-details: /metrics without the token -> 200" [ "$HTTP_CODE" = 200 ]
http POST /ingest/message --data-binary @"$ORDER"
check "--public-details: ingest still needs the token -> 401" [ "$HTTP_CODE" = 401 ]
stop_bridge

# --- HTTPS --------------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$E2E_TMP/key.pem" -out "$E2E_TMP/cert.pem" 2>/dev/null
check "openssl made a certificate" [ -s "$E2E_TMP/cert.pem" ]
NOMNOM_TLS_CERT_FILE=$E2E_TMP/cert.pem NOMNOM_TLS_KEY_FILE=$E2E_TMP/key.pem \
    start_bridge --token-file "$E2E_TMP/token" || exit 1
check "the bridge answers on https://" [ "${BRIDGE_URL%%:*}" = https ]
http GET /health --cacert "$E2E_TMP/cert.pem" "${AUTH[@]}"
check "HTTPS /health, certificate verified -> 200" [ "$HTTP_CODE:$(jqb .nats)" = "200:ok" ]
http POST /ingest/message --cacert "$E2E_TMP/cert.pem" "${AUTH[@]}" --data-binary @"$ORDER"
check "HTTPS ingest -> 202" [ "$HTTP_CODE" = 202 ]
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$NOMNOM_BRIDGE_PORT/ready")
check "plain HTTP on the HTTPS port gets no HTTP answer" [ "$code" = 000 ]
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BRIDGE_URL/ready")
check "an unknown certificate is refused by curl" [ "$code" = 000 ]
stop_bridge
echo "not a certificate" >"$E2E_TMP/bad.pem"
"${NOMNOM_BRIDGE_BIN:-$BUILD_DIR/bridge/nomnom-bridge}" --listen 127.0.0.1:1 --tls-cert-file "$E2E_TMP/bad.pem" \
    >"$E2E_TMP/bad.out" 2>&1
check "--tls-cert-file without --tls-key-file -> exit 2 naming both" grep -q -- '--tls-key-file' "$E2E_TMP/bad.out"
timeout 20 "${NOMNOM_BRIDGE_BIN:-$BUILD_DIR/bridge/nomnom-bridge}" --listen "127.0.0.1:$NOMNOM_BRIDGE_PORT" \
    --nats "$NATS_URL" --tls-cert-file "$E2E_TMP/bad.pem" --tls-key-file "$E2E_TMP/key.pem" >"$E2E_TMP/bad.out" 2>&1
rc=$?
check "a certificate that is not PEM -> exit 1 saying so (rc $rc)" \
    [ "$rc:$(grep -c 'TLS certificate or key is not valid PEM' "$E2E_TMP/bad.out")" = "1:1" ]
finish
