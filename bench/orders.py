#!/usr/bin/env python3
"""Whole-application case (issue 18): an "orders" workload driven by pgbench.

Micro-cases time one call inside one backend; a pooled application sees the whole round trip:
protocol, executor, locks, WAL, the function's own SQL and its cold start in new backends. Here
each pgbench transaction is one call of a function that

  1. validates its jsonb args as `v.object({ order_id: v.int(), qty: v.int(), note: v.optional(v.string()) })`
     (strict: unknown keys are rejected), then checks 1 <= qty <= 100,
  2. reads the order row (`SELECT status, unit_cents ... FOR UPDATE`; a missing order is P0002, an
     order that is not 'open' is 55000),
  3. updates it (qty, total_cents = qty * unit_cents, note, updated_at = now()),
  4. returns jsonb `{id, status, qty, total}` (total in cents: int columns only, so plts sees plain
     numbers and both variants return byte-identical jsonb).

Two variants of that function, called by the same pgbench script:

  * plpgsql: `public.orders_plpgsql(args jsonb)`, written by hand, with the same validation as `v`
    does it: the same order of checks (object, then each key in declaration order, then unknown
    keys in JavaScript's key order), the same SQLSTATE (22023), message, DETAIL and HINT;
  * plts: `orders_src.update_order(args jsonb)`, a `mutation(...)` from `@stopgap/runtime`,
    deployed with `stopgap.deploy('orders', 'orders_src', 'bench')` and called through its live
    pointer `orders_live.update_order(args jsonb)` (the environment's live schema is created as
    `orders_live` by `stopgap.create_environment`), as application SQL calls it.

`check(psql)` runs both on the same inputs (valid ones, every kind of bad one, a missing and a
cancelled order), each call in a subtransaction that is rolled back, and compares the results, the
row each one left and the errors (SQLSTATE, message, detail, hint). A difference is an error of the
case (`results["check"]["error"]`), since the comparison is only fair if both do the same work.

Measurement (`run`): pgbench from PostgreSQL's own bin directory (package postgresql-15 on Debian;
/usr/bin/pgbench is postgresql-common's wrapper), `-n` (no vacuum), `-c clients -j clients -T
seconds`, one custom script per variant:

    \\set id random(1, <rows>)
    \\set qty random(1, 100)
    SELECT <fn>(jsonb_build_object('order_id', :id::int, 'qty', :qty::int, 'note', 'pgbench'));

  * pooled (connect_each=False): `-M prepared`. A pooled application keeps its connections and
    (through its driver's statement cache) its prepared statements: what is left per transaction is
    Bind/Execute and the function itself, which is what this case compares. Simple protocol would
    add the same parse + plan of the outer SELECT to both variants and only dilute the ratio. TPS
    is pgbench's "tps = ... (without initial connection time)": the pool's connections exist
    before the application's traffic does.
  * fresh (connect_each=True): `-C -M simple`. A new connection per transaction (no pooler): a
    prepared statement would be used once per connection and cost an extra round trip, so simple
    protocol, as such clients (PHP, scripts, serverless) send it. TPS is pgbench's "tps = ...
    (including reconnection times)": connecting and the backend's start are exactly what this mode
    is about. The per-transaction latencies of pgbench's log (-l) do NOT include connecting (pgbench
    starts a transaction's clock after its connection is made) but do include everything the first
    call in a new backend costs: PL/pgSQL compiling its function, plts creating its V8 context and
    loading the deployed module. `conn_ms` (pgbench's "average connection time") and
    `latency_avg_ms` (pgbench's "latency average", connection included) are reported too.

Each mode runs `rounds` rounds (default 2) of every variant, alternating the order per round
(plpgsql, plts / plts, plpgsql / ...) so that drift hits both; before every pgbench run the table is
vacuumed (VACUUM (ANALYZE) orders) so that each starts from the same state, and before the first
round each variant runs 1 s unrecorded (warm-up of caches and the table). TPS and p50/p95/p99 (ms,
nearest rank, from pgbench's per-transaction log) are kept per round ("samples") with their median;
`ratio` is the median of per-round plts/PL/pgSQL TPS ratios (rounds are paired in time).

A run is an error, never a low TPS: pgbench's exit status, "aborted" clients (pgbench aborts a client
on any SQL error: the run still prints a TPS and "0 failed transactions"), failed transactions,
no transaction at all, unparseable output, log lines that are not latencies, or a log with another
number of transactions than pgbench reported.

The row lock is deliberate (read-modify-write as applications write it) and costs plts more than
PL/pgSQL: plts runs every ctx.db call in a subtransaction of its own, so the FOR UPDATE lock and the
UPDATE come from two subtransactions and PostgreSQL stores a MultiXact as the row's xmax (seen in
perf: MultiXactIdCreate, GetMultiXactIdMembers); PL/pgSQL takes both in the same transaction.

Not mirrored by the PL/pgSQL variant: jsonb numbers that plts refuses to convert before `v` runs
(22003, more digits than a double holds exactly, e.g. 9007199254740993), and numbers JavaScript
prints in exponent form (|x| >= 1e21 or < 1e-6) in a DETAIL. check() covers everything else.

Only the Python standard library. `psql` is a callable like bench.py's `psql(sql)` (a script in one
fresh session, rows split on '|', raising on error). Only main() imports bench.py (for its psql),
so bench.py can `import orders` at its top. Alone, against the cluster of the PG* environment
variables (database "bench" with plts and stopgap created; shared_preload_libraries = 'plts' as
bench/run.sh starts it): `python3 bench/orders.py --seconds 5`.
"""

