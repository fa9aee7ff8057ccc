#!/usr/bin/env bash
# Instructions a document: the worker's drain of N orders (track_status on, one worker) and
# a client's \copy of the same rows into the same (emptied) tables, both under callgrind
# (instruction counts, which the machine's load does not move). The server runs from a
# private copy of PostgreSQL (test/harness/private-pg.sh) in DIR whose `postgres` runs it
# under valgrind --tool=callgrind, one file a thread and process in OUT (initdb and the
# checks run the real binary); this checkout's extension is installed there first.
#
#   bash bench/callgrind_drain.sh --pg DIR --out OUT [--orders N] [--cache-sim] [--so FILE]
#   (default 5000 orders)
#
# Prints the worker backend's file (callgrind.PID-01: its main thread) and the COPY
# backend's, with each one's totals a document; read them with callgrind_annotate
# --inclusive=yes [--tree=calling].
# Under valgrind a drain takes ~30-80 s for 5,000 orders; far more orders make batches
# outlast ack_wait.
# --cache-sim: callgrind's cache simulation too (misses of a first level D1 of 48 KiB,
# 12-way, and of a last level LL of 2 MiB, 16-way: one core's L2, as on this machine, whose
# 105 MiB L3 would hide every miss; batches run ~2-5x slower still, within the 10 minutes of
# ack_wait set below). Valgrind runs a process's threads one at a time
# on one simulated cache: the prefetch thread's writes land in the same cache the backend
# reads, as if both ran on one core (bench/README.md item 28).
# --so FILE: FILE installed as nomnom.so after this checkout's install (another build of the
# extension, e.g. main's, to compare with; the SQL files are this checkout's).
# shellcheck disable=SC2154,SC2034
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORDERS=5000 PG_DIR='' OUT='' CACHE_SIM='' SO=''
usage="usage: $0 --pg DIR --out OUT [--orders N] [--cache-sim] [--so FILE]"
while (($#)); do
    case $1 in
    --cache-sim) CACHE_SIM=1; shift ;;
    --orders) ORDERS=$2; shift 2 ;;
    --pg) PG_DIR=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --so) SO=$(realpath "$2"); shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
    esac
done
[[ -n $PG_DIR && -n $OUT ]] || { echo "$usage" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "$0: valgrind missing" >&2; exit 1; }
eval "$(bash "$HERE/../test/harness/private-pg.sh" "$PG_DIR")"
bindir=$("$PG_CONFIG" --bindir)
if [[ ! -e $bindir/postgres.real ]]; then
    mv "$bindir/postgres" "$bindir/postgres.real"
    cat >"$bindir/postgres" <<'WRAPPER'
#!/bin/bash
# callgrind for the server and every process it forks; the real binary for initdb and checks
real=$(dirname "$0")/postgres.real
for a in "$@"; do
    case $a in --boot | --single | -V | --version | -C | --describe-config | --check) exec "$real" "$@" ;; esac
done
exec valgrind --tool=callgrind --separate-threads=yes --dump-instr=no ${NOMNOM_CG_OPTS:-} \
    --callgrind-out-file="$NOMNOM_CG_OUT/callgrind.%p" --log-file="$NOMNOM_CG_OUT/vg.%p.log" "$real" "$@"
WRAPPER
    chmod 755 "$bindir/postgres"
fi
mkdir -p "$OUT"
chmod 777 "$OUT" # the server runs as postgres
export NOMNOM_CG_OUT=$OUT
if [[ -n $CACHE_SIM ]]; then
    export NOMNOM_CG_OPTS="${NOMNOM_CG_OPTS:-} --cache-sim=yes --I1=32768,8,64 --D1=49152,12,64 --LL=2097152,16,64"
fi
flock "$NOMNOM_INSTALL_LOCK" make -C "$HERE/.." install >/dev/null
if [[ -n $SO ]]; then
    [[ -f $SO ]] || { echo "$0: $SO: no such file" >&2; exit 2; }
    cp "$SO" "$("$PG_CONFIG" --pkglibdir)/nomnom.so.new" # (no server of this copy runs yet)
    mv "$("$PG_CONFIG" --pkglibdir)/nomnom.so.new" "$("$PG_CONFIG" --pkglibdir)/nomnom.so"
fi
SEED=42
export NOMNOM_PG_FSYNC=on
# The server starts under valgrind: at load ~25 that took longer than stack.sh's default 60 s.
export NOMNOM_PG_START_TIMEOUT=${NOMNOM_PG_START_TIMEOUT:-600}
# shellcheck source=lib.sh
source "$HERE/lib.sh"
bench_begin
generate M 0 "$ORDERS"
# ack_wait 10 minutes: a batch under valgrind on a loaded machine can outlast the default,
# and its redelivery's upsert claim would be counted in the drain's instructions
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"track_status\": true, \"workers\": 1, \"publish_entities\": false, \"ack_wait_ms\": 600000}')" >/dev/null
# A callgrind file's totals a document: "EVENT value ..." from its events: and totals: lines.
per_doc() {
    awk -v n="$ORDERS" '/^events:/ { for (i = 2; i <= NF; i++) e[i] = $i }
        /^totals:/ { for (i = 2; i <= NF; i++) printf "%s%s %.1f", (i > 2 ? ", " : ""), e[i], $i / n; print " a document" }' "$1"
}

bench_log "the worker's drain of $ORDERS orders under callgrind"
expect_reset
drain_publish M on- 0 "$ORDERS"
drain_run
# (callgrind.PID-01 for its main thread, the backend, with --separate-threads=yes)
cg_file() { local f; for f in "$NOMNOM_CG_OUT/callgrind.$1" "$NOMNOM_CG_OUT/callgrind.$1-01"; do [[ -s $f ]] && echo "$f"; done; }
wait_until 120 "[[ -n \$(cg_file $WORKER_PID) ]]" || fail "no callgrind file of the worker $WORKER_PID"
echo "worker: $(cg_file "$WORKER_PID") ($DRAIN_SECONDS s): $(per_doc "$(cg_file "$WORKER_PID")")"

bench_log "\\copy of the same rows under callgrind"
reset_tables
sql "CHECKPOINT" >/dev/null
copy_pid=$(stack_psql "$NOMNOM_DB" -tA <<SQL
SELECT pg_backend_pid();
BEGIN;
\copy orders (order_key, customer_key, order_status, total_price, order_date, order_priority, clerk, ship_priority, comment) FROM '$WORK/M/orders.csv' (FORMAT csv)
\copy order_line_items (order_key, line_number, part_key, supplier_key, quantity, extended_price, discount, tax, return_flag, line_status, ship_date, commit_date, receipt_date) FROM '$WORK/M/order_line_items.csv' (FORMAT csv)
COMMIT;
SQL
)
copy_pid=$(head -1 <<<"$copy_pid")
check_totals "COPY" M
wait_until 120 "[[ -n \$(cg_file $copy_pid) ]]" || fail "no callgrind file of the COPY backend $copy_pid"
echo "copy: $(cg_file "$copy_pid"): $(per_doc "$(cg_file "$copy_pid")")"
