#!/usr/bin/env bash
# First start only (run by the postgres image's entrypoint from /docker-entrypoint-initdb.d):
# preload nomnom and point it at NATS, then restart the temporary server so that the
# library, its GUCs and the launcher are live before 20-nomnom-setup.sh runs.
set -Eeuo pipefail

nats_url=${NOMNOM_NATS_URL:-nats://nats:4222}
database=${NOMNOM_DATABASE:-${POSTGRES_DB:-${POSTGRES_USER:-postgres}}}

# Values go into single-quoted postgresql.conf strings: refuse a quote rather than escape it.
for value in "$nats_url" "$database"; do
    if [[ $value == *"'"* ]]; then
        echo "nomnom: a quote in NOMNOM_NATS_URL or NOMNOM_DATABASE is not supported" >&2
        exit 1
    fi
done

cat >> "$PGDATA/postgresql.conf" <<CONF

# nomnom (written by docker-entrypoint-initdb.d/10-nomnom-config.sh)
shared_preload_libraries = 'nomnom'
nomnom.database = '$database'
nomnom.nats_url = '$nats_url'
CONF

echo "nomnom: shared_preload_libraries = 'nomnom', nomnom.database = '$database'," \
     "nomnom.nats_url = '$nats_url'"

# pg_ctl restart reuses the temporary server's options (socket only, no TCP) from
# postmaster.opts, so clients still cannot connect before initialisation is done.
pg_ctl -D "$PGDATA" -m fast -w restart
