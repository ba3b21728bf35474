-- ctx.db: query/exec, parameters, errors, subtransactions, read-only mode, limits.
CREATE SCHEMA dbt;
SET search_path = dbt, public;
CREATE SEQUENCE items_seq;
CREATE TABLE items(id int PRIMARY KEY, name text, price numeric, tags text[], meta jsonb);
INSERT INTO items VALUES (1, 'apple', 1.25, '{red,fruit}', '{"stock": 3}'), (2, 'pear', 2.50, '{}', NULL);

-- the three input forms; rows are objects keyed by column name
CREATE FUNCTION forms() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => {
  const a = await ctx.db.query('select id, name from items where id = $1', [1]);
  const b = await ctx.db.query({ sql: 'select name from items where id = $1', params: [2] });
  const c = await ctx.db.query({ toSQL: () => ({ sql: 'select count(*)::int as n from items' }) });
  const d = await ctx.db.query('select price, tags, meta from items order by id');
  return { a, b, c, d };
};
$$;
SELECT forms();

-- exec resolves to { rowCount }
CREATE FUNCTION add_item(id int, name text) RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => ctx.db.exec('insert into items(id, name) values ($1, $2)', [ctx.args.id, ctx.args.name]);
$$;
SELECT add_item(3, 'plum');
CREATE FUNCTION bump() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => ctx.db.exec('update items set price = coalesce(price, 0) + 1');
$$;
SELECT bump();

-- parameter types are inferred by PostgreSQL; JS values are converted to them
CREATE FUNCTION infer() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => {
  const [r] = await ctx.db.query(
    'select $1::int8 + 1 as big, $2 = any(tags) as has, $3::jsonb -> $4 as j, $5 as untyped, ' +
    '$6::date as d, $7::bytea as b from items where id = $8',
    ['9007199254740993', 'red', { k: [1, 2] }, 'k', 42, new Date(Date.UTC(2020, 0, 1)), new Uint8Array([1, 2]), 1]);
  const ids = await ctx.db.query('select id from items where id = any($1) order by id', [[1, 3]]);
  return { ...r, d: r.d.toISOString(), b: Array.from(r.b), ids: ids.map((x) => x.id) };
};
$$;
SELECT infer();

-- a JS value that does not fit the inferred type is a clear error naming the parameter
CREATE FUNCTION bad_param() RETURNS int LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select $1::int as x', ['nope']))[0].x;
$$;
SELECT bad_param();
CREATE FUNCTION missing_param() RETURNS int LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select $1::int + $2 as x', [1]))[0].x;
$$;
SELECT missing_param();
CREATE FUNCTION bad_input() RETURNS int LANGUAGE plts AS $$
export default async (ctx) => ctx.db.query(42);
$$;
SELECT bad_input();

