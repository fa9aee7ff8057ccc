#!/usr/bin/env bash
# make docker-test: builds nomnom's images and runs docker/compose.yaml for real with podman
# and podman-compose (Debian's), first alone, then with the 3-node NATS cluster overlay.
#   1. single NATS: the seed order posted to the bridge lands as 1 order, 2 line items and
#      status completed; every container then stops on SIGTERM with exit code 0;
#   2. cluster, with the entities from the original nomnom's YAML files this time: stream
#      MESSAGES has 3 replicas; the seed order lands; one NATS container is killed
#      (SIGKILL), a second order is posted and lands too.
# Everything the test makes (containers, volumes, networks, its folder) is removed on exit,
# failed or not; the images and the build cache are kept, so a second run is quick.
#
# Runs as root (rootful podman). podman's settings are the test's own: a CONTAINERS_CONF
# file in its folder (runtime runc, cgroup manager cgroupfs, default ulimits within this
# machine's hard limits), nothing in /etc. Images are built in Docker's format (BUILDAH_FORMAT),
# which keeps their HEALTHCHECKs; podman runs no healthcheck by itself without systemd,
# so the test runs them (`podman healthcheck run`) while it waits. podman-compose 1.0
# neither waits for depends_on health nor fails when a service does: the test waits on
# every container's health instead, with a deadline.
#   NOMNOM_DOCKER_KEEP=1   leave the stacks up on failure, to look at (then clean up by hand)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
start=$SECONDS

die() { echo "docker-test: FAIL: $*" >&2; exit 1; }
log() { echo "docker-test: [$((SECONDS - start))s] $*"; }

((EUID == 0)) || die "run as root (rootful podman)"
for tool in podman podman-compose debootstrap runc curl jq; do
    command -v "$tool" >/dev/null || die "$tool is missing: run make deps"
done

# NATS client authentication, as compose.yaml's NOMNOM_NATS_AUTH (its default is the same).
nats_auth=${NOMNOM_NATS_AUTH:-auth}
export NOMNOM_NATS_AUTH=$nats_auth

work=$(mktemp -d /tmp/nomnom-docker-test.XXXXXX)
project=nomnomtest$$
compose_files=()
cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
export CONTAINERS_CONF=$work/containers.conf
export BUILDAH_FORMAT=docker

compose() { podman-compose -p "$project" "${compose_files[@]/#/-f}" "$@"; }

