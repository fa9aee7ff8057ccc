#!/usr/bin/env bash
# private-pg.sh DIR: a private, relocated copy of the system PostgreSQL 15 in DIR, so that
# several checkouts on one machine can `make install` and run pgTAP and end-to-end tests at
# the same time instead of queueing on /tmp/nomnom-install.lock. PostgreSQL is relocatable:
# a pg_config and a postgres run from DIR find DIR's share/ and lib/, so `make install`
# writes there and the test clusters load the extension from there.
# Prints the two exports that point the Makefile and run-tests.sh at the copy:
#   eval "$(bash test/harness/private-pg.sh /work/pg/mine)"
# Only for development: `make test` and CI use the system PostgreSQL.
set -euo pipefail
dir=${1:?usage: private-pg.sh DIR}
system_bindir=$(pg_config --bindir)  # /usr/lib/postgresql/15/bin
system_root=${system_bindir%/bin}     # /usr/lib/postgresql/15
version=${system_root##*/}
if [[ ! -x $dir$system_bindir/pg_config ]]; then
    mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql" "$dir/usr/include"
    cp -a "$system_root" "$dir/usr/lib/postgresql/"
    cp -a "$(pg_config --sharedir)" "$dir/usr/share/postgresql/"
    # Headers are only read (PGXS builds against them): share the system's.
    ln -sfn /usr/include/postgresql "$dir/usr/include/postgresql"
    chmod -R a+rX "$dir"
fi
[[ $("$dir$system_bindir/pg_config" --pkglibdir) == "$dir"* ]] ||
    { echo "private-pg.sh: the copy's pg_config does not point into $dir" >&2; exit 1; }
echo "export PG_CONFIG=$dir$system_bindir/pg_config"
echo "export NOMNOM_INSTALL_LOCK=$dir/install.lock"
echo "# private PostgreSQL $version in $dir" >&2
