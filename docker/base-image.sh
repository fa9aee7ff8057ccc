#!/usr/bin/env bash
# Makes sure podman has the base image every nomnom image starts FROM, debian:bookworm,
# without a container registry: when docker.io/library/debian:bookworm is missing it is
# made with `debootstrap --variant=minbase bookworm` from the Debian mirror this host's
# apt uses and imported under that tag. The root file system is kept as a tarball in
# $NOMNOM_DOCKER_CACHE (default /var/tmp/nomnom-docker), so a machine whose image store
# was reset imports it again in seconds instead of bootstrapping for minutes.
#   docker/base-image.sh            (as root; podman and debootstrap from `make deps`)
set -euo pipefail

tag=docker.io/library/debian:bookworm
cache=${NOMNOM_DOCKER_CACHE:-/var/tmp/nomnom-docker}
tarball=$cache/debian-bookworm-minbase.tar

if podman image exists "$tag"; then
    echo "base-image: $tag present"
    exit 0
fi

mkdir -p "$cache"
if [[ ! -s $tarball ]]; then
    # The mirror apt uses here (the Debian entries of sources.list.d/debian.sources or
    # sources.list), else Debian's own.
    mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' \
                 /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    if [[ -z $mirror ]]; then
        mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' \
                     /etc/apt/sources.list 2>/dev/null || true)
    fi
    mirror=${mirror:-http://deb.debian.org/debian}
    root=$(mktemp -d "$cache/rootfs.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    echo "base-image: debootstrap --variant=minbase bookworm from $mirror (a few minutes)"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
        tail -n 20 "$cache/debootstrap.log" >&2
        exit 1
    }
    # apt in the images uses the same Debian sources as this host (with the point-release
    # and security suites when the host has them), as the official image's debian.sources.
    rm -f "$root/etc/apt/sources.list"
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
        cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
    else
        cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    fi
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
    tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
fi

echo "base-image: importing $tarball as $tag"
podman import --change 'CMD ["/bin/bash"]' "$tarball" "$tag" >/dev/null
