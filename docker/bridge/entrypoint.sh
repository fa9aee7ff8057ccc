#!/usr/bin/env bash
# Entrypoint of the nomnom-bridge image (runs as uid 10001): hands the PostgreSQL password
# to libpq through a password file, then becomes nomnom-bridge (exec: the bridge is PID 1
# and stops cleanly on SIGTERM by itself).
#   POSTGRES_PASSWORD_FILE  the password of the user in DATABASE_URL (a compose secret).
#                           libpq ignores a password file that others may read, and a
#                           mounted secret keeps its host mode, so the password is copied
#                           into a 0600 pgpass file of the container's own.
# Every other setting is the bridge's own (NOMNOM_LISTEN, NATS_URL, DATABASE_URL,
# NATS_STREAM, NOMNOM_TOKEN_FILE, NATS_USER, NATS_PASSWORD_FILE, ... or the flags).
set -euo pipefail

if [[ -n ${POSTGRES_PASSWORD_FILE:-} ]]; then
    if [[ ! -r $POSTGRES_PASSWORD_FILE ]]; then
        echo "nomnom-bridge: POSTGRES_PASSWORD_FILE $POSTGRES_PASSWORD_FILE is not readable by uid $EUID" >&2
        exit 1
    fi
    IFS= read -r password <"$POSTGRES_PASSWORD_FILE" || true
    # pgpass fields escape backslash and colon.
    password=${password//\\/\\\\}
    password=${password//:/\\:}
    dir=$(mktemp -d /tmp/nomnom-bridge.XXXXXX)
    (umask 077 && printf '*:*:*:*:%s\n' "$password" >"$dir/pgpass")
    unset password
    export PGPASSFILE=$dir/pgpass
fi
exec /usr/local/bin/nomnom-bridge "$@"
