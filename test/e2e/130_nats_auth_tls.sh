#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions here run through check and wait_until
# nomnom-bridge against nats-server configured for each kind of credentials and for TLS:
# user + password file, token file, NKey seed file, .creds (operator mode, JWTs made at test
# time by test/harness/nats-auth/make-auth.js), TLS with a CA file, mutual TLS; certificates
# made by openssl here. A good credential publishes (202 with a JetStream seq); a wrong one
# stops the bridge with "authorization failed"; secrets never reach the log.
set -uo pipefail
# shellcheck source=test/e2e/lib/bridge.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib/bridge.bash"

AUTH=$E2E_TMP/auth
mkdir -p "$AUTH"
NODE_DIR=$NOMNOM_REPO_ROOT/test/harness/nats-auth
if [[ ! -d $NODE_DIR/node_modules/@nats-io/jwt ]]; then
    fail "node modules missing: make deps installs them (npm ci in $NODE_DIR)"
    finish
fi
node "$NODE_DIR/make-auth.js" "$AUTH" || exit 1

# --- certificates: a CA, the server's (IP 127.0.0.1), a client's; and a CA nobody uses --------
cert() { # name CN extensions signer
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$AUTH/$1.key" \
        -out "$AUTH/$1.csr" -subj "/CN=$2" 2>/dev/null &&
        openssl x509 -req -in "$AUTH/$1.csr" -CA "$AUTH/$4.pem" -CAkey "$AUTH/$4.key" \
            -CAcreateserial -out "$AUTH/$1.pem" -days 2 -extfile <(printf '%s\n' "$3") 2>/dev/null
}
for ca in ca otherca; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$AUTH/$ca.key" -out "$AUTH/$ca.pem" -days 2 -subj "/CN=nomnom test $ca" \
        2>/dev/null || exit 1
