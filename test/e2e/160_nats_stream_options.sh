#!/usr/bin/env bash
# The streams' NATS connection options against a nats-server that requires a user and
# password and has small JetStream limits (nats-server -c, jetstream { max_file_store }):
# create_stream says "authorization failed" for a wrong or missing credential, names an
# unreadable file without its content, and names the limit and JetStream's reason when the
# server cannot hold the stream (max_bytes, replicas); the credential options default to the
# superuser-only GUCs nomnom.<option>; no view, setting or error shows the password.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin

stack_init
SECRETS=$NOMNOM_STACK_DIR/secrets
mkdir -p "$SECRETS"
echo "pw-Zr4v8" >"$SECRETS/password"
echo "not-it" >"$SECRETS/wrong-password"
cat >"$SECRETS/nats.conf" <<'EOF'
authorization { users: [ { user: nomnom, password: "pw-Zr4v8" } ] }
jetstream { max_file_store: 4MB, max_memory_store: 4MB }
EOF
chmod 0755 "$SECRETS"
chmod 0644 "$SECRETS"/*
stack_start_nats -c "$SECRETS/nats.conf"
stack_start_pg preload
sql "CREATE EXTENSION nomnom" >/dev/null

# sql_error QUERY: the ERROR's SQLSTATE and message (psql's VERBOSITY verbose first line).
sql_error() {
    stack_psql "$NOMNOM_DB" -XtAq -v VERBOSITY=verbose -c "$1" 2>&1 >/dev/null | head -1 || true
}
expect_error() { # QUERY PATTERN WHAT
    local got
    got=$(sql_error "$1")
    [[ $got =~ $2 ]] || fail "$3: got '$got'"
    echo "ok: $3: $got" >&2
    if [[ $got == *pw-Zr4v8* ]]; then fail "$3: the error shows the password"; fi
}
creds="\"nats_user\": \"nomnom\", \"nats_password_file\": \"$SECRETS/password\""

expect_error "SELECT nomnom.create_stream('S1')" \
    '^ERROR:  28000: nomnom: could not connect to NATS at nats://127.0.0.1:[0-9]+: authorization failed' \
    "no credentials: authorization failed"
expect_error "SELECT nomnom.create_stream('S1', ARRAY['s1.>'], '{\"nats_user\": \"nomnom\", \"nats_password_file\": \"$SECRETS/wrong-password\"}')" \
    '28000: .*authorization failed' "wrong password: authorization failed"
expect_error "SELECT nomnom.create_stream('S1', ARRAY['s1.>'], '{\"nats_user\": \"nomnom\", \"nats_password_file\": \"$SECRETS/nope\"}')" \
    "22023: .*NATS password file \"$SECRETS/nope\": No such file" "missing password file: named"
expect_error "SELECT nomnom.create_stream('S1', ARRAY['s1.>'], '{\"nats_user\": \"nomnom\"}')" \
    '22023: .*nats_user needs nats_password_file' "a user without a password file"
expect_error "SELECT nomnom.create_stream('S1', ARRAY['s1.>'], '{\"nats_url\": \"nats://nomnom:pw-Zr4v8@127.0.0.1:1\"}')" \
    'nats://\*\*\*@127.0.0.1:1' "URL user info redacted in the error"

# The server's JetStream holds 4 MB: a stream of 1 GB, or of 3 replicas on one server, cannot be.
expect_error "SELECT nomnom.create_stream('S1', ARRAY['s1.>'], '{$creds, \"max_bytes\": 1073741824}')" \
    '53400: .*max_bytes 1073741824 \(file storage, replicas 1\) is beyond what JetStream.s limits allow: .*(insufficient|resources)' \
    "max_bytes beyond JetStream's limits: named, with JetStream's reason"
expect_error "SELECT nomnom.create_stream('S1', ARRAY['s1.>'], '{$creds, \"replicas\": 3}')" \
    '53400: .*replicas 3 is more than the NATS cluster can place: .*' \
    "replicas beyond the cluster's size: named, with JetStream's reason"

sql "SELECT nomnom.create_stream('S1', ARRAY['s1.>'], '{$creds, \"max_bytes\": 1048576, \"workers\": 0}')" >/dev/null
assert_eq "$(sql "SELECT options->>'nats_user' || ' ' || (options->>'nats_password_file' = '$SECRETS/password') FROM nomnom.streams WHERE name = 'S1'")" \
    "nomnom true" "user and password file in nomnom.streams"

# Defaults from the GUCs (superuser-only): a stream with no credentials of its own uses them.
sql "ALTER SYSTEM SET nomnom.nats_user = 'nomnom'" >/dev/null
sql "ALTER SYSTEM SET nomnom.nats_password_file = '$SECRETS/password'" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
wait_until 10 "[[ \$(sql 'SHOW nomnom.nats_user') == nomnom ]]" || fail "GUC not reloaded"
sql "SELECT nomnom.create_stream('S2', ARRAY['s2.>'], '{\"workers\": 0}')" >/dev/null
assert_eq "$(sql "SELECT options->>'nats_user' FROM nomnom.streams WHERE name = 'S2'")" nomnom \
    "GUC default nomnom.nats_user in nomnom.streams"
# A stream's own credential replaces the GUCs' (never two kinds at once).
echo "tok" >"$SECRETS/token"
chmod 0644 "$SECRETS/token"
expect_error "SELECT nomnom.create_stream('S3', ARRAY['s3.>'], '{\"nats_token_file\": \"$SECRETS/token\"}')" \
    '28000: .*authorization failed' "a stream's token replaces the GUC user (and the server refuses it)"
sql "CREATE ROLE plain LOGIN" >/dev/null
got=$(stack_psql "$NOMNOM_DB" -U plain -XtAq -c "SET nomnom.nats_password_file = '/etc/shadow'" 2>&1 || true)
[[ $got == *"permission denied"* ]] || fail "a non-superuser may set nomnom.nats_password_file: $got"
echo "ok: nomnom.nats_password_file is superuser-only" >&2
# Workers: the stream's credentials; a wrong one is a last_error saying so.
sql "SELECT nomnom.alter_stream('S1', '{\"workers\": 1}')" >/dev/null
wait_for 30 "SELECT state = 'running' AND last_error IS NULL FROM nomnom.stream_status WHERE name = 'S1'" \
    "a worker connects with the stream's user and password file"
expect_error "SELECT nomnom.alter_stream('S1', '{\"nats_password_file\": \"$SECRETS/wrong-password\"}')" \
    '28000: .*authorization failed' "alter_stream to a wrong password: authorization failed"
# The GUC's password file changes under a running worker: it reconnects, and says why it cannot.
sql "SELECT nomnom.alter_stream('S2', '{\"workers\": 1}')" >/dev/null
wait_for 30 "SELECT state = 'running' AND last_error IS NULL FROM nomnom.stream_status WHERE name = 'S2'" \
    "a worker connects with the GUCs' user and password file"
sql "ALTER SYSTEM SET nomnom.nats_password_file = '$SECRETS/wrong-password'" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
wait_for 30 "SELECT last_error LIKE '%authorization failed%' FROM nomnom.stream_status WHERE name = 'S2'" \
    "a worker with a wrong password: last_error says authorization failed"
sql "ALTER SYSTEM SET nomnom.nats_password_file = '$SECRETS/password'" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
# User info in the URL works for workers, and the view shows it redacted.
sql "SELECT nomnom.create_stream('S4', ARRAY['s4.>'], '{\"nats_url\": \"nats://nomnom:pw-Zr4v8@127.0.0.1:$NOMNOM_NATS_PORT\", \"nats_user\": null, \"workers\": 1}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status WHERE name = 'S4'" "a worker with URL user info"
assert_eq "$(sql "SELECT options->>'nats_url' FROM nomnom.streams WHERE name = 'S4'")" \
    "nats://***@127.0.0.1:$NOMNOM_NATS_PORT" "nomnom.streams redacts URL user info"
assert_eq "$(sql "SELECT nats_server || ' ' || nats_state FROM nomnom.stream_status WHERE name = 'S4'")" \
    "nats://***@127.0.0.1:$NOMNOM_NATS_PORT connected" "stream_status shows the worker's server without user info"
for v in "$(sql "SELECT string_agg(coalesce(last_error, '') || ' ' || coalesce(nats_server, ''), ' ') FROM nomnom.stream_status")" $(sql "SELECT string_agg(options::text, ' ') FROM nomnom.streams") "$(sql "SELECT string_agg(setting, ' ') FROM pg_settings WHERE name LIKE 'nomnom.%'")"; do
    [[ $v != *pw-Zr4v8* ]] || fail "a view or setting shows the password"
done
echo "ok: no view or setting shows the password" >&2
