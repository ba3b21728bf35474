#!/usr/bin/env python3
"""plts benchmarks: plts against SQL, PL/pgSQL, plv8 and pljs, measured side by side in one run.

Run it through bench/run.sh, which starts a throwaway cluster (jit = off, plts preloaded), passes its
data directory here and stops it afterwards. Only the Python standard library and psql are used.

Timing is server-side, so connection and client costs are excluded:
  * workload cases run `SELECT bench_ms(query)`: clock_timestamp() around EXECUTE in one backend;
  * single statements (first call in a fresh backend, warm call) are timed as
    `clock_timestamp() - statement_timestamp()` around a sub-select that makes the call.
Every case is repeated (median reported); variants of a case are interleaved round-robin in one
session so that drift hits them equally. Memory is read by the backend itself from
/proc/self/smaps_rollup and /proc/self/status (pg_read_file, superuser).
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import orders  # case 12 (bench/orders.py)

DB = "bench"
LANGS = ["sql", "plpgsql", "plts", "plv8", "pljs"]
PEERS = ["plv8", "pljs"]  # optional: get columns only when CREATE EXTENSION works


class PsqlError(Exception):
    pass


def psql(sql, db=DB):
    """Run a script in one fresh session; return output rows split on '|'."""
    p = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", "-"],
        input=sql, capture_output=True, text=True)
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()
        main = [l for l in err if "ERROR:" in l or "FATAL:" in l or "PANIC:" in l or "server closed" in l]
        msg = " / ".join(l.replace("psql:<stdin>:", "") for l in (main or err[-3:])) or f"psql exit {p.returncode}"
        raise PsqlError(msg)
    return [line.split("|") for line in p.stdout.splitlines() if line != ""]


def q(s):
    """Dollar-quote a string for SQL."""
    assert "$bq$" not in s
    return f"$bq${s}$bq$"


def med(xs):
    return statistics.median(xs) if xs else None


# --------------------------------------------------------------------------------------------------
# Functions under test. Each case's function exists once per language, with the same name prefix
# (b1_plpgsql, b1_plts, ...). plv8/pljs bodies follow their conventions (arguments by name).

FUNCS = {
    # case 1: int -> int, x + 1
    "b1": ("x int", "int", {
        "sql": "SELECT x + 1",
        "plpgsql": "BEGIN RETURN x + 1; END",
        "plts": "export default (ctx) => ctx.args.x + 1",
        "plts_argv": "export default (ctx) => ctx.argv[0] + 1",
        "plv8": "return x + 1;",
        "pljs": "return x + 1;",
    }),
    # case 2: int -> jsonb {"v": x}
    "b2": ("x int", "jsonb", {
        "sql": "SELECT jsonb_build_object('v', x)",
        "plpgsql": "BEGIN RETURN jsonb_build_object('v', x); END",
        "plts": "export default (ctx) => ({ v: ctx.args.x })",
        "plv8": "return { v: x };",
        "pljs": "return { v: x };",
    }),
    # case 3: one query per call
    "b3": ("x int", "int", {
        "sql": "SELECT v FROM bench_t WHERE id = x",
        "plpgsql": "DECLARE r int; BEGIN SELECT v INTO r FROM bench_t WHERE id = x; RETURN r; END",
        "plpgsql_exec": "DECLARE r int; BEGIN EXECUTE 'SELECT v FROM bench_t WHERE id = $1' INTO r USING x; RETURN r; END",
        "plts": "export default async (ctx) => (await ctx.db.query('SELECT v FROM bench_t WHERE id = $1', [ctx.args.x]))[0].v",
        "plv8": "return plv8.execute('SELECT v FROM bench_t WHERE id = $1', [x])[0].v;",
        "pljs": "return pljs.execute('SELECT v FROM bench_t WHERE id = $1', [x])[0].v;",
    }),
    # case 5: CPU-bound loop
    "b5": ("n int", "bigint", {
        "plpgsql": "DECLARE s bigint := 0; BEGIN FOR i IN 1..n LOOP s := s + i; END LOOP; RETURN s; END",
        "plts": "export default (ctx) => { const n = ctx.args.n; let s = 0; for (let i = 1; i <= n; i++) s += i; return s; }",
        "plv8": "let s = 0; for (let i = 1; i <= n; i++) s += i; return s;",
        "pljs": "let s = 0; for (let i = 1; i <= n; i++) s += i; return s;",
    }),
    # case 9: a set of 1M ints — a generator vs PL/pgSQL RETURN NEXT vs generate_series (SQL)
    "b9": ("n int", "SETOF int", {
        "sql": "SELECT generate_series(1, n)",
        "plpgsql": "BEGIN FOR i IN 1..n LOOP RETURN NEXT i; END LOOP; END",
        "plts": "export default function* (ctx) { const n = ctx.args.n; for (let i = 1; i <= n; i++) yield i; }",
        "plts_array": "export default (ctx) => { const n = ctx.args.n, a = new Array(n); for (let i = 0; i < n; i++) a[i] = i + 1; return a; }",
        "plv8": "for (let i = 1; i <= n; i++) plv8.return_next(i);",
    }),
}

# case 10: a BEFORE INSERT row trigger that changes a column, per language (table bench_trg_<v>)
TRIGGERS = {
    "plpgsql": "BEGIN NEW.v := NEW.v + 1; RETURN NEW; END",
    "plts": "export default (ctx) => { const n = ctx.trigger.new; n.v = n.v + 1; return n; }",
    "plv8": "NEW.v = NEW.v + 1; return NEW;",
}


def lang_of(variant):
    return variant.split("_")[0]


def setup_sql(langs):
    out = [
        "CREATE TABLE bench_t(id int PRIMARY KEY, v int NOT NULL);",
        "INSERT INTO bench_t SELECT i, i * 2 FROM generate_series(1, 20000) i;",
        "ANALYZE bench_t;",
        # Workload timer: one EXECUTE, timed inside the backend.
        """CREATE FUNCTION bench_ms(query text) RETURNS float8 LANGUAGE plpgsql AS $$
           DECLARE t0 timestamptz; BEGIN
             t0 := clock_timestamp(); EXECUTE query;
             RETURN extract(epoch FROM clock_timestamp() - t0) * 1000; END $$;""",
        # This backend's memory, in kB, read by the backend itself.
        r"""CREATE FUNCTION bench_mem() RETURNS jsonb LANGUAGE sql AS $$
           SELECT jsonb_object_agg(m[1], m[2]::bigint) FROM regexp_matches(
             pg_read_file('/proc/self/smaps_rollup') || pg_read_file('/proc/self/status'),
             '^(Private_Clean|Private_Dirty|Rss|Pss|RssAnon|RssFile):\s+(\d+) kB', 'gm') m $$;""",
    ]
    # case 10: inserts 100k rows into a fresh table (one with no trigger: "sql").
    out.append("""CREATE FUNCTION bench_ins(tbl text) RETURNS bigint LANGUAGE plpgsql AS $$
           DECLARE n bigint; BEGIN
             EXECUTE format('TRUNCATE %I', tbl);
             EXECUTE format('INSERT INTO %I SELECT i, i FROM generate_series(1, 100000) i', tbl);
             GET DIAGNOSTICS n = ROW_COUNT; RETURN n; END $$;""")
    out.append("CREATE TABLE bench_trg_sql(id int, v int);")
    for lang, body in TRIGGERS.items():
        if lang in langs:
            out.append(f"CREATE TABLE bench_trg_{lang}(id int, v int);")
            out.append(f"CREATE FUNCTION trg_{lang}() RETURNS trigger LANGUAGE {lang} AS {q(body)};")
            out.append(f"CREATE TRIGGER t BEFORE INSERT ON bench_trg_{lang} FOR EACH ROW "
                       f"EXECUTE FUNCTION trg_{lang}();")
    for prefix, (args, ret, bodies) in FUNCS.items():
        for variant, body in bodies.items():
            if lang_of(variant) in langs:
                out.append(f"CREATE FUNCTION {prefix}_{variant}({args}) RETURNS {ret} "
                           f"LANGUAGE {lang_of(variant)} AS {q(body)};")
    # case 9 produces 1M rows: more than plts.max_query_rows allows by default.
    out += [f"ALTER FUNCTION b9_{v}(int) SET plts.max_query_rows = 0;" for v in ("plts", "plts_array")]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Measurement primitives

def timed_workload(queries, reps):
    """queries: {variant: sql}. One session: each query once as a warm-up (its result is the
    correctness check), then `reps` interleaved rounds of bench_ms. Returns {variant: {...}}."""
    # Round i of every variant ran back to back: ratios are taken per round (see paired_ratio).
    res = {v: {"samples": [], "paired": True} for v in queries}
    live = dict(queries)
    # Warm-up + result check, per variant so one failing variant does not sink the others.
    for v, sql in queries.items():
        try:
            res[v]["result"] = psql(f"SELECT ({sql});")[0][0]
        except PsqlError as e:
            res[v]["error"] = str(e)
            del live[v]
    if not live:
        return res
    script = [f"SELECT 'warm', ({sql});" for sql in live.values()]
    for k in range(reps):
        # Every other round in reverse order, so that no variant always runs first.
        order = list(live.items()) if k % 2 == 0 else list(reversed(live.items()))
        script += [f"SELECT {q(v)}, bench_ms({q(sql)});" for v, sql in order]
    try:
        for row in psql("\n".join(script)):
            if row[0] in res:
                res[row[0]]["samples"].append(float(row[1]))
    except PsqlError as e:
        for v in live:
            res[v]["error"] = str(e)
    return res


def v8_alone(reps):
    """Case 5's plts function in V8 without PostgreSQL: node calls the same default export the same
    way (one untimed call, then `reps` timed ones). plv8 and pljs run JavaScript in an engine too,
    so this is the floor any of them could reach; node's V8 is the newer one (plv8 3.x's era)."""
    body = FUNCS["b5"][2]["plts"].replace("export default ", "", 1)
    script = (f"const f = {body};\n"
              "const ctx = { args: { n: 10000000 } };\n"
              "const out = { result: String(f(ctx)), samples: [],\n"
              "  engine: `node ${process.version} (V8 ${process.versions.v8})` };\n"
              f"for (let i = 0; i < {reps}; i++) {{\n"
              "  const t = process.hrtime.bigint(); f(ctx);\n"
              "  out.samples.push(Number(process.hrtime.bigint() - t) / 1e6);\n"
              "}\n"
              "console.log(JSON.stringify(out));\n")
    try:
        r = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        return {"absent": True}
    if r.returncode != 0:
        return {"error": r.stderr.strip()[:500]}
    return json.loads(r.stdout)


def stmt_ms(expr):
    """A statement that calls expr and returns its own server-side elapsed time in ms."""
    return (f"SELECT extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000 "
            f"FROM (SELECT ({expr}) OFFSET 0) s;")


def first_call(exprs, reps):
    """Each expr as the first statement in a fresh backend (one psql connection per sample)."""
    res = {v: {"samples": []} for v in exprs}
    for _ in range(reps):
        for v, expr in exprs.items():
            if "error" in res[v]:
                continue
            try:
                res[v]["samples"].append(float(psql(stmt_ms(expr))[0][0]))
            except PsqlError as e:
                res[v]["error"] = str(e)
    return res


def warm_call(exprs, reps):
    """Each expr called once, then `reps` more times as separate statements in the same session."""
    res = {v: {"samples": []} for v in exprs}
    live = {}
    for v, expr in exprs.items():
        try:
            psql(f"SELECT ({expr});")
            live[v] = expr
        except PsqlError as e:
            res[v]["error"] = str(e)
    script = [f"SELECT ({e});" for e in live.values()]
    for _ in range(reps):
        script += [f"SELECT {q(v)}, ms FROM ({stmt_ms(e).rstrip(';')}) t(ms);" for v, e in live.items()]
    try:
        for row in psql("\n".join(script)):
            if row[0] in res:
                res[row[0]]["samples"].append(float(row[1]))
    except PsqlError as e:
        for v in live:
            res[v]["error"] = str(e)
    return res


def memory(exprs, reps):
    """Fresh backend: read memory, make the first call, read again (kB). Median over reps."""
    res = {v: {"before": [], "after": []} for v in exprs}
    for _ in range(reps):
        for v, expr in exprs.items():
            if "error" in res[v]:
                continue
            try:
                rows = psql(f"SELECT bench_mem();\nSELECT ({expr});\nSELECT bench_mem();")
                res[v]["before"].append(json.loads(rows[0][0]))
                res[v]["after"].append(json.loads(rows[2][0]))
            except PsqlError as e:
                res[v]["error"] = str(e)
    for v, r in res.items():
        for when in ("before", "after"):
            if r[when]:
                keys = r[when][0].keys()
                r[when] = {k: med([s[k] for s in r[when]]) for k in keys}
    return res


def memory_with_neighbour(exprs, reps):
    """memory(), while another backend that made every call stays connected. A library page that
    only one process maps counts as Private_Clean, though the page cache shares it with every
    other backend that touches it; with a neighbour alive, such pages count as shared, so this is
    the per-backend cost once a server runs more than one plts backend."""
    calls = ", ".join(f"({e})" for e in exprs.values())
    psql("CREATE TABLE IF NOT EXISTS bench_release(go bool NOT NULL);\nTRUNCATE bench_release;")
    # The neighbour waits for a row, not for a cancel: pljs replaces a backend's SIGINT/SIGTERM
    # handlers, and a neighbour in pg_sleep(600) would outlive the run. Every query of the loop takes
    # a new snapshot (READ COMMITTED), so it sees the row committed after the DO began. The new
    # application_name says that every call has been made.
    hold = ("DO $$ BEGIN PERFORM set_config('application_name', 'bench neighbour: holding', false);\n"
            "WHILE clock_timestamp() < statement_timestamp() + interval '600 s'\n"
            "  AND NOT EXISTS (SELECT FROM bench_release WHERE go) LOOP PERFORM pg_sleep(0.05); END LOOP;\n"
            "END $$;")
    holder = subprocess.Popen(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB, "-c", f"SELECT {calls};", "-c", hold],
        env={**os.environ, "PGAPPNAME": "bench neighbour"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pid = None
    try:
        for _ in range(400):
            rows = psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'bench neighbour: holding';")
            if rows:
                pid = rows[0][0]
                break
            if holder.poll() is not None:
                break
            time.sleep(0.05)
        if pid is not None:
            return memory(exprs, reps)
    finally:
        stderr = release_neighbour(holder, pid)
    return {v: {"error": "the neighbour backend did not start" + (f": {stderr}" if stderr else "")}
            for v in exprs}


def release_neighbour(holder, pid):
    """Ends memory_with_neighbour's neighbour: the row it waits for, then, if it has not ended
    within 30 s, pg_terminate_backend, then a kill of its psql. Returns its psql's stderr."""
    try:
        psql("INSERT INTO bench_release VALUES (true);")
    except PsqlError as e:
        print(f"  WARNING: could not release the neighbour backend: {e}", file=sys.stderr, flush=True)
    try:
        return holder.communicate(timeout=30)[1].strip()[-500:]
    except subprocess.TimeoutExpired:
        pass
    print(f"  WARNING: the neighbour backend (pid {pid}) did not end within 30 s of its release; "
          "terminating it", file=sys.stderr, flush=True)
    try:
        if pid is not None:
            psql(f"SELECT pg_terminate_backend({pid}, 5000);")
        return holder.communicate(timeout=5)[1].strip()[-500:]
    except (PsqlError, subprocess.TimeoutExpired):
        holder.kill()
        return holder.communicate()[1].strip()[-500:]