done
cert server 127.0.0.1 "subjectAltName=IP:127.0.0.1,DNS:localhost" ca || exit 1
cert client nomnom-bridge "extendedKeyUsage=clientAuth" ca || exit 1
chmod 0644 "$AUTH"/*

stack_start_pg || exit 1
load_bridge_schema
ORDER=$FIXTURES/test_order_with_lineitems.json
BIN=${NOMNOM_BRIDGE_BIN:-$NOMNOM_REPO_ROOT/build/bridge/nomnom-bridge}

# with_nats CONFIG_TEXT: a fresh nats-server (new store) with that config file.
with_nats() {
    stack_stop_nats >/dev/null 2>&1
    rm -rf "${NOMNOM_STACK_DIR:?}/nats"
    printf '%s\n' "$1" >"$AUTH/server.conf"
    stack_start_nats -c "$AUTH/server.conf"
}

# publishes URL [bridge flags...]: the bridge starts with these flags, /ready turns 200 and
# the example order is stored (202 with a seq).
publishes() {
    local url=$1
    shift
    NATS_URL=$url start_bridge --refresh-interval 200ms "$@" || return 1
    wait_until 20 curl -fs "$BRIDGE_URL/ready" || { stop_bridge; return 1; }
    http POST /ingest/message --data-binary @"$ORDER"
    local got="$HTTP_CODE:$(jqb '.seq > 0')"
    stop_bridge
    [ "$got" = "202:true" ] || { log "got $got: $BODY"; return 1; }
}

# refuses PATTERN URL [bridge flags...]: the bridge exits non-zero by itself, and its log says
# PATTERN (extended regex).
refuses() {
    local pattern=$1 url=$2 rc=0
    shift 2
    : >"$E2E_TMP/refused.log"
    timeout 30 "$BIN" --listen 127.0.0.1:0 --nats "$url" \
        --database "postgresql://postgres@127.0.0.1:$PGPORT/$NOMNOM_DB" "$@" \
        </dev/null >"$E2E_TMP/refused.log" 2>&1 || rc=$?
    cat "$E2E_TMP/refused.log" >>"$E2E_TMP/all-bridge.log"
    if ((rc == 0 || rc == 124)); then log "exit status $rc"; return 1; fi
    grep -Eq "$pattern" "$E2E_TMP/refused.log" || { tail -3 "$E2E_TMP/refused.log" >&2; return 1; }
}

create() { # stream creation as the bridge's user, with the same variables
    "$JSTOOL_BIN" create-stream "$1" MESSAGES 'messages.ingest.>' >/dev/null
}

# --- user + password file -----------------------------------------------------------------
echo "pw-Kq83x" >"$AUTH/password"
echo "wrong-pw" >"$AUTH/wrong-password"
with_nats 'authorization { users: [ { user: bridge, password: "pw-Kq83x" } ] }' || exit 1
NATS_USER=bridge NATS_PASSWORD_FILE=$AUTH/password create "$NATS_URL" || fail "jstool with user + password"
check "user + password file: 202" publishes "$NATS_URL" --nats-user bridge --nats-password-file "$AUTH/password"
from_env() { NATS_USER=bridge NATS_PASSWORD_FILE=$AUTH/password publishes "$NATS_URL"; }
check "  the same from NATS_USER and NATS_PASSWORD_FILE" from_env
check "  wrong password: the bridge stops, 'authorization failed'" \
    refuses 'authorization failed' "$NATS_URL" --nats-user bridge --nats-password-file "$AUTH/wrong-password"
check "  no credentials: 'authorization failed'" refuses 'authorization failed' "$NATS_URL"
check "  unreadable password file: an error naming the file" \
    refuses "NATS password file .*$AUTH/missing" \
    "$NATS_URL" --nats-user bridge --nats-password-file "$AUTH/missing"
URL_WITH_INFO=nats://bridge:pw-Kq83x@127.0.0.1:$NOMNOM_NATS_PORT
check "  user info in the URL works" publishes "$URL_WITH_INFO"
check "  and the log shows it redacted" grep -q "nats://\*\*\*@127.0.0.1:$NOMNOM_NATS_PORT" "$NOMNOM_BRIDGE_LOG"

# --- token file -----------------------------------------------------------------------------
echo "tok-9fQz2" >"$AUTH/token"
echo "tok-wrong" >"$AUTH/wrong-token"
with_nats 'authorization { token: "tok-9fQz2" }' || exit 1
NATS_TOKEN_FILE=$AUTH/token create "$NATS_URL" || fail "jstool with a token"
check "token file: 202" publishes "$NATS_URL" --nats-token-file "$AUTH/token"
check "  wrong token: 'authorization failed'" \
    refuses 'authorization failed' "$NATS_URL" --nats-token-file "$AUTH/wrong-token"

# --- NKey seed file ---------------------------------------------------------------------------
echo "SUAIR4CZK4XIZW57KZBQAMSVDIPHQTRKXVPPONIEHDW46AQHPQAXRZMENI" >"$AUTH/stranger.seed"
with_nats "authorization { users: [ { nkey: $(cat "$AUTH/nkey.pub") } ] }" || exit 1
NATS_NKEY_SEED_FILE=$AUTH/nkey.seed create "$NATS_URL" || fail "jstool with an NKey"
check "NKey seed file: 202" publishes "$NATS_URL" --nats-nkey-seed-file "$AUTH/nkey.seed"
check "  a seed the server does not know: 'authorization failed'" \
    refuses 'authorization failed' "$NATS_URL" --nats-nkey-seed-file "$AUTH/stranger.seed"
check "  a file without a seed: an error naming the file" \
    refuses "NKey seed file .*$AUTH/password" "$NATS_URL" --nats-nkey-seed-file "$AUTH/password"

# --- .creds (operator mode) -----------------------------------------------------------------
with_nats "include \"operator.conf\"" || exit 1
NATS_CREDS_FILE=$AUTH/user.creds create "$NATS_URL" || fail "jstool with a .creds file"
check ".creds file (operator, account, user JWTs): 202" \
    publishes "$NATS_URL" --nats-creds-file "$AUTH/user.creds"
check "  a user of an unknown account: 'authorization failed'" \
    refuses 'authorization failed' "$NATS_URL" --nats-creds-file "$AUTH/stranger.creds"

# --- TLS with a CA file; mutual TLS ---------------------------------------------------------
with_nats "tls { cert_file: \"$AUTH/server.pem\", key_file: \"$AUTH/server.key\" }" || exit 1
TLS_URL=tls://127.0.0.1:$NOMNOM_NATS_PORT
NATS_TLS_CA_FILE=$AUTH/ca.pem create "$TLS_URL" || fail "jstool over TLS"
check "tls:// and a CA file: 202" publishes "$TLS_URL" --nats-tls-ca-file "$AUTH/ca.pem"
check "  a CA that did not sign the server's certificate: refused" \
    refuses 'SSL|TLS|certificate' "$TLS_URL" --nats-tls-ca-file "$AUTH/otherca.pem"
check "  a CA file that is no certificate: an error naming the file" \
    refuses "CA file .*$AUTH/password" "$TLS_URL" --nats-tls-ca-file "$AUTH/password"

with_nats "tls { cert_file: \"$AUTH/server.pem\", key_file: \"$AUTH/server.key\",
                ca_file: \"$AUTH/ca.pem\", verify: true }" || exit 1
TLS_URL=tls://127.0.0.1:$NOMNOM_NATS_PORT
NATS_TLS_CA_FILE=$AUTH/ca.pem NATS_TLS_CERT_FILE=$AUTH/client.pem NATS_TLS_KEY_FILE=$AUTH/client.key \
    create "$TLS_URL" || fail "jstool over mutual TLS"
check "mutual TLS (client certificate + key): 202" publishes "$TLS_URL" \
    --nats-tls-ca-file "$AUTH/ca.pem" --nats-tls-cert-file "$AUTH/client.pem" \
    --nats-tls-key-file "$AUTH/client.key"
check "  without a client certificate: refused" \
    refuses 'SSL|TLS|certificate|EOF|connection' "$TLS_URL" --nats-tls-ca-file "$AUTH/ca.pem"

# --- nothing secret in any log ---------------------------------------------------------------
cat "$NOMNOM_BRIDGE_LOG" >>"$E2E_TMP/all-bridge.log"
no_secret() {
    ! grep -Eq "pw-Kq83x|tok-9fQz2|tok-wrong|wrong-pw|$(sed -n 2p "$AUTH/user.creds" | cut -c1-40)|SUAIR4CZK4|$(cut -c1-20 "$AUTH/nkey.seed")" \
        "$E2E_TMP/all-bridge.log"
}
check "no password, token, seed or JWT in the bridge's logs" no_secret
finish
