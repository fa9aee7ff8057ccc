#!/usr/bin/env bash
# First start only: CREATE EXTENSION nomnom, define the entities found in
# NOMNOM_ENTITIES_DIR (*.json, one nomnom.define_entity spec each) and create the stream.
#   NOMNOM_STREAM            stream name (default MESSAGES; empty: create no stream)
#   NOMNOM_STREAM_SUBJECTS   comma-separated subjects (default messages.ingest.>)
#   NOMNOM_STREAM_OPTIONS    create_stream options as JSON, e.g. {"replicas": 3}
#   NOMNOM_STREAM_TIMEOUT    seconds to wait for NATS to accept the stream (default 60)
set -Eeuo pipefail

database=${NOMNOM_DATABASE:-${POSTGRES_DB:-${POSTGRES_USER:-postgres}}}
entities_dir=${NOMNOM_ENTITIES_DIR-/usr/share/nomnom/entities}
stream=${NOMNOM_STREAM-MESSAGES}
subjects=${NOMNOM_STREAM_SUBJECTS:-messages.ingest.>}
options=${NOMNOM_STREAM_OPTIONS:-'{}'}
timeout=${NOMNOM_STREAM_TIMEOUT:-60}

# Socket connection to the temporary server, as the entrypoint's own docker_process_sql.
# SQL that uses psql variables (-v) comes on standard input: psql does not interpolate -c.
sql() {
    PGHOST='' PGHOSTADDR='' psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
        --username "${POSTGRES_USER:-postgres}" --no-password --dbname "$database" "$@"
}

sql -c 'CREATE EXTENSION IF NOT EXISTS nomnom'

# A child entity needs its parent: define in passes until nothing is left or a pass
# makes no progress (then report the last error of each spec that was left).
if [[ -n $entities_dir && -d $entities_dir ]]; then
    shopt -s nullglob
    pending=("$entities_dir"/*.json)
    while ((${#pending[@]} > 0)); do
        left=()
        errors=()
        for spec in "${pending[@]}"; do
            if out=$(sql -v spec="$(<"$spec")" -At 2>&1 \
                     <<<"SELECT nomnom.define_entity(:'spec'::jsonb);"); then
                echo "nomnom: defined entity $out from $spec"
            else
                left+=("$spec")
                errors+=("$spec: $out")
            fi
        done
        if ((${#left[@]} == ${#pending[@]})); then
            printf 'nomnom: could not define %s\n' "${errors[@]}" >&2
            exit 1
        fi
        pending=("${left[@]}")
    done
fi

if [[ -n $stream ]]; then
    # NATS may still be starting: retry until it accepts the stream or the time is up.
    # A configuration error (a stream of that name with other subjects) fails the same way,
    # after the timeout, with PostgreSQL's message.
    deadline=$((SECONDS + timeout))
    until out=$(sql -v stream="$stream" -v subjects="$subjects" -v options="$options" 2>&1 <<'SQL'
SELECT nomnom.create_stream(:'stream', string_to_array(:'subjects', ','), :'options'::jsonb);
SQL
    ); do
        if ((SECONDS >= deadline)); then
            echo "nomnom: create_stream($stream) failed for ${timeout}s: $out" >&2
            exit 1
        fi
        echo "nomnom: waiting for NATS to create stream $stream: $out"
        sleep 2
    done
    echo "nomnom: stream $stream ready (subjects $subjects, options $options)"
fi
