# shellcheck shell=bash
# stack.sh: starts and stops the local nomnom stack (PostgreSQL, nats-server, any helper
# process) for tests, the demo and the benchmarks.  Source it; it only defines functions.
#
#   source test/harness/stack.sh
#   stack_trap                      # stop everything on exit, dump logs on failure
#   stack_start_nats                # exports NATS_URL, NOMNOM_NATS_PID, ...
#   stack_start_pg preload          # exports PGHOST, PGPORT, PGUSER, NOMNOM_PG_PID, ...
#   stack_psql "$NOMNOM_DB" -c 'CREATE EXTENSION nomnom'
#   stack_start_bridge              # exports NOMNOM_BRIDGE_URL, ...
#   stack_wait_sql "$NOMNOM_DB" 30 "SELECT count(*) = 1 FROM orders"
#
# Every server listens on 127.0.0.1 on a free port, keeps its data and log in one
# temporary folder ($NOMNOM_STACK_DIR) and is stopped by its own PID. Waits poll a
# condition until a deadline; nothing sleeps for a fixed time.
#
# Settings (environment, read when a server starts):
#   NOMNOM_PG_FSYNC   on|off, default on (benchmarks need real fsync; tests may turn it off)
#   NOMNOM_DB         database created (empty) by stack_start_pg and named in
#                     nomnom.database when preloading; default nomnom_test
#   NOMNOM_STACK_KEEP 1 keeps the temporary folder after stack_stop_all (for post-mortems)
#   NOMNOM_STACK_PARENT where the temporary folder is made, default /tmp
#   NOMNOM_PG_START_TIMEOUT seconds PostgreSQL may take to start and answer, default 60
#                     (a server under valgrind at high load needs more: bench/callgrind_drain.sh)
#   PG_CONFIG         pg_config to find the PostgreSQL binaries, default pg_config

# nats-server and runuser live in /usr/sbin, which a non-login PATH may lack.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac

NOMNOM_STACK_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NOMNOM_REPO_ROOT=$(cd "$NOMNOM_STACK_LIB/../.." && pwd)
export NOMNOM_STACK_LIB NOMNOM_REPO_ROOT
: "${NOMNOM_DB:=nomnom_test}"
export NOMNOM_DB

stack_log() { echo "stack: $*" >&2; }

# wait_until SECONDS COMMAND [ARGS...]  (or one string, which is eval'ed)
# Polls COMMAND every 0.1 s until it succeeds; returns 1 once the deadline has passed.
wait_until() {
    local deadline=$(($(date +%s) + $1))
    shift
    while true; do
        if (($# == 1)); then
            eval "$1" >/dev/null 2>&1 && return 0
        else
            "$@" >/dev/null 2>&1 && return 0
        fi
        if (($(date +%s) >= deadline)); then return 1; fi
        sleep 0.1
    done
}

# True while PID runs. A zombie (exited, not yet reaped) counts as gone: processes we
# started ourselves stay zombies until `wait`, and PID 1 may not reap orphans at all.
stack_pid_alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ -n $state && $state != Z* ]]
}

# stack_kill_pid PID SIGNAL SECONDS [THEN]: sends SIGNAL, waits up to SECONDS for PID to
# go; if it is still there, sends THEN (default KILL) and waits 10 s more, then KILL.
stack_kill_pid() {
    local pid=$1 sig=$2 secs=$3 then=${4:-KILL}
    [[ -n $pid ]] || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    if ! wait_until "$secs" "! stack_pid_alive $pid"; then
        stack_log "PID $pid still runs ${secs}s after SIG$sig, sending SIG$then"
        kill "-$then" "$pid" 2>/dev/null || true
        if ! wait_until 10 "! stack_pid_alive $pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            wait_until 5 "! stack_pid_alive $pid" || true
        fi
    fi
    wait "$pid" 2>/dev/null || true # reap it if it is our child
}

