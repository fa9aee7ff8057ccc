#!/usr/bin/env bash
# The worker's memory as the tables grow: drains of 10,000, 100,000 and 1,000,000 orders
# (track_status on), each landing on the rows of the ones before, so orders and
# nomnom.message_status grow to 1.11 million rows. During each drain the worker's private
# resident memory (RssAnon: its own, not the shared_buffers pages it touched) is read every
# 0.5 s; the table gives its largest value, its value at the end and the peak RSS (VmHWM).
#
#   bash bench/memory.sh [--sizes "10000 100000 1000000"] [--detail FILE]
#
# --detail FILE: where that memory is. Every 10 s of each drain and at its end, the worker's
# anonymous mappings of 256 kB or more (/proc/PID/smaps: [heap] is glibc's main arena, the
# backend's; a thread's arena is a 64 MiB-aligned mapping), and at each drain's end which
# thread allocates in which arena (gdb reads each thread's thread_arena; libc6-dbg). gdb only
# reads: a `call` into the worker (malloc_info) broke its threads' state and crashed it.
#
# Needs `make` and `make install`; takes several minutes for the 1M drain. Memory does not
# depend on the machine's load: with a private PostgreSQL (PG_CONFIG from
# test/harness/private-pg.sh) it runs beside a bench without its lock; with the system's, take
# the bench lock as make bench does: flock /tmp/nomnom-install.lock bash bench/memory.sh
# shellcheck disable=SC2154,SC2034
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SIZES="10000 100000 1000000"
DETAIL=
while (($#)); do
    case $1 in
    --sizes) SIZES=$2; shift 2 ;;
    --detail) DETAIL=$2; shift 2 ;;
    *) echo "usage: $0 [--sizes \"N N ...\"] [--detail FILE]" >&2; exit 2 ;;
    esac
done
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# The worker's anonymous mappings of 256 kB or more, largest first, into $DETAIL.
mappings() { # PID LABEL
    {
        echo "== $2 $(date +%T) $(grep '^RssAnon' "/proc/$1/status")"
        awk '/^[0-9a-f]+-[0-9a-f]+ / {range = $1; name = NF >= 6 ? $6 : "-"}
             /^Anonymous:/ && $2 >= 256 {printf "  %s %6d kB %s\n", range, $2, name}' \
            "/proc/$1/smaps" | sort -k2 -n -r
    } >>"$DETAIL"
}
bench_begin
sql "SELECT nomnom.alter_stream('MESSAGES', '{\"track_status\": true}')" >/dev/null
reset_tables
expect_reset
printf 'orders\torders_in_table\tmessage_status_rows\tseconds\trows_per_s\tworker_rss_anon_max_mib\tworker_rss_anon_end_mib\tworker_peak_rss_mib\n' >"$WORK/memory.tsv"
i=0
for n in $SIZES; do
    i=$((i + 1))
    generate "S$i" $((i * 10000000)) "$n"
    drain_publish "S$i" mem- $((i * 10000000)) "$n"
    sql "CHECKPOINT" >/dev/null
    resume_stream
    t0=$(now)
    # A sampling period, not a wait for a condition: the largest of the samples is the figure.
    rm -f "$WORK/stop_rss"
    (max=0; while [[ ! -e $WORK/stop_rss ]]; do
        kb=$(rss_anon_kb "$WORKER_PID" 2>/dev/null || echo 0)
        ((kb > max)) && max=$kb && echo "$max" >"$WORK/rss_max"
        sleep 0.5
    done) &
    sampler=$!
    if [[ -n $DETAIL ]]; then
        (started=$SECONDS; while [[ ! -e $WORK/stop_rss && -d /proc/$WORKER_PID ]]; do
            mappings "$WORKER_PID" "drain of $n, $((SECONDS - started)) s in" || true
            sleep 10 # a sampling period too
        done) &
        detailer=$!
    fi
    wait_committed
    seconds=$(elapsed "$t0" "$(last_commit)")
    end_kb=$(rss_anon_kb "$WORKER_PID")
    hwm_kb=$(vmhwm_kb "$WORKER_PID")
    touch "$WORK/stop_rss"
    wait "$sampler"
    if [[ -n $DETAIL ]]; then
        wait "$detailer"
        mappings "$WORKER_PID" "drain of $n, at its end"
        timeout 60 gdb -q -batch -p "$WORKER_PID" -ex 'thread apply all p (void*)thread_arena' 2>&1 |
            grep -E '^Thread|^\$' >>"$DETAIL" || true
    fi
    max_kb=$(cat "$WORK/rss_max")
    rows=$PENDING_ROWS
    PENDING_MSGS=0 PENDING_ROWS=0
    pause_stream
    check_totals "drain of $n" EXPECTED
    printf '%s\t%s\t%s\t%.2f\t%d\t%.1f\t%.1f\t%.1f\n' "$n" "$EXPECTED_orders" \
        "$(sql 'SELECT count(*) FROM nomnom.message_status')" "$seconds" \
        "$(echo "$rows / $seconds" | bc)" "$(echo "$max_kb / 1024" | bc -l)" \
        "$(echo "$end_kb / 1024" | bc -l)" "$(echo "$hwm_kb / 1024" | bc -l)" | tee -a "$WORK/memory.tsv"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
column -t -s $'\t' "$WORK/memory.tsv"
