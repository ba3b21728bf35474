#!/usr/bin/env bash
# The benchmark harness against peers that misbehave (issue 18), without the peers: plv8 and pljs are
# not installable here, so their effects are simulated.
#   - cluster_stop with a backend that ignores the fast shutdown (SIGSTOPped): an immediate stop,
#     the directory removed; with a postmaster that cannot stop (SIGSTOPped): the directory kept;
#   - bench.py's restart() with such a backend: an immediate stop and a start;
#   - bench.py's V8 check on plts.so (links libnode) and plpgsql.so (does not), its crash-detecting
#     probe on a backend that aborts, and memory_with_neighbour's release of its neighbour.
# Uses the installed plts. About 45 s, most of it waits that PostgreSQL imposes (an immediate
# shutdown SIGKILLs its children after 5 s; cluster_stop gives it 10 s).
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
export CLUSTER_STOP_TIMEOUT=2 PYTHONDONTWRITEBYTECODE=1
failed=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1"; failed=1; fi
}
# A postmaster left SIGSTOPped by an interrupted run would hold its port and memory for ever.
trap 'kill -CONT ${postmaster:-} 2>/dev/null; cluster_stop >/dev/null 2>&1' EXIT

# A client backend, in the background; its pid.
a_backend() {
  PGAPPNAME=harness psql -Xq -d postgres -c "select pg_sleep(60)" >/dev/null 2>&1 &
  local pid=""
  for _ in $(seq 100); do
    pid="$(psql -XAtq -d postgres -c "select pid from pg_stat_activity where application_name = 'harness'")"
    [ -n "$pid" ] && break
    sleep 0.05
  done
  echo "$pid"
}

echo "== cluster_stop"
cluster_start >/dev/null || exit 1
dir="$CLUSTER_DIR"
# The short CLUSTER_STOP_TIMEOUT is for the cases that freeze a process; a normal stop of a loaded
# machine may take longer than it.
err="$(CLUSTER_STOP_TIMEOUT=60 cluster_stop 2>&1)"
check "a normal stop succeeds" test $? = 0
check "  without a warning (no immediate stop)" test -z "$err"
check "  and removes the cluster directory" test ! -e "$dir"

cluster_start >/dev/null || exit 1
dir="$CLUSTER_DIR"
backend="$(a_backend)"
kill -STOP "$backend"
err="$(cluster_stop 2>&1)"
check "a backend that ignores the fast shutdown: cluster_stop succeeds" test $? = 0
check "  and says it stops in immediate mode" grep -q "immediate mode" <<<"$err"
check "  and removes the directory" test ! -e "$dir"
check "  and the backend is gone" test ! -e "/proc/$backend"

cluster_start >/dev/null || exit 1
dir="$CLUSTER_DIR"
postmaster="$(head -1 "$dir/data/postmaster.pid")"
kill -STOP "$postmaster"
err="$(cluster_stop 2>&1)"
check "a postmaster that cannot stop: cluster_stop fails" test $? = 1
check "  and warns with the data directory and the pid" grep -q "$dir/data (postmaster pid $postmaster) still runs" <<<"$err"
check "  and keeps the directory" test -d "$dir/data"
kill -CONT "$postmaster"
server_stop "$dir/data" && rm -rf "$dir"

echo "== bench.py"
cluster_start "shared_preload_libraries = 'plts'" >/dev/null || exit 1
psql -Xq -d postgres -c "create database bench" || exit 1
backend="$(a_backend)"
kill -STOP "$backend"
err="$(CLUSTER_LOG="$CLUSTER_LOG" python3 - "$ROOT" "$CLUSTER_DIR" 2>&1 <<'EOF'
import sys, types
sys.path.insert(0, sys.argv[1] + "/bench")
import bench
bench.restart(types.SimpleNamespace(libsh=sys.argv[1] + "/scripts/lib.sh", datadir=sys.argv[2] + "/data"),
              "-c shared_preload_libraries=plts")
EOF
)"
check "restart with a backend that ignores the fast shutdown: immediate stop and start" \
  grep -q "immediate mode" <<<"$err"
check "  and the server runs again" test "$(psql -XAtq -d bench -c 'select 1')" = 1
check "  and the backend is gone" test ! -e "/proc/$backend"

CLUSTER_LOG="$CLUSTER_LOG" python3 - "$ROOT" <<'EOF' || failed=1
import os, subprocess, sys, tempfile
sys.path.insert(0, sys.argv[1] + "/bench")
import bench
failed = False
def check(what, ok):
    global failed
    print(("ok: " if ok else "FAILED: ") + what)
    failed |= not ok

libdir = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True).stdout.strip()
plts_needs = bench.needed_libs(os.path.join(libdir, "plts.so"))
check("plts.so needs a libnode", any(n.startswith("libnode.so") for n in plts_needs))
check("plpgsql.so needs none", not any(n.startswith("libnode") for n in bench.needed_libs(os.path.join(libdir, "plpgsql.so"))))
# A fake library directory: plts.so, a "plv8" that is plts.so again, a "pljs" that is plpgsql.so.
with tempfile.TemporaryDirectory() as d:
    os.symlink(os.path.join(libdir, "plts.so"), os.path.join(d, "plts.so"))
    os.symlink(os.path.join(libdir, "plts.so"), os.path.join(d, "plv8-3.2.0.so"))
    os.symlink(os.path.join(libdir, "plpgsql.so"), os.path.join(d, "pljs.so"))
    why = bench.peer_shares_v8("plv8", d)
    check(f"a plv8 that links plts's libnode is refused: {why}", why is not None and "libnode" in why)
    check("a pljs that does not is not", bench.peer_shares_v8("pljs", d) is None)
check("plv8 not installed: absent, not skipped", bench.probe_peer("plv8") == (False, None))

check("probe: a working statement", bench.probe("SELECT 1;") is None)
bad = bench.probe("SELECT 1/0;")
check("probe: an error is no crash", bad is not None and bad[1] is False)
# COPY TO PROGRAM's shell is a child of the backend: it aborts the backend, like a second V8 would.
bad = bench.probe("COPY (SELECT 1) TO PROGRAM 'kill -ABRT $PPID';")
check(f"probe: an aborted backend is a crash: {bad}", bad is not None and bad[1] is True)
check("  and the server accepts connections afterwards", bench.psql("SELECT 1;") == [["1"]])

bench.psql("CREATE EXTENSION plts;\n" + bench.setup_sql({"sql", "plpgsql", "plts"}))
exprs = {"sql_plain": "1", "plts": "b1_plts(1)"}
res = bench.memory_with_neighbour(exprs, 1)
check("memory_with_neighbour measures", all("error" not in r and r["after"] for r in res.values()))
left = bench.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'bench neighbour%';")
check("  and its neighbour has ended", left == [["0"]])
sys.exit(1 if failed else 0)
EOF
crashes="$(cluster_crashes)"
check "the server log shows the one simulated crash" test "$(grep -c 'terminated by signal 6' <<<"$crashes")" = 1
cluster_stop
[ "$failed" = 0 ] && echo "harness: all passed" || echo "harness: FAILED"
exit "$failed"
