# shellcheck shell=bash disable=SC2154,SC2034
# (the sets' totals are set through printf -v; results are read by the calling script)
# Helpers for bench/run.sh, memory.sh, waits.sh, profile.sh and e2e_cpu.sh; they use $WORK, $PUBLISH,
# $SEED and the stack's variables. Sources test/harness/stack.sh itself when it is not
# sourced yet. A bench script begins (after its options):
#   source "$HERE/lib.sh"
#   bench_begin [BINARY...]

# Every bench script's sets are slices of this one generator run (seed $SEED), on a
# PostgreSQL with real fsync and synchronous_commit on: durability as shipped. Both are read
# only when a function runs (generate, stack_start_pg), never while this file is sourced.
SEED=42
export NOMNOM_PG_FSYNC=on

if ! declare -F stack_init >/dev/null; then
    # shellcheck source=../test/harness/stack.sh
    source "$(dirname "${BASH_SOURCE[0]}")/../test/harness/stack.sh"
fi
BUILD=$NOMNOM_REPO_ROOT/${BUILD_DIR:-build}
# shellcheck source=diagnose.sh
source "$(dirname "${BASH_SOURCE[0]}")/diagnose.sh"
PUBLISH=$BUILD/test/tools/nomnom-publish
export NOMNOM_BRIDGE_BIN=$BUILD/bridge/nomnom-bridge

bench_log() { echo "bench: $*" >&2; }
fail() {
    echo "bench: FAIL: $*" >&2
    exit 1
}
sql() { stack_psql "$NOMNOM_DB" -tA -c "$1"; }
now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }
vmhwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; } # peak resident memory
# Resident private memory now. A PostgreSQL process's RSS also counts every page of
# shared_buffers it has touched, which grows with the tables, not with the process.
rss_anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }
# CPU seconds (user + system, every thread) a process has used so far.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

# Pause and resume the stream, returning once its worker has gone / has started.
# The stream the drains run on: MESSAGES, or BENCH_STREAM (the cluster's, CLUSTER).
pause_stream() {
    sql "SELECT nomnom.pause_stream('${BENCH_STREAM:-MESSAGES}')" >/dev/null
    wait_until 60 "[[ \$(sql 'SELECT count(worker_pid) FROM nomnom.stream_status') == 0 ]]" ||
        fail "the worker did not stop after pause_stream"
}
resume_stream() {
    sql "SELECT nomnom.resume_stream('${BENCH_STREAM:-MESSAGES}')" >/dev/null
    wait_until 60 "[[ \$(sql 'SELECT count(worker_pid) FROM nomnom.stream_status') -gt 0 ]]" ||
        fail "no worker started after resume_stream"
    WORKER_PID=$(sql "SELECT worker_pid FROM nomnom.stream_status WHERE worker_pid IS NOT NULL LIMIT 1")
}

# bench_binaries [BINARY...]: the binaries of this checkout's build the stack and the sets
# use (PUBLISH, NOMNOM_BRIDGE_BIN, above) and each BINARY, checked built; the stack's exit
# trap (everything started is stopped by PID when the script exits).
# shellcheck disable=SC2120 # the binaries are optional
bench_binaries() {
    local bin
    for bin in "$PUBLISH" "$NOMNOM_BRIDGE_BIN" "$@"; do
        [[ -x $bin ]] || fail "$bin is not built (run make)"
    done
    stack_trap
}
# bench_begin [BINARY...]: bench_binaries, LOAD_BEFORE (the load average now: other work on
# the machine skews everything), then bench_stack_up.
# shellcheck disable=SC2120 # the binaries are optional
bench_begin() {
    bench_binaries "$@"
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    bench_stack_up
}

# The stack every benchmark uses: nats-server -js, PostgreSQL 15 with nomnom preloaded
# (fsync on, synchronous_commit on, commit timestamps on), the TPC-H entities, the stream
# MESSAGES (paused), the bridge; $WORK for generated files.
bench_stack_up() {
    bench_log "stack: nats-server -js, PostgreSQL 15 (preload nomnom), nomnom-bridge"
    # shellcheck disable=SC2119 # no extra nats-server arguments
    stack_start_nats
    stack_start_pg preload
    # Commit timestamps let a drain's end be read from the rows themselves, not from polling.
    sql "ALTER SYSTEM SET track_commit_timestamp = on" >/dev/null
    stack_restart_pg
    [[ $(sql "SHOW synchronous_commit") == on && $(sql "SHOW fsync") == on ]] || fail "fsync/synchronous_commit not on"
    sql "CREATE EXTENSION nomnom" >/dev/null
    local spec
    for spec in order orderlineitem; do
        sql "SELECT nomnom.define_entity(\$\$$(cat "$NOMNOM_REPO_ROOT/test/fixtures/tpch/$spec.json")\$\$::jsonb)" >/dev/null
    done
    sql "SELECT nomnom.create_stream()" >/dev/null
    pause_stream
    stack_start_bridge --log-level warn
    wait_until 30 curl -fs "$NOMNOM_BRIDGE_URL/ready" || fail "bridge not ready"
    WORK=$NOMNOM_STACK_DIR/bench
    mkdir -p "$WORK"
}

