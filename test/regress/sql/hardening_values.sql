-- Issue 11: values that once crashed the backend or came back wrong. Every case gives a value or
-- a clear error with the right SQLSTATE, and the next statement still runs.
\set VERBOSITY terse
\set SHOW_CONTEXT never
CREATE SCHEMA hv;
SET search_path = hv, public;
-- errors with their SQLSTATE: public.sqlstate_of (helpers.sql)

-- non-integral numbers into int8 (each of these segfaulted the backend)
CREATE FUNCTION r_int8(v text) RETURNS int8 LANGUAGE plts AS $$
export default (ctx) => ({ frac: 1.5, neg: -0.5, nan: NaN, inf: Infinity, big: 2 ** 63, ok: 2 ** 53 })[ctx.args.v];
$$;
SELECT v, sqlstate_of(format('select hv.r_int8(%L)', v)) FROM unnest(array['frac','neg','nan','inf','big','ok']) v;
CREATE FUNCTION r_int8_arr() RETURNS int8[] LANGUAGE plts AS $$ export default () => [1, 2.5] $$;
SELECT sqlstate_of('select hv.r_int8_arr()');
CREATE FUNCTION p_int8(v float8) RETURNS text LANGUAGE plts AS $$
export default async (ctx) => JSON.stringify(await ctx.db.query('select $1::int8 as x', [ctx.args.v]));
$$;
SELECT sqlstate_of('select hv.p_int8(1.5)'), sqlstate_of($q$select hv.p_int8('NaN')$q$), p_int8(42);
SELECT r_int8('ok') AS still_alive;

-- BigInt into float4/float8: correctly rounded, never wrapped
CREATE FUNCTION r_f8() RETURNS float8 LANGUAGE plts AS $$ export default () => 2n ** 64n + 5n $$;
CREATE FUNCTION r_f8_huge() RETURNS float8 LANGUAGE plts AS $$ export default () => 10n ** 400n $$;
SELECT r_f8() = 18446744073709551616::float8 AS not_wrapped, left(sqlstate_of('select hv.r_f8_huge()'), 5);
-- float4 underflow and overflow are errors, not 0 or infinity
CREATE FUNCTION r_f4(v float8) RETURNS float4 LANGUAGE plts AS $$ export default (ctx) => ctx.args.v $$;
SELECT sqlstate_of('select hv.r_f4(1e-50)'), sqlstate_of('select hv.r_f4(1e50)'), r_f4(0), r_f4(1.5);

-- U+0000 cannot be stored in text or jsonb (strings are refused, never cut)
CREATE FUNCTION r_nul(kind text) RETURNS text LANGUAGE plts AS $$
export default (ctx) => ctx.args.kind === 'obj' ? { a: 'x\u0000y' } : 'x\u0000y';
$$;
CREATE FUNCTION r_nul_jsonb() RETURNS jsonb LANGUAGE plts AS $$ export default () => ({ a: 'x\u0000y' }) $$;
CREATE FUNCTION r_nul_walker() RETURNS jsonb LANGUAGE plts AS $$ export default () => ({ a: 'x\u0000y', b: 1n }) $$;
CREATE FUNCTION p_nul() RETURNS text LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select $1::text as t', ['x\u0000y']))[0].t;
$$;
CREATE FUNCTION r_nul_uuid() RETURNS uuid LANGUAGE plts AS $$ export default () => 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\u0000zz' $$;
SELECT sqlstate_of($q$select hv.r_nul('str')$q$), sqlstate_of($q$select hv.r_nul('obj')$q$);
SELECT sqlstate_of('select hv.r_nul_jsonb()'), sqlstate_of('select hv.r_nul_walker()');
SELECT sqlstate_of('select hv.p_nul()'), sqlstate_of('select hv.r_nul_uuid()');

-- lone surrogates cannot be encoded in UTF-8: they become U+FFFD, in text and in jsonb keys
CREATE FUNCTION r_lone() RETURNS text LANGUAGE plts AS $$ export default () => 'a\uDC00b' $$;
CREATE FUNCTION r_lone_jsonb() RETURNS jsonb LANGUAGE plts AS $$ export default () => ({ ['k\uD800']: 'v\uDFFF' }) $$;
SELECT r_lone() = 'a' || U&'\FFFD' || 'b' AS text_replaced, r_lone_jsonb() = jsonb_build_object('k' || U&'\FFFD', 'v' || U&'\FFFD') AS jsonb_replaced;