import glob
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

DB = "bench"
ROWS = 10000
ENV = "orders"
SRC = "orders_src"
LIVE = "orders_live"
FN = "update_order"
VARIANTS = {"plpgsql": "public.orders_plpgsql", "plts": f"{LIVE}.{FN}"}
TARGET_RATIO = 0.9

PLTS_SOURCE = """\
import { mutation, v, StopgapError } from "@stopgap/runtime";

const Args = v.object({ order_id: v.int(), qty: v.int(), note: v.optional(v.string()) });

export default mutation(Args, async ({ order_id, qty, note }, ctx) => {
  if (qty < 1 || qty > 100) throw new StopgapError("qty must be between 1 and 100", "22023", `received ${qty}`);
  const [order] = await ctx.db.query<{ status: string; unit_cents: number }>(
    "SELECT status, unit_cents FROM public.orders WHERE id = $1::bigint FOR UPDATE", [order_id]);
  if (order === undefined) throw new StopgapError(`order ${order_id} not found`, "P0002");
  if (order.status !== "open") throw new StopgapError(`order ${order_id} is ${order.status}`, "55000");
  const total = qty * order.unit_cents;
  await ctx.db.exec(
    "UPDATE public.orders SET qty = $2, total_cents = $3, note = coalesce($4, note), updated_at = now() WHERE id = $1::bigint",
    [order_id, qty, total, note ?? null]);
  return { id: order_id, status: order.status, qty, total };
});
"""

