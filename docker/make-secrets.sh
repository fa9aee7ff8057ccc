#!/usr/bin/env bash
# Makes the compose stack's secret files, each a random password, in DIR (default
# docker/secrets, which git ignores): postgres_password, nats_password. An existing file is
# kept. The folder is private to its owner (0700) and the files are readable by all
# (0644), because a compose secret keeps its host mode and the images run as uid 10001:
# nobody but the folder's owner can reach them on the host.
#   docker/make-secrets.sh [DIR]
set -euo pipefail

dir=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets}
mkdir -p "$dir"
chmod 0700 "$dir"
for name in postgres_password nats_password; do
    file=$dir/$name
    if [[ -s $file ]]; then
        echo "make-secrets: $file kept"
        continue
    fi
    # 32 characters of [A-Za-z0-9]: nothing to escape in a URL, pgpass or nats-server file.
    (umask 022 && head -c 32 < <(tr -dc "A-Za-z0-9" </dev/urandom) >"$file.tmp")
    mv "$file.tmp" "$file"
    chmod 0644 "$file"
    echo "make-secrets: $file made"
done
