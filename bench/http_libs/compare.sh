#!/usr/bin/env bash
# How nomnom-bridge chose its HTTP library: the two maintained Debian options serving a
# trivial POST handler (no NATS, no PostgreSQL), wrk with the example order as body,
# 2 threads, 32 connections, 5 s each. Results: bridge/README.md ("Why libmicrohttpd").
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$HERE/../..
source "$ROOT/test/harness/stack.sh"
TMP=$(mktemp -d)
PIDS=""
cleanup() {
    local pid
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

# shellcheck disable=SC2046 # pkg-config prints several words on purpose
g++ -O2 -std=c++17 "$HERE/httplib_hello.cpp" -o "$TMP/httplib_hello" $(pkg-config --cflags --libs cpp-httplib) -pthread
# shellcheck disable=SC2046
g++ -O2 -std=c++17 "$HERE/mhd_hello.cpp" -o "$TMP/mhd_hello" $(pkg-config --cflags --libs libmicrohttpd)
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
local f = io.open("$ROOT/test/fixtures/test_order_with_lineitems.json"); wrk.body = f:read("*a"); f:close()
wrk.headers["Content-Type"] = "application/json"
LUA

run() { # label command...
    local label=$1 http_port
    shift
    stack_pick_port http_port
    "$@" "$http_port" &
    local pid=$!
    PIDS="$PIDS $pid"
    wait_until 10 curl -s -o /dev/null -X POST -d x "http://127.0.0.1:$http_port/ingest/message"
    local out
    out=$(wrk -t2 -c32 -d5s --latency -s "$TMP/post.lua" "http://127.0.0.1:$http_port/ingest/message")
    printf '%-40s %10s req/s  p50 %-9s p99 %s\n' "$label" "$(awk '/^Requests\/sec/ {print $2}' <<<"$out")" \
        "$(awk '$1 == "50%" {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}
run "libmicrohttpd, epoll, 2 threads" "$TMP/mhd_hello" pool
run "libmicrohttpd, thread per connection" "$TMP/mhd_hello" tpc
run "cpp-httplib 0.11, defaults" "$TMP/httplib_hello"
run "cpp-httplib 0.11, tuned" "$TMP/httplib_hello" tuned