# A 3-node JetStream cluster beside the single nats-server (stack_start_nats_cluster), and
# the stream CLUSTER on it at replicas 3 (paused, subjects as MESSAGES', the cluster's own
# DLQ); sets CLUSTER_URL. NATS_URL and the monitor stay the single server's.
cluster_stream_up() {
    bench_log "stack: a 3-node JetStream cluster, the stream CLUSTER at replicas 3"
    local single_url=$NATS_URL single_monitor=$NOMNOM_NATS_MONITOR_URL
    # shellcheck disable=SC2119 # no extra nats-server arguments
    stack_start_nats_cluster
    CLUSTER_URL=$NATS_URL
    export NATS_URL=$single_url NOMNOM_NATS_MONITOR_URL=$single_monitor
    sql "SELECT nomnom.create_stream('CLUSTER', ARRAY['messages.ingest.>'],
                                     '{\"nats_url\": \"$CLUSTER_URL\", \"replicas\": 3}')" >/dev/null
    BENCH_STREAM=CLUSTER pause_stream
    cluster_stream_ready
}
# Until the stream CLUSTER has a leader and both other replicas are current (what
# $JS.API.STREAM.INFO says), within 60 s: right after the cluster starts, on a loaded
# machine, a publish before that could time out.
cluster_stream_ready() {
    local info=$WORK/cluster_stream_info.json
    # shellcheck disable=SC2317 # called through wait_until
    stream_ready() {
        "$NOMNOM_REPO_ROOT/${BUILD_DIR:-build}/bridge/nomnom-jstool" request "$CLUSTER_URL" \
            "\$JS.API.STREAM.INFO.CLUSTER" >"$info" 2>&1 &&
            jq -e '(.cluster.leader // "") != "" and (.cluster.replicas // [] | length) == 2
                   and all(.cluster.replicas[]; .current == true)' "$info" >/dev/null 2>&1
    }
    wait_until 60 stream_ready || fail "the stream CLUSTER has no leader with 2 current replicas after 60 s: $(head -c 600 "$info")"
    bench_log "stream CLUSTER: leader $(jq -r .cluster.leader "$info"), replicas $(jq -r '[.cluster.replicas[] | .name + (if .current then " current" else "" end)] | join(", ")' "$info")"
}
# The stream CLUSTER out of the catalog, the cluster stopped (by PID).
cluster_stream_down() {
    sql "SELECT nomnom.drop_stream('CLUSTER')" >/dev/null
    stack_stop_nats_cluster
}

reset_tables() { sql "TRUNCATE orders, order_line_items, nomnom.message_status" >/dev/null; }

# Autovacuum held off while rows are timed in rounds on emptied tables (run.sh: fn, core,
# events), for every row alike. A path's inserts into just-truncated tables make them due at
# once, and the launcher's next visit (every autovacuum_naptime, 60 s, about one round) sent
# a worker to vacuum and analyze them inside whichever row was running then: 0.65-1.0 CPU-s
# on 2 cores, in 9 of 65 timed windows of 4 runs (bench/README.md item 32). The VACUUM ANALYZE first pays what is
# due already (bench_docs, the catalogs the setup changed), outside every timed row.
autovacuum_hold() {
    sql "ALTER SYSTEM SET autovacuum = off" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
    wait_until 30 "[[ \$(sql 'SHOW autovacuum') == off ]]" || fail "autovacuum still on after the reload"
    sql "VACUUM ANALYZE" >/dev/null
}
autovacuum_release() {
    sql "ALTER SYSTEM RESET autovacuum" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
}