# The temporary folder of this stack, created on first use. PostgreSQL runs as the
# postgres user, so that user owns it; root (or the developer) can still read it.
# A NOMNOM_STACK_DIR set beforehand (make demo: a fixed one that make demo-stop finds)
# is used if it is new, empty, or an earlier stack's. The marker file lets stack_stop_all
# remove only a folder that a stack made.
stack_init() {
    if [[ -z ${NOMNOM_STACK_DIR:-} ]]; then
        # Not $TMPDIR: the postgres user must be able to reach the folder through its parents.
        NOMNOM_STACK_DIR=$(mktemp -d "${NOMNOM_STACK_PARENT:-/tmp}/nomnom-stack.XXXXXX") || return 1
    elif [[ -d $NOMNOM_STACK_DIR && ! -e $NOMNOM_STACK_DIR/.nomnom-stack &&
        -n $(ls -A "$NOMNOM_STACK_DIR") ]]; then
        stack_log "$NOMNOM_STACK_DIR is not empty and is no stack folder"
        return 1
    fi
    export NOMNOM_STACK_DIR
    mkdir -p "$NOMNOM_STACK_DIR" && touch "$NOMNOM_STACK_DIR/.nomnom-stack" || return 1
    if ((EUID == 0)); then chown postgres:postgres "$NOMNOM_STACK_DIR"; fi
    chmod 0755 "$NOMNOM_STACK_DIR"
}

# Runs a command as the postgres user when we are root (PostgreSQL refuses to run as
# root), from inside the stack folder so it never trips over an unreadable cwd.
stack_as_pg() {
    if ((EUID == 0)); then
        (cd "$NOMNOM_STACK_DIR" && runuser -u postgres -- "$@")
    else
        (cd "$NOMNOM_STACK_DIR" && "$@")
    fi
}

# stack_pick_port VAR: stores in VAR a port that nothing listens on and that this shell
# has not handed out yet. Ports come from 10000-31999, below Linux's ephemeral range,
# so an outgoing connection cannot be holding it. A server that still loses the race
# fails to start, and its start function retries with another port.
_STACK_PORTS_GIVEN=" "
stack_pick_port() {
    local port
    for _ in $(seq 1 500); do
        port=$((10000 + RANDOM % 22000))
        if [[ $_STACK_PORTS_GIVEN == *" $port "* ]]; then continue; fi
        # A connection that succeeds means someone listens there.
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
        _STACK_PORTS_GIVEN+="$port "
        printf -v "$1" '%s' "$port"
        return 0
    done
    stack_log "no free port found"
    return 1
}

# Writes the variables describing this stack to $NOMNOM_STACK_DIR/stack.env, so another
# process (`make demo-stop`, a second terminal) can `source` it and use or stop the stack.
stack_save_env() {
    local v
    {
        for v in NOMNOM_STACK_DIR NOMNOM_DB PGHOST PGPORT PGUSER NOMNOM_PG_PID NOMNOM_PG_DATA \
            NOMNOM_PG_LOG NOMNOM_PG_PRELOAD NATS_URL NOMNOM_NATS_PORT NOMNOM_NATS_MONITOR_PORT \
            NOMNOM_NATS_MONITOR_URL NOMNOM_NATS_PID NOMNOM_NATS_STORE NOMNOM_NATS_LOG \
            NOMNOM_BRIDGE_PID NOMNOM_BRIDGE_PORT NOMNOM_BRIDGE_URL NOMNOM_BRIDGE_LOG \
            NOMNOM_STACK_PROCS NOMNOM_NATS_NODE_PORTS NOMNOM_NATS_NODE_CLUSTER_PORTS \
            NOMNOM_NATS_NODE_MONITOR_PORTS NOMNOM_NATS_NODE_PIDS NOMNOM_PGBOUNCER_PORT \
            NOMNOM_PGBOUNCER_PID; do
            if [[ -n ${!v:-} ]]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
        done
    } >"$NOMNOM_STACK_DIR/stack.env"
}

stack_tail_log() { # FILE [LINES]
    [[ -f $1 ]] || return 0
    echo "----- last ${2:-40} lines of $1 -----" >&2
    tail -n "${2:-40}" "$1" >&2
    echo "-----" >&2
}

###############################################################################
# PostgreSQL
###############################################################################

_stack_pg_bindir() { "${PG_CONFIG:-pg_config}" --bindir; }

