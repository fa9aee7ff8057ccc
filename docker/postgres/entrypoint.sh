#!/usr/bin/env bash
# Entrypoint of the nomnom-postgres image (runs as the postgres user, uid 10001).
#
# First start (no PG_VERSION in $PGDATA): initdb with the superuser password read from
# POSTGRES_PASSWORD_FILE, postgresql.conf gets listen_addresses, shared_preload_libraries
# = 'nomnom', nomnom.database and nomnom.nats_url; then, on a temporary server that listens
# on its socket only (so the healthcheck, which uses TCP, stays unhealthy meanwhile):
#   CREATE DATABASE $NOMNOM_DATABASE (when it is not postgres), CREATE EXTENSION nomnom,
#   every entity in $NOMNOM_ENTITIES_DIR (*.json: a nomnom.define_entity spec each;
#   *.yaml, *.yml: the original nomnom's entity files, through nomnom.import_yaml),
#   every stream in $NOMNOM_STREAMS_DIR (*.json: {"name", "subjects", "options"}).
# Every later start: the server as it was configured (ALTER SYSTEM for changes).
# Then PostgreSQL runs under nomnom-stop-as-sigint (docker/stop-as-sigint.sh), which turns
# SIGTERM (what `docker stop` and `podman stop` send) into PostgreSQL's fast shutdown: a
# smart shutdown would wait for the bridge's connections to close and be killed after the
# stop timeout instead.
#
# Variables (read on first start only):
#   POSTGRES_PASSWORD_FILE   superuser password file (required for a new cluster)
#   NOMNOM_DATABASE          database of the catalog and the workers (default postgres)
#   NOMNOM_NATS_URL          nomnom.nats_url (default nats://nats:4222; a comma-separated
#                            server list for a cluster)
#   NOMNOM_NATS_USER, NOMNOM_NATS_PASSWORD_FILE
#                            nomnom.nats_user and nomnom.nats_password_file (optional)
#   NOMNOM_ENTITIES_DIR      default /etc/nomnom/entities
#   NOMNOM_STREAMS_DIR       default /etc/nomnom/streams
#   NOMNOM_STREAM_TIMEOUT    seconds to keep retrying a stream while NATS starts (default 120)
# Arguments are passed to postgres (for instance -c max_connections=200).
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
database=${NOMNOM_DATABASE:-postgres}
nats_url=${NOMNOM_NATS_URL:-nats://nats:4222}
nats_user=${NOMNOM_NATS_USER:-}
nats_password_file=${NOMNOM_NATS_PASSWORD_FILE:-}
entities_dir=${NOMNOM_ENTITIES_DIR:-/etc/nomnom/entities}
streams_dir=${NOMNOM_STREAMS_DIR:-/etc/nomnom/streams}
stream_timeout=${NOMNOM_STREAM_TIMEOUT:-120}

log() { echo "nomnom-postgres: $*"; }
die() { echo "nomnom-postgres: $*" >&2; exit 1; }

if ((EUID == 0)); then
    die "run as the postgres user (the image's USER), not as root"
fi

# psql on the temporary server's socket, stopping at the first error.
sql() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --no-password -h /var/run/postgresql \
        -U postgres "$@"
}

# Values go into single-quoted postgresql.conf strings: refuse a quote rather than escape it.
conf_value() {
    [[ $2 != *"'"* ]] || die "$1 must not contain a single quote"
    printf '%s' "$2"
}

initialise() {
    local password_file=${POSTGRES_PASSWORD_FILE:-}
    [[ -n $password_file ]] ||
        die "a new cluster needs POSTGRES_PASSWORD_FILE (a compose secret, for instance)"
    [[ -r $password_file && -s $password_file ]] ||
        die "POSTGRES_PASSWORD_FILE $password_file is missing, empty or not readable by uid $EUID"
    # initdb --pwfile reads the first line; a trailing newline in the secret is not part of it.
    log "initialising a new cluster in $PGDATA"
    initdb -D "$PGDATA" -U postgres --pwfile="$password_file" --auth-local=peer \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    {
        echo 'host all all 0.0.0.0/0 scram-sha-256'
        echo 'host all all ::/0 scram-sha-256'
    } >>"$PGDATA/pg_hba.conf"
    {
        echo
        echo "# written by the nomnom-postgres entrypoint on first start; change with ALTER SYSTEM"
        echo "listen_addresses = '*'"
        echo "shared_preload_libraries = 'nomnom'"
        echo "nomnom.database = '$(conf_value NOMNOM_DATABASE "$database")'"
        echo "nomnom.nats_url = '$(conf_value NOMNOM_NATS_URL "$nats_url")'"
        if [[ -n $nats_user || -n $nats_password_file ]]; then
            echo "nomnom.nats_user = '$(conf_value NOMNOM_NATS_USER "$nats_user")'"
            echo "nomnom.nats_password_file = '$(conf_value NOMNOM_NATS_PASSWORD_FILE "$nats_password_file")'"
        fi
    } >>"$PGDATA/postgresql.conf"
    log "shared_preload_libraries = 'nomnom', nomnom.database = '$database'"
}