# generate NAME START COUNT [ndjson]: orders START..START+COUNT-1 of seed $SEED, as CSV for
# COPY (and, with ndjson, the documents themselves) in $WORK/NAME; sets NAME_orders,
# NAME_line_items, NAME_sum from the generator's own totals.
generate() {
    local name=$1 start=$2 count=$3 dir=$WORK/$1 out kv
    mkdir -p "$dir"
    printf -v "${name}_start" '%s' "$start"
    out=$("$PUBLISH" --dry-run --seed "$SEED" --start "$start" --count "$count" --copy-dir "$dir") ||
        fail "nomnom-publish --dry-run: $out"
    for kv in $out; do
        case ${kv%%=*} in
        orders | line_items) printf -v "${name}_${kv%%=*}" '%s' "${kv#*=}" ;;
        sum_extended_price) printf -v "${name}_sum" '%s' "${kv#*=}" ;;
        esac
    done
    if [[ ${4:-} == ndjson ]]; then
        awk -F, -f "$HERE/to_ndjson.awk" "$dir/order_line_items.csv" "$dir/orders.csv" >"$dir/docs.ndjson"
        [[ $(wc -l <"$dir/docs.ndjson") == "$count" ]] || fail "$name: NDJSON line count"
        ! grep -q '[\\	]' "$dir/docs.ndjson" || fail "$name: a tab or backslash would not survive COPY text format"
    fi
}

# The totals the tables must hold: a sum of generated sets.
expect_reset() { EXPECTED_orders=0 EXPECTED_line_items=0 EXPECTED_sum=0; }
expect_add() { # NAME
    local o=${1}_orders l=${1}_line_items s=${1}_sum
    EXPECTED_orders=$((EXPECTED_orders + ${!o}))
    EXPECTED_line_items=$((EXPECTED_line_items + ${!l}))
    EXPECTED_sum=$(echo "$EXPECTED_sum + ${!s}" | bc)
}

# check_totals WHAT NAME: the tables hold exactly NAME's orders, line items and sum of
# extended_price (NAME = a generated set, or EXPECTED); otherwise the run fails.
check_totals() {
    local what=$1 o=${2}_orders l=${2}_line_items s=${2}_sum got
    got=$(sql "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_line_items),
                      (SELECT coalesce(sum(extended_price), 0) FROM order_line_items)")
    IFS='|' read -r go gl gs <<<"$got"
    if [[ $go != "${!o}" || $gl != "${!l}" || $(echo "$gs == ${!s}" | bc) != 1 ]]; then
        fail "$what: tables hold orders=$go line_items=$gl sum=$gs, expected orders=${!o} line_items=${!l} sum=${!s}"
    fi
    bench_log "$what: totals ok (orders=$go line_items=$gl sum_extended_price=$gs)"
}

# record KEY LABEL DOCS ROWS SECONDS [P50_MS P99_MS]: one row of the results table.
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "${6:-}" "${7:-}" >>"$WORK/results.tsv"
    bench_log "$2: $(echo "$4 / $5" | bc) rows/s ($4 rows in $5 s)"
}

# drain_publish NAME PREFIX START COUNT: publishes set NAME (stream paused), timing the
# bare publisher; message ids PREFIX... so a set can be published again under new ids.
PENDING_MSGS=0 PENDING_ROWS=0
drain_publish() {
    local name=$1 prefix=$2 start=$3 count=$4 out t0 t1 o=${1}_orders
    t0=$(now)
    out=$("$PUBLISH" --url "$NATS_URL" --seed "$SEED" --start "$start" --count "$count" \
        --msg-id-prefix "$prefix$SEED-") || fail "nomnom-publish: $out"
    t1=$(now)
    [[ $out == "orders=${!o} "* && $out == *" jetstream_duplicates=0 errors=0" ]] ||
        fail "nomnom-publish: $out (expected orders=${!o}, no duplicates, no errors)"
    PUBLISH_SECONDS=$(elapsed "$t0" "$t1")
    expect_add "$name"
    local l=${1}_line_items
    PENDING_MSGS=$((PENDING_MSGS + count))
    PENDING_ROWS=$((PENDING_ROWS + count + ${!l}))
}