# Everything labelled with the project, whatever state a failed step left it in.
teardown() {
    local -a ids
    mapfile -t ids < <(podman ps -a -q --filter "label=io.podman.compose.project=$project")
    ((${#ids[@]} == 0)) || podman rm -f -t 5 "${ids[@]}" >/dev/null 2>&1
    mapfile -t ids < <(podman volume ls -q --filter "label=io.podman.compose.project=$project")
    ((${#ids[@]} == 0)) || podman volume rm -f "${ids[@]}" >/dev/null
    mapfile -t ids < <(podman network ls -q --filter "label=io.podman.compose.project=$project")
    ((${#ids[@]} == 0)) || podman network rm -f "${ids[@]}" >/dev/null
}
on_exit() {
    local status=$?
    if ((status != 0)); then
        dump_logs || true
        if [[ ${NOMNOM_DOCKER_KEEP:-0} == 1 ]]; then
            echo "docker-test: left project $project up (NOMNOM_DOCKER_KEEP=1), $work kept" >&2
            exit "$status"
        fi
    fi
    teardown || echo "docker-test: teardown of $project was incomplete" >&2
    rm -rf "$work"
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

containers() { podman ps -a --format '{{.Names}}' --filter "label=io.podman.compose.project=$project"; }
container() { echo "${project}_$1_1"; }
dump_logs() {
    local c
    for c in $(containers); do
        echo "----- logs of $c ($(podman inspect -f '{{.State.Status}} exit={{.State.ExitCode}}' "$c"))" >&2
        podman logs "$c" 2>&1 | tail -n 30 >&2 || true
    done
}

# wait_healthy SECONDS: every container of the project running and healthy. A container
# that exited is reported at once (its restart policy may bring it back, but a start that
# fails once fails again here).
wait_healthy() {
    local deadline=$((SECONDS + $1)) c all state health
    while :; do
        all=1
        for c in $(containers); do
            state=$(podman inspect -f '{{.State.Status}}' "$c")
            # The restart policy brings a failed container back: a restart is a failure too.
            if [[ $state == exited || $(podman inspect -f '{{.RestartCount}}' "$c") != 0 ]]; then
                die "$c exited ($(podman inspect -f 'exit code {{.State.ExitCode}}, {{.RestartCount}} restarts' "$c"))"
            fi
            if [[ $state != running ]] || ! podman healthcheck run "$c" >/dev/null 2>&1; then
                all=0
                health=$c
            fi
        done
        ((all)) && return 0
        ((SECONDS < deadline)) || die "not healthy after $1s: $health"
        sleep 1
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
BRIDGE_PORT=$(free_port) POSTGRES_PORT=$(free_port) NATS_PORT=$(free_port)
export BRIDGE_PORT POSTGRES_PORT NATS_PORT
bridge=http://127.0.0.1:$BRIDGE_PORT

psql_in() { podman exec "$(container postgres)" psql -X -At -U postgres -d postgres -c "$1"; }

# post FILE: posts one order to the bridge's published port, retrying while it answers
# 503 (NATS electing a leader after a node was lost); prints the message id.
post() {
    local deadline=$((SECONDS + 60)) code
    while :; do
        code=$(curl -sS -o "$work/answer" -w '%{http_code}' -H 'Content-Type: application/json' \
                   --data-binary @"$1" "$bridge/ingest/message") || code=000
        [[ $code == 202 ]] && break
        ((SECONDS < deadline)) || die "POST $1: HTTP $code $(cat "$work/answer" 2>/dev/null)"
        sleep 1
    done
    jq -er .message_id "$work/answer"
}

# expect_rows ORDERS ITEMS ID...: waits until the tables hold exactly that many rows and
# every message id is completed, both in nomnom.message_status and through the bridge.
expect_rows() {
    local orders=$1 items=$2 deadline=$((SECONDS + 60)) got id completed
    shift 2
    while :; do
        got=$(psql_in "SELECT (SELECT count(*) FROM orders) || ' ' || (SELECT count(*) FROM order_line_items)" 2>/dev/null || true)
        completed=1
        for id in "$@"; do
            [[ $(psql_in "SELECT status FROM nomnom.message_status WHERE message_id = '$id'" 2>/dev/null) == completed ]] || completed=0
        done
        [[ $got == "$orders $items" ]] && ((completed)) && break
        ((SECONDS < deadline)) || die "expected $orders orders, $items line items, $* completed; got '$got'"
        sleep 0.5
    done
    for id in "$@"; do
        [[ $(curl -fsS "$bridge/ingest/status/$id" | jq -r .status) == completed ]] ||
            die "the bridge does not say $id is completed"
    done
    log "ok: $orders order(s), $items line items, every message completed"
}

# --- images -------------------------------------------------------------------------------
bash docker/base-image.sh
docker/make-secrets.sh "$work/secrets" >/dev/null
export NOMNOM_SECRETS_DIR=$work/secrets
for target in nats postgres bridge; do
    log "building nomnom-$target"
    podman build -q -f docker/Dockerfile --target "$target" -t "nomnom-$target:latest" . \
        >"$work/build-$target.log" 2>&1 || { tail -n 40 "$work/build-$target.log" >&2; die "build of $target"; }
done
for target in postgres bridge nats; do
    tools=$(podman run --rm --entrypoint /bin/sh "nomnom-$target:latest" -c \
        'for t in gcc g++ cc c++ clang make cmake ld; do command -v "$t"; done; true')
    [[ -z $tools ]] || die "nomnom-$target has build tools in it: $tools"
    [[ $(podman image inspect -f '{{.Config.User}}' "nomnom-$target:latest") != @(|root|0) ]] ||
        die "nomnom-$target runs as root"
done
log "images built: $(podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '/nomnom-(nats|postgres|bridge):latest' | sed 's|^localhost/||' | tr '\n' ' ')"

jq '.order_key = "ORD-DERIVED-TEST-002"' test/fixtures/test_order_with_lineitems.json >"$work/order2.json"

# --- 1. one NATS server ----------------------------------------------------------------------
compose_files=(docker/compose.yaml)
log "single NATS: up"
compose up -d >"$work/up-single.log" 2>&1 || { cat "$work/up-single.log" >&2; die "podman-compose up"; }
wait_healthy 240
log "single NATS: every container healthy"
id1=$(post test/fixtures/test_order_with_lineitems.json)
expect_rows 1 2 "$id1"

# The password secret is what PostgreSQL takes over TCP (and nothing else is).
[[ $(podman exec -e PGPASSWORD="$(<"$work/secrets/postgres_password")" "$(container postgres)" \
        psql -X -At -h 127.0.0.1 -U postgres -d postgres -c 'SELECT 1') == 1 ]] ||
    die "the postgres_password secret does not log in over TCP"
if podman exec -e PGPASSWORD=wrong "$(container postgres)" \
    psql -X -At -h 127.0.0.1 -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
    die "a wrong password logs in over TCP"
fi
# With NATS authentication (NOMNOM_NATS_AUTH=auth), a client without the user and the
# nats_password secret is refused: a bare CONNECT over the NATS protocol, from inside the
# nats container.
if [[ $nats_auth == auth ]]; then
    [[ $(podman exec "$(container nats)" curl -fsS http://127.0.0.1:8222/varz | jq -r .auth_required) == true ]] ||
        die "NATS does not require authentication"
    answer=$(podman exec "$(container nats)" timeout 5 bash -c '
        exec 3<>/dev/tcp/127.0.0.1/4222
        IFS= read -r info <&3
        printf "CONNECT {\"verbose\":false}\r\nPING\r\n" >&3
        IFS= read -r line <&3
        printf "%s" "$line"' || true)
    [[ $answer == *"Authorization Violation"* ]] ||
        die "a NATS client without credentials got '$answer', not an Authorization Violation"
    log "single NATS: a client without credentials is refused"
fi

# SIGTERM: every container stops by itself well within the stop timeout, with exit 0.
for service in bridge postgres nats; do
    c=$(container "$service")
    t0=$SECONDS
    podman stop -t 30 "$c" >/dev/null 2>>"$work/podman.log"
    code=$(podman inspect -f '{{.State.ExitCode}}' "$c")
    ((SECONDS - t0 < 25)) || die "$c took $((SECONDS - t0))s to stop on SIGTERM"
    [[ $code == 0 ]] || die "$c exited with $code on SIGTERM"
done
# (The logs are read whole first: `podman logs | grep -q` fails under pipefail whenever
# grep stops reading before podman has written everything.)
[[ $(podman logs "$(container postgres)" 2>&1) == *'database system is shut down'* ]] ||
    die "PostgreSQL did not log a clean shutdown"
log "single NATS: bridge, postgres and nats stopped on SIGTERM with exit 0"
compose down -v >/dev/null 2>&1 || true
teardown

# --- 2. 3-node NATS cluster ------------------------------------------------------------------
# This time the entities come from the original nomnom's YAML (nomnom.import_yaml at first
# start): a third compose file of the test's own mounts test/fixtures/nomnom-yaml instead.
cat >"$work/yaml-entities.yaml" <<YAML
services:
  postgres:
    volumes:
      - $root/test/fixtures/nomnom-yaml:/etc/nomnom/entities:ro
YAML
compose_files=(docker/compose.yaml docker/nats-cluster/compose.yaml "$work/yaml-entities.yaml")
log "NATS cluster: up"
compose up -d >"$work/up-cluster.log" 2>&1 || { cat "$work/up-cluster.log" >&2; die "podman-compose up (cluster)"; }
wait_healthy 300
log "NATS cluster: every container healthy"
[[ $(podman logs "$(container postgres)" 2>&1) == *'defined entities Order, OrderLineItem from '*/order.yaml* ]] ||
    die "PostgreSQL did not define Order and OrderLineItem from the YAML files"
replicas=$(podman exec "$(container nats)" curl -fsS 'http://127.0.0.1:8222/jsz?streams=true&config=true' |
    jq '[.account_details[].stream_detail[] | select(.name == "MESSAGES") | .config.num_replicas] | first')
[[ $replicas == 3 ]] || die "stream MESSAGES has replicas $replicas, expected 3"
peers=$(podman exec "$(container nats)" curl -fsS 'http://127.0.0.1:8222/jsz' | jq .meta_cluster.cluster_size)
[[ $peers == 3 ]] || die "JetStream meta cluster of $peers, expected 3"
id1=$(post test/fixtures/test_order_with_lineitems.json)
expect_rows 1 2 "$id1"

# Lose the node that every client has first in its server list.
podman kill -s KILL "$(container nats)" >/dev/null 2>>"$work/podman.log"
[[ $(podman inspect -f '{{.State.Status}}' "$(container nats)") != running ]] ||
    die "$(container nats) still runs after SIGKILL"
log "NATS cluster: killed $(container nats)"
id2=$(post "$work/order2.json")
expect_rows 2 4 "$id1" "$id2"

log "done in $((SECONDS - start))s"
echo "docker-test: 2 passed, 0 failed"