-- timestamps and dates: range-checked (22008), never stored out of range
CREATE FUNCTION r_ts(v text) RETURNS timestamptz LANGUAGE plts AS $$
export default (ctx) => ({ ms: 1e16, min: new Date(-8.64e15), max: new Date(8.64e15), ok: new Date(0),
  inf: Infinity, ninf: -Infinity, bad: new Date(NaN) })[ctx.args.v];
$$;
SELECT v, sqlstate_of(format('select hv.r_ts(%L)', v)) FROM unnest(array['ms','min','max','ok','inf','ninf','bad']) v;
SELECT r_ts('inf') AS inf, r_ts('ninf') AS ninf, r_ts('ok') AT TIME ZONE 'UTC' AS epoch;
CREATE FUNCTION r_date(ms float8) RETURNS date LANGUAGE plts AS $$ export default (ctx) => ctx.args.ms $$;
SELECT sqlstate_of('select hv.r_date(8.64e15)'), sqlstate_of('select hv.r_date(-2.2e14)'), r_date(0);
-- ±infinity round-trip, as ±Infinity; times before 1970 keep their millisecond (rounded down)
CREATE FUNCTION echo_ts(t timestamptz) RETURNS timestamptz LANGUAGE plts AS $$ export default (ctx) => ctx.args.t $$;
CREATE FUNCTION show_ts(t timestamptz) RETURNS text LANGUAGE plts AS $$
export default (ctx) => typeof ctx.args.t === 'number' ? String(ctx.args.t) : ctx.args.t.toISOString();
$$;
CREATE FUNCTION echo_date(d date) RETURNS date LANGUAGE plts AS $$ export default (ctx) => ctx.args.d $$;
SELECT echo_ts('infinity'), echo_ts('-infinity'), echo_date('infinity'), echo_date('-infinity');
SELECT show_ts('infinity'), show_ts('1969-12-31 23:59:59.9995+00'), show_ts('1900-01-01 00:00:00.0004+00');

-- jsonb numbers reach JavaScript exactly, or not at all (22003)
CREATE FUNCTION jn(j jsonb) RETURNS text LANGUAGE plts AS $$ export default (ctx) => String(ctx.args.j.n) $$;
SELECT n, sqlstate_of(format('select hv.jn(%L)', jsonb_build_object('n', n::numeric))) AS outcome
FROM unnest(array['12345678901234567890', '9007199254740993', '1e400', '0.1', '1.10', '9007199254740992',
                  '123456789012345', '-0.000001', '1e-400']) n;
SET plts.lossy_jsonb_numbers = on;
SELECT jn('{"n": 12345678901234567890}') AS lossy_by_choice;
RESET plts.lossy_jsonb_numbers;
-- a JS null (or undefined) result is SQL NULL for every return type, jsonb included
CREATE FUNCTION r_null_jsonb() RETURNS jsonb LANGUAGE plts AS $$ export default () => null $$;
SELECT r_null_jsonb() IS NULL AS sql_null;

-- a string for a json/jsonb parameter is JSON text (node-postgres), a JS value is converted
CREATE FUNCTION p_jsonb() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select $1::jsonb as a, $2::jsonb as b, $3::json as c',
  ['{"a":1}', { b: 2 }, '[1, 2]']))[0];
$$;
SELECT p_jsonb();
CREATE FUNCTION p_jsonb_bad() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select $1::jsonb as a', ['not json']))[0];
$$;
SELECT sqlstate_of('select hv.p_jsonb_bad()');

-- one jsonb nesting limit and SQLSTATE on every path (JSON text and the walker)
CREATE FUNCTION r_deep(n int, big bool) RETURNS jsonb LANGUAGE plts AS $$
export default (ctx) => { let v: any = ctx.args.big ? 1n : 1; for (let i = 0; i < ctx.args.n; i++) v = [v]; return v; };
$$;
SELECT sqlstate_of('select hv.r_deep(1001, false)'), sqlstate_of('select hv.r_deep(1001, true)'),
       sqlstate_of('select hv.r_deep(100000, false)'), jsonb_typeof(r_deep(999, false));