bench_dsn() { echo "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$NOMNOM_DB"; }
# The publisher row's own stream (run.sh's HTTP section): nats.c's async publisher of set M,
# the JetStream ceiling beside the bridge, stored like MESSAGES but read by no consumer, so
# the drain that checks the HTTP documents drains only those. publisher_run NAME PREFIX
# publishes set NAME there (ids PREFIX...), checks the publisher's count and that the stream
# stored every message, then purges it. Sets PUBLISH_SECONDS.
publisher_stream_up() {
    "$PEER" --url "$NATS_URL" --stream PUBLISHER --create-like MESSAGES --subjects 'publisher.ingest.>' >/dev/null ||
        fail "could not create the publisher row's stream"
}
publisher_run() {
    local prefix=$2 out t0 t1 o=${1}_orders start=${1}_start stored
    t0=$(now)
    out=$("$PUBLISH" --url "$NATS_URL" --subject publisher.ingest.Order --seed "$SEED" \
        --start "${!start}" --count "${!o}" --msg-id-prefix "$prefix$SEED-") || fail "nomnom-publish (publisher row): $out"
    t1=$(now)
    [[ $out == "orders=${!o} "* && $out == *" jetstream_duplicates=0 errors=0" ]] ||
        fail "nomnom-publish (publisher row): $out (expected orders=${!o}, no duplicates, no errors)"
    PUBLISH_SECONDS=$(elapsed "$t0" "$t1")
    stored=$(stream_messages PUBLISHER)
    [[ $stored == "${!o}" ]] || fail "publisher row: PUBLISHER stored $stored messages for ${!o}"
    "$NOMNOM_REPO_ROOT/${BUILD_DIR:-build}/bridge/nomnom-jstool" purge "$NATS_URL" PUBLISHER >/dev/null ||
        fail "publisher row: could not purge PUBLISHER"
}
# The peer consumer's own stream (so nomnom's consumer never sees its messages), with the
# storage and duplicate window of nomnom's MESSAGES.
peer_stream_up() {
    "$PEER" --url "$NATS_URL" --stream PEER --create-like MESSAGES --subjects 'peer.ingest.>' >/dev/null ||
        fail "could not create the peer consumer's stream"
}
# peer_run NAME PREFIX COUNT: publishes set NAME to the peer's stream (ids PREFIX...), then
# times nomnom-peer-consumer over it from its start to the last commit (as a drain is timed),
# and checks the totals and the ledger. Sets PEER_SECONDS, PEER_OUT, PEER_CPU_S (its user +
# system CPU), PEER_NATS0 and PEER_NATS1 (nats-server's CPU ticks before and after it); calls
# peer_before and peer_after around it when they are defined.
peer_run() {
    local name=$1 prefix=$2 count=$3 out t0 o=${1}_orders start=${1}_start
    reset_tables
    expect_reset
    out=$("$PUBLISH" --url "$NATS_URL" --subject peer.ingest.Order --seed "$SEED" \
        --start "${!start}" --count "$count" --msg-id-prefix "$prefix$SEED-") ||
        fail "nomnom-publish (peer): $out"
    [[ $out == "orders=${!o} "* && $out == *" jetstream_duplicates=0 errors=0" ]] ||
        fail "nomnom-publish (peer): $out"
    expect_add "$name"
    sql "CHECKPOINT" >/dev/null
    if declare -F peer_before >/dev/null; then peer_before; fi
    PEER_NATS0=$(awk '{print $14 + $15}' "/proc/$NOMNOM_NATS_PID/stat")
    children_cpu >"$WORK/cpu0"
    diag diag_begin
    diag diag_sample
    t0=$(now)
    PEER_OUT=$("$PEER" --url "$NATS_URL" --stream PEER --consumer peer --dsn "$(bench_dsn)" --count "$count") ||
        fail "peer consumer: $PEER_OUT"
    children_cpu >"$WORK/cpu1"
    PEER_NATS1=$(awk '{print $14 + $15}' "/proc/$NOMNOM_NATS_PID/stat")
    if declare -F peer_after >/dev/null; then peer_after; fi
    PEER_CPU_S=$(echo "$(cat "$WORK/cpu1") - $(cat "$WORK/cpu0")" | bc -l)
    PEER_SECONDS=$(elapsed "$t0" "$(last_commit)")
    diag diag_end "peer${round:+ r$round}" "$PEER_SECONDS"
    check_totals "peer consumer" EXPECTED
    [[ $(sql "SELECT count(*) FROM nomnom.message_status WHERE status = 'completed'") == "${!o}" ]] ||
        fail "peer consumer: message_status holds $(sql 'SELECT status, count(*) FROM nomnom.message_status GROUP BY 1')"
    bench_log "peer: $PEER_OUT; $PEER_SECONDS s to the last commit"
}