# stack_start_pg [preload]: a new cluster in the stack folder, started and ready.
# With `preload`: shared_preload_libraries='nomnom', nomnom.database=$NOMNOM_DB and,
# when NATS was started first, nomnom.nats_url=$NATS_URL.
# shellcheck disable=SC2120  # the argument is optional
stack_start_pg() {
    [[ ${NOMNOM_PG_START_TIMEOUT:-60} =~ ^[1-9][0-9]*$ ]] || {
        stack_log "NOMNOM_PG_START_TIMEOUT must be a whole number of seconds, not '$NOMNOM_PG_START_TIMEOUT'"
        return 2
    }
    stack_init
    NOMNOM_PG_PRELOAD=${1:-}
    NOMNOM_PG_DATA=$NOMNOM_STACK_DIR/pg/data
    NOMNOM_PG_LOG=$NOMNOM_STACK_DIR/pg/postgresql.log
    export NOMNOM_PG_PRELOAD NOMNOM_PG_DATA NOMNOM_PG_LOG
    local bin
    bin=$(_stack_pg_bindir)
    stack_as_pg mkdir -p "$NOMNOM_STACK_DIR/pg"
    # --no-sync only where fsync is off anyway: it saves seconds per initdb.
    local nosync=()
    if [[ ${NOMNOM_PG_FSYNC:-on} == off ]]; then nosync=(--no-sync); fi
    stack_as_pg "$bin/initdb" -D "$NOMNOM_PG_DATA" -U postgres --auth=trust -E UTF8 \
        --locale=C "${nosync[@]}" >"$NOMNOM_STACK_DIR/pg/initdb.log" 2>&1 ||
        { stack_tail_log "$NOMNOM_STACK_DIR/pg/initdb.log"; return 1; }
    # Our settings live in their own file, rewritten at each start (the port may change).
    echo "include 'nomnom_stack.conf'" | stack_as_pg tee -a "$NOMNOM_PG_DATA/postgresql.conf" >/dev/null
    local try
    for try in 1 2 3; do
        stack_pick_port PGPORT || return 1
        _stack_pg_launch && break
        # Only a lost race for the port is worth another try.
        if ((try == 3)) || ! grep -q 'could not bind' "$NOMNOM_PG_LOG"; then return 1; fi
        stack_log "PostgreSQL could not bind port $PGPORT, trying another port"
    done
    # The database the background workers watch, empty: tests create the extension.
    if [[ $NOMNOM_DB != postgres ]]; then
        stack_psql postgres -c "CREATE DATABASE \"$NOMNOM_DB\"" || return 1
    fi
    stack_save_env
}

# Writes nomnom_stack.conf, starts the server with pg_ctl and waits until it answers.
_stack_pg_launch() {
    export PGHOST=127.0.0.1 PGPORT PGUSER=postgres
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $PGPORT"
        echo "unix_socket_directories = '$NOMNOM_STACK_DIR/pg'"
        echo "fsync = ${NOMNOM_PG_FSYNC:-on}"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        if [[ -n ${NOMNOM_PG_PRELOAD:-} ]]; then
            echo "shared_preload_libraries = 'nomnom'"
            echo "nomnom.database = '$NOMNOM_DB'"
            if [[ -n ${NATS_URL:-} ]]; then echo "nomnom.nats_url = '$NATS_URL'"; fi
        fi
    } | stack_as_pg tee "$NOMNOM_PG_DATA/nomnom_stack.conf" >/dev/null
    local bin
    bin=$(_stack_pg_bindir)
    # pg_ctl -w returns once the server accepts connections or has died.
    local timeout=${NOMNOM_PG_START_TIMEOUT:-60}
    if ! stack_as_pg "$bin/pg_ctl" -D "$NOMNOM_PG_DATA" -l "$NOMNOM_PG_LOG" -w -t "$timeout" start \
        >/dev/null; then
        stack_log "PostgreSQL failed to start (port $PGPORT)"
        stack_tail_log "$NOMNOM_PG_LOG" 10
        return 1
    fi
    NOMNOM_PG_PID=$(head -n 1 "$NOMNOM_PG_DATA/postmaster.pid")
    export NOMNOM_PG_PID
    wait_until "$timeout" "$bin/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" ||
        { stack_log "PostgreSQL not ready after ${timeout}s"; stack_tail_log "$NOMNOM_PG_LOG"; return 1; }
    stack_log "PostgreSQL PID $NOMNOM_PG_PID on 127.0.0.1:$PGPORT${NOMNOM_PG_PRELOAD:+ (preload nomnom)}"
}