# A fast restart waits for every backend to exit; one that ignores SIGTERM (pljs replaces the
# handlers) makes it give up after 60 s (CLUSTER_STOP_TIMEOUT), and an immediate stop and a start
# follow. The server log goes on in bench/run.sh's CLUSTER_LOG, where its cleanup looks for crashes.
RESTART_SH = r"""
source "$1"
log=(); [ -z "${CLUSTER_LOG:-}" ] || log=(-l "$CLUSTER_LOG")
t="${CLUSTER_STOP_TIMEOUT:-60}"
as_server "$PG_BINDIR/pg_ctl" -D "$2" "${log[@]}" -m fast -w -t "$t" restart -o "$3" >/dev/null && exit 0
if server_running "$2"; then
  echo "  WARNING: the fast restart did not end within $t s; stopping the server in immediate mode" >&2
  as_cluster_user "$PG_BINDIR/pg_ctl" -D "$2" -m immediate -w -t 60 stop >/dev/null
fi
as_server "$PG_BINDIR/pg_ctl" -D "$2" "${log[@]}" -w -t 60 start -o "$3" >/dev/null
"""


def restart(args, opts):
    """Restart the cluster with extra postgres options (as the cluster user, via scripts/lib.sh)."""
    subprocess.run(["bash", "-c", RESTART_SH, "_", args.libsh, args.datadir, opts], check=True)


