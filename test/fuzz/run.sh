#!/usr/bin/env bash
# make fuzz / run-tests.sh's fuzz phase: builds the libFuzzer targets with Debian's clang in
# build-fuzz/ (instrumented for libFuzzer, ASan and UBSan) and runs each for SECONDS from its
# seed corpus, test/fuzz/corpus/<target>/ (read only: new inputs go to a temporary folder),
# which also replays every regression input kept there.
#
#   bash test/fuzz/run.sh [SECONDS] [TARGET...]     # default: FUZZ_SECONDS or 60, every target
#   FUZZ_RUNS=N bash test/fuzz/run.sh               # N inputs each from a fixed seed instead
#
# make fuzz explores for a time; make test runs a fixed number of inputs from a fixed seed
# (FUZZ_RUNS), so that the same commit always tests the same inputs and a CI run cannot
# fail on a chance find that the previous run did not make.
# Prints one line per target, "fuzz: TARGET ok|FAILED execs=N exec/s=N cov=N ft=N corpus=N",
# then "fuzz: N passed, N failed". A crash, a leak, a sanitizer report or a failed check
# leaves its input in build-fuzz/artifacts/ (libFuzzer's crash-<sha1> file): copy it into
# the target's corpus folder once it is fixed, so every run replays it.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

SECONDS_EACH=${1:-${FUZZ_SECONDS:-60}}
shift || true
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
TARGETS=("$@")
if ((${#TARGETS[@]} == 0)); then
    TARGETS=(json_document map_document bridge_json_check fast_input ndjson route_path pub_ack message_id
        stream_options)
fi

CC=${FUZZ_CC:-clang-14} CXX=${FUZZ_CXX:-clang++-14} \
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOMNOM_FUZZ=ON >/dev/null ||
    { echo "fuzz: cmake failed"; echo "fuzz: 0 passed, 1 failed"; exit 1; }
cmake --build "$BUILD" -j2 --target nomnom_fuzzers ||
    { echo "fuzz: build failed"; echo "fuzz: 0 passed, 1 failed"; exit 1; }

ARTIFACTS=$BUILD/artifacts
mkdir -p "$ARTIFACTS"
WORK=$(mktemp -d /tmp/nomnom-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
for target in "${TARGETS[@]}"; do
    bin=$BUILD/test/fuzz/fuzz_$target
    seeds=test/fuzz/corpus/$target
    log=$WORK/$target.log
    mkdir -p "$WORK/$target"
    # One job on one core (the machine is shared); the seed folder second, so libFuzzer
    # reads it but writes what it finds into the temporary one.
    if [[ -n ${FUZZ_RUNS:-} ]]; then
        budget=(-runs="$FUZZ_RUNS" -seed=1)
    else
        budget=(-max_total_time="$SECONDS_EACH")
    fi
    "$bin" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$target-" \
        "$WORK/$target" "$seeds" >"$log" 2>&1
    rc=$?
    # The last status line: "#N DONE cov: C ft: F corp: K/S ... exec/s: E ..."
    stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    speed=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$stats")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$stats")
    corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$stats")
    summary="execs=${execs:-?} exec/s=${speed:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?}"
    if ((rc == 0)) && grep -q 'Done [0-9]* runs' "$log"; then
        passed=$((passed + 1))
        echo "fuzz: $target ok $summary"
    else
        failed=$((failed + 1))
        echo "fuzz: $target FAILED (exit $rc) $summary"
        grep -E 'fuzz check failed|ERROR: |SUMMARY: |runtime error|Test unit written' -A3 "$log" | head -n 30
    fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