# The same function in PL/pgSQL. The fast path is inline; the helpers only build error reports.
# v's checks, mirrored (runtime-js/src/index.ts):
#   v.object   not a JSON object (also SQL NULL, which plts passes as null) -> $: expected object
#   v.int      Number.isSafeInteger: a JSON number, integral, |x| <= 2^53 - 1 (1.0 is an int)
#   v.optional(v.string())  absent is fine; null or any other non-string -> expected string
#   strict     after the declared keys: the first other key in JavaScript's order (array-index
#              keys ascending, then the rest in insertion order = jsonb's key order) -> unknown key
#   DETAIL     "the value is missing" / "received <type>" with number N, boolean B for scalars
PLPGSQL_SQL = r"""
CREATE OR REPLACE FUNCTION public.orders_v_received(val jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE coalesce(jsonb_typeof(val), 'null')
    WHEN 'number' THEN 'received number ' || trim_scale(val::numeric)::text
    WHEN 'boolean' THEN 'received boolean ' || val::text
    ELSE 'received ' || coalesce(jsonb_typeof(val), 'null') END
$$;

-- Raises what a ValidationError / StopgapError raises in plts (detail and hint may be NULL).
CREATE OR REPLACE FUNCTION public.orders_raise(code text, msg text, det text, hnt text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF det IS NOT NULL AND hnt IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg, DETAIL = det, HINT = hnt;
  ELSIF det IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg, DETAIL = det;
  ELSIF hnt IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg, HINT = hnt;
  ELSE
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg;
  END IF;
END $$;

-- A property that fails its check: "the value is missing" when absent (SQL NULL from ->).
CREATE OR REPLACE FUNCTION public.orders_v_fail(key text, expected text, val jsonb) RETURNS void
LANGUAGE sql AS $$
  SELECT public.orders_raise('22023', 'stopgap args validation failed at $.' || key || ': expected ' || expected,
    CASE WHEN val IS NULL THEN 'the value is missing' ELSE public.orders_v_received(val) END, NULL)
$$;

-- The first key of args that is not allowed, in JavaScript's property order.
CREATE OR REPLACE FUNCTION public.orders_v_unknown(args jsonb, allowed text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE k text;
BEGIN
  SELECT t.k INTO k FROM jsonb_object_keys(args) WITH ORDINALITY AS t(k, i)
   WHERE t.k <> ALL (allowed)
   ORDER BY CASE WHEN t.k ~ '^(0|[1-9][0-9]{0,9})$' THEN t.k::bigint < 4294967295 ELSE false END DESC,
            CASE WHEN t.k ~ '^(0|[1-9][0-9]{0,9})$' THEN t.k::bigint END, t.i
   LIMIT 1;
  PERFORM public.orders_raise('22023', 'stopgap args validation failed at '
    || CASE WHEN k ~ '^[A-Za-z_$][A-Za-z0-9_$]*$' THEN '$.' || k ELSE '$[' || to_jsonb(k)::text || ']' END
    || ': unknown key', NULL, 'allowed keys: ' || array_to_string(allowed, ', '));
END $$;

CREATE OR REPLACE FUNCTION public.orders_plpgsql(args jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  a jsonb;
  n numeric;
  p_id bigint;
  n_qty numeric;
  p_qty int;
  p_note text;
  o_status text;
  o_unit int;
  v_total int;
BEGIN
  -- v.object({ order_id: v.int(), qty: v.int(), note: v.optional(v.string()) })
  IF jsonb_typeof(args) IS DISTINCT FROM 'object' THEN
    PERFORM public.orders_raise('22023', 'stopgap args validation failed at $: expected object',
                                public.orders_v_received(args), NULL);
  END IF;
  a := args -> 'order_id';
  IF jsonb_typeof(a) IS DISTINCT FROM 'number' THEN
    PERFORM public.orders_v_fail('order_id', 'int', a);
  END IF;
  n := a::numeric;
  IF n <> trunc(n) OR abs(n) > 9007199254740991 THEN
    PERFORM public.orders_v_fail('order_id', 'int', a);
  END IF;
  p_id := n;
  a := args -> 'qty';
  IF jsonb_typeof(a) IS DISTINCT FROM 'number' THEN
    PERFORM public.orders_v_fail('qty', 'int', a);
  END IF;
  n_qty := a::numeric;
  IF n_qty <> trunc(n_qty) OR abs(n_qty) > 9007199254740991 THEN
    PERFORM public.orders_v_fail('qty', 'int', a);
  END IF;
  a := args -> 'note';
  IF a IS NOT NULL THEN
    IF jsonb_typeof(a) <> 'string' THEN
      PERFORM public.orders_v_fail('note', 'string', a);
    END IF;
    p_note := a #>> '{}';
  END IF;
  IF args - '{order_id,qty,note}'::text[] <> '{}'::jsonb THEN
    PERFORM public.orders_v_unknown(args, '{order_id,qty,note}');
  END IF;
  -- the handler
  IF n_qty < 1 OR n_qty > 100 THEN
    PERFORM public.orders_raise('22023', 'qty must be between 1 and 100', 'received ' || trim_scale(n_qty)::text, NULL);
  END IF;
  p_qty := n_qty;
  SELECT status, unit_cents INTO o_status, o_unit FROM public.orders WHERE id = p_id FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM public.orders_raise('P0002', 'order ' || p_id || ' not found', NULL, NULL);
  END IF;
  IF o_status <> 'open' THEN
    PERFORM public.orders_raise('55000', 'order ' || p_id || ' is ' || o_status, NULL, NULL);
  END IF;
  v_total := p_qty * o_unit;
  UPDATE public.orders SET qty = p_qty, total_cents = v_total, note = coalesce(p_note, note), updated_at = now()
   WHERE id = p_id;
  RETURN jsonb_build_object('id', p_id, 'status', o_status, 'qty', p_qty, 'total', v_total);
END $$;

-- check(): one call in a subtransaction that is always rolled back; its result or its error, and
-- the row it left (without updated_at, with whether updated_at is now()).
CREATE OR REPLACE FUNCTION public.orders_try(fn text, args jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  res jsonb; st jsonb; e_state text; e_msg text; e_det text; e_hint text;
BEGIN
  BEGIN
    EXECUTE format('SELECT %s($1)', fn) INTO res USING args;
    SELECT to_jsonb(o) - 'updated_at' || jsonb_build_object('touched', o.updated_at = now()) INTO st
      FROM public.orders o WHERE o.id = (res ->> 'id')::bigint;
    RAISE EXCEPTION USING ERRCODE = 'ZX001', MESSAGE = 'orders_try: roll back';
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                            e_det = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  END;
  IF e_state = 'ZX001' THEN
    RETURN jsonb_build_object('result', res, 'row', st);
  END IF;
  RETURN jsonb_build_object('error', jsonb_build_object('sqlstate', e_state, 'message', e_msg,
                                                        'detail', e_det, 'hint', e_hint));
END $$;
"""