def proc_exists(schema, name):
    return psql(f"SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                f"WHERE n.nspname = '{schema}' AND p.proname = '{name}';")[0][0] != "0"


# --------------------------------------------------------------------------------------------------
# Cases

def case_compile(reps):
    """Case 6: plts.compile_ts and plts.typecheck_ts, first call in a fresh backend and warm.
    Assumed call shape: plts.compile_ts(source text) / plts.typecheck_ts(source text)."""
    src = "export default (ctx: { args: { x: number } }): number => ctx.args.x + 1;\n"
    out = {}
    if proc_exists("plts", "compile_ts"):
        out["compile_first"] = first_call({"plts": f"plts.compile_ts({q(src)})"}, reps)["plts"]
        # Every warm compile gets a source of its own: plts keeps recent transpile results, and
        # repeating one source would time that cache instead of the compiler.
        fresh = f"plts.compile_ts({q(src)} || '// ' || clock_timestamp()::text)"
        out["compile_warm"] = warm_call({"plts": fresh}, 2 * reps + 1)["plts"]
    else:
        out["compile_first"] = out["compile_warm"] = {"absent": True}
    if proc_exists("plts", "typecheck_ts"):
        # The first typecheck of a backend parses the es2022 lib files.
        out["typecheck_first"] = first_call({"plts": f"plts.typecheck_ts({q(src)})"}, reps)["plts"]
        out["typecheck_warm"] = warm_call({"plts": f"plts.typecheck_ts({q(src)})"}, 2 * reps + 1)["plts"]
    else:
        out["typecheck_first"] = out["typecheck_warm"] = {"absent": True}
    return out


def case_deploy(reps):
    """Case 7: stopgap.deploy of 100 plts functions, and stopgap.rollback of that deployment.
    Assumed call shapes: stopgap.deploy(env, from_schema, label), stopgap.rollback(env)."""
    try:
        psql("CREATE EXTENSION IF NOT EXISTS stopgap;")
    except PsqlError:
        pass
    have_deploy = proc_exists("stopgap", "deploy")
    have_rollback = proc_exists("stopgap", "rollback")
    if not have_deploy:
        return {"deploy": {"absent": True}, "rollback": {"absent": True}}
    fns = "\n".join(
        f"CREATE OR REPLACE FUNCTION bench_src.fn{i}(args jsonb) RETURNS jsonb LANGUAGE plts AS "
        f"{q(f'export default (ctx) => ({{ fn: {i}, x: ctx.args.x }})')};" for i in range(100))
    dep, rb = {"samples": []}, ({"samples": []} if have_rollback else {"absent": True})
    # The same deploy of code never compiled before (new bodies each round): every function is
    # transpiled, type-checked, stored and loaded. The timed deploys below redeploy code stopgap
    # has compiled already (into a new environment), which finds its artifacts and checks by hash.
    new = {"samples": []}
    for r in range(reps):
        fresh = "\n".join(
            f"CREATE OR REPLACE FUNCTION bench_new.fn{i}(args jsonb) RETURNS jsonb LANGUAGE plts AS "
            f"{q(f'export default (ctx) => ({{ fn: {i}, round: {r}, pid: {os.getpid()}, x: ctx.args.x }})')};"
            for i in range(100))
        try:
            psql("CREATE SCHEMA IF NOT EXISTS bench_new;\n" + fresh)
            new["samples"].append(float(psql(
                f"SELECT bench_ms({q(f'SELECT set_config($$stopgap.live_schema$$, $$bench_new_live{r}$$, false), stopgap.deploy($$bench_new{r}$$, $$bench_new$$, $$v1$$)')});")[0][0]))
        except PsqlError as e:
            new["error"] = str(e)
            break
    for r in range(reps):
        try:
            psql("CREATE SCHEMA IF NOT EXISTS bench_src;\n" + fns)
            # A fresh environment (and live schema) each round: the timed deploy materializes 100
            # new functions.
            dep["samples"].append(float(psql(
                f"SELECT bench_ms({q(f'SELECT set_config($$stopgap.live_schema$$, $$bench_live{r}$$, false), stopgap.deploy($$bench{r}$$, $$bench_src$$, $$v1$$)')});")[0][0]))
            # A second deployment (one function changed), so that a rollback has somewhere to go.
            psql(f"CREATE OR REPLACE FUNCTION bench_src.fn0(args jsonb) RETURNS jsonb LANGUAGE plts "
                 f"AS {q('export default () => 0')};\n"
                 f"SELECT stopgap.deploy('bench{r}', 'bench_src', 'v2');")
        except PsqlError as e:
            dep["error"] = str(e)
            break
        if have_rollback and "error" not in rb:
            try:
                rb["samples"].append(float(psql(
                    f"SELECT bench_ms({q(f'SELECT stopgap.rollback($$bench{r}$$)')});")[0][0]))
            except PsqlError as e:
                rb["error"] = str(e)
    return {"deploy_new": new, "deploy": dep, "rollback": rb}


SCHED_ENV = "bench_sched"
SCHED_ROLE = "bench_sched_runner"
SCHED_FN = "bench_sched_live.jobs_empty('{}')"
SCHED_MODULE = ('import { mutation, v } from "@stopgap/runtime";\n'
                "export const empty = mutation(v.object({}), async () => ({}));\n")
# Scheduler workers of the bench database (bgw_type or application_name 'stopgap scheduler ...').
SCHED_WORKERS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                 "(backend_type LIKE 'stopgap scheduler%' OR application_name LIKE 'stopgap scheduler%');")


