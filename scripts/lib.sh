# Shared shell helpers: build + install, and a throwaway PostgreSQL cluster.
# Source it; it defines functions and variables only.
# The environment may choose another PostgreSQL and build (scripts/test-hardened.sh does):
#   PG_CONFIG       pg_config of the PostgreSQL to build against and install into (default: on PATH)
#   PG_BINDIR       where the cluster's server programs are run from (default: PG_CONFIG --bindir)
#   BUILD_DIR       the CMake build directory (default: build/)
#   CMAKE_ARGS      extra arguments of the first CMake configure, split on spaces
#   PG_SERVER_ENV   VAR=value words (no spaces in a value) set for the server: pg_ctl start, postgres --single

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
PG_CONFIG="${PG_CONFIG:-pg_config}"
PG_BINDIR="${PG_BINDIR:-$("$PG_CONFIG" --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}"
PG_SERVER_ENV="${PG_SERVER_ENV:-}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The server refuses to run as root: run the cluster as Debian's postgres user then.
as_cluster_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A server program as the cluster user, with PG_SERVER_ENV in its environment.
as_server() {
  # shellcheck disable=SC2086 # PG_SERVER_ENV is a list of words
  as_cluster_user env $PG_SERVER_ENV "$@"
}

build_and_install() {
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    local pg=()
    [ "$PG_CONFIG" = pg_config ] || pg=(-DPG_CONFIG="$PG_CONFIG")
    # shellcheck disable=SC2086 # CMAKE_ARGS is a list of words
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${pg[@]}" ${CMAKE_ARGS:-} >/dev/null \
      || return 1
  fi
  cmake --build "$BUILD_DIR" -j"$(nproc)" -- --no-print-directory | grep -vE '^\[|^Consolidate|^-- ' || true
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "build failed" >&2; return 1; }
  as_root cmake --install "$BUILD_DIR" >/dev/null || return 1
  server_reachable
}

# The cluster user must be able to run the server. An installation inside a directory it cannot
# enter (the hardened run's PostgreSQL under .deps/ of a clone in a private mktemp dir) is copied
# where it can: PostgreSQL finds its lib/ and share/ relative to bin/, so a copy runs as it is.
server_reachable() {
  as_cluster_user test -x "$PG_BINDIR/postgres" && return 0
  PG_RUN_COPY="$(mktemp -d /tmp/plts-pg.XXXXXX)"
  chmod 755 "$PG_RUN_COPY"
  local prefix
  prefix="$(cd "$PG_BINDIR/.." && pwd)"
  cp -a "$prefix/." "$PG_RUN_COPY/" || return 1
  PG_BINDIR="$PG_RUN_COPY/bin"
  echo "server: running a copy of $prefix from $PG_RUN_COPY (the cluster user cannot reach it)"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# cluster_start [extra postgresql.conf lines...]: initdb + start; exports PGHOST PGPORT PGUSER PGDATABASE.
cluster_start() {
  CLUSTER_DIR="$(mktemp -d /tmp/plts-cluster.XXXXXX)"
  chmod 755 "$CLUSTER_DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$CLUSTER_DIR"
  export PGPORT="$(free_port)" PGHOST="$CLUSTER_DIR" PGUSER=postgres PGDATABASE=postgres
  [ "$(id -u)" = 0 ] || PGUSER="$(id -un)"
  as_cluster_user "$PG_BINDIR/initdb" -D "$CLUSTER_DIR/data" -U "$PGUSER" -A trust -E UTF8 \
    --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1 || { cat "$CLUSTER_DIR/initdb.log"; return 1; }
  {
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$CLUSTER_DIR'"
    echo "port = $PGPORT"
    echo "jit = off"
    echo "fsync = off"
    echo "max_connections = 40"
    echo "log_line_prefix = '%m [%p] '"
    for line in "$@"; do echo "$line"; done
  } | as_cluster_user tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null
  CLUSTER_LOG="$CLUSTER_DIR/server.log"
  as_server "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w -t 60 start >/dev/null \
    || { cat "$CLUSTER_LOG"; return 1; }
}

cluster_stop() {
  [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ] || return 0
  as_cluster_user "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  if [ "${KEEP_CLUSTER_LOG:-}" != "" ]; then cp "$CLUSTER_LOG" "$KEEP_CLUSTER_LOG" 2>/dev/null || true; fi
  rm -rf "$CLUSTER_DIR"
  CLUSTER_DIR=""
  if [ -n "${PG_RUN_COPY:-}" ]; then rm -rf "$PG_RUN_COPY"; PG_RUN_COPY=""; fi
}

# Lines of the server log that show a crashed backend or a cluster restart.
cluster_crashes() {
  grep -E 'terminated by signal|was terminated by exception|server process .* exited with exit code [^01]|all server processes terminated|PANIC' "$CLUSTER_LOG" || true
}

# sanitizer_reports DIR OUTPUT...: ASan/UBSan reports in DIR (their log_path files) and in the
# server's OUTPUT files, plus PostgreSQL assertion failures (TRAP:) in OUTPUT. Prints each report
# with the first frames of its stack and a count per kind; returns 1 if there is any.
sanitizer_reports() {
  local dir="$1"; shift
  local files=() f
  for f in "$dir"/* "$@"; do [ -f "$f" ] && files+=("$f"); done
  local asan ubsan trap
  asan=$(cat "${files[@]}" /dev/null | grep -cE 'ERROR: AddressSanitizer|AddressSanitizer: CHECK failed')
  ubsan=$(cat "${files[@]}" /dev/null | grep -c 'runtime error:')
  trap=$(cat "$@" /dev/null 2>/dev/null | grep -c '^TRAP:')
  for f in "${files[@]}"; do
    grep -qE 'AddressSanitizer|runtime error:|^TRAP:' "$f" || continue
    echo "--- $f"
    # A sanitizer's own log file is all report: its head. In other output: each report line and the
    # stack frames (#N ...) that follow it.
    if [ "$(dirname "$f")" = "$dir" ] && [[ "$(basename "$f")" == asan.* ]]; then head -60 "$f"; continue; fi
    awk '/AddressSanitizer|runtime error:|^TRAP:/ { print; n = 40; next }
         n > 0 && /^ +#[0-9]+ |^SUMMARY/ { print; n--; next } { n = 0 }' "$f" | head -150
  done
  echo "AddressSanitizer reports: $asan; UBSan runtime errors: $ubsan; assertion failures (TRAP): $trap"
  [ "$asan" = 0 ] && [ "$ubsan" = 0 ] && [ "$trap" = 0 ]
}
