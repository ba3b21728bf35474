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

# cluster_stop: stops the standby and the cluster and removes the cluster's directory. A directory
# whose server still runs is left in place (removing it would not stop the server) with a warning,
# and cluster_stop returns 1.
cluster_stop() {
  [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ] || return 0
  local stopped=1
  standby_stop || stopped=0
  server_stop "$CLUSTER_DIR/data" || stopped=0
  if [ "${KEEP_CLUSTER_LOG:-}" != "" ]; then cp "$CLUSTER_LOG" "$KEEP_CLUSTER_LOG" 2>/dev/null || true; fi
  if [ "$stopped" = 0 ]; then
    echo "WARNING: $CLUSTER_DIR left in place: a server in it still runs (stop it, then remove it)" >&2
    CLUSTER_DIR="" STANDBY_DIR="" PG_RUN_COPY=""
    return 1
  fi
  rm -rf "$CLUSTER_DIR"
  CLUSTER_DIR=""
  if [ -n "${PG_RUN_COPY:-}" ]; then rm -rf "$PG_RUN_COPY"; PG_RUN_COPY=""; fi
}

# server_stop DATADIR: stops the server of DATADIR. A fast shutdown waits for every backend to
# exit, and a backend that ignores SIGTERM (pljs installs its own handlers) would keep it waiting
# for ever: after CLUSTER_STOP_TIMEOUT seconds (default 30) an immediate shutdown follows, in which
# the postmaster SIGKILLs what is left after 5 s (so it gets 10 s at least). Returns 1, with a
# warning, if the server still runs then.
server_stop() {
  local data="$1" t="${CLUSTER_STOP_TIMEOUT:-30}"
  as_cluster_user "$PG_BINDIR/pg_ctl" -D "$data" -m fast -w -t "$t" stop >/dev/null 2>&1 && return 0
  server_running "$data" || return 0
  echo "WARNING: the server of $data did not stop within $t s (fast shutdown); stopping it in immediate mode" >&2
  as_cluster_user "$PG_BINDIR/pg_ctl" -D "$data" -m immediate -w -t $((t > 10 ? t : 10)) stop >/dev/null 2>&1 \
    || true
  server_running "$data" || return 0
  echo "WARNING: the server of $data (postmaster pid $(head -1 "$data/postmaster.pid" 2>/dev/null)) still" \
    "runs after an immediate shutdown" >&2
  return 1
}

