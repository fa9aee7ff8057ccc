#!/usr/bin/env bash
# Entrypoint of the nomnom-nats image (runs as uid 10001): reads the client password from
# NATS_PASSWORD_FILE (a compose secret) into NOMNOM_NATS_PASSWORD and the user name from
# NATS_USER (default nomnom) into NOMNOM_NATS_USER, the variables that auth.conf refers to
# (nats-server resolves $NAME from its environment), so the secret is in no file of the
# image and in no compose variable.
# Then runs nats-server with the configuration file NATS_CONFIG (default
# /etc/nats/nats-none.conf: one server, no authentication) and this script's arguments, as a
# child of nomnom-stop-as-sigint (docker/stop-as-sigint.sh): nats-server shuts down cleanly
# on SIGTERM (JetStream flushed) but then exits 1, so SIGTERM (what `docker stop` sends) is
# passed on as SIGINT, after which it exits 0.
set -euo pipefail

if [[ -n ${NATS_PASSWORD_FILE:-} ]]; then
    if [[ ! -r $NATS_PASSWORD_FILE ]]; then
        echo "nomnom-nats: NATS_PASSWORD_FILE $NATS_PASSWORD_FILE is not readable by uid $EUID" >&2
        exit 1
    fi
    IFS= read -r NOMNOM_NATS_PASSWORD <"$NATS_PASSWORD_FILE" || true
    [[ -n $NOMNOM_NATS_PASSWORD ]] || { echo "nomnom-nats: $NATS_PASSWORD_FILE is empty" >&2; exit 1; }
    NOMNOM_NATS_USER=${NATS_USER:-nomnom}
    export NOMNOM_NATS_USER NOMNOM_NATS_PASSWORD
fi
exec /usr/local/bin/nomnom-stop-as-sigint nats-server --config "${NATS_CONFIG:-/etc/nats/nats-none.conf}" "$@"
