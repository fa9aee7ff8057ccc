#!/usr/bin/env bash
# nomnom-stop-as-sigint COMMAND [ARG...]: runs COMMAND as a child and passes SIGTERM and
# SIGINT on to it as SIGINT, then exits with COMMAND's own status. For the servers whose
# clean stop is SIGINT: PostgreSQL (SIGINT is its fast shutdown; SIGTERM, a smart one,
# waits for every client to disconnect, so `docker stop` would end in SIGKILL) and
# nats-server (it shuts down cleanly on either, but exits 1 after SIGTERM).
set -uo pipefail

(($# > 0)) || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
"$@" &
pid=$!
# A trapped signal makes wait return early (with 128 + the signal): wait again for the
# child's own exit status.
interrupted=0
trap 'interrupted=1; kill -INT "$pid" 2>/dev/null' TERM INT
while :; do
    interrupted=0
    status=0
    wait "$pid" || status=$?
    ((interrupted)) || break
done
exit "$status"