-- an array too long for jsonb is refused before it is built (this longjmp'd over V8 frames)
CREATE FUNCTION r_huge_arr() RETURNS jsonb LANGUAGE plts AS $$
export default () => { const a: any[] = [1n]; a.length = 34_000_000; return a; };
$$;
SELECT sqlstate_of('select hv.r_huge_arr()');
CREATE FUNCTION loop_after() RETURNS int LANGUAGE plts AS $$ export default () => { for (;;) {} } $$;
SET statement_timeout = '200ms';
SELECT loop_after();
RESET statement_timeout;

-- Array.prototype.fill: past 1M elements plts's interruptible loop, the same results as V8's
CREATE FUNCTION fills() RETURNS jsonb LANGUAGE plts AS $$
export default () => {
  const big = new Array(2_000_001).fill(7, -2);
  const like = Array.prototype.fill.call({ length: 3_000_000 }, 'x', 2_999_999, 5_000_000) as any;
  let frozen = 'no error';
  try { Object.freeze(new Array(2_000_000)).fill(1); } catch (e: any) { frozen = e.constructor.name; }
  return { small: [1, 2, 3].fill(0, 1), big: [big.length, big[1_999_998], big[1_999_999], big[2_000_000]],
    like: [like[2_999_998] ?? null, like[2_999_999]], frozen, name: [].fill.name, len: [].fill.length };
};
$$;
SELECT fills();

-- arrays: a lower bound other than 1 is not kept (JavaScript arrays start at 0)
CREATE FUNCTION echo_arr(a int[]) RETURNS int[] LANGUAGE plts AS $$ export default (ctx) => ctx.args.a $$;
SELECT echo_arr('[3:4]={7,8}'::int[]);
-- multidimensional arrays reach JavaScript as nested arrays; the way back is refused (0A000)
SELECT sqlstate_of($q$select hv.echo_arr('{{1,2},{3,4}}')$q$);

-- thrown values: a plain object reports its message or its JSON, never [object Object]
CREATE FUNCTION throws(kind text) RETURNS int LANGUAGE plts AS $$
export default (ctx) => { throw ({ msg: { message: 'from message' }, obj: { code: 1, why: 'x' }, empty: {},
  str: 'a string', num: 42 } as any)[ctx.args.kind]; };
$$;
SELECT k, sqlstate_of(format('select hv.throws(%L)', k)) FROM unnest(array['msg','obj','empty','str','num']) k;

-- domains convert as their base type, and their constraints hold on the way back
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN nn_text AS text NOT NULL;
CREATE FUNCTION dom(p posint) RETURNS text LANGUAGE plts AS $$ export default (ctx) => typeof ctx.args.p + ' ' + ctx.args.p $$;
CREATE FUNCTION r_dom(v int) RETURNS posint LANGUAGE plts AS $$ export default (ctx) => ctx.args.v $$;
CREATE FUNCTION r_nn() RETURNS nn_text LANGUAGE plts AS $$ export default () => null $$;
CREATE FUNCTION r_dom_arr() RETURNS posint[] LANGUAGE plts AS $$ export default () => [1, -1] $$;
SELECT dom(5), r_dom(3), sqlstate_of('select hv.r_dom(-3)'), sqlstate_of('select hv.r_nn()'),
       sqlstate_of('select hv.r_dom_arr()');
-- an array of a domain holds the domain (assert builds check the element type both ways)
CREATE FUNCTION echo_dom_arr(a posint[]) RETURNS posint[] LANGUAGE plts AS $$ export default (ctx) => ctx.args.a $$;
SELECT echo_dom_arr('{1,2}');
-- dates beyond a JavaScript Date's range are an error on the way in (never an Invalid Date)
CREATE FUNCTION show_date(d date) RETURNS text LANGUAGE plts AS $$ export default (ctx) => ctx.args.d.toISOString() $$;
SELECT sqlstate_of($q$select hv.show_date('5874897-12-31')$q$), show_date('275000-01-01');

DROP SCHEMA hv CASCADE;