# define_entities DIR: the YAML files first, all in one nomnom.import_yaml call (one
# transaction; the original's files may come in any order, parents after children), then
# the JSON specs in passes (a child needs its parent, and the files come in name order):
# whatever fails is tried again while a pass makes progress.
define_entities() {
    local dir=$1 spec out yaml=''
    local -a yamls pending left errors
    shopt -s nullglob
    yamls=("$dir"/*.yaml "$dir"/*.yml)
    pending=("$dir"/*.json)
    shopt -u nullglob
    if ((${#yamls[@]} > 0)); then
        sql -d "$database" -At -c "SELECT to_regproc('nomnom.import_yaml') IS NOT NULL" |
            grep -q t || die "${yamls[0]} is YAML, but this nomnom has no nomnom.import_yaml"
        for spec in "${yamls[@]}"; do
            yaml+=$'---\n'"$(<"$spec")"$'\n'
        done
        out=$(sql -d "$database" -At -v yaml="$yaml" 2>&1 \
            <<<"SELECT string_agg(n, ', ') FROM nomnom.import_yaml(:'yaml') AS n;") ||
            die "could not import ${yamls[*]}: $out"
        log "defined entities $out from ${yamls[*]}"
    fi
    while ((${#pending[@]} > 0)); do
        left=() errors=()
        for spec in "${pending[@]}"; do
            if out=$(sql -d "$database" -At -v spec="$(<"$spec")" 2>&1 \
                <<<"SELECT nomnom.define_entity(:'spec'::jsonb);"); then
                log "defined entity $out from $spec"
            else
                left+=("$spec")
                errors+=("$spec: $out")
            fi
        done
        if ((${#left[@]} == ${#pending[@]})); then
            printf 'nomnom-postgres: could not define %s\n' "${errors[@]}" >&2
            exit 1
        fi
        pending=("${left[@]}")
    done
}

# create_streams DIR: one JSON file a stream, {"name": ..., "subjects": [...], "options": {...}}.
# NATS may still be starting (compose does not always wait for it): each stream is retried
# until NATS takes it or NOMNOM_STREAM_TIMEOUT runs out.
create_streams() {
    local dir=$1 file out deadline
    shopt -s nullglob
    for file in "$dir"/*.json; do
        deadline=$((SECONDS + stream_timeout))
        until out=$(sql -d "$database" -At -v spec="$(<"$file")" 2>&1 <<'SQL'
SELECT nomnom.create_stream(s->>'name',
                            ARRAY(SELECT jsonb_array_elements_text(s->'subjects')),
                            coalesce(s->'options', '{}'))
  FROM (SELECT :'spec'::jsonb AS s) AS f;
SQL
        ); do
            if ((SECONDS >= deadline)); then
                die "stream from $file not created in ${stream_timeout}s: $out"
            fi
            log "waiting for NATS to take the stream in $file: ${out##*ERROR:  }"
            sleep 2
        done
        log "stream from $file ready"
    done
    shopt -u nullglob
}

# setup: on the temporary socket-only server.
setup() {
    if [[ $database != postgres ]] &&
        ! sql -d postgres -At -c "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1; then
        sql -d postgres -v db="$database" <<<'CREATE DATABASE :"db";'
        log "created database $database"
    fi
    sql -d "$database" -c 'CREATE EXTENSION IF NOT EXISTS nomnom'
    [[ -d $entities_dir ]] && define_entities "$entities_dir"
    [[ -d $streams_dir ]] && create_streams "$streams_dir"
    return 0
}

fresh=0
if [[ ! -s $PGDATA/PG_VERSION ]]; then
    initialise
    fresh=1
fi

if ((fresh)); then
    # Socket only (listen_addresses empty): nothing from outside reaches a half-made database.
    pg_ctl -D "$PGDATA" -w -t 120 -o "-c listen_addresses=''" -l /tmp/nomnom-setup.log start >/dev/null ||
        { cat /tmp/nomnom-setup.log >&2; die "the temporary server did not start"; }
    if ! (setup); then
        pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null || true
        # A half-made cluster holds nothing but what this script made: empty the folder so
        # that the next start (the restart policy's) begins again instead of taking it for
        # a finished one.
        find "$PGDATA" -mindepth 1 -delete
        die "first-start set-up failed; the next start initialises again"
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    log "set-up done"
fi

exec /usr/local/bin/nomnom-stop-as-sigint postgres -D "$PGDATA" "$@"
