#!/usr/bin/env bash
# make deps: installs every Debian package nomnom needs to build, test and run.
# Idempotent. When every package is already installed it does not touch apt at all,
# so that repeated `make test` runs start in well under a second.
set -euo pipefail

PACKAGES=(
    # PostgreSQL 15, its headers for PGXS, pgTAP and pg_prove
    postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
    libtap-parser-sourcehandler-pgtap-perl libpq-dev
    # NATS: the C client library and the server the tests start
    libnats-dev nats-server
    # libraries of the extension, the core and the bridge (rapidjson-dev: headers only;
    # libyaml-dev: nomnom.import_yaml)
    libjansson-dev rapidjson-dev uuid-dev libyaml-dev libmicrohttpd-dev libcpp-httplib-dev
    # build and unit tests; clang-format (with git-clang-format) for .ci/run's check of
    # the changed lines
    g++ make cmake pkg-config libgtest-dev clang-format git
    # the harness itself: curl (NATS health, bridge), runuser and flock (util-linux),
    # ps and kill (procps), fuser (psmisc), jq for JSON answers
    curl util-linux procps psmisc jq
    # e2e 068: gdb holds the postmaster at select() to make it miss a worker's restart
    gdb
    # bridge HTTPS tests: a certificate made at test time
    openssl
    # fuzzing (make fuzz): Debian's clang and libFuzzer's runtime
    clang-14 libclang-rt-14-dev
    # benchmarks: load generator and plots
    wrk gnuplot-nox
    # NATS credentials and TLS in the end-to-end tests: openssl makes certificates;
    # node runs test/harness/nats-auth (NKeys, operator/account/user JWTs, .creds)
    openssl libssl-dev nodejs
    # the operator's console tests: promtool (package prometheus) and headless chromium;
    # the machine's node and npm install test/console's pinned npm packages (below)
    prometheus chromium
    # make docker-test (docker/): rootful podman with runc (crun refuses this machine's
    # hybrid cgroups), netavark and aardvark-dns (networks with DNS; netavark needs
    # iptables), podman-compose, debootstrap for the debian:bookworm base image; python3
    # picks free ports
    podman runc netavark aardvark-dns iptables podman-compose debootstrap python3
    # the bridge through a connection pooler in transaction pooling mode (e2e)
    pgbouncer
)
# npm: Debian's package, unless a node that ships its own npm is installed.
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

# The npm packages of a folder (test/harness/nats-auth, test/harness/nats-client, test/console), exactly as its
# package-lock.json pins them.
install_node_modules() {
    local dir
    dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/$1" && pwd)
    if [[ -f $dir/node_modules/.package-lock.json ]] &&
        cmp -s <(jq -S '.packages | del(."") | map_values(.version)' "$dir/package-lock.json") \
            <(jq -S '.packages | map_values(.version)' "$dir/node_modules/.package-lock.json"); then
        return 0
    fi
    echo "deps: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "deps: all ${#PACKAGES[@]} packages already installed"
    install_node_modules nats-auth
    install_node_modules ../console
    install_node_modules nats-client
    exit 0
fi

echo "deps: installing ${missing[*]}"
# apt needs root; a developer who is not root gets sudo (CI runs as root).
SUDO=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || { echo "deps: run as root (or install sudo)" >&2; exit 1; }
    SUDO=(sudo env DEBIAN_FRONTEND=noninteractive)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
# Install the whole list, not only the missing ones, so apt also upgrades a half-configured one.
"${SUDO[@]}" apt-get install -y "${PACKAGES[@]}"
install_node_modules nats-auth
install_node_modules ../console
install_node_modules nats-client