def sched_workers(n):
    """ALTER SYSTEM stopgap.scheduler_workers (None: reset), reload, wait until sessions see it."""
    psql("ALTER SYSTEM RESET stopgap.scheduler_workers;" if n is None
         else f"ALTER SYSTEM SET stopgap.scheduler_workers = {n};")
    psql("SELECT pg_reload_conf();")
    want = "1" if n is None else str(n)
    for _ in range(200):
        if psql("SHOW stopgap.scheduler_workers;")[0][0] == want:
            return
        time.sleep(0.05)


def sched_batch(prefix, n, limit_s):
    """Creates n one-off due jobs of the empty function in one transaction (stopgap.schedule with a
    '1 day' interval + stopgap.run_now each), then polls stopgap.job_run until every one has
    finished. Times come from the server's clock: from just after the commit to the last run's
    finished_at (wall), and from the first run's start to the last one's end (busy)."""
    t_commit = float(psql(
        "BEGIN;\n"
        f"DO $$ BEGIN FOR i IN 1..{n} LOOP\n"
        f"  PERFORM stopgap.schedule('{SCHED_ENV}', '{prefix}' || i, 'api.jobs.empty', '1 day', '{{}}',\n"
        f"                           '{{\"run_as\": \"{SCHED_ROLE}\"}}');\n"
        f"  PERFORM stopgap.run_now('{SCHED_ENV}', '{prefix}' || i);\n"
        "END LOOP; END $$;\n"
        "COMMIT;\n"
        "SELECT extract(epoch FROM clock_timestamp());\n"
        # The commit launched one worker; this starts the rest of stopgap.scheduler_workers.
        "SELECT stopgap.start_scheduler();")[0][0])
    poll = (f"SELECT count(*) FILTER (WHERE status = 'ok'), count(*) FILTER (WHERE status NOT IN ('ok', 'running')), "
            f"coalesce(extract(epoch FROM max(finished_at)), 0), coalesce(extract(epoch FROM min(started_at)), 0), "
            f"count(DISTINCT worker_pid), ({SCHED_WORKERS.rstrip(';')}) "
            f"FROM stopgap.job_run WHERE env = '{SCHED_ENV}' AND starts_with(job_name, '{prefix}');")
    deadline = time.monotonic() + limit_s
    seen = 0
    while True:
        ok, bad, last_end, first_start, pids, workers = psql(poll)[0]
        ok, bad, seen = int(ok), int(bad), max(seen, int(workers))
        if ok + bad >= n:
            break
        if time.monotonic() > deadline:
            raise PsqlError(f"{ok} of {n} runs ok, {bad} failed after {limit_s} s")
        time.sleep(0.05)
    psql(f"SELECT count(stopgap.unschedule(env, name)) FROM stopgap.job "
         f"WHERE env = '{SCHED_ENV}' AND starts_with(name, '{prefix}');")
    if bad:
        raise PsqlError(f"{bad} of {n} runs did not end ok")
    last_end, first_start = float(last_end), float(first_start)
    return {"wall_s": last_end - t_commit, "busy_s": last_end - first_start, "workers_used": int(pids),
            "workers_seen": seen}


def case_schedule(args, reps):
    """Case 11: the stopgap scheduler (needs stopgap in shared_preload_libraries: the caller
    restarts the cluster with it).
    (a) overhead per run: N one-off due jobs of an empty function run by one worker, wall time from
        the commit until all are done / N, beside one `SELECT live.fn('{}')` statement (server-side
        time, warm) and the same call in a loop of N in one statement;
    (b) claim throughput: two workers and --scheduler-jobs due jobs created in one transaction,
        runs/s from the commit to the last run's end."""
    if not proc_exists("stopgap", "schedule"):
        return {"per_run": {"absent": True}, "throughput": {"absent": True}}
    n = 500
    out = {"jobs_a": n, "jobs_b": args.scheduler_jobs}
    try:
        psql(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{SCHED_ROLE}') THEN "
             f"CREATE ROLE {SCHED_ROLE} NOLOGIN IN ROLE app_user; END IF; END $$;\n"
             f"SELECT stopgap.create_environment('{SCHED_ENV}', 'bench_sched_live');\n"
             f"SELECT stopgap.deploy_project('{SCHED_ENV}', jsonb_build_object('modules', "
             f"jsonb_build_object('jobs.ts', {q(SCHED_MODULE)})), 'v1');")
    except PsqlError as e:
        return {"per_run": {"error": str(e)}, "throughput": {"error": str(e)}}
    out["direct"] = warm_call({"direct": SCHED_FN}, args.warm_reps)["direct"]
    out["direct_loop"] = timed_workload(
        {"loop": f"SELECT count({SCHED_FN}) FROM generate_series(1, {n})"}, reps)["loop"]
    per_run, busy = {"samples": []}, {"samples": []}
    try:
        sched_workers(1)
        for r in range(reps):
            b = sched_batch(f"a{r}_", n, 300)
            out["workers_seen_a"] = max(out.get("workers_seen_a", 0), b["workers_seen"])
            per_run["samples"].append(b["wall_s"] * 1000 / n)
            busy["samples"].append(b["busy_s"] * 1000 / n)
    except PsqlError as e:
        per_run["error"] = str(e)
    out["per_run"], out["per_run_busy"] = per_run, busy
    tp = {"samples": []}
    try:
        sched_workers(2)
        # stopgap.schedule launches the workers at commit (a worker exits while no schedule exists).
        b = sched_batch("b_", args.scheduler_jobs, 1800)
        out["workers_seen"] = b["workers_seen"]
        tp["samples"].append(args.scheduler_jobs / b["wall_s"])
        out["throughput_busy"] = args.scheduler_jobs / b["busy_s"] if b["busy_s"] else None
        out["throughput_workers_used"] = b["workers_used"]
    except PsqlError as e:
        tp["error"] = str(e)
    finally:
        try:
            psql(f"SELECT count(stopgap.unschedule(env, name)) FROM stopgap.job WHERE env = '{SCHED_ENV}';")
            sched_workers(None)
        except PsqlError:
            pass
    out["throughput"] = tp
    return out


