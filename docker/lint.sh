#!/usr/bin/env bash
# Checks docker/ without running a container: compose files, the Dockerfile, shell scripts
# and the NATS configuration. A linter that is not installed is skipped with a message.
# `make docker-test` (docker/docker-test.sh) builds and runs the stack for real.
#
#   docker/lint.sh                  every check
#   docker/lint.sh --no-cluster     without starting the 3-node cluster on 127.0.0.1
#   docker/lint.sh --install-tools  first install the npm linters into $NOMNOM_LINT_TOOLS
#
# npm linters (dclint, dockerfile-utils, dockerfilelint) are found on PATH or in
# $NOMNOM_LINT_TOOLS/node_modules/.bin (default ~/.cache/nomnom-lint); hadolint and
# ShellCheck when they are on PATH. Not part of `make test`.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools=${NOMNOM_LINT_TOOLS:-$HOME/.cache/nomnom-lint}
run_cluster=1
for arg in "$@"; do
    case $arg in
    --no-cluster) run_cluster=0 ;;
    --install-tools)
        npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
            dclint@3.1.0 dockerfile-utils@0.16.3 dockerfilelint@1.8.0 || exit 1 ;;
    *) echo "usage: $0 [--no-cluster] [--install-tools]" >&2; exit 2 ;;
    esac
done

compose_files=("$here/compose.yaml" "$here/nats-cluster/compose.yaml")
dockerfiles=("$here/Dockerfile")
nats_confs=("$here"/nats-cluster/nats-*.conf)
scripts=("$here"/*.sh "$here"/lint/*.sh "$here"/*/entrypoint.sh)

passed=0 failed=0 skipped=0
# check NAME COMMAND...: runs it, prints its output only when it fails.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        echo "ok    $name"
        passed=$((passed + 1))
    else
        echo "FAIL  $name"
        printf '%s\n' "$out" | sed 's/^/      /'
        failed=$((failed + 1))
    fi
}
skip() {
    echo "skip  $1"
    skipped=$((skipped + 1))
}
# find_tool NAME: prints its path (PATH first, then the npm tools folder) or fails.
find_tool() {
    command -v "$1" 2>/dev/null && return 0
    [[ -x $tools/node_modules/.bin/$1 ]] && echo "$tools/node_modules/.bin/$1"
}

# --- compose files ----------------------------------------------------------------------
if python3 -c 'import yaml' 2>/dev/null; then
    for f in "${compose_files[@]}"; do
        check "yaml   ${f#"$here"/}" python3 -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$f"
    done
    # What `docker compose config` would catch: merge the files the way compose does for
    # the keys used here and check references (services, volumes, files) resolve.
    check "compose references (main)" python3 "$here/lint/compose_refs.py" "${compose_files[0]}"
    check "compose references (main + nats-cluster)" python3 "$here/lint/compose_refs.py" \
        "${compose_files[@]}"
else
    skip "yaml: python3 with PyYAML not installed (apt-get install python3-yaml)"
fi

if dclint=$(find_tool dclint); then
    # Schema (the Compose specification) and best practices. Services stay in start order
    # (nats, postgres, bridge), not alphabetical. build with image is on purpose: the image
    # name tags what is built, the same under Docker Compose and podman-compose, and the
    # cluster's nats-2 and nats-3 run the image that nats builds.
    for f in "${compose_files[@]}"; do
        check "dclint ${f#"$here"/}" "$dclint" "$f" --color false \
            --disable-rule services-alphabetical-order --disable-rule no-build-and-image
    done
else
    skip "dclint: not installed (docker/lint.sh --install-tools)"
fi

# --- Dockerfiles --------------------------------------------------------------------------
if hadolint=$(find_tool hadolint); then
    for f in "${dockerfiles[@]}"; do check "hadolint ${f#"$here"/}" "$hadolint" "$f"; done
else
    skip "hadolint: not installed (not packaged in Debian 12)"
fi
if du=$(find_tool dockerfile-utils); then
    for f in "${dockerfiles[@]}"; do check "dockerfile-utils ${f#"$here"/}" "$du" lint "$f"; done
else
    skip "dockerfile-utils: not installed (docker/lint.sh --install-tools)"
fi
if dfl=$(find_tool dockerfilelint); then
    for f in "${dockerfiles[@]}"; do
        check "dockerfilelint ${f#"$here"/}" "$dfl" -c "$here/lint" "$f"
    done
else
    skip "dockerfilelint: not installed (docker/lint.sh --install-tools)"
fi

# --- shell scripts ------------------------------------------------------------------------
for f in "${scripts[@]}"; do check "bash -n ${f#"$here"/}" bash -n "$f"; done
if shellcheck=$(find_tool shellcheck); then
    check "shellcheck" "$shellcheck" "${scripts[@]}"
else
    skip "shellcheck: not installed (apt-get install shellcheck)"
fi

# --- NATS cluster ---------------------------------------------------------------------------
if command -v nats-server >/dev/null; then
    # -t parses the file and exits; it does not open store_dir (/data, the container's
    # volume) nor resolve the route host names, so the files are tested as shipped.
    for f in "${nats_confs[@]}"; do
        check "nats-server -t ${f#"$here"/}" nats-server -c "$f" -t
    done
    # The image's own files, with the variables its entrypoint sets (auth.conf) and a node
    # file where the compose overlay mounts one (cluster-*.conf include ./node.conf).
    image_confs=$(mktemp -d)
    cp "$here"/nats/*.conf "$image_confs/" && cp "${nats_confs[0]}" "$image_confs/node.conf"
    for f in "$here"/nats/nats-*.conf "$here"/nats/cluster-*.conf; do
        check "nats-server -t ${f#"$here"/}" env NOMNOM_NATS_USER=u NOMNOM_NATS_PASSWORD=p \
            nats-server -c "$image_confs/${f##*/}" -t
    done
    rm -rf "$image_confs"
    if ((run_cluster)); then
        check "3-node cluster on 127.0.0.1 elects a leader and takes an R3 stream" \
            bash "$here/lint/nats_cluster_smoke.sh" "${nats_confs[@]}"
    else
        skip "3-node cluster run (--no-cluster)"
    fi
else
    skip "nats-server: not installed (apt-get install nats-server)"
fi

echo "lint: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
