#!/usr/bin/env bash
# The whole test suite: bootstrap, build, install, a throwaway cluster, pg_regress, the docs'
# examples (test/docs), GoogleTest (ctest, then its slow suites one at a time), runtime-js's node
# tests and a short fuzz run of the parsers of untrusted text; then the same suite again in the
# hardened configuration (scripts/test-hardened.sh: an --enable-cassert PostgreSQL, our code under
# ASan + UBSan).
# Always stops the cluster. Exits non-zero on any failure.
#   PLTS_HARDENED=0   skip the hardened pass (a quicker loop while developing)
# Environment read by the hardened pass (see scripts/lib.sh for PG_CONFIG, BUILD_DIR, ...):
#   TEST_RUNTIME_JS=0         skip runtime-js's node tests (they do not touch PostgreSQL)
#   TEST_FUZZ=0               skip the fuzz run (its targets are built with sanitizers anyway)
#   TEST_HARNESS=0            skip the benchmark harness's test (test/bench/harness_test.sh)
#   SANITIZER_LOG_DIR=dir     count ASan/UBSan reports written there and assertion failures (TRAP:)
#                             in the server's output as a suite of their own
set -uo pipefail
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/bootstrap.sh" || exit 1
build_and_install || exit 1

logs="$(mktemp -d)"
trap 'cluster_stop; rm -rf "$logs"' EXIT
trap 'echo "interrupted"; exit 130' INT TERM
cluster_start "shared_preload_libraries = 'plts,stopgap'" ${PG_SERVER_CONF:+"$PG_SERVER_CONF"} || exit 1
# A hot standby of it (scripts/lib.sh): it replays everything the suites do; the standby suite runs
# on it after ctest and stops it.
standby_start || exit 1