def installed_so():
    """Path, size and mtime of the installed plts.so (it can change between runs)."""
    libdir = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True).stdout.strip()
    path = os.path.join(libdir, "plts.so")
    try:
        st = os.stat(path)
    except OSError:
        return {"path": path}
    mtime = datetime.datetime.fromtimestamp(st.st_mtime).astimezone().isoformat(timespec="seconds")
    return {"path": path, "bytes": st.st_size, "mtime": mtime}


def variants_for(prefix, langs, extra=()):
    return [v for v in list(FUNCS[prefix][2]) if lang_of(v) in langs or v in extra]


# Sonames of V8 builds: a process initializes V8 once, so two languages that link the same one
# cannot share a backend (the second initialization aborts it).
V8_SONAMES = ("libnode.so", "libv8")


def needed_libs(path):
    """The NEEDED entries (sonames) of a shared library, from readelf -d; from ldd (which adds the
    libraries those need) without binutils; None when neither tells."""
    for cmd in (["readelf", "-d", path], ["ldd", path]):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError:
            continue
        if r.returncode != 0:
            return None
        if cmd[0] == "readelf":
            return {l.split("[", 1)[1].rstrip("]") for l in r.stdout.splitlines() if "(NEEDED)" in l}
        return {l.split("=>")[0].strip() for l in r.stdout.splitlines() if "=>" in l}
    return None


def peer_shares_v8(peer, libdir=None):
    """Why the peer's library (libdir/<peer>*.so) cannot be loaded beside plts.so, or None: it
    links the V8 library plts links."""
    libdir = libdir or subprocess.run(["pg_config", "--pkglibdir"], capture_output=True,
                                      text=True).stdout.strip()
    ours = {n for n in needed_libs(os.path.join(libdir, "plts.so")) or () if n.startswith(V8_SONAMES)}
    try:
        names = sorted(f for f in os.listdir(libdir) if f.startswith(peer) and f.endswith(".so"))
    except OSError:
        return None
    for f in names:
        shared = ours & (needed_libs(os.path.join(libdir, f)) or set())
        if shared:
            return f"{f} links {', '.join(sorted(shared))} like plts: one V8 per process"
    return None


def checkpointer():
    """The checkpointer's pid. A crashed backend makes the postmaster restart every other process,
    this one included; pg_postmaster_start_time() stays the same."""
    rows = psql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer';", db="postgres")
    return rows[0][0] if rows else None


def probe(sql):
    """Runs sql in a fresh session: None if it works, else (its error, whether a backend crashed).
    After a crash, returns once the server has restarted and accepts connections."""
    before = checkpointer()
    try:
        psql(sql)
        return None
    except PsqlError as e:
        err = str(e)
    crashed = "server closed the connection unexpectedly" in err
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            now = checkpointer()
        except PsqlError:
            crashed, now = True, None  # restarting: connections are refused until recovery ends
        if now is not None and (now != before or not crashed):
            return err, now != before
        time.sleep(0.1)
    return err, True


def probe_peer(peer):
    """Whether a peer language can join the run: (True, None); (False, None) when CREATE EXTENSION
    fails (not installed); (False, why) when it must be skipped: its library links plts's V8, or
    its CREATE EXTENSION, or a backend that runs it and plts, crashes or fails."""
    why = peer_shares_v8(peer)
    if why:
        return False, why
    bad = probe(f"BEGIN; SAVEPOINT s; CREATE EXTENSION {peer}; COMMIT;")
    if bad:
        return False, f"CREATE EXTENSION {peer} crashed a backend: {bad[0]}" if bad[1] else None
    fn = {lang: f"CREATE FUNCTION pg_temp.probe_{lang}(x int) RETURNS int LANGUAGE {lang} AS "
                f"{q(FUNCS['b1'][2][lang])};\nSELECT pg_temp.probe_{lang}(1);" for lang in ("plts", peer)}
    # Either engine may be the one whose start fails when the other runs already.
    for first, second in (("plts", peer), (peer, "plts")):
        bad = probe(fn[first] + "\n" + fn[second])
        if bad:
            return False, (f"{first} then {second} in one backend " + ("crashed it" if bad[1] else "failed")
                           + f": {bad[0]}")
    return True, None


