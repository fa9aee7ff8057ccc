#!/usr/bin/env bash
# Instructions a document in nomnom-bridge: the bridge under callgrind (every thread of it:
# libmicrohttpd's connection threads, nats.c's, the pending-row writers) while the HTTP
# loads of bench/run.sh go through it, the worker paused: NDJSON batches of 250 over 4
# connections, then single POSTs over 32. Instruction counts, which the machine's load does
# not move, unlike its CPU time. Each load's counts are zeroed before it and dumped once its
# pending rows are written (callgrind_control), so start-up and idle time are left out.
#
#   bash bench/callgrind_bridge.sh --out OUT [--orders N] [--singles N] [--bin BRIDGE]
#
#   --orders N    documents sent in batches (default 10000)
#   --singles N   documents sent one a request (default 2000; 0: none)
#   --bin BRIDGE  another nomnom-bridge binary (default: this build's)
#
# Prints each load's instructions a document; OUT keeps callgrind.out.* (read them with
# callgrind_annotate [--inclusive=yes]). Needs `make`; PostgreSQL's side is not counted.
# shellcheck disable=SC2154,SC2034
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ORDERS=10000 SINGLES=2000 OUT='' BIN=''
usage="usage: $0 --out OUT [--orders N] [--singles N] [--bin BRIDGE]"
while (($#)); do
    case $1 in
    --orders) ORDERS=$2; shift 2 ;;
    --singles) SINGLES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
    esac
done
[[ -n $OUT ]] || { echo "$usage" >&2; exit 2; }
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
    { echo "$0: valgrind (callgrind_control) missing" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
[[ -z $BIN ]] || NOMNOM_BRIDGE_BIN=$BIN
REAL_BRIDGE=$NOMNOM_BRIDGE_BIN
bench_begin
generate B 0 "$ORDERS" ndjson
((SINGLES == 0)) || generate S "$ORDERS" "$SINGLES" ndjson

# A long publish timeout: under valgrind a request's acks can take seconds. nats.c still
# keeps each message's deadline and, once it passes, hands the acknowledged message's timer
# entry back to the bridge's ack thread: each dump waits for that too, so it is counted.
PUBLISH_TIMEOUT=60
# The bridge again, under callgrind, with stack_start_bridge's arguments; started here, not by
# it, since valgrind on a loaded machine can take longer than its 30 s to answer.
stack_stop_bridge
valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$OUT/callgrind.out.%p" \
    --log-file="$OUT/vg.%p.log" "$REAL_BRIDGE" --listen "127.0.0.1:$NOMNOM_BRIDGE_PORT" \
    --nats "$NATS_URL" --database "postgresql://postgres@127.0.0.1:$PGPORT/$NOMNOM_DB" \
    --log-level warn --publish-timeout "${PUBLISH_TIMEOUT}s" </dev/null >>"$NOMNOM_BRIDGE_LOG" 2>&1 &
NOMNOM_BRIDGE_PID=$!
wait_until 180 curl -fs "$NOMNOM_BRIDGE_URL/ready" || fail "bridge under callgrind not ready"

# measure NAME SET BATCH CONNS: one HTTP load between a zeroing and a dump; prints the
# instructions a document from the dump's totals.
measure() {
    local name=$1 set=$2 batch=$3 conns=$4 n file
    n=${set}_orders
    callgrind_control -z "$NOMNOM_BRIDGE_PID" >/dev/null
    http_load "$set" "$batch" "$conns" # returns once the pending rows are written
    local until=$(($(date +%s) + PUBLISH_TIMEOUT + 2))
    wait_until $((PUBLISH_TIMEOUT + 10)) "(( \$(date +%s) >= $until ))"
    callgrind_control -d "$name" "$NOMNOM_BRIDGE_PID" >/dev/null
    file=$(grep -l "^desc: Trigger: .*$name" "$OUT"/callgrind.out.* | tail -1)
    [[ -n $file ]] || fail "no callgrind dump for $name"
    awk -v n="${!n}" -v name="$name" -v f="$file" '/^totals:/ {
        printf "%s: %d documents, %.1fk instructions a document (%s)\n", name, n, $2 / n / 1000, f}' "$file"
}
bench_log "the bridge under callgrind: $ORDERS documents in NDJSON batches of 250, 4 connections"
measure batch B 250 4
if ((SINGLES > 0)); then
    bench_log "the bridge under callgrind: $SINGLES single POSTs, 32 connections"
    measure single S 0 32
fi
stack_stop_bridge