# The CPU seconds (user + system) of this shell's waited-for children so far (bash's `times`).
children_cpu() {
    times >"$WORK/times" # not in a pipe or $(): a subshell's `times` starts at zero
    awk 'NR == 2 {
        n = split($1 " " $2, t, " "); s = 0
        for (i = 1; i <= n; i++) { split(t[i], ms, "m"); s += ms[1] * 60 + ms[2] }
        print s }' "$WORK/times"
}

# The end of a drain, read from the rows: the commit time of the last transaction.
last_commit() { sql "SELECT extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) FROM orders"; }
# Until the worker has completed every pending message (its counters start at zero with
# it). Polled inside one session, every 20 ms: a new psql and backend every 0.1 s (what
# wait_until does) took several percent of the two cores from the drain being measured.
# The drain's end is read from commit timestamps, so the poll interval does not count.
wait_drained() {
    sql "DO \$\$
         DECLARE deadline timestamptz := clock_timestamp() + interval '3600 seconds';
         BEGIN
             WHILE (SELECT coalesce(sum(completed), 0) FROM nomnom.stream_status) < $PENDING_MSGS LOOP
                 IF clock_timestamp() > deadline THEN
                     RAISE EXCEPTION 'timed out';
                 END IF;
                 COMMIT; -- no transaction kept open while the worker writes
                 PERFORM pg_sleep(0.02);
             END LOOP;
         END \$\$" >/dev/null || fail "drain did not finish: $(sql 'SELECT * FROM nomnom.stream_status')"
}
wait_committed() { wait_drained; }
# Once nomnom.entity_outbox is empty (every event acknowledged by JetStream and deleted),
# prints when that was seen (Unix seconds), polled in one session every 20 ms.
outbox_emptied() {
    sql "DO \$\$
         DECLARE deadline timestamptz := clock_timestamp() + interval '3600 seconds';
         BEGIN
             WHILE EXISTS (SELECT 1 FROM nomnom.entity_outbox) LOOP
                 IF clock_timestamp() > deadline THEN RAISE EXCEPTION 'the entity outbox did not empty'; END IF;
                 PERFORM pg_sleep(0.02);
             END LOOP;
         END \$\$" >/dev/null
    sql "SELECT extract(epoch FROM clock_timestamp())"
}
# The messages a JetStream stream holds.
stream_messages() {
    "$NOMNOM_REPO_ROOT/${BUILD_DIR:-build}/bridge/nomnom-jstool" request "$NATS_URL" "\$JS.API.STREAM.INFO.$1" |
        jq '.state.messages'
}

# drain_run [SAMPLES]: resumes the stream, times from the worker's start to the last
# commit of the pending messages, checks the totals, reads the worker's peak memory and
# pauses again. With SAMPLES, writes "seconds orders line_items" every ~0.5 s meanwhile.
drain_run() {
    local samples=${1:-} sampler='' base_orders base_items
    sql "CHECKPOINT" >/dev/null
    IFS='|' read -r base_orders base_items < <(sql "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_line_items)")
    diag diag_begin
    resume_stream
    diag diag_sample "$WORKER_PID"
    local t0
    t0=$(now)
    if [[ -n ${DRAIN_HOOK:-} ]]; then "$DRAIN_HOOK"; fi # bench/profile.sh attaches perf here
    if [[ -n $samples ]]; then
        rm -f "$WORK/stop_sampler"
        printf '0\t0\t0\n' >"$samples"
        # A sampling period, not a wait for a condition: the chart wants even steps.
        # Counts are of this drain's rows only (the tables may hold earlier drains').
        (while [[ ! -e $WORK/stop_sampler ]]; do
            sql "SELECT extract(epoch FROM clock_timestamp()) - $t0, (SELECT count(*) FROM orders) - $base_orders,
                        (SELECT count(*) FROM order_line_items) - $base_items" | tr '|' '\t' >>"$samples"
            sleep 0.5
        done) &
        sampler=$!
    fi
    wait_committed
    DRAIN_SECONDS=$(elapsed "$t0" "$(last_commit)")
    diag diag_end "${DIAG_LABEL:-drain}" "$DRAIN_SECONDS"
    # With entity events on, the drain ends when JetStream acknowledged the last event.
    if [[ -n ${DRAIN_UNTIL:-} ]]; then DRAIN_SECONDS=$(elapsed "$t0" "$("$DRAIN_UNTIL")"); fi
    if [[ -n $sampler ]]; then
        touch "$WORK/stop_sampler"
        wait "$sampler"
    fi
    WORKER_HWM_KB=$(vmhwm_kb "$WORKER_PID")
    WORKER_ANON_KB=$(rss_anon_kb "$WORKER_PID")
    DRAIN_ROWS=$PENDING_ROWS
    PENDING_MSGS=0 PENDING_ROWS=0
    pause_stream
    check_totals "drain" EXPECTED
    bench_log "drain: $DRAIN_ROWS rows in $DRAIN_SECONDS s; worker peak RSS ${WORKER_HWM_KB} kB"
}

