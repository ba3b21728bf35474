#!/usr/bin/env bash
# plts benchmarks — one command, from anywhere:
#
#   bench/run.sh [--reps N] [--markdown]
#
# Starts a throwaway PostgreSQL cluster (jit = off, shared_preload_libraries = 'plts'; as the
# postgres user when run as root), runs every case of issue 7 against SQL, PL/pgSQL, plts (and plv8 /
# pljs when CREATE EXTENSION works for them), restarts the cluster without the preload for the
# cold-start and memory cases, prints a table of medians with plts/PL/pgSQL ratios and the issue's
# targets, and writes every sample to bench/results/latest.json. The cluster is stopped on every exit
# path (scripts/lib.sh's cluster_stop: in immediate mode if a backend ignores the fast shutdown; a
# cluster whose server does not stop is left in place with a warning, and the exit status is 1).
# A peer whose library links plts's libnode, or that crashes a backend beside plts, is left out
# with the reason ("skipped" in the table). It benchmarks the installed plts: build and install first
# (cmake --build build && cmake --install build). About 3 minutes on 2 cores per run (--runs N).
# --reps N: repetitions of the expensive cases (default 3; cheap cases use max(N, 5)).
# --markdown: also print the table as Markdown (for docs/PERFORMANCE.md).
# --runs N: every case N times; each target with its spread. --no-pgbench / --no-scheduler: skip
# case 12 (orders through pgbench) / case 11 (the scheduler).
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$BENCH_DIR/../scripts/lib.sh"

BENCH_PID=""
cleanup() {
  [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null || true
  if [ -n "${CLUSTER_LOG:-}" ] && [ -f "$CLUSTER_LOG" ]; then
    crashes="$(cluster_crashes)"
    if [ -n "$crashes" ]; then
      echo "WARNING: the server log shows crashed backends:" >&2
      echo "$crashes" >&2
    fi
  fi
  cluster_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster_start "shared_preload_libraries = 'plts'"
echo "bench cluster: $CLUSTER_DIR (port $PGPORT)" >&2
# In the background + wait, so that INT/TERM stop the run at once (and the trap stops the cluster).
# CLUSTER_LOG: a restart (bench.py) appends to the log the cleanup reads.
PG_BINDIR="$PG_BINDIR" CLUSTER_LOG="$CLUSTER_LOG" python3 "$BENCH_DIR/bench.py" --datadir "$CLUSTER_DIR/data" \
  --libsh "$BENCH_DIR/../scripts/lib.sh" --out "$BENCH_DIR/results/latest.json" "$@" &
BENCH_PID=$!
wait "$BENCH_PID"
BENCH_PID=""