-- a SQL error becomes a JS error with sqlstate/message/detail/hint; caught, the transaction goes on
CREATE FUNCTION catch_and_continue() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => {
  let caught;
  try {
    await ctx.db.exec('insert into items(id, name) values (1, $1)', ['dup']);
  } catch (e) {
    caught = { sqlstate: e.sqlstate, message: e.message, detail: e.detail, isError: e instanceof Error };
  }
  await ctx.db.exec('insert into items(id, name) values (10, $1)', ['after the error']);
  const n = await ctx.db.query('select count(*)::int as n from items where id in (1, 10)');
  return { caught, n: n[0].n };
};
$$;
BEGIN;
SELECT catch_and_continue();
SELECT id, name FROM items WHERE id = 10;
COMMIT;
-- what a caller sees of an error: SQLSTATE, message, detail, hint
CREATE FUNCTION public.error_fields(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text; hin text;
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
  RETURN format('%s: %s / detail: %s / hint: %s', st, msg, nullif(det, ''), nullif(hin, ''));
END $$;
-- uncaught, the call fails with the original SQLSTATE
CREATE FUNCTION uncaught() RETURNS int LANGUAGE plts AS $$
export default async (ctx) => { await ctx.db.query('select 1/0'); return 1; };
$$;
SELECT uncaught();
SELECT public.error_fields('SELECT dbt.uncaught()');
-- a failed statement is rolled back alone (its subtransaction), earlier ones stay
CREATE FUNCTION partial() RETURNS text LANGUAGE plts AS $$
export default async (ctx) => {
  await ctx.db.exec("insert into items(id, name) values (20, 'kept')");
  try { await ctx.db.exec("insert into items(id, name) values (21, 'x'), (21, 'dup')"); } catch (e) {}
  return (await ctx.db.query('select string_agg(id::text, \',\' order by id) as ids from items where id >= 20'))[0].ids;
};
$$;
SELECT partial();

-- errors thrown by JS honor sqlstate, detail and hint
CREATE FUNCTION custom_error() RETURNS int LANGUAGE plts AS $$
export default () => { const e = new Error('not enough stock'); e.sqlstate = 'P0002'; e.detail = 'item 7'; e.hint = 'restock'; throw e; };
$$;
SELECT custom_error();
SELECT public.error_fields('SELECT dbt.custom_error()');

-- read-only mode (STABLE/IMMUTABLE): enforced by PostgreSQL, not by reading the SQL
CREATE FUNCTION writer() RETURNS int VOLATILE LANGUAGE plpgsql AS $$
BEGIN INSERT INTO items(id, name) VALUES (99, 'sneaky'); RETURN 1; END $$;
CREATE FUNCTION ro_try(sql text) RETURNS text STABLE LANGUAGE plts AS $$
export default async (ctx) => {
  try { await ctx.db.query(ctx.args.sql); return 'allowed'; }
  catch (e) { return e.sqlstate + ': ' + e.message; }
};
$$;
SELECT ro_try('select count(*) from items');
SELECT ro_try('insert into items(id) values (98)');
SELECT ro_try('select writer()');
SELECT ro_try('with d as (delete from items where id = 1 returning 1) select * from d');
SELECT ro_try('select * from items where id = 1 for update');
SELECT ro_try('select nextval(''items_seq'')');
CREATE FUNCTION ro_exec() RETURNS text STABLE LANGUAGE plts AS $$
export default async (ctx) => { try { await ctx.db.exec('select 1'); } catch (e) { return e.sqlstate + ': ' + e.message; } };
$$;
SELECT ro_exec();
SELECT count(*) AS sneaky_rows FROM items WHERE id IN (98, 99);
-- a volatile function's db may write
CREATE FUNCTION rw_write() RETURNS int VOLATILE LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.exec('select writer()')).rowCount;
$$;
SELECT rw_write();
SELECT count(*) AS written FROM items WHERE id = 99;

-- limits per ctx.db call
CREATE FUNCTION many_rows(n int) RETURNS int LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select g from generate_series(1, $1) g', [ctx.args.n])).length;
$$;
SET plts.max_query_rows = 100;
SELECT many_rows(100);
SELECT many_rows(101);
RESET plts.max_query_rows;
SET plts.max_sql_bytes = 20;
SELECT many_rows(1);
RESET plts.max_sql_bytes;
SET plts.max_params = 1;
CREATE FUNCTION two_params() RETURNS int LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select $1::int + $2::int as s', [1, 2]))[0].s;
$$;
SELECT two_params();
RESET plts.max_params;
SELECT two_params();

-- a plan running in an outer call is never evicted by statements of a nested call
SET plts.plan_cache_size = 1;
CREATE FUNCTION nest(n int) RETURNS int LANGUAGE plts AS $$
export default async (ctx: any) => {
  if (ctx.args.n === 0) return (await ctx.db.query('select 40 + $1::int as v', [1]))[0].v;
  const [r] = await ctx.db.query('select dbt.nest($1) as v', [ctx.args.n - 1]);
  const [s] = await ctx.db.query('select $1::int + 1 as v', [r.v]);
  return s.v;
};
$$;
SELECT nest(3);
-- the outer statements' plan stayed cached while they ran: the cache went over its size
SELECT (plts.metrics()->'plan_cache'->>'size')::int AS plans_kept;
RESET plts.plan_cache_size;