def run(args):
    results = {"cases": {}, "env": {}}
    C = results["cases"]
    psql(f"DROP DATABASE IF EXISTS {DB};", db="postgres")
    psql(f"CREATE DATABASE {DB};", db="postgres")
    psql("CREATE EXTENSION plts;")
    langs = {"sql", "plpgsql", "plts"}
    skipped = {}
    for peer in PEERS:
        usable, why = probe_peer(peer)
        if usable:
            langs.add(peer)
        elif why:
            skipped[peer] = why
            print(f"  {peer} skipped: {why}", file=sys.stderr, flush=True)
    results["env"] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(), "cpus": os.cpu_count(),
        "postgres": psql("SHOW server_version;")[0][0],
        "plts": psql("SELECT plts.version();")[0][0],
        "jit": psql("SHOW jit;")[0][0],
        "git": subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse",
                               "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "peers": {p: p in langs for p in PEERS},
        "peers_skipped": skipped,
        "plts_so": installed_so(),
    }
    psql(setup_sql(langs))
    R, R_FAST = args.reps, max(args.reps, 7)

    t_start = time.monotonic()

    def log(msg):
        print(f"  [{time.monotonic() - t_start:5.1f}s] {msg}", file=sys.stderr, flush=True)

    log("case 1: sum(f(i)) over 200,000 rows, f = x + 1")
    C["1"] = timed_workload({v: f"SELECT sum(b1_{v}(i)) FROM generate_series(1, 200000) i"
                             for v in variants_for("b1", langs, ["plts_argv"])}, R_FAST)
    log("case 2: the same returning jsonb {\"v\": x}")
    C["2"] = timed_workload({v: f"SELECT count(b2_{v}(i)) FROM generate_series(1, 200000) i"
                             for v in variants_for("b2", langs)}, R_FAST)
    check = {v: psql(f"SELECT b2_{v}(41)::text;")[0][0] for v in variants_for("b2", langs)}
    for v, r in C["2"].items():
        r["check_f41"] = check[v]
    log("case 3: one query per call over 20,000 rows")
    C["3"] = timed_workload({v: f"SELECT sum(b3_{v}(i)) FROM generate_series(1, 20000) i"
                             for v in variants_for("b3", langs, ["plpgsql_exec"])}, R_FAST)
    log("case 9: SETOF int, 1,000,000 rows")
    C["9"] = timed_workload({v: f"SELECT count(*) FROM b9_{v}(1000000)"
                             for v in variants_for("b9", langs, ["plts_array"])}, R_FAST)
    log("case 10: 100,000 inserts through a BEFORE row trigger")
    C["10"] = timed_workload({v: f"SELECT bench_ins('bench_trg_{v}')"
                              for v in ["sql"] + [l for l in TRIGGERS if l in langs]}, R)
    log("case 4: first call in a fresh backend (preloaded), warm call")
    first = {"sql_plain": "1"}
    first.update({v: f"b1_{v}(1)" for v in ["plpgsql", "plts"] + [p for p in PEERS if p in langs]})
    C["4_first_preload"] = first_call(first, args.fresh_reps)
    C["4_warm"] = warm_call({v: f"b1_{v}(1)" for v in variants_for("b1", langs)}, args.warm_reps)
    log("case 5: loop sum 1..1e7, once")
    C["5"] = timed_workload({v: f"SELECT b5_{v}(10000000)" for v in variants_for("b5", langs)}, R)
    C["5"]["v8_alone"] = v8_alone(R)
    log("case 6: plts.compile_ts / plts.typecheck_ts")
    C["6"] = case_compile(R_FAST)
    log("case 7: stopgap.deploy / rollback of 100 functions")
    C["7"] = case_deploy(R)
    log("case 8: backend memory after the first call (preloaded)")
    mem_exprs = {"sql_plain": "1", "plpgsql": "b1_plpgsql(1)", "plts": "b1_plts(1)"}
    mem_exprs.update({p: f"b1_{p}(1)" for p in PEERS if p in langs})
    C["8_preload"] = {"alone": memory(mem_exprs, R), "neighbour": memory_with_neighbour(mem_exprs, R)}

    if not args.no_pgbench:
        log(f"case 12: orders through pgbench, {args.pgbench_seconds} s per run")
        psql("CREATE EXTENSION IF NOT EXISTS stopgap;")
        C["12"] = orders.run_case(psql, seconds=args.pgbench_seconds)

    if not args.no_scheduler:
        log("case 11: the stopgap scheduler (restart with shared_preload_libraries = 'plts,stopgap')")
        restart(args, "-c shared_preload_libraries=plts,stopgap")
        C["11"] = case_schedule(args, R)

    log("restarting the cluster without shared_preload_libraries")
    restart(args, "-c shared_preload_libraries=''")
    results["env"]["preload_after_restart"] = psql(
        "SELECT coalesce(nullif(current_setting('shared_preload_libraries'), ''), '(none)');")[0][0]
    log("case 4: first call in a fresh backend (not preloaded)")
    C["4_first_nopreload"] = first_call(first, args.fresh_reps)
    log("case 8: backend memory after the first call (not preloaded)")
    C["8_nopreload"] = {"alone": memory(mem_exprs, R),
                         "neighbour": memory_with_neighbour(mem_exprs, R)}
    return results


# --------------------------------------------------------------------------------------------------
# Summaries: medians, table rows, targets

def summarize(results):
    """Add 'median' to every timed result."""
    def walk(d):
        if isinstance(d, dict):
            if "samples" in d:
                d["median"] = med(d["samples"])
            for v in d.values():
                walk(v)
    walk(results["cases"])


def mem_kb(r, when, metric):
    if "error" in r or not r.get(when):
        return None
    m = r[when]
    if metric == "private":
        return m["Private_Clean"] + m["Private_Dirty"]
    return m[metric]


def rows(results):
    """Table rows: (case, what, unit, {column: value-or-status})."""
    C = results["cases"]
    peers = results["env"]["peers"]
    missing = lambda p: "skipped" if p in results["env"].get("peers_skipped", {}) else "absent"

    def cell(r):
        if r is None:
            return None
        if r.get("absent"):
            return "absent"
        if "error" in r:
            return "ERROR"
        return r.get("median")

    def row(case, what, unit, res, cols):
        d = {}
        for col, variant in cols.items():
            d[col] = cell(res.get(variant)) if variant else None
        if cols.get("plts") and cols.get("PL/pgSQL"):
            d["paired_ratio"] = paired_ratio(res.get(cols["plts"]), res.get(cols["PL/pgSQL"]))
        for p in PEERS:
            d[p] = cell(res.get(p)) if peers[p] else missing(p)
        return (case, what, unit, d)

    std = {"SQL": "sql", "PL/pgSQL": "plpgsql", "plts": "plts"}
    out = [
        row("1", "sum(f(i)) 200k rows, int x+1", "ms", C["1"], std),
        row("1'", "  same, plts reads ctx.argv[0]", "ms", C["1"], {"PL/pgSQL": "plpgsql", "plts": "plts_argv"}),
        row("2", "200k rows, jsonb {\"v\": x}", "ms", C["2"], std),
        row("3", "20k rows, 1 query/call (PL/pgSQL static)", "ms", C["3"], std),
        row("3'", "  same vs PL/pgSQL EXECUTE", "ms", C["3"], {"PL/pgSQL": "plpgsql_exec", "plts": "plts"}),
        row("9", "SETOF int, 1M rows (SQL: generate_series)", "ms", C["9"], std),
        row("9'", "  same, plts returns an array", "ms", C["9"], {"PL/pgSQL": "plpgsql", "plts": "plts_array"}),
        row("10", "100k inserts, BEFORE row trigger (SQL: none)", "ms", C["10"], std),
        row("4a", "first call, fresh backend, preload", "ms", C["4_first_preload"],
            {"SQL": "sql_plain", "PL/pgSQL": "plpgsql", "plts": "plts"}),
        row("4b", "first call, fresh backend, no preload", "ms", C["4_first_nopreload"],
            {"SQL": "sql_plain", "PL/pgSQL": "plpgsql", "plts": "plts"}),
        row("4c", "warm call (one statement)", "ms", C["4_warm"], std),
        row("5", "loop sum 1..1e7, once", "ms", C["5"], {"PL/pgSQL": "plpgsql", "plts": "plts"}),
        row("5'", "  same function in node, no PostgreSQL", "ms", C["5"], {"plts": "v8_alone"}),
    ]
    for key, what in [("compile_first", "plts.compile_ts, first in fresh backend"),
                      ("compile_warm", "plts.compile_ts, warm"),
                      ("typecheck_first", "plts.typecheck_ts, first in fresh backend"),
                      ("typecheck_warm", "plts.typecheck_ts, warm")]:
        out.append(("6", what, "ms", {"SQL": None, "PL/pgSQL": None, "plts": cell(C["6"][key]),
                                      "plv8": "n/a", "pljs": "n/a"}))
    for key, what in [("deploy_new", "stopgap.deploy, 100 functions never compiled before"),
                      ("deploy", "stopgap.deploy, 100 functions compiled before"),
                      ("rollback", "stopgap.rollback")]:
        out.append(("7", what, "ms", {"SQL": None, "PL/pgSQL": None, "plts": cell(C["7"][key]),
                                      "plv8": "n/a", "pljs": "n/a"}))
    for tag, key, label in [("8a", "8_preload", "preload"), ("8b", "8_nopreload", "no preload")]:
        for sub, mode, what in [("", "alone", f"private MB after 1st call, {label}, alone"),
                                ("'", "neighbour", "  same, beside another such backend"),
                                ("''", "delta", "  same, minus a plain backend")]:
            res = C[key]["alone" if mode == "alone" else "neighbour"]

            def memcell(variant):
                r = res.get(variant)
                if r is None:
                    return None
                if "error" in r:
                    return "ERROR"
                after = mem_kb(r, "after", "private")
                base = mem_kb(res["sql_plain"], "after", "private") if mode == "delta" else 0
                return None if after is None or base is None else (after - base) / 1024
            d = {"SQL": None if mode == "delta" else memcell("sql_plain"),
                 "PL/pgSQL": memcell("plpgsql"), "plts": memcell("plts")}
            for p in PEERS:
                d[p] = memcell(p) if peers[p] else missing(p)
            out.append((tag + sub, what, "MB", d))
    if C.get("12"):
        out += orders.rows(C["12"])
    S = C.get("11")
    if S:
        na = {"SQL": None, "PL/pgSQL": None, "plv8": "n/a", "pljs": "n/a"}
        out.append(("11a", f"scheduler run, 1 worker, {S.get('jobs_a', '?')} jobs (wall / N)", "ms",
                    {**na, "plts": cell(S.get("per_run"))}))
        out.append(("11a'", "  same, first start to last end / N", "ms", {**na, "plts": cell(S.get("per_run_busy"))}))
        out.append(("11a''", "  the function, one SELECT live.fn('{}') statement", "ms",
                    {**na, "plts": cell(S.get("direct"))}))
        out.append(("11b", f"scheduler throughput, 2 workers, {S.get('jobs_b', '?')} jobs", "runs/s",
                    {**na, "plts": cell(S.get("throughput"))}))
    return out


