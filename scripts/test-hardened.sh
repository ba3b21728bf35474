#!/usr/bin/env bash
# The hardened pass of the test suite (scripts/test.sh runs it after the regular one): PostgreSQL 15
# built with --enable-cassert from Debian's source package (cached in .deps/postgresql-15-cassert), plts and
# stopgap built with -fsanitize=address,undefined in build-hardened/, and the same pg_regress, ctest,
# server-log and single-user checks against a cluster of that PostgreSQL. Any AddressSanitizer
# report, UBSan runtime error or failed assertion (TRAP:) fails it.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

start=$SECONDS
pg_config_path="$("$ROOT/scripts/build-cassert-pg.sh" | tail -1)" || exit 1
[ -x "$pg_config_path" ] || { echo "hardened: no cassert PostgreSQL" >&2; exit 1; }
echo "hardened: cassert PostgreSQL ready after $((SECONDS - start)) s"
# Our install goes where that pg_config says: never into the system server's directories.
prefix="$(cd "$(dirname "$pg_config_path")/.." && pwd)"
for d in pkglibdir sharedir; do
  case "$("$pg_config_path" --$d)" in
    "$prefix"/*) ;;
    *) echo "hardened: $d of $pg_config_path is outside $prefix" >&2; exit 1 ;;
  esac
done

# Reports go to files in a directory the server (the postgres user) can write, one per process.
SANITIZER_LOG_DIR="$(mktemp -d /tmp/plts-sanitizers.XXXXXX)"
chmod 1777 "$SANITIZER_LOG_DIR"
keep="$ROOT/build-hardened/sanitizer-logs"
trap 'rm -rf "$keep"; mkdir -p "$keep"; cp -a "$SANITIZER_LOG_DIR/." "$keep/" 2>/dev/null; rm -rf "$SANITIZER_LOG_DIR"' EXIT

# The server executable is not instrumented; plts.so and stopgap.so are. The ASan runtime must be
# the first library of the process, so it is preloaded into the server (-static-libasan only links
# into executables). libstdc++ is preloaded with it: ASan resolves the real __cxa_throw when it
# starts, and postgres (C) loads libstdc++ only with plts.so; without it the first C++ throw dies in
# "CHECK failed: asan_interceptors.cpp:320 real___cxa_throw != 0". libubsan starts with them too.
preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so):libstdc++.so.6"
# detect_leaks=0: the postmaster and its backends free much by exiting, by design.
# abort_on_error=1: an ASan error aborts the backend, so the server log shows the crash too.
# handle_abort=1: an abort (a failed Assert's TRAP) prints its stack into the log.
# allocator_may_return_null=1: a malloc too large fails as in glibc (PostgreSQL reports it) rather
#   than killing the process; plts's ArrayBuffer budget tests ask for gigabytes.
# quarantine_size_mb=64: freed memory held back per process (default 256 MB) times 40 backends.
# UBSan reports and goes on (halt_on_error=0): one run shows every distinct report. Beside ASan it
# ignores log_path and writes to stderr: the server log, and ctest's full output log.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:handle_abort=1:allocator_may_return_null=1:quarantine_size_mb=64:log_path=$SANITIZER_LOG_DIR/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0"

export PG_CONFIG="$pg_config_path"
export PG_BINDIR="$("$PG_CONFIG" --bindir)"
export BUILD_DIR="$ROOT/build-hardened"
export CMAKE_ARGS="-DPLTS_SANITIZE=ON"
export PG_SERVER_ENV="LD_PRELOAD=$preload ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS"
export SANITIZER_LOG_DIR
export TEST_RUNTIME_JS=0 TEST_FUZZ=0 TEST_HARNESS=0
# ASan's frames are larger: SQL recursion through plts needs more than the default 2MB for the
# depths the limits tests expect to fit.
export PG_SERVER_CONF="max_stack_depth = '6MB'"
export PLTS_HARDENED_PASS=1
"$ROOT/scripts/test.sh"
status=$?
echo "hardened: pass took $((SECONDS - start)) s (sanitizer logs kept in $keep)"
exit "$status"