# Fast shutdown (SIGINT: abort transactions, checkpoint) by PID; immediate shutdown
# (SIGQUIT) after 60 s, which still takes the backends down with the postmaster.
stack_stop_pg() {
    [[ -n ${NOMNOM_PG_PID:-} ]] || return 0
    stack_kill_pid "$NOMNOM_PG_PID" INT 60 QUIT
    if stack_pid_alive "$NOMNOM_PG_PID"; then return 1; fi
    stack_log "PostgreSQL PID $NOMNOM_PG_PID stopped"
    NOMNOM_PG_PID=
}

# Same data, same port, same settings.
stack_restart_pg() {
    stack_stop_pg || return 1
    _stack_pg_launch && stack_save_env
}

# stack_psql DB [psql args...]: psql as postgres over TCP; stops at the first error.
stack_psql() {
    local db=$1
    shift
    "$(_stack_pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres \
        -d "$db" "$@"
}

# stack_wait_sql DB SECONDS QUERY: polls until QUERY (one boolean) returns true.
#   stack_wait_sql "$NOMNOM_DB" 30 "SELECT count(*) = 3 FROM orders"
stack_wait_sql() {
    wait_until "$2" _stack_sql_true "$1" "$3"
}
_stack_sql_true() { [[ $(stack_psql "$1" -tA -c "$2") == t ]]; }

###############################################################################
# nats-server
###############################################################################

# stack_start_nats [ARGS...]: nats-server with JetStream, a client port and an HTTP monitor
# port; ARGS are passed on (-c FILE for auth, TLS or JetStream limits) and kept for restarts.
_STACK_NATS_ARGS=()
stack_start_nats() {
    stack_init
    _STACK_NATS_ARGS=("$@")
    NOMNOM_NATS_STORE=$NOMNOM_STACK_DIR/nats/js
    NOMNOM_NATS_LOG=$NOMNOM_STACK_DIR/nats/nats-server.log
    export NOMNOM_NATS_STORE NOMNOM_NATS_LOG
    mkdir -p "$NOMNOM_NATS_STORE"
    local try
    for try in 1 2 3; do
        stack_pick_port NOMNOM_NATS_PORT || return 1
        stack_pick_port NOMNOM_NATS_MONITOR_PORT || return 1
        _stack_nats_launch && break
        if ((try == 3)) || ! grep -q 'address already in use' "$NOMNOM_NATS_LOG"; then return 1; fi
        stack_log "nats-server could not bind its ports, trying other ports"
    done
    stack_save_env
}

_stack_nats_launch() {
    export NOMNOM_NATS_PORT NOMNOM_NATS_MONITOR_PORT
    export NATS_URL=nats://127.0.0.1:$NOMNOM_NATS_PORT
    export NOMNOM_NATS_MONITOR_URL=http://127.0.0.1:$NOMNOM_NATS_MONITOR_PORT
    # stdin and stdout detached: a server must never hold a caller's pipe open.
    nats-server -js -a 127.0.0.1 -p "$NOMNOM_NATS_PORT" -m "$NOMNOM_NATS_MONITOR_PORT" \
        -sd "$NOMNOM_NATS_STORE" "${_STACK_NATS_ARGS[@]}" </dev/null >>"$NOMNOM_NATS_LOG" 2>&1 &
    NOMNOM_NATS_PID=$!
    export NOMNOM_NATS_PID
    # Healthy means JetStream is up too; a dead process means a lost port race or a bad store.
    local deadline=$(($(date +%s) + 30))
    until curl -fs -o /dev/null --max-time 2 "$NOMNOM_NATS_MONITOR_URL/healthz"; do
        if ! stack_pid_alive "$NOMNOM_NATS_PID" || (($(date +%s) >= deadline)); then
            stack_log "nats-server failed to start (port $NOMNOM_NATS_PORT)"
            stack_tail_log "$NOMNOM_NATS_LOG" 10
            stack_kill_pid "$NOMNOM_NATS_PID" KILL 5
            NOMNOM_NATS_PID=
            return 1
        fi
        sleep 0.1
    done
    stack_log "nats-server PID $NOMNOM_NATS_PID on $NATS_URL (monitor $NOMNOM_NATS_MONITOR_URL)"
}