# server_running DATADIR: a live process holds DATADIR's postmaster.pid.
server_running() {
  as_cluster_user "$PG_BINDIR/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# Lines of the server log that show a crashed backend or a cluster restart.
# Tests that SIGKILL a backend on purpose (test/pg/stopgap_fault_test.cpp) append its pid to
# the file PLTS_EXPECTED_KILLS names (default $CLUSTER_DIR/expected-kills) before the signal. Such
# a kill's "server process (PID n) was terminated by signal 9" line and the "terminating any other
# active server processes" / "all server processes terminated; reinitializing" lines of the
# restart it causes are not reported; each listed pid excuses one kill, and anything else between
# the kill and the restart (another crash, a PANIC) is reported with the restart's lines.
cluster_crashes() {
  local expected="${PLTS_EXPECTED_KILLS:-${CLUSTER_DIR:-}/expected-kills}"
  [ -f "$expected" ] || expected=/dev/null
  awk -v expected="$expected" '
    BEGIN { while ((getline pid < expected) > 0) if (pid ~ /^[0-9]+$/) kills[pid]++ }
    /(server process|background worker "[^"]*") \(PID [0-9]+\) was terminated by signal 9: / {
      match($0, /PID [0-9]+/); pid = substr($0, RSTART + 4, RLENGTH - 4)
      if (kills[pid] > 0 && !restarting) { kills[pid]--; restarting = 1; next }
    }
    restarting && /terminating any other active server processes/ { next }
    restarting && /all server processes terminated; reinitializing/ { restarting = 0; next }
    /terminated by signal|was terminated by exception|server process .* exited with exit code [^01]|all server processes terminated|PANIC/ {
      print; restarting = 0
    }' "$CLUSTER_LOG"
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

# A hot standby of the cluster, for the standby suite (test/pg/stopgap_standby_test.cpp).
#
# standby_start [extra postgresql.conf lines...]: a streaming replica of the running cluster
# (cluster_start first): pg_basebackup -R over the cluster's unix socket, as the cluster user, into
# $CLUSTER_DIR/standby, with a physical replication slot (plts_standby) so the primary keeps the WAL
# it has not received however far it falls behind; its own port, the primary's socket directory, its
# log in $STANDBY_LOG. Returns once it accepts read-only connections, streams from the primary and
# has replayed everything the primary had written when it started. Exports STANDBY_PGHOST and
# STANDBY_PGPORT (connect with psql -h "$STANDBY_PGHOST" -p "$STANDBY_PGPORT").
standby_start() {
  [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ] \
    || { echo "standby_start: no cluster running (cluster_start first)" >&2; return 1; }
  [ -z "${STANDBY_DIR:-}" ] || { echo "standby_start: a standby is running already" >&2; return 1; }
  local dir="$CLUSTER_DIR/standby" port
  port="$(free_port)"
  STANDBY_LOG="$CLUSTER_DIR/standby.log"
  as_cluster_user "$PG_BINDIR/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -D "$dir" \
    -R -X stream -C -S plts_standby -c fast -N >"$CLUSTER_DIR/basebackup.log" 2>&1 \
    || { cat "$CLUSTER_DIR/basebackup.log"; return 1; }
  # The copied postgresql.conf is the primary's; later lines win.
  {
    echo "port = $port"
    echo "hot_standby = on"
    for line in "$@"; do echo "$line"; done
  } | as_cluster_user tee -a "$dir/postgresql.conf" >/dev/null
  STANDBY_DIR="$dir"
  # pg_ctl -w returns when the standby accepts (read-only) connections.
  as_server "$PG_BINDIR/pg_ctl" -D "$dir" -l "$STANDBY_LOG" -w -t 60 start >/dev/null \
    || { cat "$STANDBY_LOG"; return 1; }
  export STANDBY_PGHOST="$PGHOST" STANDBY_PGPORT="$port"
  standby_poll "select pg_is_in_recovery() and exists (select from pg_stat_wal_receiver where status = 'streaming')" 60 \
    || { echo "standby_start: the standby does not stream from the primary" >&2; cat "$STANDBY_LOG"; return 1; }
  standby_wait_replay 60 || return 1
}

# standby_poll SQL SECONDS: runs SQL (a boolean) on the standby every 20 ms until it returns true;
# fails after SECONDS.
standby_poll() {
  local deadline=$((SECONDS + $2))
  until [ "$(psql -XAtq -h "$STANDBY_PGHOST" -p "$STANDBY_PGPORT" -d postgres -c "$1" 2>/dev/null)" = t ]; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.02
  done
}

# standby_wait_replay [SECONDS]: waits until the standby has replayed the primary's WAL up to the
# primary's current write position (everything committed on the primary before the call).
standby_wait_replay() {
  local lsn
  lsn="$(psql -XAtq -d postgres -c 'select pg_current_wal_lsn()')" || return 1
  standby_poll "select pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" "${1:-60}" \
    || { echo "standby_wait_replay: the standby did not replay up to $lsn within ${1:-60} s" >&2; return 1; }
}

# standby_stop: stops the standby (if one runs) and drops its replication slot on the primary. Its
# log stays in $STANDBY_LOG until cluster_stop removes the cluster directory. If the standby does
# not stop (server_stop), returns 1 and keeps STANDBY_DIR: cluster_stop then leaves the cluster
# directory, which holds the standby's, in place.
standby_stop() {
  [ -n "${STANDBY_DIR:-}" ] || return 0
  local stopped=1
  server_stop "$STANDBY_DIR" || stopped=0
  if [ "${KEEP_STANDBY_LOG:-}" != "" ]; then cp "$STANDBY_LOG" "$KEEP_STANDBY_LOG" 2>/dev/null || true; fi
  [ "$stopped" = 1 ] || return 1
  # The slot is dropped once the primary's walsender for it has exited.
  psql -XAtq -d postgres -c "do \$\$ begin
      for i in 1..500 loop
        exit when not exists (select from pg_replication_slots where slot_name = 'plts_standby' and active);
        perform pg_sleep(0.01);
      end loop;
      perform pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = 'plts_standby';
    end \$\$" >/dev/null 2>&1 || true
  STANDBY_DIR=""
  unset STANDBY_PGHOST STANDBY_PGPORT
}

# Lines of the standby's server log that show a crashed process, a restart or a failed assertion
# (sanitizer reports are counted by sanitizer_reports). Kept apart from cluster_crashes: nothing is
# ever killed on purpose on the standby, so any of these is a failure.
standby_crashes() {
  [ -n "${STANDBY_LOG:-}" ] && [ -f "$STANDBY_LOG" ] || return 0
  grep -E 'terminated by signal|was terminated by exception|server process .* exited with exit code [^01]|all server processes terminated|PANIC|^TRAP:' "$STANDBY_LOG" || true
}
