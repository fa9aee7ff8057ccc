#!/usr/bin/env bash
# make test: deps, build, install, then every test: unit (CTest, plus an ASan/UBSan
# build), pgTAP suites (pg_prove, one fresh database per suite file), end-to-end scripts.
# Ends with exactly one line `N passed, N failed`; exits non-zero if anything failed or
# if nothing ran. How things are counted: see test/README.md.
#
# Settings (environment):
#   NOMNOM_ASAN=0                      skip the sanitizer build of the unit tests
#   NOMNOM_FUZZ=0                      skip the fuzz phase (NOMNOM_FUZZ_RUNS: inputs per
#                                      target from a fixed seed, default 20000)
#   NOMNOM_TEST_WITHOUT_EXTENSION=1    pgTAP without preloading or creating nomnom
#                                      (only to test the harness itself; counted as is)
#   NOMNOM_PG_FSYNC                    default off here: tests need no durability
#   NOMNOM_PGTAP_TIMEOUT               seconds per pgTAP suite file, default 600
#   NOMNOM_E2E_TIMEOUT                 seconds per end-to-end script, default 900
#   PG_CONFIG, NOMNOM_INSTALL_LOCK     another PostgreSQL and its install lock, for parallel
#                                      checkouts (test/harness/private-pg.sh makes one)
#
# Arguments narrow the run for a quicker loop (deps and build always run; install when
# pgTAP or end-to-end tests run):
#   run-tests.sh [unit|unit-asan|pgtap|e2e]... [test/pgtap/FILE.sql|test/e2e/FILE.sh]...
#   run-tests.sh sql      the SQL surface alone (`make installcheck`): the pgTAP suites that
#                         need no NATS (no `-- needs: nats` line), without a nats-server
# `make test` passes none: everything runs.
set -uo pipefail # no -e: a failed phase is counted and reported, later ones still run

WANT_PHASES=" "
WANT_SUITES=()
WANT_E2E=()
SQL_ONLY=0
for arg in "$@"; do
    case $arg in
    unit | unit-asan | fuzz | pgtap | e2e) WANT_PHASES+="$arg " ;;
    sql) WANT_PHASES+="pgtap " SQL_ONLY=1 ;;
    *.sql) WANT_SUITES+=("$(realpath -e "$arg")") || exit 2 ;;
    *.sh) WANT_E2E+=("$(realpath -e "$arg")") || exit 2 ;;
    *) echo "usage: $0 [unit|unit-asan|fuzz|pgtap|e2e|sql]... [FILE.sql|FILE.sh]..." >&2; exit 2 ;;
    esac