stack_stop_nats() {
    [[ -n ${NOMNOM_NATS_PID:-} ]] || return 0
    stack_kill_pid "$NOMNOM_NATS_PID" TERM 30
    if stack_pid_alive "$NOMNOM_NATS_PID"; then return 1; fi
    stack_log "nats-server PID $NOMNOM_NATS_PID stopped"
    NOMNOM_NATS_PID=
}

# Same port, same JetStream store: streams and unacknowledged messages survive.
stack_restart_nats() {
    stack_stop_nats || return 1
    _stack_nats_launch && stack_save_env
}

# stack_start_nats_cluster [ARGS...]: a 3-node JetStream cluster on 127.0.0.1 (nats-server
# -n, --cluster_name, --cluster, --routes; each node its own ports, store and log), ARGS
# passed to every node. Exports NATS_URL (the three client URLs, comma-separated),
# NOMNOM_NATS_NODE_PORTS / _MONITOR_PORTS / _PIDS (space-separated, node 1 first) and
# NOMNOM_NATS_MONITOR_URL (node 1's). Returns once every node is healthy (JetStream
# included, so a meta leader is elected).
_STACK_CLUSTER_ARGS=()
stack_start_nats_cluster() {
    stack_init
    _STACK_CLUSTER_ARGS=("$@")
    local i ports=() cports=() mports=() p
    for i in 1 2 3; do
        stack_pick_port p || return 1
        ports+=("$p")
        stack_pick_port p || return 1
        cports+=("$p")
        stack_pick_port p || return 1
        mports+=("$p")
        mkdir -p "$NOMNOM_STACK_DIR/nats-$i/js"
    done
    NOMNOM_NATS_NODE_PORTS="${ports[*]}"
    NOMNOM_NATS_NODE_CLUSTER_PORTS="${cports[*]}"
    NOMNOM_NATS_NODE_MONITOR_PORTS="${mports[*]}"
    NOMNOM_NATS_NODE_PIDS="- - -"
    NATS_URL="nats://127.0.0.1:${ports[0]},nats://127.0.0.1:${ports[1]},nats://127.0.0.1:${ports[2]}"
    NOMNOM_NATS_MONITOR_URL=http://127.0.0.1:${mports[0]}
    export NOMNOM_NATS_NODE_PORTS NOMNOM_NATS_NODE_CLUSTER_PORTS NOMNOM_NATS_NODE_MONITOR_PORTS \
        NOMNOM_NATS_NODE_PIDS NATS_URL NOMNOM_NATS_MONITOR_URL
    for i in 1 2 3; do _stack_nats_node_launch "$i" || return 1; done
    for i in 1 2 3; do stack_nats_node_wait "$i" 60 || return 1; done
    stack_save_env
}

# The Nth (1-based) word of a space-separated list.
_stack_word() { local -a w; read -r -a w <<<"$1"; echo "${w[$(($2 - 1))]}"; }

_stack_nats_node_launch() { # I
    local i=$1 j routes=""
    for j in 1 2 3; do
        ((j == i)) && continue
        routes+="${routes:+,}nats://127.0.0.1:$(_stack_word "$NOMNOM_NATS_NODE_CLUSTER_PORTS" "$j")"
    done
    nats-server -js -n "n$i" --cluster_name nomnom -a 127.0.0.1 \
        -p "$(_stack_word "$NOMNOM_NATS_NODE_PORTS" "$i")" \
        -m "$(_stack_word "$NOMNOM_NATS_NODE_MONITOR_PORTS" "$i")" \
        --cluster "nats://127.0.0.1:$(_stack_word "$NOMNOM_NATS_NODE_CLUSTER_PORTS" "$i")" \
        --routes "$routes" -sd "$NOMNOM_STACK_DIR/nats-$i/js" "${_STACK_CLUSTER_ARGS[@]}" \
        </dev/null >>"$NOMNOM_STACK_DIR/nats-$i.log" 2>&1 &
    local pid=$!
    local -a pids
    read -r -a pids <<<"$NOMNOM_NATS_NODE_PIDS"
    pids[$((i - 1))]=$pid
    NOMNOM_NATS_NODE_PIDS="${pids[*]}"
    export NOMNOM_NATS_NODE_PIDS
    stack_log "nats-server n$i PID $pid on nats://127.0.0.1:$(_stack_word "$NOMNOM_NATS_NODE_PORTS" "$i")"
}