def scheduler_summary(results):
    """Case 11's ratio (a scheduled run against a direct call), or None when it did not run."""
    S = results["cases"].get("11")
    if not S:
        return None
    m = lambda k: (S.get(k) or {}).get("median")
    run, direct, tp = m("per_run"), m("direct"), m("throughput")
    loop = m("direct_loop")
    parts = []
    if run is not None and direct:
        parts.append(f"a scheduled run costs {run:.2f} ms = {run / direct:.1f}x one direct statement "
                     f"({direct:.3f} ms)")
        if loop:
            parts.append(f"{run / (loop / S['jobs_a']):.0f}x a call in a loop")
    if tp is not None:
        parts.append(f"throughput {tp:.0f} runs/s with 2 workers ({S.get('workers_seen', '?')} seen in "
                     f"pg_stat_activity, {S.get('throughput_workers_used', '?')} ran jobs)")
    return "; ".join(parts) if parts else "not measured (absent or error)"


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def paired_ratio(x, y):
    """Median of per-round ratios x_i / y_i for two variants of one timed workload. Round i of all
    variants runs within about a second; this VM's speed changes between phases that last longer
    (seen: PL/pgSQL's case 2 at 272 ms in one round, 465 ms two rounds later), and a ratio of
    medians would compare one variant's fast rounds with the other's slow ones."""
    if not (x and y and x.get("paired") and y.get("paired")):
        return None
    a, b = x.get("samples") or [], y.get("samples") or []
    if len(a) != len(b) or len(a) < 3 or not all(b):
        return None
    return statistics.median(p / q for p, q in zip(a, b))


def ratio(a, b, paired=None):
    if paired is not None:
        return f"{paired:.2f}x"
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return f"{a / b:.2f}x"
    return ""


def table(results, markdown=False):
    cols = ["case", "what", "unit", "SQL", "PL/pgSQL", "plts", "plts/PL/pgSQL", "plv8", "pljs"]
    body = []
    for case, what, unit, d in rows(results):
        body.append([case, what, unit, fmt(d.get("SQL")), fmt(d.get("PL/pgSQL")), fmt(d.get("plts")),
                     ratio(d.get("plts"), d.get("PL/pgSQL"), d.get("paired_ratio")),
                     fmt(d.get("plv8")), fmt(d.get("pljs"))])
    if markdown:
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        lines += ["| " + " | ".join(c.strip() or " " for c in r) + " |" for r in body]
        return "\n".join(lines)
    w = [max(len(r[i]) for r in body + [cols]) for i in range(len(cols))]
    right = set(range(3, len(cols)))
    line = lambda r: "  ".join(c.rjust(w[i]) if i in right else c.ljust(w[i]) for i, c in enumerate(r))
    return "\n".join([line(cols), "  ".join("-" * x for x in w)] + [line(r) for r in body])