done
if ((${#WANT_SUITES[@]} > 0)); then WANT_PHASES+="pgtap "; fi
if ((${#WANT_E2E[@]} > 0)); then WANT_PHASES+="e2e "; fi
wanted() { [[ $WANT_PHASES == " " || $WANT_PHASES == *" $1 "* ]]; }

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
# shellcheck source=test/harness/stack.sh
source test/harness/stack.sh

export NOMNOM_PG_FSYNC=${NOMNOM_PG_FSYNC:-off}
LOCK_FILE=${NOMNOM_INSTALL_LOCK:-/tmp/nomnom-install.lock} # private-pg.sh sets its own
LOGS=$(mktemp -d /tmp/nomnom-test-logs.XXXXXX) # per-phase output, parsed for counts

# Interrupted or not, leave nothing running and nothing behind.
# shellcheck disable=SC2317  # called by the trap
on_exit() {
    local rc=$?
    stack_stop_all
    rm -rf "$LOGS"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
PASSED=0
FAILED=0
SKIPPED=0
FAILURES=() # what failed, for the summary
TIMINGS=()  # phase: seconds
T0=$(date +%s)
PHASE_T0=$T0

passed() { PASSED=$((PASSED + $1)); }
failed() {
    FAILED=$((FAILED + $1))
    FAILURES+=("$2")
    echo "FAILED: $2" >&2
}
phase() { # KEY [TITLE]
    local now
    now=$(date +%s)
    if [[ -n ${PHASE:-} ]]; then TIMINGS+=("$PHASE=$((now - PHASE_T0))s"); fi
    PHASE=$1 PHASE_T0=$now
    echo
    echo "=== ${2:-$1}"
}

# The summary, then the one closing line; everything is already stopped by then.
finish() {
    phase summary
    stack_stop_all 2>/dev/null
    trap - EXIT # nothing may print after the closing line
    rm -rf "$LOGS"
    echo "timings: ${TIMINGS[*]} total=$(($(date +%s) - T0))s"
    local f
    for f in "${FAILURES[@]}"; do echo "  failed: $f"; done
    if ((SKIPPED > 0)); then
        echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    else
        echo "$PASSED passed, $FAILED failed"
    fi
    if ((FAILED > 0 || PASSED == 0)); then exit 1; fi
    exit 0
}

# run_ctest DIR NAME: one count per CTest test, from CTest's own closing line
# "N% tests passed, F tests failed out of T".
run_ctest() {
    local dir=$1 name=$2 log=$LOGS/$2.log rc
    ctest --test-dir "$dir" --output-on-failure --timeout 300 -j2 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
    if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
        local f=${BASH_REMATCH[1]} t=${BASH_REMATCH[2]}
        passed $((t - f))
        if ((f > 0)); then failed "$f" "$name: $f of $t tests"; fi
        if ((f == 0 && rc != 0)); then failed 1 "$name: ctest exited $rc"; fi
    elif ((rc != 0)) || ! grep -q 'No tests were found' "$log"; then
        failed 1 "$name: ctest exited $rc without a result line"
    fi
}

###############################################################################
phase deps
bash test/harness/install-deps.sh || { failed 1 "make deps"; finish; }

phase build
make -j2 || { failed 1 "make"; finish; }

if wanted unit; then
    phase unit
    run_ctest build unit
fi

if wanted unit-asan && [[ ${NOMNOM_ASAN:-1} != 0 ]]; then
    phase unit-asan "unit tests under ASan and UBSan, in build-asan/"
    # Sanitizer reports must fail the test, not scroll by.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    if cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNOMNOM_SANITIZE=ON >/dev/null &&
        cmake --build build-asan -j2; then
        run_ctest build-asan unit-asan
    else
        failed 1 "unit-asan: build"
    fi
fi

if wanted fuzz && [[ ${NOMNOM_FUZZ:-1} != 0 ]]; then
    phase fuzz "every libFuzzer target briefly (${NOMNOM_FUZZ_RUNS:-20000} inputs each from a fixed seed), its corpus replayed"
    # One count per target: "fuzz: TARGET ok ..." or "fuzz: TARGET FAILED ..." (test/fuzz/run.sh).
    FUZZ_RUNS=${NOMNOM_FUZZ_RUNS:-20000} bash test/fuzz/run.sh 2>&1 | tee "$LOGS/fuzz.log"
    ok=$(grep -cE '^fuzz: [a-z_]+ ok ' "$LOGS/fuzz.log")
    bad=$(grep -cE '^fuzz: ([a-z_]+ FAILED|build failed|cmake failed)' "$LOGS/fuzz.log")
    passed "$ok"
    if ((bad > 0)); then failed "$bad" "fuzz: $bad target(s) (inputs in build-fuzz/artifacts/)"; fi
    if ((ok + bad == 0)); then failed 1 "fuzz: no target ran"; fi
fi

###############################################################################
# Several worktrees install the same extension into the system PostgreSQL: hold the
# lock from `make install` until the last test that loads the installed library.
if ! wanted pgtap && ! wanted e2e; then finish; fi
phase install "make install, holding $LOCK_FILE"
exec 9>>"$LOCK_FILE"
if ! flock -n 9; then
    echo "waiting for another checkout's install and tests to finish..."
    flock -w 3600 9 || { failed 1 "could not take $LOCK_FILE in an hour"; finish; }
fi
if ! make install; then
    failed 1 "make install"
    finish
fi

###############################################################################
phase pgtap
PG_PROVE=(pg_prove --psql-bin "$("${PG_CONFIG:-pg_config}" --bindir)/psql" --verbose)

# The fixtures as SQL: each file's bytes go through base64, so no quoting can break.
fixtures_sql() {
    local f name
    echo "CREATE TABLE public.fixtures (name text PRIMARY KEY, body text NOT NULL);"
    while IFS= read -r -d '' f; do
        name=${f#test/fixtures/}
        printf "INSERT INTO public.fixtures VALUES ('%s', convert_from(decode('%s', 'base64'), 'UTF8'));\n" \
            "${name//\'/\'\'}" "$(base64 -w0 "$f")"
    done < <(find test/fixtures -type f -print0 2>/dev/null | sort -z)
}

# The template every suite database is copied from: pgtap, nomnom, the fixtures, helpers.
make_template() {
    stack_psql postgres -c "CREATE DATABASE nomnom_template" || return 1
    stack_psql nomnom_template -c "CREATE EXTENSION pgtap" || return 1
    if [[ ${NOMNOM_TEST_WITHOUT_EXTENSION:-0} != 1 ]]; then
        stack_psql nomnom_template -c "CREATE EXTENSION nomnom" || {
            echo "CREATE EXTENSION nomnom failed: is the extension built and installed?" >&2
            return 1
        }
    fi
    fixtures_sql | stack_psql nomnom_template -f - || return 1
    stack_psql nomnom_template -f test/pgtap/lib/order_doc.sql || return 1
}

# run_suite FILE: one count per assertion: "ok" passes, "not ok" fails, a TODO counts as
# TAP says (passed), and a SKIP is counted as skipped, never as passed. A file that
# pg_prove fails without a failed assertion (a SQL error, a wrong plan) counts one failure
# more.
run_suite() {
    local file=$1 db log rc ok notok skip
    db=pgtap_$(basename "$file" .sql | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9_\n' '_' | cut -c1-50)
    log=$LOGS/$db.log
    stack_psql postgres -c "CREATE DATABASE \"$db\" TEMPLATE nomnom_template" ||
        { failed 1 "$file: could not create its database"; return; }
    timeout -k 10 "${NOMNOM_PGTAP_TIMEOUT:-600}" "${PG_PROVE[@]}" -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$db" "$file" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    ok=$(grep -E '^ok [0-9]|^not ok [0-9]+.*# *TODO' "$log" | grep -Evc '# *SKIP')
    skip=$(grep -E '^ok [0-9]' "$log" | grep -Ec '# *SKIP')
    notok=$(grep -E '^not ok [0-9]' "$log" | grep -Evc '# *TODO')
    passed "$ok"
    SKIPPED=$((SKIPPED + skip))
    if ((notok > 0)); then failed "$notok" "$file: $notok assertion(s)"; fi
    if ((rc != 0 && notok == 0)); then failed 1 "$file: pg_prove exited $rc (SQL error or plan)"; fi
    stack_psql postgres -c "DROP DATABASE \"$db\" WITH (FORCE)" || true
}

shopt -s nullglob
SUITES=(test/pgtap/*.sql)
E2E=(test/e2e/*.sh)
shopt -u nullglob
if ((${#WANT_SUITES[@]} > 0)); then SUITES=("${WANT_SUITES[@]}"); fi
if ((${#WANT_E2E[@]} > 0)); then E2E=("${WANT_E2E[@]}"); fi
if ! wanted pgtap; then SUITES=(); fi
if ! wanted e2e; then E2E=(); fi
# A suite that needs a nats-server says so in a line `-- needs: nats`.
needs_nats() { grep -qx -- '-- needs: nats' "$1"; }
NEED_NATS=0
if ((SQL_ONLY)); then
    kept=()
    for suite in "${SUITES[@]}"; do
        if needs_nats "$suite"; then echo "not run by 'sql' (needs NATS): $suite"; else kept+=("$suite"); fi
    done
    SUITES=("${kept[@]}")
else
    for suite in "${SUITES[@]}"; do if needs_nats "$suite"; then NEED_NATS=1; fi; done
fi

if ((${#SUITES[@]} > 0)); then
    fails_before=$FAILED
    preload=preload
    if [[ ${NOMNOM_TEST_WITHOUT_EXTENSION:-0} == 1 ]]; then
        echo "WARNING: NOMNOM_TEST_WITHOUT_EXTENSION=1: nomnom is neither preloaded nor created" >&2
        preload=
    fi
    # NATS first, so the preloaded workers get nomnom.nats_url.
    if ! { { ((NEED_NATS == 0)) || stack_start_nats; } && stack_start_pg $preload; }; then
        failed 1 "pgTAP: could not start nats-server and PostgreSQL${preload:+ with shared_preload_libraries='nomnom'}"
    elif ! make_template; then
        failed 1 "pgTAP: template database (CREATE EXTENSION pgtap, nomnom, fixtures); ${#SUITES[@]} suite(s) not run"
    else
        for suite in "${SUITES[@]}"; do run_suite "$suite"; done
    fi
    if ((FAILED > fails_before)); then stack_tail_log "${NOMNOM_PG_LOG:-}" 60; fi
    stack_stop_all
else
    echo "no pgTAP suites in test/pgtap/"
fi

###############################################################################
phase e2e "end-to-end scripts"
# Each script starts what it needs through stack.sh and exits 0 on pass: one count each.
# `timeout` puts the script in its own process group, out of reach of Ctrl-C: pass our
# INT/TERM on to it, so that its own trap stops what it started.
E2E_PID=
trap '[[ -n $E2E_PID ]] && kill -TERM "$E2E_PID" 2>/dev/null; exit 130' INT TERM
for script in "${E2E[@]}"; do
    echo "--- $script"
    timeout -k 30 "${NOMNOM_E2E_TIMEOUT:-900}" bash "$script" </dev/null &
    E2E_PID=$!
    if wait "$E2E_PID"; then
        passed 1
    else
        failed 1 "$script (exit $?)"
    fi
    E2E_PID=
done
if ((${#E2E[@]} == 0)); then echo "no end-to-end scripts in test/e2e/"; fi

flock -u 9
exec 9>&-
finish