# Inputs of check(): (what, args jsonb text or None for SQL NULL). {cancelled} is the order that is
# not 'open', {missing} one that does not exist.
CHECK_INPUTS = [
    ("valid", '{"order_id": 17, "qty": 3}'),
    ("valid, note", '{"order_id": 17, "qty": 3, "note": "gift"}'),
    ("valid, 17.0 and qty 100", '{"order_id": 17.0, "qty": 100}'),
    ("valid, 1.5e3", '{"order_id": 1.5e3, "qty": 1.0, "note": ""}'),
    ("qty 0", '{"order_id": 17, "qty": 0}'),
    ("qty 101", '{"order_id": 17, "qty": 101}'),
    ("qty -3", '{"order_id": 17, "qty": -3}'),
    ("qty 2.5", '{"order_id": 17, "qty": 2.5}'),
    ("qty -0.001", '{"order_id": 17, "qty": -1e-3}'),
    ("qty true", '{"order_id": 17, "qty": true}'),
    ("qty null", '{"order_id": 17, "qty": null}'),
    ("qty missing", '{"order_id": 17}'),
    ("order_id string", '{"order_id": "17", "qty": 1}'),
    ("order_id missing", '{"qty": 1}'),
    ("order_id 1e20", '{"order_id": 1e20, "qty": 1}'),
    ("order_id 2^53", '{"order_id": 9007199254740992, "qty": 1}'),
    ("order_id object", '{"order_id": {"a": 1}, "qty": 1}'),
    ("order_id array, qty bad too", '{"order_id": [17], "qty": "x"}'),
    ("note null", '{"order_id": 17, "qty": 1, "note": null}'),
    ("note number", '{"order_id": 17, "qty": 1, "note": 5}'),
    ("note array", '{"order_id": 17, "qty": 1, "note": ["a"]}'),
    ("unknown key", '{"order_id": 17, "qty": 1, "extra": 1}'),
    ("unknown keys, index key first", '{"order_id": 17, "qty": 1, "zz": 1, "100": 1, "odd key": 2}'),
    ("unknown key, odd name", '{"order_id": 17, "qty": 1, "odd \\"key\\"\\n": 1}'),
    ("unknown key before bad qty", '{"order_id": 17, "qty": 1000, "extra": 1}'),
    ("bad note before unknown key", '{"order_id": 17, "qty": 1, "note": 1, "extra": 1}'),
    ("array", '[1, 2]'),
    ("string", '"x"'),
    ("number", '42'),
    ("jsonb null", 'null'),
    ("SQL NULL", None),
    ("empty object", '{}'),
    ("order 0", '{"order_id": -0, "qty": 1}'),
    ("missing order", '{"order_id": {missing}, "qty": 1}'),
    ("big missing order", '{"order_id": 1099511627776, "qty": 1}'),
    ("cancelled order", '{"order_id": {cancelled}, "qty": 1}'),
]


def _q(s):
    """Dollar-quote a string for SQL."""
    assert "$oq$" not in s
    return f"$oq${s}$oq$"


def _first_error(e):
    return str(e).strip() or type(e).__name__


# --------------------------------------------------------------------------------------------------
# Setup and the equivalence check

