# Shared shell helpers: build + install, and a throwaway PostgreSQL cluster.
# Source it; it defines functions and variables only.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
PG_BINDIR="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The server refuses to run as root: run the cluster as Debian's postgres user then.
as_cluster_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

build_and_install() {
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$BUILD_DIR" -j"$(nproc)" -- --no-print-directory | grep -vE '^\[|^Consolidate|^-- ' || true
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "build failed" >&2; return 1; }
  as_root cmake --install "$BUILD_DIR" >/dev/null
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
  as_cluster_user "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w -t 60 start >/dev/null \
    || { cat "$CLUSTER_LOG"; return 1; }
}

cluster_stop() {
  [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ] || return 0
  as_cluster_user "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  if [ "${KEEP_CLUSTER_LOG:-}" != "" ]; then cp "$CLUSTER_LOG" "$KEEP_CLUSTER_LOG" 2>/dev/null || true; fi
  rm -rf "$CLUSTER_DIR"
  CLUSTER_DIR=""
}

# Lines of the server log that show a crashed backend or a cluster restart.
cluster_crashes() {
  grep -E 'terminated by signal|was terminated by exception|server process .* exited with exit code [^01]|all server processes terminated|PANIC' "$CLUSTER_LOG" || true
}
