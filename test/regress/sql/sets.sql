-- Issue 13: set-returning functions (RETURNS SETOF / RETURNS TABLE) in plts.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
RESET client_min_messages;
CREATE SCHEMA shape_sets;
SET search_path = shape_sets, public;

CREATE TABLE item(id int PRIMARY KEY, name text, price numeric, qty int);
INSERT INTO item VALUES (1, 'apple', 1.50, 3), (2, 'pear', 2.25, 0), (3, 'plum', 0.75, 2);

-- SETOF int from an array
CREATE FUNCTION evens(n int) RETURNS SETOF int LANGUAGE plts AS $$
export default (ctx) => Array.from({ length: ctx.args.n }, (_, i) => 2 * i);
$$;
SELECT * FROM evens(4);
SELECT e, pg_typeof(e) FROM evens(2) AS e;

-- SETOF text from a generator; WITH ORDINALITY
CREATE FUNCTION words(s text) RETURNS SETOF text LANGUAGE plts AS $$
export default function* (ctx) {
  for (const w of ctx.args.s.split(/\s+/)) if (w) yield w.toUpperCase();
}
$$;
SELECT * FROM words('  the quick  brown fox ') WITH ORDINALITY AS w(word, n);

-- any iterable: a Set, a Map's keys, a custom iterator
CREATE FUNCTION iterables(kind text) RETURNS SETOF text LANGUAGE plts AS $$
export default (ctx) => {
  if (ctx.args.kind === 'set') return new Set(['a', 'b', 'a', 'c']);
  if (ctx.args.kind === 'map') return new Map([['k1', 1], ['k2', 2]]).keys();
  let i = 0;
  return { [Symbol.iterator]: () => ({ next: () => (i < 2 ? { value: 'it' + i++, done: false } : { done: true }) }) };
};
$$;
SELECT iterables('set') AS s;
SELECT iterables('map') AS m;
SELECT iterables('custom') AS c;

-- a promise of an array
CREATE FUNCTION later(n int) RETURNS SETOF int LANGUAGE plts AS $$
export default async (ctx) => { await null; return [ctx.args.n, ctx.args.n * 10]; };
$$;
SELECT * FROM later(7);

-- an async generator reading rows through ctx.db
CREATE FUNCTION pricey(min_price numeric) RETURNS SETOF item LANGUAGE plts STABLE AS $$
export default async function* (ctx) {
  for (const row of await ctx.db.query('select * from item where price > $1 order by id', [ctx.args.min_price]))
    yield row;
}
$$;
SELECT * FROM pricey(1);
SELECT name, price * qty AS total FROM pricey(0) ORDER BY total DESC;

-- RETURNS TABLE: rows are objects keyed by column name; key order does not matter
CREATE FUNCTION countdown(n int) RETURNS TABLE(i int, label text, done boolean) LANGUAGE plts AS $$
export default function* (ctx) {
  for (let i = ctx.args.n; i >= 0; i--) yield { done: i === 0, label: i ? `T-${i}` : 'liftoff', i };
}
$$;
SELECT * FROM countdown(3);

-- SETOF a table's row type, built in JS
CREATE FUNCTION restock(extra int) RETURNS SETOF item LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select * from item order by id'))
  .map((r) => ({ ...r, qty: r.qty + ctx.args.extra, name: r.name + '*' }));
$$;
SELECT * FROM restock(10);

-- a set-returning function joined laterally
SELECT i.name, e FROM item i, LATERAL evens(i.qty) e ORDER BY i.id, e;
SELECT i.name, c.label FROM item i LEFT JOIN LATERAL countdown(i.qty) c ON c.i > 1 ORDER BY i.id, c.i;

