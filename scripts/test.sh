#!/usr/bin/env bash
# The whole test suite: bootstrap, build, install, a throwaway cluster, pg_regress, GoogleTest
# (ctest) and runtime-js's node tests. Always stops the cluster. Exits non-zero on any failure.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/bootstrap.sh" || exit 1
build_and_install || exit 1

trap 'cluster_stop' EXIT
trap 'echo "interrupted"; exit 130' INT TERM
cluster_start "shared_preload_libraries = 'plts'" || exit 1

declare -A result
passed=0 failed=0
record() {  # record NAME STATUS
  result[$1]=$2
  if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

echo "== pg_regress"
regress_out="$BUILD_DIR/regress"
rm -rf "$regress_out"; mkdir -p "$regress_out"
PG_REGRESS="$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress"
psql -qX -c "CREATE DATABASE plts_regress" >/dev/null || exit 1
"$PG_REGRESS" --use-existing --host="$PGHOST" --port="$PGPORT" --user="$PGUSER" \
  --inputdir="$ROOT/test/regress" --outputdir="$regress_out" \
  --schedule="$ROOT/test/regress/schedule" --dbname=plts_regress
record pg_regress $?
[ "${result[pg_regress]}" = 0 ] || cat "$regress_out/regression.diffs" 2>/dev/null | head -200

echo "== ctest (GoogleTest)"
psql -qX -c "CREATE DATABASE plts_test" >/dev/null &&
  psql -qX -d plts_test -c "CREATE EXTENSION stopgap CASCADE" >/dev/null || exit 1
(cd "$BUILD_DIR" && PGDATABASE=plts_test ctest --output-on-failure -j2 --timeout 300)
record ctest $?

echo "== runtime-js (node --test)"
(cd "$ROOT/runtime-js" && npm test --silent)
record runtime-js $?

echo "== server log"
crashes="$(cluster_crashes)"
if [ -n "$crashes" ]; then echo "$crashes"; record server-log 1; else echo "no crash or restart"; record server-log 0; fi

echo
for k in pg_regress ctest runtime-js server-log; do
  printf '  %-12s %s\n' "$k" "$([ "${result[$k]}" = 0 ] && echo ok || echo FAILED)"
done
echo "suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