# stack_nats_node_wait I SECONDS: node I answers /healthz (JetStream ready).
stack_nats_node_wait() {
    local url=http://127.0.0.1:$(_stack_word "$NOMNOM_NATS_NODE_MONITOR_PORTS" "$1")/healthz
    if ! wait_until "$2" curl -fs -o /dev/null --max-time 2 "$url"; then
        stack_log "nats-server n$1 not healthy after $2 s"
        stack_tail_log "$NOMNOM_STACK_DIR/nats-$1.log" 20
        return 1
    fi
}

# stack_nats_node_kill I [SIGNAL]: stops node I (default SIGKILL) and waits for it to go.
stack_nats_node_kill() {
    local pid
    pid=$(_stack_word "$NOMNOM_NATS_NODE_PIDS" "$1")
    [[ $pid == - ]] && return 0
    stack_kill_pid "$pid" "${2:-KILL}" 30
    local -a pids
    read -r -a pids <<<"$NOMNOM_NATS_NODE_PIDS"
    pids[$(($1 - 1))]=-
    NOMNOM_NATS_NODE_PIDS="${pids[*]}"
    export NOMNOM_NATS_NODE_PIDS
    stack_log "nats-server n$1 PID $pid stopped (SIG${2:-KILL})"
}

# stack_nats_node_start I: node I again, same ports and store; waits until it is healthy.
stack_nats_node_start() {
    _stack_nats_node_launch "$1" && stack_nats_node_wait "$1" 60 && stack_save_env
}

# The node (1-3) whose client port is PORT.
stack_nats_node_of_port() {
    local i
    for i in 1 2 3; do
        if [[ $(_stack_word "$NOMNOM_NATS_NODE_PORTS" "$i") == "$1" ]]; then echo "$i"; return 0; fi
    done
    return 1
}

stack_stop_nats_cluster() {
    [[ -n ${NOMNOM_NATS_NODE_PIDS:-} ]] || return 0
    local i
    for i in 1 2 3; do stack_nats_node_kill "$i" TERM; done
    NOMNOM_NATS_NODE_PIDS=
}

###############################################################################
# pgbouncer
###############################################################################

# stack_start_pgbouncer: Debian's pgbouncer in transaction pooling mode in front of the
# stack's PostgreSQL (any database, user postgres, trust), as the postgres user (pgbouncer
# refuses root). Exports NOMNOM_PGBOUNCER_PORT, NOMNOM_PGBOUNCER_PID, NOMNOM_PGBOUNCER_LOG.
stack_start_pgbouncer() {
    stack_init
    local dir=$NOMNOM_STACK_DIR/pgbouncer bin
    bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
    mkdir -p "$dir"
    stack_pick_port NOMNOM_PGBOUNCER_PORT || return 1
    NOMNOM_PGBOUNCER_LOG=$dir/pgbouncer.log
    export NOMNOM_PGBOUNCER_PORT NOMNOM_PGBOUNCER_LOG
    printf '"postgres" ""\n' >"$dir/userlist.txt"
    printf '%s\n' "[databases]" "* = host=127.0.0.1 port=${PGPORT:?start PostgreSQL first}" \
        "[pgbouncer]" "listen_addr = 127.0.0.1" "listen_port = $NOMNOM_PGBOUNCER_PORT" \
        "unix_socket_dir =" "auth_type = trust" "auth_file = $dir/userlist.txt" \
        "pool_mode = transaction" "default_pool_size = 10" "max_client_conn = 200" \
        "logfile = $NOMNOM_PGBOUNCER_LOG" "pidfile = $dir/pgbouncer.pid" >"$dir/pgbouncer.ini"
    if ((EUID == 0)); then chown -R postgres:postgres "$dir"; fi
    stack_as_pg "$bin" -d -q "$dir/pgbouncer.ini" </dev/null >>"$dir/stdout.log" 2>&1 || {
        stack_tail_log "$dir/stdout.log" 10
        stack_tail_log "$NOMNOM_PGBOUNCER_LOG" 10
        return 1
    }
    wait_until 10 "[[ -s $dir/pgbouncer.pid ]]" || { stack_log "pgbouncer wrote no PID file"; return 1; }
    NOMNOM_PGBOUNCER_PID=$(cat "$dir/pgbouncer.pid")
    export NOMNOM_PGBOUNCER_PID
    wait_until 10 "(exec 3<>/dev/tcp/127.0.0.1/$NOMNOM_PGBOUNCER_PORT)" ||
        { stack_log "pgbouncer does not listen"; return 1; }
    stack_log "pgbouncer PID $NOMNOM_PGBOUNCER_PID on 127.0.0.1:$NOMNOM_PGBOUNCER_PORT (transaction pooling)"
    stack_save_env
}

