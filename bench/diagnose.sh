# shellcheck shell=bash disable=SC2154
# bench/run.sh --diagnose: where each timed round's wall time went (issue 17: why the drain's
# rounds swing). Sourced by lib.sh. For COPY, the peer and each drain: diag_begin before the
# clock starts, diag_end LABEL SECONDS after it stops; one line a round in $WORK/diag.tsv
# (copied to $OUT/diag.tsv), printed at the end:
#   - bench/drain_sampler.py meanwhile (the worker's backend and prefetch threads' CPU and
#     run queue, nats-server's, autovacuum's, the rest of the machine's);
#   - pg_stat_wal (records, full-page images, bytes, syncs), pg_stat_bgwriter (checkpoints,
#     buffers written by the checkpointer, the bgwriter and the backends themselves);
#   - the autovacuum runs and checkpoints the server logged in the window
#     (log_autovacuum_min_duration 0 under --diagnose; log_checkpoints is on by default).
# Without --diagnose none of this runs (diag: the call only under --diagnose).
diag() { if [[ ${DIAGNOSE:-0} == 1 ]]; then "$@"; fi; }

diag_setup() {
    sql "ALTER SYSTEM SET log_autovacuum_min_duration = 0" >/dev/null
    sql "ALTER SYSTEM SET track_wal_io_timing = on" >/dev/null # pg_stat_wal's write and sync times
    sql "SELECT pg_reload_conf()" >/dev/null
    printf 'label\tseconds\tload1\tcpu_busy_s\tothers_s\tidle_s\tsteal_s\tbackend_cpu\tbackend_rq\tprefetch_cpu\tprefetch_rq\tnats_cpu\tnats_rq\tav_cpu\tckpt_cpu\twalw_cpu\tsame_cpu\tbackend_cpu0\twal_records\twal_fpi\twal_mb\twal_sync\tckpts\tbuf_ckpt\tbuf_clean\tbuf_backend\twal_sync_ms\twal_write_ms\tdisk_write_mb\tdisk_busy_ms\tdirty_mb_before\tautovacuum_in_window\tcheckpoints_in_window\n' >"$WORK/diag.tsv"
}
# One line of the counters, tab-separated.
diag_counters() {
    local db disks
    db=$(sql "SELECT w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_sync,
                     b.checkpoints_timed + b.checkpoints_req, b.buffers_checkpoint, b.buffers_clean, b.buffers_backend,
                     round(w.wal_sync_time), round(w.wal_write_time)
              FROM pg_stat_wal w, pg_stat_bgwriter b")
    # The disks' sectors written and milliseconds busy (/proc/diskstats, whole disks summed).
    disks=$(awk '$3 !~ /[0-9]$/ {w += $10; t += $13} END {print w "|" t}' /proc/diskstats)
    tr '|' '\t' <<<"$db|$disks"
}
# diag_begin: the counters and the log's size, before the clock starts (and, for a drain,
# before the stream is resumed: the worker drains from its start); then diag_sample.
diag_begin() {
    DIAG_C0=$(diag_counters)
    DIAG_LOG0=$(stat -c %s "$NOMNOM_PG_LOG")
    DIAG_DIRTY0=$(awk '/^Dirty:/ {print int($2 / 1024)}' /proc/meminfo) # the page cache's unwritten MB
}
# diag_sample [WORKER_PID]: the sampler started in the background (the worker's threads too
# when given).
diag_sample() {
    rm -f "$WORK/diag.stop" "$WORK/diag.one"
    python3 "$HERE/drain_sampler.py" --worker "${1:-0}" --nats "$NOMNOM_NATS_PID" \
        --postmaster "$NOMNOM_PG_PID" --stop "$WORK/diag.stop" --out "$WORK/diag.one" &
    DIAG_SAMPLER=$!
}
# diag_end LABEL SECONDS: the sampler stopped, the counters' differences and the log's
# autovacuum and checkpoint lines of the window, one line into diag.tsv.
diag_end() {
    touch "$WORK/diag.stop"
    wait "$DIAG_SAMPLER"
    local c1 d kv kvs logs av ck rec fpi bytes syncs ckpts bc bcl bb sync_ms write_ms sectors disk_ms
    c1=$(diag_counters)
    d=$(paste <(tr '\t' '\n' <<<"$DIAG_C0") <(tr '\t' '\n' <<<"$c1") | awk '{print $2 - $1}' | tr '\n' ' ')
    read -r rec fpi bytes syncs ckpts bc bcl bb sync_ms write_ms sectors disk_ms <<<"$d"
    declare -A s=()
    read -ra kvs <"$WORK/diag.one"
    for kv in "${kvs[@]}"; do s[${kv%%=*}]=${kv#*=}; done
    logs=$(tail -c +$((DIAG_LOG0 + 1)) "$NOMNOM_PG_LOG")
    # "automatic vacuum of table "db.public.orders"" / "automatic analyze of table ...":
    # each run as vacuum:TABLE or analyze:TABLE.
    av=$(grep -oE 'automatic (vacuum|analyze) of table "[^"]+"' <<<"$logs" |
        sed -E 's/automatic (vacuum|analyze) of table "[^.]+\.[^.]+\.([^"]+)"/\1:\2/' | tr '\n' ',' || true)
    ck=$(grep -oE 'checkpoint (starting|complete): [a-z ]+' <<<"$logs" | sed -E 's/checkpoint //; s/: /:/; s/ /_/g' | tr '\n' ',' || true)
    printf '%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$1" "$2" "$(cut -d' ' -f1 /proc/loadavg)" "${s[cpu_busy_s]}" "${s[others_s]}" "${s[idle_s]}" "${s[steal_s]}" \
        "${s[backend_cpu]}" "${s[backend_rq]}" "${s[prefetch_cpu]}" "${s[prefetch_rq]}" \
        "${s[nats_cpu]}" "${s[nats_rq]}" "${s[av_cpu]}" "${s[ckpt_cpu]}" "${s[walw_cpu]}" \
        "${s[same_cpu]}" "${s[backend_cpu0]}" "$rec" "$fpi" "$(echo "$bytes / 1048576" | bc -l)" "$syncs" \
        "$ckpts" "$bc" "$bcl" "$bb" "$sync_ms" "$write_ms" "$((sectors / 2048))" "$disk_ms" "$DIAG_DIRTY0" \
        "${av:--}" "${ck:--}" >>"$WORK/diag.tsv"
}
diag_report() {
    cp "$WORK/diag.tsv" "$OUT/diag.tsv"
    column -t -s $'\t' "$WORK/diag.tsv"
}