def setup(psql, rows=ROWS):
    """Creates (again) the orders table with `rows` open orders (+ one cancelled order, id rows + 1,
    for check()), the PL/pgSQL function and the plts deployment of environment 'orders', then runs
    check(). Returns {"rows", "check", "deployment"} or {"error"} (never raises)."""
    out = {"rows": rows}
    data = f"""
DROP TABLE IF EXISTS public.orders;
CREATE TABLE public.orders(
  id int PRIMARY KEY,
  customer_id int NOT NULL,
  status text NOT NULL,
  qty int NOT NULL,
  unit_cents int NOT NULL,
  total_cents int NOT NULL,
  note text,
  updated_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 80);
INSERT INTO public.orders(id, customer_id, status, qty, unit_cents, total_cents)
  SELECT i, 1 + i % 997, 'open', 1 + i % 5, 100 + (i * 37) % 9900, (1 + i % 5) * (100 + (i * 37) % 9900)
  FROM generate_series(1, {rows}) i;
INSERT INTO public.orders(id, customer_id, status, qty, unit_cents, total_cents)
  VALUES ({rows + 1}, 1, 'cancelled', 1, 100, 100);
VACUUM (ANALYZE) public.orders;
"""
    deploy = f"""
CREATE SCHEMA IF NOT EXISTS {SRC};
CREATE OR REPLACE FUNCTION {SRC}.{FN}(args jsonb) RETURNS jsonb LANGUAGE plts AS {_q(PLTS_SOURCE)};
SELECT stopgap.create_environment('{ENV}', '{LIVE}')
  WHERE NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = '{LIVE}');
SELECT stopgap.deploy('{ENV}', '{SRC}', 'bench');
"""
    try:
        psql(data)
        psql(PLPGSQL_SQL)
        rows_ = psql(deploy)
        out["deployment"] = int(rows_[-1][0])
        # The live function must be the pointer stub stopgap wrote, not a copy of the source.
        stub = psql(f"SELECT prosrc FROM pg_proc WHERE oid = '{LIVE}.{FN}(jsonb)'::regprocedure;")[0][0]
        if '"kind":"artifact_ptr"' not in stub.replace(" ", ""):
            raise RuntimeError(f"{LIVE}.{FN} is not a stopgap pointer stub: {stub[:120]}")
    except Exception as e:  # bench.py's PsqlError and anything else: an error of the case
        out["error"] = f"setup: {_first_error(e)}"
        return out
    out["check"] = check(psql, rows)
    return out


def check(psql, rows=ROWS):
    """Both variants on CHECK_INPUTS: the same result and row, or the same error (SQLSTATE, message,
    detail, hint). Returns {"cases", "same", "mismatches": [...], "error"?}."""
    res = {"cases": len(CHECK_INPUTS), "same": 0, "mismatches": []}
    script = []
    for i, (what, args) in enumerate(CHECK_INPUTS):
        if args is not None:
            args = args.replace("{missing}", str(rows + 100)).replace("{cancelled}", str(rows + 1))
        arg = "NULL::jsonb" if args is None else f"{_q(args)}::jsonb"
        for v, fn in VARIANTS.items():
            script.append(f"SELECT {i}, '{v}', public.orders_try('{fn}', {arg})::text;")
    try:
        out = psql("\n".join(script))
    except Exception as e:
        res["error"] = f"check: {_first_error(e)}"
        return res
    got = {}
    for row in out:
        # The jsonb text may itself contain '|': rejoin what the split cut.
        got.setdefault(int(row[0]), {})[row[1]] = "|".join(row[2:])
    ok_calls = 0
    for i, (what, _) in enumerate(CHECK_INPUTS):
        a, b = got.get(i, {}).get("plpgsql"), got.get(i, {}).get("plts")
        if a is not None and a == b:
            res["same"] += 1
            ok_calls += '"result"' in a
        else:
            res["mismatches"].append({"input": what, "plpgsql": a, "plts": b})
    res["valid_inputs"] = ok_calls
    if res["mismatches"]:
        m = res["mismatches"][0]
        res["error"] = (f"check: PL/pgSQL and plts differ on {len(res['mismatches'])} of {res['cases']} "
                        f"inputs; first: {m['input']}: plpgsql {m['plpgsql']} / plts {m['plts']}")
    elif ok_calls == 0:
        res["error"] = "check: no input succeeded"
    return res


# --------------------------------------------------------------------------------------------------
# pgbench

def pgbench_path():
    """pgbench of the server's own installation: $PG_BINDIR (bench/run.sh exports it), then
    pg_config --bindir, then PATH (Debian's /usr/bin/pgbench is postgresql-common's wrapper)."""
    cands = []
    if os.environ.get("PG_BINDIR"):
        cands.append(os.path.join(os.environ["PG_BINDIR"], "pgbench"))
    try:
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        if bindir:
            cands.append(os.path.join(bindir, "pgbench"))
    except OSError:
        pass
    cands.append("/usr/lib/postgresql/15/bin/pgbench")
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    return shutil.which("pgbench")


def script_for(fn, rows):
    return (f"\\set id random(1, {rows})\n"
            "\\set qty random(1, 100)\n"
            f"SELECT {fn}(jsonb_build_object('order_id', :id::int, 'qty', :qty::int, 'note', 'pgbench'));\n")


_NUM = r"([0-9]+(?:\.[0-9]+)?)"