declare -A result
passed=0 failed=0
record() {  # record NAME STATUS
  result[$1]=$2
  if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

echo "== pg_regress"
regress_out="$BUILD_DIR/regress"
rm -rf "$regress_out"; mkdir -p "$regress_out"
PG_REGRESS="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
psql -qX -c "CREATE DATABASE plts_regress" >/dev/null || exit 1
"$PG_REGRESS" --use-existing --host="$PGHOST" --port="$PGPORT" --user="$PGUSER" \
  --inputdir="$ROOT/test/regress" --outputdir="$regress_out" \
  --schedule="$ROOT/test/regress/schedule" --dbname=plts_regress | tee "$logs/regress.log"
record pg_regress "${PIPESTATUS[0]}"
[ "${result[pg_regress]}" = 0 ] || cat "$regress_out/regression.diffs" 2>/dev/null | head -200

# Every SQL and shell example of README.md and docs/*.md, a fresh database per file, with the
# outputs the docs show compared (test/docs/run_doc_examples.py), after the runner's own self-test.
# Only in the regular pass: the hardened pass has not been run with it.
docs_suite=()
if [ -z "${PLTS_HARDENED_PASS:-}" ]; then
  echo "== docs (the examples of README.md and docs/*.md)"
  (python3 "$ROOT/test/docs/selftest.py"; s=$?; python3 "$ROOT/test/docs/run_doc_examples.py" || s=1; exit "$s") 2>&1 |
    tee "$logs/docs.log"
  record docs "${PIPESTATUS[0]}"
  docs_suite=(docs)
else
  echo "== docs: skipped in the hardened pass (the regular pass runs it)"
  : >"$logs/docs.log"
fi

# The installed stopgap CLI run as a user would, against this cluster (test/cli/run_cli_tests.py);
# regular pass only, like docs.
if [ -z "${PLTS_HARDENED_PASS:-}" ]; then
  echo "== cli (the stopgap command-line tool)"
  BUILD_DIR="$BUILD_DIR" python3 "$ROOT/test/cli/run_cli_tests.py" 2>&1 | tee "$logs/cli.log"
  record cli "${PIPESTATUS[0]}"
  docs_suite+=(cli)
fi

echo "== ctest (GoogleTest)"
psql -qX -c "CREATE DATABASE plts_test" >/dev/null &&
  psql -qX -d plts_test -c "CREATE EXTENSION stopgap CASCADE" >/dev/null || exit 1
ctest_log=()  # ctest's log for the sanitizer count (output of failing tests only; reports also go to log_path files)
[ -z "${SANITIZER_LOG_DIR:-}" ] || ctest_log=(--output-log "$SANITIZER_LOG_DIR/ctest-output.log")
(cd "$BUILD_DIR" && PGDATABASE=plts_test ctest --output-on-failure -j2 --timeout 300 -LE slow "${ctest_log[@]}") | tee "$logs/ctest.log"
record ctest "${PIPESTATUS[0]}"
# The conversion matrix, unkillable code and the long-lived backend run alone: they measure time
# and memory, and a hung case is ended with kill -9 (which restarts the cluster under any other).
echo "== ctest, slow suites (one at a time)"
slow_output="${SANITIZER_LOG_DIR:-$logs}/ctest-slow-output.log"
# The stopgap reliability suites SIGKILL backends on purpose and list their pids here for cluster_crashes.
(cd "$BUILD_DIR" && PGDATABASE=plts_test PLTS_EXPECTED_KILLS="$CLUSTER_DIR/expected-kills" PLTS_FIGURES="$logs/figures" ctest --output-on-failure -j1 --timeout 1800 -L slow --output-log "$slow_output") | tee "$logs/ctest-slow.log"
record ctest-slow "${PIPESTATUS[0]}"
echo "== stopgap reliability figures (load, race, faults)"
cat "$logs/figures" 2>/dev/null || echo "(none reported)"

suites=(pg_regress "${docs_suite[@]}" ctest ctest-slow)

# plts and stopgap on the hot standby (test/pg/stopgap_standby_test.cpp, its own executable); then
# the standby is stopped and its server log checked for crashes.
echo "== standby (hot standby of the cluster)"
(cd "$BUILD_DIR" && PGDATABASE=plts_test test/pg/plts_standby_tests 2>&1) |
  tee "$logs/standby.log" ${SANITIZER_LOG_DIR:+"$SANITIZER_LOG_DIR/standby-output.log"}
standby_status="${PIPESTATUS[0]}"
standby_stop
standby_log="$(standby_crashes)"
if [ -n "$standby_log" ]; then echo "$standby_log"; echo "FAILED: the standby's server log shows a crash"; standby_status=1; fi
record standby "$standby_status"
suites+=(standby)
if [ "${TEST_RUNTIME_JS:-1}" != 0 ]; then
  echo "== runtime-js (node --test)"
  (cd "$ROOT/runtime-js" && npm test --silent) | tee "$logs/node.log"
  record runtime-js "${PIPESTATUS[0]}"
  suites+=(runtime-js)
else
  : >"$logs/node.log"
fi

# The parsers of untrusted text under libFuzzer (clang, ASan + UBSan): a fixed seed and a fixed
# number of inputs per target; scripts/fuzz.sh --long runs them longer.
if [ "${TEST_FUZZ:-1}" != 0 ]; then
  echo "== fuzz (short run)"
  "$ROOT/scripts/fuzz.sh" | tee "$logs/fuzz.log"
  record fuzz "${PIPESTATUS[0]}"
  suites+=(fuzz)
else
  : >"$logs/fuzz.log"
fi

# The benchmark harness with misbehaving peers simulated (clusters of its own; ~45 s).
if [ "${TEST_HARNESS:-1}" != 0 ]; then
  echo "== bench harness"
  bash "$ROOT/test/bench/harness_test.sh" 2>&1 | tee "$logs/harness.log"
  record harness "${PIPESTATUS[0]}"
  suites+=(harness)
else
  : >"$logs/harness.log"
fi

echo "== server log"
crashes="$(cluster_crashes)"
if [ -n "$crashes" ]; then echo "$crashes"; record server-log 1; else echo "no crash or restart"; record server-log 0; fi
suites+=(server-log single-user)

# A single-user backend (postgres --single, used for recovery) runs plts too. It has no stack base
# set by a postmaster: every call once failed with "Maximum call stack size exceeded".
echo "== single-user backend"
(cd "$CLUSTER_DIR" && as_server "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null)
single_out="$(printf '%s\n' \
  'CREATE FUNCTION single_user_probe(x int) RETURNS int LANGUAGE plts AS $$ export default (ctx) => ctx.args.x * 2 $$;' \
  'SELECT single_user_probe(21);' |
  (cd "$CLUSTER_DIR" && as_server "$PG_BINDIR/postgres" --single -D "$CLUSTER_DIR/data" plts_test) 2>&1)"
if grep -q 'single_user_probe = "42"' <<<"$single_out" && ! grep -qE 'ERROR|FATAL' <<<"$single_out"; then
  echo "ok: plts call in postgres --single"; record single-user 0
else
  echo "$single_out" | head -20; echo "FAILED: plts call in postgres --single"; record single-user 1
fi

if [ -n "${SANITIZER_LOG_DIR:-}" ]; then
  echo "== sanitizer reports and assertion failures"
  echo "$single_out" >"$logs/single-user.out"
  sanitizer_reports "$SANITIZER_LOG_DIR" "$CLUSTER_LOG" "$logs/single-user.out" ${STANDBY_LOG:+"$STANDBY_LOG"}
  record sanitizers "$?"
  suites+=(sanitizers)
fi

echo
for k in "${suites[@]}"; do
  printf '  %-12s %s\n' "$k" "$([ "${result[$k]}" = 0 ] && echo ok || echo FAILED)"
done
# Individual tests over all runners: pg_regress files, ctest cases, node tests, fuzz targets.
t_pass=0 t_fail=0
if grep -qE 'All [0-9]+ tests passed' "$logs/regress.log"; then
  t_pass=$((t_pass + $(grep -oE 'All [0-9]+ tests passed' "$logs/regress.log" | grep -oE '[0-9]+')))
elif line=$(grep -oE '[0-9]+ of [0-9]+ tests failed' "$logs/regress.log"); then
  f=$(echo "$line" | awk '{print $1}'); n=$(echo "$line" | awk '{print $3}')
  t_fail=$((t_fail + f)); t_pass=$((t_pass + n - f))
fi
for log in ctest ctest-slow; do
  if line=$(grep -oE '[0-9]+ tests failed out of [0-9]+' "$logs/$log.log"); then
    f=$(echo "$line" | awk '{print $1}'); n=$(echo "$line" | awk '{print $6}')
    t_fail=$((t_fail + f)); t_pass=$((t_pass + n - f))
  fi
done
t_pass=$((t_pass + $(grep -oE '^# pass [0-9]+' "$logs/node.log" | awk '{s+=$3} END {print s+0}')))
t_fail=$((t_fail + $(grep -oE '^# fail [0-9]+' "$logs/node.log" | awk '{s+=$3} END {print s+0}')))
t_pass=$((t_pass + $(grep -cE '^  ok ' "$logs/fuzz.log")))
t_pass=$((t_pass + $(grep -cE '^ok: ' "$logs/harness.log")))
t_fail=$((t_fail + $(grep -cE '^FAILED: ' "$logs/harness.log")))
# The doc suite: the runner's self-test cases and the examples it ran; a run without its summary
# line (a Markdown marking error, a crash) counts as one failure.
t_pass=$((t_pass + $(grep -cE '^ok ' "$logs/docs.log")))
t_fail=$((t_fail + $(grep -cE '^not ok ' "$logs/docs.log")))
if line=$(tail -1 "$logs/docs.log" | grep -oE '^doc examples: [0-9]+ run .* [0-9]+ failed$'); then
  n=$(echo "$line" | awk '{print $3}'); f=$(echo "$line" | awk '{print $(NF-1)}')
  t_fail=$((t_fail + f)); t_pass=$((t_pass + (n > f ? n - f : 0)))
elif [ "${result[docs]:-0}" != 0 ]; then
  t_fail=$((t_fail + 1))
fi
# The CLI suite (regular pass only): one line per test; a failed run without any (a crash) counts as one.
if [ -f "$logs/cli.log" ]; then
  t_pass=$((t_pass + $(grep -cE '^ok ' "$logs/cli.log")))
  t_fail=$((t_fail + $(grep -cE '^not ok ' "$logs/cli.log")))
  [ "${result[cli]:-0}" = 0 ] || grep -qE '^not ok ' "$logs/cli.log" || t_fail=$((t_fail + 1))
fi
# The standby suite's GoogleTest summary; a failure without one (no standby, a crash) counts as one.
sb_pass=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) tests?\.$/\1/p' "$logs/standby.log")
sb_fail=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) tests?, listed below:$/\1/p' "$logs/standby.log")
t_pass=$((t_pass + ${sb_pass:-0})); t_fail=$((t_fail + ${sb_fail:-0}))
[ "${result[standby]}" = 0 ] || [ "${sb_fail:-0}" != 0 ] || t_fail=$((t_fail + 1))
t_fail=$((t_fail + $(grep -cE '^  CRASH ' "$logs/fuzz.log")))
if [ "${result[single-user]}" = 0 ]; then t_pass=$((t_pass + 1)); else t_fail=$((t_fail + 1)); fi
[ "${result[sanitizers]:-0}" = 0 ] || t_fail=$((t_fail + 1))
echo "suites: $passed passed, $failed failed"
echo "tests: $t_pass passed, $t_fail failed"
echo "$passed $failed $t_pass $t_fail" >"$BUILD_DIR/test-counts"
status=0
[ "$failed" = 0 ] && [ "$t_fail" = 0 ] || status=1

if [ "${PLTS_HARDENED:-1}" != 0 ] && [ -z "${PLTS_HARDENED_PASS:-}" ]; then
  cluster_stop
  echo
  echo "==== hardened pass: cassert PostgreSQL, plts + stopgap under ASan + UBSan"
  hardened_counts="$ROOT/build-hardened/test-counts"
  rm -f "$hardened_counts"
  "$ROOT/scripts/test-hardened.sh" || status=1
  read -r h_passed h_failed h_t_pass h_t_fail <"$hardened_counts" 2>/dev/null \
    || { h_passed=0; h_failed=1; h_t_pass=0; h_t_fail=1; }
  echo
  echo "regular + hardened:"
  echo "suites: $((passed + h_passed)) passed, $((failed + h_failed)) failed"
  echo "tests: $((t_pass + h_t_pass)) passed, $((t_fail + h_t_fail)) failed"
fi
exit "$status"