def target_values(results):
    """The targets, evaluated on one run's numbers: (issue, name, value, limit, higher_is_better,
    format). Informational: the benchmark never fails on them."""
    C = results["cases"]
    m = lambda res, v: (res.get(v) or {}).get("median")
    r = lambda a, b: a / b if a is not None and b else None
    d = lambda a, b: a - b if a is not None and b is not None else None
    # Workloads: the median of per-round ratios when the rounds are paired, else medians' ratio.
    w = lambda res, a, b: paired_ratio(res.get(a), res.get(b)) or r(m(res, a), m(res, b))
    x = lambda v: f"{v:.2f}x"
    ms = lambda v: f"{v:.1f} ms"
    plus = lambda v: f"+{v:.1f} ms"

    def per_backend(key):
        n = C[key]["neighbour"]
        a, b = mem_kb(n.get("plts", {}), "after", "private"), mem_kb(n.get("sql_plain", {}), "after", "private")
        return (a - b) / 1024 if a is not None and b is not None else None

    out = [
        ("18", "case 4a first call (preload) <= plain first query + 3 ms",
         d(m(C["4_first_preload"], "plts"), m(C["4_first_preload"], "sql_plain")), 3.0, False, plus),
        ("18", "case 4b first call (no preload) <= plain first query + 25 ms",
         d(m(C["4_first_nopreload"], "plts"), m(C["4_first_nopreload"], "sql_plain")), 25.0, False, plus),
        ("18", "case 4c warm call <= 1.05x PL/pgSQL",
         r(m(C["4_warm"], "plts"), m(C["4_warm"], "plpgsql")), 1.05, False, x),
        ("18", "case 3 one query per call <= 1.3x PL/pgSQL static SQL", w(C["3"], "plts", "plpgsql"),
         1.3, False, x),
        ("18", "case 6 first compile in a fresh backend <= 40 ms", m(C["6"], "compile_first"), 40, False, ms),
        ("18", "case 6 first typecheck in a fresh backend <= 150 ms", m(C["6"], "typecheck_first"), 150,
         False, ms),
        ("18", "case 8a'' private memory per additional backend (preload) <= +1 MB",
         per_backend("8_preload"), 1.0, False, lambda v: f"+{v:.2f} MB"),
        ("18", "case 8b'' private memory per additional backend (no preload) <= +1 MB",
         per_backend("8_nopreload"), 1.0, False, lambda v: f"+{v:.2f} MB"),
    ]
    O = C.get("12")
    if O is not None:
        for mode, label in [("pooled", "pooled connections"), ("fresh", "a new connection per transaction")]:
            R = O.get(mode) or {}
            # Not a verdict when a run failed or the two functions were found to differ.
            ok = not orders.errors({mode: R, "setup": O.get("setup") or {}})
            out.append(("18", f"case 12 orders TPS, {label}, >= 0.9x PL/pgSQL",
                        R.get("ratio") if ok else None, 0.9, True, x))
    out += [
        ("7", "case 1 <= 1.2x PL/pgSQL", w(C["1"], "plts", "plpgsql"), 1.2, False, x),
        ("7", "case 2 <= PL/pgSQL jsonb_build_object", w(C["2"], "plts", "plpgsql"), 1.0, False, x),
        ("7", "case 3 <= PL/pgSQL EXECUTE", w(C["3"], "plts", "plpgsql_exec"), 1.0, False, x),
        ("13", "case 9 SETOF <= 1.5x PL/pgSQL RETURN NEXT", w(C["9"], "plts", "plpgsql"), 1.5, False, x),
        ("13", "case 10 row trigger <= 1.3x PL/pgSQL", w(C["10"], "plts", "plpgsql"), 1.3, False, x),
        ("7", "case 5 within 1.5x of plv8", w(C["5"], "plts", "plv8"), 1.5, False, x),
        ("7", "case 5 within 1.5x of V8 alone (" + C["5"].get("v8_alone", {}).get("engine", "node") + ")",
         r(m(C["5"], "plts"), m(C["5"], "v8_alone")), 1.5, False, x),
        ("7", "case 6 warm compile <= 10 ms", m(C["6"], "compile_warm"), 10, False, ms),
        ("7", "case 6 warm typecheck <= 40 ms", m(C["6"], "typecheck_warm"), 40, False, ms),
        ("15", "case 7 deploy 100 fns <= 300 ms", m(C["7"], "deploy"), 300, False, lambda v: f"{v:.0f} ms"),
        ("15", "case 7 rollback <= 50 ms", m(C["7"], "rollback"), 50, False, lambda v: f"{v:.0f} ms"),
    ]
    return out


def target_status(value, limit, higher, fmt_value):
    if value is None:
        return "not measured (absent or error)"
    ok = value >= limit if higher else value <= limit
    return ("met" if ok else "NOT met") + ": " + fmt_value(value)


def targets(results, spread=None):
    """(issue, name, status) per target; `spread`: every run's results, whose min-max is appended."""
    out = []
    all_runs = [target_values(x) for x in (spread or [])]
    for i, (issue, name, value, limit, higher, f) in enumerate(target_values(results)):
        status = target_status(value, limit, higher, f)
        vals = [t[i][2] for t in all_runs if i < len(t) and t[i][1] == name and t[i][2] is not None]
        if len(vals) > 1:
            status += f" [{len(vals)} runs: {f(min(vals))} .. {f(max(vals))}]"
        out.append((issue, name, status))
    return out


def errors(results):
    out = orders.errors(results["cases"])
    # Correctness: every variant of a workload must compute the same result.
    for case in ("1", "2", "3", "5"):
        got = {v: r.get("result") for v, r in results["cases"][case].items() if "result" in r}
        if len(set(got.values())) > 1:
            out.append((f"case {case}", f"variants disagree: {got}"))
    got = {v: r.get("check_f41") for v, r in results["cases"]["2"].items()}
    if len(set(got.values())) > 1:
        out.append(("case 2", f"f(41) differs: {got}"))
    return out


def report(results, markdown=False, runs=None):
    parts = [table(results, markdown)]
    parts.append("")
    title = "Targets, evaluated on this run" + (f" (in brackets: all {len(runs)} runs)" if runs and len(runs) > 1 else "")
    parts.append(title + (":\n" if markdown else ":"))
    parts += [(f"- issue {i}, {n}: {s}" if markdown else f"  [{i:>2}] {n:70} {s}")
              for i, n, s in targets(results, runs)]
    sched = scheduler_summary(results)
    if sched:
        parts.append(("- " if markdown else "  ") + "Scheduler (issue 17): " + sched)
    errs = [(f"run {k + 1}: {p}" if runs and len(runs) > 1 else p, e)
            for k, res in enumerate(runs or [results]) for p, e in errors(res)]
    if errs:
        parts.append("")
        parts.append("Errors:")
        parts += [f"  {p}: {e}" for p, e in errs]
    env = results["env"]
    parts.append("")
    parts.append(f"{env['plts']}; PostgreSQL {env['postgres']}; jit={env['jit']}; {env['cpus']} CPUs; "
                 f"git {env['git']}; plts.so of {env['plts_so'].get('mtime', '?')}; {env['date']}")
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datadir", required=True, help="data directory of the running bench cluster")
    ap.add_argument("--libsh", required=True, help="scripts/lib.sh (for restarting the cluster)")
    ap.add_argument("--out", required=True, help="JSON results file")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of expensive cases (median)")
    ap.add_argument("--fresh-reps", type=int, default=7, help="fresh backends per first-call variant")
    ap.add_argument("--warm-reps", type=int, default=31, help="warm single-statement calls per variant")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--runs", type=int, default=1,
                    help="run every case this many times (the table shows the first run, the targets "
                         "also the spread over all runs)")
    ap.add_argument("--no-scheduler", action="store_true", help="skip case 11 (the stopgap scheduler)")
    ap.add_argument("--no-pgbench", action="store_true", help="skip case 12 (orders through pgbench)")
    ap.add_argument("--pgbench-seconds", type=int, default=10, help="duration of each pgbench run of case 12")
    ap.add_argument("--scheduler-jobs", type=int, default=10000,
                    help="due jobs of case 11's throughput part (two workers)")
    args = ap.parse_args()
    runs = []
    for k in range(max(args.runs, 1)):
        if k > 0:
            print(f"run {k + 1} of {args.runs}", file=sys.stderr, flush=True)
            restart(args, "-c shared_preload_libraries=plts")  # a run ends without the preload
        res = run(args)
        summarize(res)
        res["table"] = [{"case": c, "what": w, "unit": u, **d} for c, w, u, d in rows(res)]
        res["targets"] = {n: s for _, n, s in targets(res)}
        runs.append(res)
    results = dict(runs[0])
    if len(runs) > 1:
        results["targets"] = {n: s for _, n, s in targets(runs[0], runs)}
        results["other_runs"] = runs[1:]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(report(runs[0], runs=runs))
    if args.markdown:
        print("\n" + report(runs[0], markdown=True, runs=runs))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