def parse_output(stdout, stderr, rc, connect_each=False):
    """pgbench's summary -> {"tps", "tps_kind", "processed", "failed", "latency_avg_ms", "conn_ms"}
    or {"error": ...}. A run that aborted or failed anything is an error. The TPS line: pgbench
    14+ prints one, "(without initial connection time)" or, under -C, "(including reconnection
    times)"; older ones print "including" and "excluding connections establishing": the excluding
    one is taken for a pooled run, the including one under -C."""
    out = {}
    tps = re.findall(r"^tps = " + _NUM + r" \(([^)]*)\)", stdout, re.M)
    if tps:
        want = "includ" if connect_each else "without|exclud"
        pick = [t for t in tps if re.search(want, t[1])] or tps
        out["tps"], out["tps_kind"] = float(pick[0][0]), pick[0][1]
    m = re.search(r"^number of transactions actually processed: ([0-9]+)", stdout, re.M)
    if m:
        out["processed"] = int(m.group(1))
    m = re.search(r"^number of failed transactions: ([0-9]+)", stdout, re.M)
    if m:
        out["failed"] = int(m.group(1))
    m = re.search(r"^latency average = " + _NUM + " ms", stdout, re.M)
    if m:
        out["latency_avg_ms"] = float(m.group(1))
    m = re.search(r"^(?:average|initial) connection time = " + _NUM + " ms", stdout, re.M)
    if m:
        out["conn_ms"] = float(m.group(1))
    problems = []
    errlines = [l for l in stderr.splitlines() if l.strip()]
    aborted = [l for l in errlines if "aborted" in l or "error:" in l or "ERROR" in l or "FATAL" in l]
    if rc != 0:
        problems.append(f"pgbench exit status {rc}")
    if aborted:
        problems.append(f"{len(aborted)} error line(s), first: {aborted[0].strip()}")
    if out.get("failed"):
        problems.append(f"{out['failed']} failed transactions")
    if "tps" not in out or "processed" not in out:
        problems.append("no tps / transaction count in pgbench's output")
    elif out["processed"] == 0:
        problems.append("no transaction processed")
    if problems:
        tail = " | ".join(errlines[-2:]) if errlines and not aborted else ""
        out["error"] = "; ".join(problems) + (f" ({tail})" if tail else "")
    return out


def percentile(sorted_xs, p):
    """Nearest rank."""
    if not sorted_xs:
        return None
    k = max(1, math.ceil(p / 100 * len(sorted_xs)))
    return sorted_xs[k - 1]


def read_logs(prefix):
    """pgbench -l files (prefix.<pid>[.<thread>]): latencies in ms, sorted, and lines that are not
    a latency (pgbench writes 'failed' or 'skipped' there)."""
    lat, bad = [], []
    for path in sorted(glob.glob(prefix + ".*")):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                try:
                    lat.append(int(parts[2]) / 1000.0)
                except ValueError:
                    bad.append(line.strip())
    lat.sort()
    return lat, bad


def pgbench_once(variant, seconds, clients, connect_each, protocol, rows, db, tmpdir, log=True):
    """One pgbench run of one variant. Returns the parsed summary with p50/p95/p99 (ms)."""
    exe = pgbench_path()
    if not exe:
        return {"error": "pgbench not found (Debian: package postgresql-15)"}
    script = os.path.join(tmpdir, f"{variant}.sql")
    with open(script, "w") as f:
        f.write(script_for(VARIANTS[variant], rows))
    prefix = os.path.join(tmpdir, f"log_{variant}")
    for old in glob.glob(prefix + ".*"):
        os.remove(old)
    cmd = [exe, "-n", "-c", str(clients), "-j", str(clients), "-T", str(seconds), "-M", protocol,
           "-f", script]
    if connect_each:
        cmd.append("-C")
    if log:
        cmd += ["-l", f"--log-prefix={prefix}"]
    cmd.append(db)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmpdir, timeout=seconds * 3 + 120)
    except subprocess.TimeoutExpired:
        return {"error": f"pgbench did not end within {seconds * 3 + 120} s"}
    res = parse_output(p.stdout, p.stderr, p.returncode, connect_each)
    if not log:
        return res
    lat, bad = read_logs(prefix)
    for old in glob.glob(prefix + ".*"):
        os.remove(old)
    res["logged"] = len(lat)
    if bad:
        res["error"] = (res.get("error", "") + "; " if "error" in res else "") + \
            f"{len(bad)} transactions logged as {bad[0].split()[2] if len(bad[0].split()) > 2 else bad[0]!r}"
    elif "error" not in res and len(lat) != res.get("processed"):
        res["error"] = f"pgbench reported {res.get('processed')} transactions, its log has {len(lat)}"
    if lat:
        res.update({"p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99),
                    "max": lat[-1]})
    return res


METRICS = ["tps", "p50", "p95", "p99", "latency_avg_ms", "conn_ms"]


