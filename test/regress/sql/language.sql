-- LANGUAGE plts: handler, inline handler, validator, ctx.
CREATE EXTENSION plts;
SELECT lanname, lanpltrusted FROM pg_language WHERE lanname = 'plts';

CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE plts AS $$
export default (ctx) => ctx.args.x + 1;
$$;
SELECT add_one(41);

-- async default export
CREATE FUNCTION add_async(x int) RETURNS int LANGUAGE plts AS $$
export default async (ctx) => { await null; return ctx.argv[0] * 2; };
$$;
SELECT add_async(21);

-- ctx: args by name ($n when unnamed), argv, fn, now, db.mode
CREATE FUNCTION show_ctx(a int, text, c boolean) RETURNS jsonb LANGUAGE plts AS $$
export default (ctx) => ({
  args: ctx.args, argv: ctx.argv, fn: { schema: ctx.fn.schema, name: ctx.fn.name,
  oid_is_number: typeof ctx.fn.oid === 'number' }, now_is_iso: /^\d{4}-\d\d-\d\dT/.test(ctx.now),
  mode: ctx.db.mode, keys: Object.keys(ctx).sort() });
$$;
SELECT show_ctx(1, 'two', true);
SELECT (show_ctx(1, 'x', false)->'fn'->>'name') = 'show_ctx' AS fn_name_ok;
CREATE FUNCTION ctx_now() RETURNS text LANGUAGE plts AS $$ export default (ctx) => ctx.now $$;
BEGIN;
SELECT ctx_now() = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS now_is_transaction_start;
COMMIT;

-- a single `args jsonb` parameter: ctx.args is the decoded value
CREATE FUNCTION echo_args(args jsonb) RETURNS jsonb LANGUAGE plts AS $$
export default (ctx) => ({ got: ctx.args, same: ctx.args === ctx.argv[0] });
$$;
SELECT echo_args('{"id": 7, "tags": ["a"]}');

-- a fresh ctx for every call
CREATE FUNCTION mark() RETURNS int LANGUAGE plts AS $$
export default (ctx) => { ctx.mark = (ctx.mark ?? 0) + 1; return ctx.mark; };
$$;
SELECT mark(), mark();
SELECT sum(mark()) FROM generate_series(1, 5);

-- module state persists across calls of one backend (same role)
CREATE FUNCTION counter() RETURNS int LANGUAGE plts AS $$
let n = 0;
export default () => ++n;
$$;
SELECT counter(), counter(), counter();

-- STABLE/IMMUTABLE functions get a read-only ctx.db
CREATE FUNCTION mode_of() RETURNS text STABLE LANGUAGE plts AS $$ export default (ctx) => ctx.db.mode $$;
SELECT mode_of();

-- CREATE OR REPLACE takes effect at the next call
CREATE OR REPLACE FUNCTION add_one(x int) RETURNS int LANGUAGE plts AS $$
export default (ctx) => ctx.args.x + 100;
$$;
SELECT add_one(1);

-- DO blocks: the module runs; a default export is called with ctx
DO $$ export default (ctx) => { if (ctx.db.mode !== 'rw') throw new Error('mode') } $$ LANGUAGE plts;
DO $$ throw new Error('from a DO block') $$ LANGUAGE plts;
DO $$ export default async (ctx) => { await ctx.db.exec('create temp table do_made(x int)') } $$ LANGUAGE plts;
SELECT count(*) FROM do_made;

-- the validator rejects syntax errors with their position
CREATE FUNCTION broken() RETURNS int LANGUAGE plts AS $$
export default (ctx) => {
  return 1 +;
};
$$;
-- unless check_function_bodies is off; the error comes at the first call
SET check_function_bodies = off;
CREATE FUNCTION broken() RETURNS int LANGUAGE plts AS $$ export default ( $$;
RESET check_function_bodies;
SELECT broken();
DROP FUNCTION broken();

-- a module without a default export function
CREATE FUNCTION no_default() RETURNS int LANGUAGE plts AS $$ export const x = 1; $$;
SELECT no_default();

-- a result type no value converts to is refused at CREATE FUNCTION (every other shape is
-- accepted: see sets.sql, composites.sql, out_params.sql, polymorphic.sql, ...)
CREATE FUNCTION cstr() RETURNS cstring LANGUAGE plts AS $$ export default () => 'x' $$;

-- a promise that never settles is an error, not a hang
CREATE FUNCTION pending() RETURNS int LANGUAGE plts AS $$ export default () => new Promise(() => {}) $$;
SELECT pending();

-- procedures
CREATE PROCEDURE proc(x int) LANGUAGE plts AS $$ export default (ctx) => { globalThis.seen = ctx.args.x } $$;
CALL proc(5);

-- PARALLEL SAFE functions run in parallel workers (V8 starts lazily there too)
CREATE FUNCTION par_double(x int) RETURNS int LANGUAGE plts PARALLEL SAFE AS $$ export default (c: any) => c.args.x * 2 $$;
CREATE TABLE par_rows AS SELECT g FROM generate_series(1, 20000) g;
SET force_parallel_mode = on;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT sum(par_double(g)) FROM par_rows;
RESET force_parallel_mode;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
DROP TABLE par_rows;