# growth NAME: one row of the growth table after draining set NAME onto the tables.
growth() {
    local o=${1}_orders
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "${!o}" "$EXPECTED_orders" \
        "$(sql 'SELECT count(*) FROM nomnom.message_status')" \
        "$(echo "$DRAIN_ROWS / $DRAIN_SECONDS" | bc)" "$WORKER_HWM_KB" \
        "$(vmhwm_kb "$NOMNOM_BRIDGE_PID")" "$WORKER_ANON_KB" >>"$WORK/growth.tsv"
}

# http_load NAME BATCH CONNECTIONS: every document of set NAME through the bridge once
# (BATCH 0: one a request), with wrk on 2 threads; every one must be accepted.
# Sets HTTP_SECONDS (first request to last answer), HTTP_P50, HTTP_P99 (ms, per request),
# WRK_CPU (wrk's CPU seconds).
http_load() {
    local name=$1 batch=$2 conns=$3 marks=$WORK/wrk-mark o=${1}_orders l=${1}_line_items pid
    rm -f "$marks".*
    WRK_THREADS=2 DOCS_FILE=$WORK/$name/docs.ndjson BATCH_LINES=$batch MARK=$marks \
        wrk -t2 -c"$conns" -d600s --timeout 60s --latency -s "$HERE/http_load.lua" \
        "$NOMNOM_BRIDGE_URL" >"$WORK/wrk.out" 2>&1 &
    pid=$!
    # Checked without starting processes (they would take CPU from the bridge being timed;
    # the marks carry the times, so the poll interval does not count).
    # shellcheck disable=SC2317  # called through wait_until
    marks_written() { local m=("$marks".*); [[ -e ${m[0]} && ${#m[@]} == 2 ]]; }
    wait_until 600 marks_written || fail "wrk did not finish: $(cat "$WORK/wrk.out")"
    WRK_CPU=$(cpu_seconds "$pid")
    kill -INT "$pid" # wrk prints its summary on SIGINT, without waiting for its -d
    wait "$pid" || true
    local start end accepted failed errors
    read -r start end accepted failed errors < <(awk 'NR == 1 || $1 < s {s = $1} $2 > e {e = $2}
        {a += $3; f += $4; x += $5} END {print s, e, a, f, x}' "$marks".*)
    [[ $accepted == "${!o}" && $failed == 0 && $errors == 0 ]] ||
        fail "HTTP $name: accepted=$accepted failed=$failed non-202=$errors of ${!o} documents"
    HTTP_SECONDS=$(elapsed "$start" "$end")
    HTTP_P50=$(sed -nE 's/^WRK .*latency_p50_ms=([0-9.]+).*/\1/p' "$WORK/wrk.out")
    HTTP_P99=$(sed -nE 's/^WRK .*latency_p99_ms=([0-9.]+).*/\1/p' "$WORK/wrk.out")
    # The bridge writes the documents' pending status rows after answering; let it finish,
    # so that its writing does not slow whatever is measured next.
    wait_until 300 "[[ \$(curl -fs $NOMNOM_BRIDGE_URL/health | jq .status_queue) == 0 ]]" ||
        fail "the bridge's status queue did not empty"
    PENDING_MSGS=$((PENDING_MSGS + ${!o}))
    PENDING_ROWS=$((PENDING_ROWS + ${!o} + ${!l}))
}

# report: the table (stdout and $OUT/latest.md), $OUT/latest.json and $OUT/latest.png.
report() {
    mkdir -p "$OUT"
    # Derived columns: rows/s, docs/s, % of COPY's rows/s, % of the publisher's docs/s (empty
    # when that row did not run: bench/run.sh --only).
    awk -F'\t' -v OFS='\t' '{k[NR] = $0; r[$1] = $4 / $5; d[$1] = $3 / $5}
        END {for (i = 1; i <= NR; i++) {split(k[i], f, "\t")
            print k[i], r[f[1]], d[f[1]], ("copy" in r) ? 100 * r[f[1]] / r["copy"] : "",
                  (f[1] ~ /^(http|publisher)/ && "publisher" in d) ? 100 * d[f[1]] / d["publisher"] : ""}}' \
        "$WORK/results.tsv" >"$WORK/table.tsv"
    local machine
    machine="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(free -h | awk '/^Mem:/ {print $2}') RAM, $(uname -sr)"
    {
        echo "Orders: $M_orders (+ $M_line_items line items = $((M_orders + M_line_items)) rows), seed $SEED;" \
            "fsync on, synchronous_commit on. Machine: $machine; load average $LOAD_BEFORE before," \
            "$LOAD_AFTER after (other work on the machine slows every path)."
        echo
        echo "| path | rows/s | docs/s | % of COPY | % of publisher | p50 ms | p99 ms | seconds |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        awk -F'\t' '{printf "| %s | %.0f | %.0f | %s | %s | %s | %s | %.2f |\n", $2, $8, $9,
            $10 == "" ? "" : sprintf("%.1f", $10), $11 == "" ? "" : sprintf("%.1f", $11), $6, $7, $5}' "$WORK/table.tsv"
        echo
        # Each ratio only when all its rows ran (bench/run.sh --only leaves groups out).
        awk -F'\t' '{r[$1] = $8} END {if (r["sql_flat"] > 0 && r["sql_flat_fn"] > 0 && r["sql_flat_insert"] > 0)
            printf "A field computed by a SQL function (SQL path, orders only): %.2fx the rows/s of the same entity reading that field by path (%.2fx of it written by INSERT, nomnom.copy_insert off, as a function field'"'"'s entity always is).\n\n",
                r["sql_flat_fn"] / r["sql_flat"], r["sql_flat_fn"] / r["sql_flat_insert"]}' "$WORK/table.tsv"
        awk -F'\t' '{r[$1] = $8} END {if (r["drain_cluster"] > 0 && r["drain_on"] > 0)
            printf "The drain through the 3-node cluster at replicas 3 against the single server (rows/s over rows/s, track_status on): %.2fx.\n\n",
                r["drain_cluster"] / r["drain_on"]}' "$WORK/table.tsv"
        awk -F'\t' '{r[$1] = $8} END {if (r["peer"] > 0 && r["drain_on"] > 0 && r["drain_off"] > 0 && r["drain_on2"] > 0)
            printf "The drain against the peer consumer (rows/s over rows/s): track_status on %.2fx, off %.2fx, on with 2 workers %.2fx.\n\n",
                r["drain_on"] / r["peer"], r["drain_off"] / r["peer"], r["drain_on2"] / r["peer"]}' "$WORK/table.tsv"
        # Issue 17's targets, as the lines above and the table give them.
        awk -F'\t' '{r[$1] = $8} END {if (r["copy"] > 0 && r["drain_on"] > 0 && r["peer"] > 0 && r["e2e"] > 0)
            printf "Issue 17'"'"'s targets (track_status on): the drain %.2fx COPY (target 1.0), %.2fx the peer (target 1.5); end to end %.1f%% of COPY (target 40).\n\n",
                r["drain_on"] / r["copy"], r["drain_on"] / r["peer"], 100 * r["e2e"] / r["copy"]}' "$WORK/table.tsv"
        awk -F'\t' '{r[$1] = $8} END {if (r["drain_on"] > 0 && r["drain_ev"] > 0)
            printf "Entity events on against off (the drain with track_status on, 1 worker; rows/s over rows/s): %.2fx.\n\n",
                r["drain_ev"] / r["drain_on"]}' "$WORK/table.tsv"
        awk -F'\t' '{r[$1] = $8} END {if (r["http_single"] > 0 && r["http_batch"] > 0 && r["http_single_dash"] > 0 && r["http_batch_dash"] > 0)
            printf "The dashboard open (GET /api/overview every 0.25 s, six pages'"'"' worth): HTTP single %.2fx, HTTP batch %.2fx the docs/s without it.\n\n",
                r["http_single_dash"] / r["http_single"], r["http_batch_dash"] / r["http_batch"]}' "$WORK/table.tsv"
        if [[ $GROUPS_RUN != "$ALL_GROUPS" ]]; then
            echo "Groups run (--only): $GROUPS_RUN; the other groups' rows did not run and are absent."
            echo
        fi
        echo "COPY, SQL, drains, the peer consumer, end to end, the publisher and the HTTP runs: the fastest of $ROUNDS rounds (COPY, SQL, the peer consumer, the drains and end to end in turn on emptied tables, the publisher and the HTTP runs in turn; each HTTP run once with the dashboard open and once without)." \
            "HTTP latencies are per request (a batch request carries $BATCH_LINES documents)."
        if [[ -s $WORK/growth.tsv ]]; then
            echo
            echo "Growth (track_status on; each drain lands on the rows of the ones before):"
            echo
            echo "| drain | orders | orders in table | message_status rows | rows/s | worker peak RSS MiB | worker private RSS MiB at end | bridge peak RSS MiB |"
            echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            awk -F'\t' '{printf "| %s | %d | %d | %d | %d | %.1f | %.1f | %.1f |\n", $1, $2, $3, $4, $5,
                $6 / 1024, $8 / 1024, $7 / 1024}' "$WORK/growth.tsv"
            echo
            echo "Peak RSS (VmHWM) of a PostgreSQL process counts the pages of shared_buffers" \
                "($(sql 'SHOW shared_buffers')) it has touched; private RSS (RssAnon) is its own memory."
        fi
        if [[ -n ${BRIDGE_HWM_KB:-} ]]; then
            echo
            echo "Bridge peak RSS after the HTTP runs: $(echo "scale=1; $BRIDGE_HWM_KB / 1024" | bc) MiB."
        fi
    } | tee "$OUT/latest.md"

    jq -n --rawfile table "$WORK/table.tsv" --rawfile growth "$WORK/growth.tsv" \
        --rawfile samples "$WORK/drain_samples.tsv" \
        --arg machine "$machine" --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" \
        --arg nproc "$(nproc)" --arg mem "$(free -h | awk '/^Mem:/ {print $2}')" \
        --arg pg "$(sql 'SHOW server_version')" --arg nats "$(nats-server --version)" \
        --arg commit "$(git -C "$NOMNOM_REPO_ROOT" rev-parse --short HEAD)" \
        --arg orders "$M_orders" --arg seed "$SEED" --arg large "$LARGE" --arg groups "$GROUPS_RUN" \
        --argjson options "$(sql 'SELECT options FROM nomnom.streams')" \
        --arg bridge_hwm "${BRIDGE_HWM_KB:-}" --arg load_before "$LOAD_BEFORE" --arg load_after "$LOAD_AFTER" '
        def rows($s): $s | split("\n") | map(select(length > 0) | split("\t"));
        def num: if . == "" then null else tonumber end;
        { generated_at: (now | todate), git_commit: $commit,
          machine: {nproc: ($nproc | tonumber), cpu: $cpu, memory: $mem, summary: $machine,
                    loadavg_before: $load_before, loadavg_after: $load_after},
          versions: {postgresql: $pg, nats_server: $nats},
          params: {orders: ($orders | tonumber), seed: ($seed | tonumber), large: ($large == "1"),
                   groups: ($groups | split(" ")),
                   fsync: "on", synchronous_commit: "on", stream_options: $options},
          results: [rows($table)[] | {key: .[0], path: .[1], docs: (.[2] | tonumber),
                    rows: (.[3] | tonumber), seconds: (.[4] | tonumber), p50_ms: (.[5] | num),
                    p99_ms: (.[6] | num), rows_per_s: (.[7] | tonumber), docs_per_s: (.[8] | tonumber),
                    pct_of_copy: (.[9] | num), pct_of_publisher: (.[10] | num)}],
          growth: [rows($growth)[] | {drain: .[0], orders: (.[1] | tonumber),
                   orders_in_table: (.[2] | tonumber), message_status_rows: (.[3] | tonumber),
                   rows_per_s: (.[4] | tonumber), worker_vmhwm_kb: (.[5] | tonumber),
                   bridge_vmhwm_kb: (.[6] | tonumber), worker_rss_anon_kb_at_end: (.[7] | tonumber)}],
          bridge_vmhwm_kb_after_http: ($bridge_hwm | num),
          drain_samples: [rows($samples)[] | {t: (.[0] | tonumber), orders: (.[1] | tonumber),
                          line_items: (.[2] | tonumber)}] }' >"$OUT/latest.json"

    bash "$HERE/chart.sh" "$OUT/latest.json" "$OUT/latest.png"
    bench_log "wrote $OUT/latest.md, $OUT/latest.json, $OUT/latest.png"
}