def run(psql, seconds=10, clients=2, connect_each=False, rounds=2, rows=ROWS, db=DB, protocol=None,
        warmup=1):
    """pgbench of both variants, `rounds` rounds in alternating order (see the module's docstring).
    Returns {"mode", "protocol", "seconds", "clients", "rounds", "rows", "pgbench",
             "plpgsql": {...}, "plts": {...}, "ratio", "ratio_rounds", "ratio_of_medians"}
    where each variant has {"tps", "p50", "p95", "p99", "latency_avg_ms", "conn_ms"} each as
    {"samples": [per round], "median"}, the raw per-round summaries in "runs", and "error" when any
    run failed (its samples are then left out)."""
    protocol = protocol or ("simple" if connect_each else "prepared")
    out = {"mode": "fresh" if connect_each else "pooled", "protocol": protocol, "seconds": seconds,
           "clients": clients, "rounds": rounds, "rows": rows, "pgbench": pgbench_path()}
    V = {v: {m: {"samples": []} for m in METRICS} for v in VARIANTS}
    for v in V:
        V[v]["runs"] = []
    tmpdir = tempfile.mkdtemp(prefix="bench-orders.")
    try:
        names = list(VARIANTS)
        if warmup:
            for v in names:
                w = pgbench_once(v, warmup, clients, connect_each, protocol, rows, db, tmpdir, log=False)
                if "error" in w:
                    V[v]["error"] = f"warm-up: {w['error']}"
        per_round = {v: [] for v in names}
        for r in range(rounds):
            order = names if r % 2 == 0 else list(reversed(names))
            for v in order:
                if "error" in V[v]:
                    per_round[v].append(None)
                    continue
                try:
                    psql("VACUUM (ANALYZE) public.orders;")
                except Exception as e:
                    V[v]["error"] = f"round {r + 1}: VACUUM: {_first_error(e)}"
                    per_round[v].append(None)
                    continue
                res = pgbench_once(v, seconds, clients, connect_each, protocol, rows, db, tmpdir)
                res["round"] = r + 1
                V[v]["runs"].append(res)
                if "error" in res:
                    V[v]["error"] = f"round {r + 1}: {res['error']}"
                    per_round[v].append(None)
                    continue
                for m in METRICS:
                    if res.get(m) is not None:
                        V[v][m]["samples"].append(res[m])
                per_round[v].append(res["tps"])
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    for v in V:
        for m in METRICS:
            V[v][m]["median"] = statistics.median(V[v][m]["samples"]) if V[v][m]["samples"] else None
    out.update(V)
    pairs = [a / b for a, b in zip(per_round["plts"], per_round["plpgsql"]) if a is not None and b]
    out["ratio_rounds"] = pairs
    out["ratio"] = statistics.median(pairs) if pairs and not any("error" in V[v] for v in V) else None
    a, b = V["plts"]["tps"]["median"], V["plpgsql"]["tps"]["median"]
    out["ratio_of_medians"] = a / b if a is not None and b else None
    return out


def run_case(psql, seconds=10, clients=2, rounds=2, rows=ROWS, db=DB, modes=("pooled", "fresh")):
    """setup + check, then pooled and fresh-connection runs in one go: the dict rows() and target()
    read ({"setup", "pooled", "fresh"})."""
    results = {"setup": setup(psql, rows)}
    if "error" in results["setup"]:
        return results
    for mode in modes:
        results[mode] = run(psql, seconds, clients, connect_each=(mode == "fresh"), rounds=rounds,
                            rows=rows, db=db)
    return results


# --------------------------------------------------------------------------------------------------
# Table rows and the target, in bench.py's format

def _modes(results):
    if "mode" in results:  # one run() result
        return {results["mode"]: results}
    return {m: results[m] for m in ("pooled", "fresh") if isinstance(results.get(m), dict)}


def _cell(var, metric):
    if var is None:
        return None
    if "error" in var:
        return "ERROR"
    return (var.get(metric) or {}).get("median")