-- plans are cached per backend
SELECT (plts.metrics()->'plan_cache'->>'hits')::int > 0 AS plan_cache_hit;

-- a nested async plts call made after an await (inside the outer call's microtasks) settles its
-- own promises: it runs in a nested context of the same role
CREATE FUNCTION inner_async(x int) RETURNS int LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select $1::int + 1 as y', [ctx.args.x]))[0].y $$;
CREATE FUNCTION outer_after_await() RETURNS int LANGUAGE plts AS $$
export default async (ctx) => {
  await null;
  const [{ a }] = await ctx.db.query('select inner_async(1) as a');
  const [{ b }] = await ctx.db.query('select inner_async($1) as b', [a]);
  return b;
} $$;
SELECT outer_after_await();
SELECT (plts.metrics()->>'contexts')::int >= 2 AS nested_context_made;

-- result rows are made by a row maker per column list and realm: own properties in column order
-- (a repeated name keeps the last value, "__proto__" is a plain key), the calling realm's
-- Object.prototype, and a row maker made again when a replanned statement's columns change
CREATE FUNCTION row_forms() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => {
  const [r] = await ctx.db.query(`select 1 as a, null::text as b, 2 as a, '{"x": 1}'::jsonb as "__proto__"`);
  const many = await ctx.db.query('select g as n from generate_series(1, $1::int) g', [65]);
  const few = await ctx.db.query('select g as n from generate_series(1, $1::int) g', [64]);
  const none = await ctx.db.query('select 1 as n where false');
  return {
    keys: Object.keys(r), a: r.a, b: r.b, proto: r.__proto__,
    protoIsObjectPrototype: Object.getPrototypeOf(r) === Object.prototype,
    ownProto: Object.prototype.hasOwnProperty.call(r, '__proto__'),
    many: [many.length, many[0].n, many[64].n], few: [few.length, few[63].n], none: none.length,
    sameShape: Object.keys(many[0]).join() === Object.keys(many[64]).join(),
  };
} $$;
SELECT row_forms();
-- again: its single-row statement, used before, now takes the row maker too
SELECT row_forms();
-- another role's call gets rows made in its own realm
CREATE ROLE plts_rows_reader;
GRANT USAGE ON SCHEMA dbt TO plts_rows_reader;
SET ROLE plts_rows_reader;
SELECT row_forms()->'protoIsObjectPrototype' AS own_realm_rows;
RESET ROLE;
DROP OWNED BY plts_rows_reader;
DROP ROLE plts_rows_reader;
CREATE TABLE reshaped(id int, v text);
INSERT INTO reshaped VALUES (1, 'one');
CREATE FUNCTION read_reshaped() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select * from reshaped'))[0] $$;
SELECT read_reshaped();
ALTER TABLE reshaped ADD COLUMN extra int DEFAULT 7;
SELECT read_reshaped();
ALTER TABLE reshaped RENAME COLUMN v TO label;
SELECT read_reshaped();
ALTER TABLE reshaped ALTER COLUMN extra TYPE text;
SELECT read_reshaped();

-- a row read whose user code (a Proxy in the prototype chain) runs queries that make over a
-- thousand new row shapes, so that the realm's shape table starts over mid-read: the reader sees
-- the inherited key "zz" and hands over to the exact check, which goes on without the (freed) shape
-- and reads own properties only: a row of NULLs
CREATE TYPE pair AS (a int, b int);
CREATE FUNCTION shapes_churn() RETURNS pair LANGUAGE plts AS $$
export default (ctx) => {
  const proto = new Proxy({}, {
    ownKeys() {
      for (let i = 0; i < 1100; i++) ctx.db.query(`select 1 as c${i} from generate_series(1, 2)`);
      return ['zz'];
    },
    getOwnPropertyDescriptor() { return { value: 1, enumerable: true, configurable: true }; },
  });
  return Object.create(proto);
} $$;
SELECT shapes_churn();
SELECT (row_forms()->>'a')::int AS rows_after_churn;

RESET search_path;
SET client_min_messages = warning;
DROP FUNCTION public.error_fields(text);
DROP SCHEMA dbt CASCADE;
RESET client_min_messages;