stack_stop_pgbouncer() {
    [[ -n ${NOMNOM_PGBOUNCER_PID:-} ]] || return 0
    stack_kill_pid "$NOMNOM_PGBOUNCER_PID" TERM 10
    stack_log "pgbouncer PID $NOMNOM_PGBOUNCER_PID stopped"
    NOMNOM_PGBOUNCER_PID=
}

###############################################################################
# nomnom-bridge
###############################################################################

# stack_start_bridge [ARGS...]: nomnom-bridge on a free port, talking to the stack's NATS
# and PostgreSQL ($NOMNOM_DB); extra ARGS are passed on. Returns once it answers HTTP
# (any status: /ready stays 503 until a stream exists). The binary: $NOMNOM_BRIDGE_BIN,
# else this checkout's build/bridge/nomnom-bridge, else nomnom-bridge from PATH.
stack_start_bridge() {
    stack_init
    local bin=${NOMNOM_BRIDGE_BIN:-$NOMNOM_REPO_ROOT/build/bridge/nomnom-bridge}
    [[ -x $bin ]] || bin=nomnom-bridge
    NOMNOM_BRIDGE_LOG=$NOMNOM_STACK_DIR/bridge.log
    # A port chosen beforehand (make demo: 8080) is kept; otherwise a free one.
    if [[ -z ${NOMNOM_BRIDGE_PORT:-} ]]; then stack_pick_port NOMNOM_BRIDGE_PORT || return 1; fi
    export NOMNOM_BRIDGE_LOG NOMNOM_BRIDGE_PORT
    # With --tls-cert-file (or NOMNOM_TLS_CERT_FILE) the bridge serves HTTPS only (the start-up probe trusts any cert).
    local scheme=http probe_tls=()
    if [[ -n ${NOMNOM_TLS_CERT_FILE:-} || " $* " == *" --tls-cert-file "* || " $* " == *" --tls-cert-file="* ]]; then
        scheme=https probe_tls=(--insecure)
    fi
    export NOMNOM_BRIDGE_URL=$scheme://127.0.0.1:$NOMNOM_BRIDGE_PORT
    "$bin" --listen "127.0.0.1:$NOMNOM_BRIDGE_PORT" --nats "${NATS_URL:?start NATS first}" \
        --database "postgresql://postgres@127.0.0.1:${PGPORT:?start PostgreSQL first}/$NOMNOM_DB" \
        "$@" </dev/null >>"$NOMNOM_BRIDGE_LOG" 2>&1 &
    NOMNOM_BRIDGE_PID=$!
    export NOMNOM_BRIDGE_PID
    local deadline=$(($(date +%s) + 30))
    until curl -s -o /dev/null --max-time 2 "${probe_tls[@]}" "$NOMNOM_BRIDGE_URL/ready"; do
        if ! stack_pid_alive "$NOMNOM_BRIDGE_PID" || (($(date +%s) >= deadline)); then
            stack_log "nomnom-bridge failed to start ($bin, port $NOMNOM_BRIDGE_PORT)"
            stack_tail_log "$NOMNOM_BRIDGE_LOG" 10
            stack_kill_pid "$NOMNOM_BRIDGE_PID" KILL 5
            NOMNOM_BRIDGE_PID=
            return 1
        fi
        sleep 0.1
    done
    stack_log "nomnom-bridge PID $NOMNOM_BRIDGE_PID on $NOMNOM_BRIDGE_URL"
    stack_save_env
}