def rows(results, case="12"):
    """Table rows (case, what, unit, {column: value-or-status}) as bench.py's rows() makes them:
    columns SQL, PL/pgSQL, plts, plv8, pljs and paired_ratio (the table's plts/PL/pgSQL column; for
    TPS higher is better, for latencies lower is better). `results` is run_case()'s dict or one
    run() result."""
    out = []
    na = {"SQL": None, "plv8": "n/a", "pljs": "n/a"}
    setup_ = results.get("setup") or {}
    if "error" in setup_ or "error" in (setup_.get("check") or {}):
        out.append((case, "orders: setup / PL/pgSQL-plts equivalence check", "", {
            **na, "PL/pgSQL": "ERROR", "plts": "ERROR"}))
    for mode, r in _modes(results).items():
        sub = "a" if mode == "pooled" else "b"
        P, T = r.get("plpgsql"), r.get("plts")
        if mode == "pooled":
            head = (f"orders via pgbench, {r['clients']} clients, pooled (-M {r['protocol']}), "
                    f"{r['seconds']} s x {r['rounds']}")
        else:
            head = (f"orders via pgbench, {r['clients']} clients, new connection per txn "
                    f"(-C -M {r['protocol']})")
        out.append((case + sub, head, "tps", {**na, "PL/pgSQL": _cell(P, "tps"), "plts": _cell(T, "tps"),
                                                "paired_ratio": r.get("ratio")}))
        excl = ", excl. connecting" if mode == "fresh" else ""
        for i, p in enumerate(("p50", "p95", "p99")):
            out.append((case + sub + "'" * (i + 1), f"  same, latency {p}{excl}", "ms",
                        {**na, "PL/pgSQL": _cell(P, p), "plts": _cell(T, p)}))
        if mode == "fresh":
            out.append((case + sub + "''''", "  same, pgbench's average connection time", "ms",
                        {**na, "PL/pgSQL": _cell(P, "conn_ms"), "plts": _cell(T, "conn_ms")}))
    return out


def target(results):
    """(name, value, ok) for the issue's target: plts >= 0.9x PL/pgSQL's TPS (pooled). value is the
    median of per-round TPS ratios (None if not measured); ok is None when not measured or when a
    run or the equivalence check failed (the comparison would not be valid)."""
    name = f"orders (pgbench, pooled) plts >= {TARGET_RATIO}x PL/pgSQL TPS"
    r = _modes(results).get("pooled")
    if not r:
        return (name, None, None)
    value = r.get("ratio") if r.get("ratio") is not None else r.get("ratio_of_medians")
    broken = any("error" in (r.get(v) or {}) for v in VARIANTS)
    setup_ = results.get("setup") or {}
    broken = broken or "error" in setup_ or "error" in (setup_.get("check") or {})
    if value is None or broken:
        return (name, value, None)
    return (name, value, value >= TARGET_RATIO)


def errors(results):
    """(path, message) of every "error" in a nested dict of results (run_case()'s, or bench.py's
    cases)."""
    out = []

    def walk(path, d):
        if isinstance(d, dict):
            if "error" in d:
                out.append((path, d["error"]))
            for k, v in d.items():
                walk(f"{path}.{k}" if path else k, v)
    walk("", results)
    return out


# --------------------------------------------------------------------------------------------------

def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}"


def main():
    import argparse
    import json
    ap = argparse.ArgumentParser(description="orders case alone, against the cluster of the PG* "
                                 "environment variables (database 'bench' with plts and stopgap)")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rows", type=int, default=ROWS)
    ap.add_argument("--modes", default="pooled,fresh", help="pooled,fresh (comma-separated)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench import psql  # only here: bench.py imports this module
    results = run_case(psql, args.seconds, args.clients, args.rounds, args.rows,
                       modes=tuple(m for m in args.modes.split(",") if m))
    ck = (results.get("setup") or {}).get("check") or {}
    print(f"check: {ck.get('same', 0)} of {ck.get('cases', 0)} inputs give the same result or error "
          f"({ck.get('valid_inputs', 0)} valid)")
    cols = ["case", "what", "unit", "PL/pgSQL", "plts", "plts/PL/pgSQL"]
    body = []
    for c, w, u, d in rows(results):
        a, b = d.get("PL/pgSQL"), d.get("plts")
        ratio = d.get("paired_ratio")
        if ratio is None and isinstance(a, float) and isinstance(b, float) and a:
            ratio = b / a
        body.append([c, w, u, _fmt(a), _fmt(b), f"{ratio:.2f}x" if ratio is not None else ""])
    wd = [max(len(r[i]) for r in body + [cols]) for i in range(len(cols))]
    for r in [cols] + body:
        print("  ".join(x.rjust(wd[i]) if i >= 3 else x.ljust(wd[i]) for i, x in enumerate(r)))
    name, value, ok = target(results)
    print(f"target: {name}: " + ("not measured" if value is None else f"{value:.2f}x") +
          ("" if ok is None else (" met" if ok else " NOT met")))
    for mode in ("pooled", "fresh"):
        r = results.get(mode)
        if r:
            print(f"{mode}: per-round plts/PL/pgSQL TPS ratios "
                  + ", ".join(f"{x:.3f}" for x in r["ratio_rounds"]))
    errs = errors(results)
    for p, e in errs:
        print(f"ERROR {p}: {e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
