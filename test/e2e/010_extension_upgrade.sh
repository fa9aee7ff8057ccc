#!/usr/bin/env bash
# ALTER EXTENSION nomnom UPDATE from every shipped version gives exactly the objects,
# comments and grants of a fresh install of the default version.
set -euo pipefail
# shellcheck source=test/harness/stack.sh
source "$(dirname "${BASH_SOURCE[0]}")/../harness/stack.sh"
stack_trap

fail() { echo "FAIL: $*" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

stack_start_pg
default=$(stack_psql postgres -tA -c "SELECT default_version FROM pg_available_extensions WHERE name = 'nomnom'")
[[ -n $default ]] || fail "nomnom is not installed"

objects() { # DB FILE
    stack_psql "$1" -f - <"$here/lib/extension_objects.sql" >"$2"
}

stack_psql postgres -c "CREATE DATABASE fresh"
stack_psql fresh -c "CREATE EXTENSION nomnom"
objects fresh "$NOMNOM_STACK_DIR/fresh.txt"
[[ $(wc -l <"$NOMNOM_STACK_DIR/fresh.txt") -gt 20 ]] || fail "the object list of a fresh install is nearly empty"

# Every version that has a path to the default one, oldest first.
mapfile -t versions < <(stack_psql postgres -tA -c "
    SELECT source FROM pg_extension_update_paths('nomnom')
    WHERE target = '$default' AND path IS NOT NULL ORDER BY source")
((${#versions[@]} > 0)) || fail "no update path leads to $default"

for version in "${versions[@]}"; do
    db="from_${version//./_}"
    stack_psql postgres -c "CREATE DATABASE $db"
    stack_psql "$db" -c "CREATE EXTENSION nomnom VERSION '$version'"
    stack_psql "$db" -c "ALTER EXTENSION nomnom UPDATE"
    [[ $(stack_psql "$db" -tA -c "SELECT extversion FROM pg_extension WHERE extname = 'nomnom'") == "$default" ]] ||
        fail "$version did not update to $default"
    objects "$db" "$NOMNOM_STACK_DIR/$db.txt"
    if ! diff -u "$NOMNOM_STACK_DIR/fresh.txt" "$NOMNOM_STACK_DIR/$db.txt"; then
        fail "a database updated from $version differs from a fresh install of $default (diff above: - fresh, + updated)"
    fi
    echo "ok: $version -> $default equals a fresh install ($(wc -l <"$NOMNOM_STACK_DIR/$db.txt") lines)"
done