-- in the select list (PostgreSQL's ProjectSet takes materialized sets too)
SELECT evens(3);
SELECT x, evens(x) FROM generate_series(1, 2) x;
SELECT (countdown(1)).*;

-- empty sets: an empty array, an empty generator, null and undefined
CREATE FUNCTION nothing(kind text) RETURNS SETOF int LANGUAGE plts AS $$
export default (ctx) => {
  switch (ctx.args.kind) {
    case 'array': return [];
    case 'generator': return (function* () {})();
    case 'null': return null;
    default: return undefined;
  }
};
$$;
SELECT k, (SELECT count(*) FROM nothing(k)) AS rows FROM unnest(ARRAY['array', 'generator', 'null', 'undefined']) k;
-- null elements of a scalar set are NULL rows
CREATE FUNCTION with_nulls() RETURNS SETOF text LANGUAGE plts AS $$ export default () => ['a', null, undefined, 'd'] $$;
SELECT w IS NULL AS is_null, w FROM with_nulls() w;

-- a generator that throws mid-set: an error, no rows; its sqlstate passes through
CREATE FUNCTION fails_after(n int, code text) RETURNS SETOF int LANGUAGE plts AS $$
export default function* (ctx) {
  for (let i = 1; i <= ctx.args.n; i++) yield i;
  const e = new Error(`failed after ${ctx.args.n} rows`);
  if (ctx.args.code) e.sqlstate = ctx.args.code;
  throw e;
}
$$;
SELECT sqlstate_of('select * from shape_sets.fails_after(3, null)');
SELECT sqlstate_of($$select * from shape_sets.fails_after(2, '22012')$$);
CREATE TABLE got(x int);
SELECT sqlstate_of('insert into shape_sets.got select * from shape_sets.fails_after(5, null)');
SELECT count(*) AS half_returned FROM got;
-- an async generator that rejects after yielding
CREATE FUNCTION async_fails() RETURNS SETOF int LANGUAGE plts AS $$
export default async function* () { yield 1; await null; throw new Error('async generator failed'); }
$$;
SELECT sqlstate_of('select * from shape_sets.async_fails()');
-- an SQL error inside the generator keeps its own SQLSTATE
CREATE FUNCTION sql_fails() RETURNS SETOF int LANGUAGE plts AS $$
export default async function* (ctx) { yield 1; await ctx.db.query('select 1/0'); }
$$;
SELECT sqlstate_of('select * from shape_sets.sql_fails()');

-- not an iterable: 42804
CREATE FUNCTION not_iterable(kind text) RETURNS SETOF int LANGUAGE plts AS $$
export default (ctx) => ({ num: 42, obj: { a: 1 }, str: 'abc' })[ctx.args.kind];
$$;
-- (a string is refused too, not split into characters)
SELECT k, sqlstate_of(format('select * from shape_sets.not_iterable(%L)', k)) FROM unnest(ARRAY['num', 'obj', 'str']) k;
-- a value of the wrong type in a scalar set
CREATE FUNCTION bad_elem() RETURNS SETOF int LANGUAGE plts AS $$ export default () => [1, 'two'] $$;
SELECT sqlstate_of('select * from shape_sets.bad_elem()');

-- rows: a missing key is NULL, an unknown key is 42703 naming it, a non-object is 42804
CREATE FUNCTION rows_of(kind text) RETURNS TABLE(a int, b text) LANGUAGE plts AS $$
export default (ctx) => ({
  missing: [{ a: 1 }, { b: 'only b' }, {}],
  unknown: [{ a: 1, b: 'x', colour: 'red' }],
  scalar: [{ a: 1, b: 'x' }, 5],
  badval: [{ a: 'one', b: 'x' }],
})[ctx.args.kind];
$$;
SELECT * FROM rows_of('missing');
SELECT sqlstate_of($$select * from shape_sets.rows_of('unknown')$$);
SELECT sqlstate_of($$select * from shape_sets.rows_of('scalar')$$);
SELECT sqlstate_of($$select * from shape_sets.rows_of('badval')$$);

-- plts.max_query_rows bounds the rows one call produces (54000); 0 is unlimited
CREATE FUNCTION gen(n int) RETURNS SETOF int LANGUAGE plts AS $$
export default function* (ctx) { for (let i = 1; i <= ctx.args.n; i++) yield i; }
$$;
SHOW plts.max_query_rows;
SELECT count(*) FROM gen(100000);
SELECT sqlstate_of('select count(*) from shape_sets.gen(100001)');
SET plts.max_query_rows = 10;
SELECT count(*) FROM gen(10);
SELECT sqlstate_of('select count(*) from shape_sets.gen(11)');
SELECT sqlstate_of('select count(*) from shape_sets.evens(11)');
SET plts.max_query_rows = 0;
SELECT count(*), sum(x) FROM gen(250000) x;
RESET plts.max_query_rows;

-- the time limits apply to the whole set (57014) and the backend goes on
CREATE FUNCTION forever() RETURNS SETOF int LANGUAGE plts AS $$ export default function* () { for (;;) yield 1; } $$;
SET plts.max_query_rows = 0;
SET plts.max_runtime_ms = 300;
-- (a cancel is not caught by PL/pgSQL's WHEN OTHERS: shown directly)
SELECT count(*) FROM forever();
\echo :LAST_ERROR_SQLSTATE
RESET plts.max_runtime_ms;
SET statement_timeout = 300;
SELECT count(*) FROM forever();
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
RESET plts.max_query_rows;
SELECT count(*) AS still_alive FROM gen(3);
-- a plts set read by another plts function through ctx.db
CREATE FUNCTION hundreds() RETURNS SETOF int LANGUAGE plts AS $$
export default async function* (ctx) { for (const r of await ctx.db.query('select g from shape_sets.gen(3) g')) yield r.g * 100; }
$$;
SELECT * FROM hundreds();

-- ROWS and COST pass through to the planner
CREATE FUNCTION estimated() RETURNS SETOF int LANGUAGE plts ROWS 42 COST 7 AS $$ export default () => [1] $$;
SELECT prorows, procost, proretset FROM pg_proc WHERE oid = 'estimated'::regproc;
CREATE FUNCTION plan_rows(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE p json;
BEGIN
  EXECUTE 'explain (format json) ' || q INTO p;
  RETURN p->0->'Plan'->>'Plan Rows';
END $$;
SELECT plan_rows('select * from shape_sets.estimated()') AS planned_rows;

-- a caller's LIMIT does not stop the function early (materialize mode): all rows are produced
CREATE FUNCTION counted(n int) RETURNS SETOF int LANGUAGE plts AS $$
export default function* (ctx) {
  globalThis.produced = 0;
  for (let i = 1; i <= ctx.args.n; i++) { globalThis.produced++; yield i; }
}
$$;
CREATE FUNCTION produced() RETURNS int LANGUAGE plts AS $$ export default () => globalThis.produced $$;
SELECT * FROM counted(1000) LIMIT 2;
SELECT produced();

-- int8 in sets: strings by default, BigInt with plts.int8 = 'bigint' (per function or session)
CREATE FUNCTION big_steps(start int8, n int) RETURNS TABLE(kind text, v int8) LANGUAGE plts AS $$
export default function* (ctx) {
  for (let i = 0; i < ctx.args.n; i++)
    yield { kind: typeof ctx.args.start, v: typeof ctx.args.start === 'bigint' ? ctx.args.start + BigInt(i) : ctx.args.start };
}
$$;
SELECT * FROM big_steps(9007199254740993, 2);
CREATE FUNCTION big_steps_fn(start int8, n int) RETURNS SETOF int8 LANGUAGE plts SET plts.int8 = 'bigint' AS $$
export default function* (ctx) { for (let i = 0n; i < BigInt(ctx.args.n); i++) yield ctx.args.start + i; }
$$;
SELECT * FROM big_steps_fn(9223372036854775805, 3);
SET plts.int8 = 'bigint';
SELECT * FROM big_steps(9007199254740993, 2);
CREATE FUNCTION big_rows() RETURNS TABLE(t text, v int8) LANGUAGE plts AS $$
export default async function* (ctx) {
  for (const r of await ctx.db.query('select x from unnest(array[1, 9223372036854775807]::int8[]) x'))
    yield { t: typeof r.x, v: r.x };
}
$$;
SELECT * FROM big_rows();
RESET plts.int8;
SELECT * FROM big_rows();

-- ten million rows from a generator under work_mem = 4MB: the tuplestore spills, memory stays bounded
CREATE FUNCTION vm_hwm_kb() RETURNS bigint LANGUAGE sql AS $$
  SELECT (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'), 'VmHWM:\s+(\d+) kB'))[1]::bigint
$$;
SELECT count(*) FROM gen(1000);
CREATE TEMP TABLE hwm AS SELECT vm_hwm_kb() AS before_kb;
SET work_mem = '4MB';
SET plts.max_query_rows = 0;
SET plts.max_runtime_ms = 60000;
SELECT count(*), sum(x) FROM gen(10000000) x;
SELECT vm_hwm_kb() - before_kb < 100 * 1024 AS peak_rss_grew_under_100mb FROM hwm;
RESET work_mem;
RESET plts.max_query_rows;
RESET plts.max_runtime_ms;

-- a null or undefined row of a row set is a row of NULLs; a string is the row's text form
CREATE FUNCTION holes() RETURNS TABLE(a int, b text) LANGUAGE plts AS $$
export default () => [{ a: 1, b: 'x' }, null, undefined, '(4,"y z")'] $$;
SELECT * FROM holes();

DROP SCHEMA shape_sets CASCADE;