stack_stop_bridge() {
    [[ -n ${NOMNOM_BRIDGE_PID:-} ]] || return 0
    stack_kill_pid "$NOMNOM_BRIDGE_PID" TERM 30
    stack_log "nomnom-bridge PID $NOMNOM_BRIDGE_PID stopped"
    NOMNOM_BRIDGE_PID=
}

###############################################################################
# Other processes (load generators, tools) and clean-up
###############################################################################

# stack_spawn NAME COMMAND [ARGS...]: runs COMMAND in the background, output to
# $NOMNOM_STACK_DIR/NAME.log; sets STACK_SPAWNED_PID; stack_stop_all stops it (SIGTERM).
stack_spawn() {
    stack_init
    local name=$1
    shift
    "$@" </dev/null >>"$NOMNOM_STACK_DIR/$name.log" 2>&1 &
    STACK_SPAWNED_PID=$!
    NOMNOM_STACK_PROCS="${NOMNOM_STACK_PROCS:-} $name:$STACK_SPAWNED_PID"
    export NOMNOM_STACK_PROCS
    stack_save_env
}

# Prints the tail of every log of the stack, for a failed test.
stack_dump_logs() {
    [[ -n ${NOMNOM_STACK_DIR:-} && -d $NOMNOM_STACK_DIR ]] || return 0
    local f
    for f in "$NOMNOM_STACK_DIR"/pg/postgresql.log "$NOMNOM_STACK_DIR"/nats/nats-server.log \
        "$NOMNOM_STACK_DIR"/*.log; do
        stack_tail_log "$f" 40
    done
}

# Stops, in reverse order of dependence, everything this stack started; then removes
# the stack folder unless NOMNOM_STACK_KEEP=1, and unsets the variables it exported.
stack_stop_all() {
    local entry
    for entry in ${NOMNOM_STACK_PROCS:-}; do
        stack_kill_pid "${entry#*:}" TERM 30
    done
    NOMNOM_STACK_PROCS=
    stack_stop_bridge || true
    stack_stop_pgbouncer || true
    stack_stop_pg || true
    stack_stop_nats || true
    stack_stop_nats_cluster || true
    if [[ -n ${NOMNOM_STACK_DIR:-} && -e $NOMNOM_STACK_DIR/.nomnom-stack ]]; then
        if [[ ${NOMNOM_STACK_KEEP:-0} == 1 ]]; then
            stack_log "kept $NOMNOM_STACK_DIR"
        else
            rm -rf "$NOMNOM_STACK_DIR"
        fi
    fi
    # Forget the stopped stack, so that nothing started later (another test script)
    # inherits its ports or PIDs.
    unset NOMNOM_STACK_DIR PGHOST PGPORT PGUSER NOMNOM_PG_PID NOMNOM_PG_DATA NOMNOM_PG_LOG \
        NOMNOM_PG_PRELOAD NATS_URL NOMNOM_NATS_PORT NOMNOM_NATS_MONITOR_PORT \
        NOMNOM_NATS_MONITOR_URL NOMNOM_NATS_PID NOMNOM_NATS_STORE NOMNOM_NATS_LOG \
        NOMNOM_BRIDGE_PID NOMNOM_BRIDGE_PORT NOMNOM_BRIDGE_URL NOMNOM_BRIDGE_LOG \
        NOMNOM_NATS_NODE_PORTS NOMNOM_NATS_NODE_CLUSTER_PORTS NOMNOM_NATS_NODE_MONITOR_PORTS \
        NOMNOM_NATS_NODE_PIDS NOMNOM_PGBOUNCER_PORT NOMNOM_PGBOUNCER_PID NOMNOM_PGBOUNCER_LOG
}

# stack_trap: on exit, whatever the reason, dump the logs if the script failed and stop
# everything. INT and TERM (Ctrl-C, `timeout`) become an exit so the EXIT trap runs.
stack_trap() {
    trap '_stack_on_exit' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
_stack_on_exit() {
    local rc=$?
    if ((rc != 0)); then
        stack_log "exit status $rc: logs follow"
        stack_dump_logs
    fi
    stack_stop_all
    exit "$rc"
}
