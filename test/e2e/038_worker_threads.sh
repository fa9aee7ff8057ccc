#!/usr/bin/env bash
# The worker keeps its threads: the prefetch thread is one for the worker's life, handed one
# fetch after the other, not a new thread a batch (a new thread takes a malloc arena anew,
# sometimes another thread's, and the worker then kept a batch's mapping in two of them:
# bench/README.md, item 20). Over 30 batches of 10 (too small for the writer's mapping
# helper), the worker's thread ids stay the same, the prefetch thread (named nn_prefetch) too.
set -euo pipefail
# shellcheck source=test/e2e/lib/worker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/worker.sh"
worker_test_begin publish

worker_stack_up
sql "SELECT nomnom.create_stream('MESSAGES', ARRAY['messages.ingest.>'], '{\"batch_size\": 10}')" >/dev/null
wait_for 30 "SELECT state = 'running' FROM nomnom.stream_status" "worker running"
pid=$(worker_pids)
threads() { ls "/proc/$pid/task" | sort -n | tr '\n' ' '; }

publish --count 10 --seed 38
wait_for 60 "SELECT count(*) = 10 FROM orders" "the first batch"
before=$(threads)
echo "threads after the first batch: $before" >&2
(($(wc -w <<<"$before") >= 3)) || fail "expected the backend, the prefetch thread and nats.c's, got: $before"
# The prefetch thread is named, so its CPU time can be read apart (bench/waits.sh).
prefetch_tid() { grep -lx nn_prefetch /proc/"$pid"/task/*/comm | cut -d/ -f5 | tr '\n' ' '; }
prefetch=$(prefetch_tid)
[[ $prefetch =~ ^[0-9]+\ $ ]] || fail "expected one thread named nn_prefetch, got: '$prefetch'"

publish --count 300 --seed 39
wait_for 120 "SELECT count(*) = 310 FROM orders" "310 orders"
batches=$(sql "SELECT count(DISTINCT xmin::text) FROM nomnom.message_status")
((batches >= 31)) || fail "expected 31 or more batches of at most 10, got $batches"
assert_eq "$(worker_pids)" "$pid" "the same worker"
assert_eq "$(threads)" "$before" "the worker's thread ids after $batches batches"
assert_eq "$(prefetch_tid)" "$prefetch" "the prefetch thread after $batches batches"
echo "worker_threads passed"
