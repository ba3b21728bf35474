#!/usr/bin/env bash
# libFuzzer runs of plts's parsers of untrusted text (test/fuzz), built with clang (ASan + UBSan)
# in $BUILD_DIR/fuzz, apart from the extension's own g++ build.
#
#   scripts/fuzz.sh                  short run: seed 1, a fixed number of inputs per target (the
#                                    test suite's; 15-30 s on 2 cores once built)
#   scripts/fuzz.sh --long SECONDS   every target for SECONDS (the figures in docs/TESTING.md)
#   scripts/fuzz.sh [...] TARGET...  only these targets (pointer_stub, json_text, ...)
#
# Each target starts from its committed seeds (test/fuzz/corpus/<target>) and grows a scratch
# corpus in $BUILD_DIR/fuzz/corpus/<target>; the committed seeds are never written. Exits non-zero
# when a target crashes or breaks an invariant; the input is kept in $BUILD_DIR/fuzz/crashes/.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

# Inputs per target in the short run: 3-5 s each under the sanitizers on an idle 2-core machine.
declare -A short_runs=(
  [pointer_stub]=100000 [import_map]=60000 [data_url]=30000 [base64]=60000
  [source_map]=40000 [stack_trace]=100000 [json_text]=10000 [stopgap_plan]=15000
  [stopgap_project]=30000 [stopgap_schedule]=20000
)
targets=(pointer_stub import_map data_url base64 source_map stack_trace json_text stopgap_plan stopgap_project stopgap_schedule)

long=0
seconds=0
selected=()
while [ $# -gt 0 ]; do
  case "$1" in
    --long) long=1; seconds="${2:?--long needs SECONDS}"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) [ -n "${short_runs[$1]:-}" ] || { echo "fuzz: no target $1 (${targets[*]})" >&2; exit 2; }
       selected+=("$1"); shift ;;
  esac
done
[ ${#selected[@]} -gt 0 ] && targets=("${selected[@]}")

out="$BUILD_DIR/fuzz"
cxx="${FUZZ_CXX:-$(command -v clang++-14 || command -v clang++ || true)}"
[ -n "$cxx" ] || { echo "fuzz: clang++ not found (scripts/bootstrap.sh installs clang-14)" >&2; exit 1; }
if [ ! -f "$out/CMakeCache.txt" ]; then
  echo "fuzz: configuring test/fuzz with $cxx in $out (the first build takes a minute or two)"
  cmake -S "$ROOT/test/fuzz" -B "$out" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug \
    >/dev/null || exit 1
fi
cmake --build "$out" -j"$(nproc)" -- --no-print-directory >"$out/build.log" 2>&1 ||
  { cat "$out/build.log"; echo "fuzz: build failed" >&2; exit 1; }

mkdir -p "$out/crashes" "$out/logs"
run_target() {  # run_target NAME: one libFuzzer run, its log in $out/logs/NAME.log
  local t="$1" corpus="$out/corpus/$1" args=(-seed=1 -timeout=10 -rss_limit_mb=2048
    -print_final_stats=1 "-artifact_prefix=$out/crashes/$1-")
  [ -f "$ROOT/test/fuzz/dict/$t.dict" ] && args+=("-dict=$ROOT/test/fuzz/dict/$t.dict")
  if [ "$long" = 1 ]; then
    args+=("-max_total_time=$seconds")
  else
    args+=("-runs=${short_runs[$t]}")
    rm -rf "$corpus"  # the same seeds and the same runs each time; a saved crash input replays
  fi
  mkdir -p "$corpus"
  rm -f "$out/crashes/$t-"*
  "$out/fuzz_$t" "${args[@]}" "$corpus" "$ROOT/test/fuzz/corpus/$t" >"$out/logs/$t.log" 2>&1
}

# As many targets at once as there are cores.
declare -A status
start=$SECONDS
running=()
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n; done
  run_target "$t" &
  running+=("$t:$!")
done
for entry in "${running[@]}"; do
  wait "${entry#*:}"
  status[${entry%%:*}]=$?
done

failed=0
mode="short run (seed 1)"
[ "$long" = 1 ] && mode="long run (${seconds} s per target, seed 1)"
echo "fuzz: $mode, $((SECONDS - start)) s"
printf '  %-7s %-13s %12s %9s %8s %8s\n' result target executions seconds exec/s corpus
for t in "${targets[@]}"; do
  log="$out/logs/$t.log"
  execs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | awk '{print $2}')
  secs=$(grep -oE '^Done [0-9]+ runs in [0-9]+ second' "$log" | awk '{print $5}')
  rate=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$log" | awk '{print $2}')
  corpus=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  if [ "${status[$t]}" = 0 ]; then result=ok; else result=CRASH; failed=$((failed + 1)); fi
  printf '  %-7s %-13s %12s %9s %8s %8s\n' "$result" "$t" "${execs:-?}" "${secs:-?}" "${rate:-?}" \
    "${corpus:-?}"
  if [ "$result" != ok ]; then
    grep -E 'ERROR|runtime error|invariant|escaped|rejected|SUMMARY' "$log" | head -5 | sed 's/^/      /'
    crash=$(grep -oE "Test unit written to .*" "$log" | tail -1 | sed 's/Test unit written to //')
    [ -n "$crash" ] && echo "      input: $crash (replay: $out/fuzz_$t $crash)"
    echo "      log: $log"
  fi
done
echo "fuzz: $(( ${#targets[@]} - failed )) targets ok, $failed crashed"
[ "$failed" = 0 ]
