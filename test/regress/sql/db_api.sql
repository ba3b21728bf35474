-- ctx.db beyond query/exec (issue 14): prepared statements, cursors, transactions, calling
-- functions, quoting, notifications, and plts.start_proc.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
RESET client_min_messages;
CREATE TABLE api_big AS SELECT g AS i FROM generate_series(1, 1000) g;
CREATE TABLE api_log(i int);

-- ---- parameters are one array -------------------------------------------------------------
CREATE FUNCTION api_params(how text) RETURNS text LANGUAGE plts AS $$
export default async (ctx) => {
  try {
    if (ctx.args.how === 'spread') await ctx.db.query('select $1::int + $2::int', 1, 2);
    if (ctx.args.how === 'scalar') await ctx.db.query('select $1::int', 1);
    if (ctx.args.how === 'exec') await ctx.db.exec('select $1::int', [1], [2]);
    return 'ran';
  } catch (e) { return e.sqlstate + ': ' + e.message; }
};
$$;
SELECT api_params('spread');
SELECT api_params('scalar');
SELECT api_params('exec');

-- ---- prepare ------------------------------------------------------------------------------
CREATE FUNCTION api_prepare() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => {
  const out: any = {};
  const inferred = await ctx.db.prepare('select $1::int + $2 as s');
  out.paramCount = inferred.paramCount;
  out.runs = [];
  for (let k = 0; k < 3; k++) out.runs.push((await inferred.query([k, 10]))[0].s);
  const typed = await ctx.db.prepare('select $1 as x, pg_typeof($1)::text as t', ['int8']);
  out.typed = await typed.query(['5']);
  const ins = await ctx.db.prepare('insert into api_log values ($1)', ['int']);
  out.inserted = (await ins.exec([1])).rowCount + (await ins.exec([2])).rowCount;
  const fail = async (f: () => Promise<unknown>) => { try { await f(); return 'no error'; } catch (e: any) { return e.sqlstate + ': ' + e.message; } };
  out.wrongCount = await fail(() => inferred.query([1]));
  out.spread = await fail(() => (inferred.query as any)([1], 2));
  out.badType = await fail(() => ctx.db.prepare('select $1', ['no_such_type']));
  out.twoStatements = await fail(() => ctx.db.prepare('select 1; select 2'));
  out.syntax = await fail(() => ctx.db.prepare('selec 1'));
  await inferred.free();
  out.afterFree = await fail(() => inferred.query([1, 2]));
  (globalThis as any).keptStatement = typed;
  return out;
};
$$;
SELECT jsonb_pretty(api_prepare());
SELECT array_agg(i ORDER BY i) AS logged FROM api_log;
-- a statement kept past its call is dead
CREATE FUNCTION api_kept_statement() RETURNS text LANGUAGE plts AS $$
export default async () => { try { await (globalThis as any).keptStatement.query(['1']); return 'usable'; } catch (e: any) { return e.sqlstate + ': ' + e.message; } };
$$;
SELECT api_kept_statement();
-- { keep: true }: a statement that outlives its call, for the calls that come after (plv8's habit
-- of keeping plans in a global), until free()
CREATE FUNCTION api_kept(what text) RETURNS text LANGUAGE plts AS $$
export default async (ctx) => {
  const g = globalThis as any;
  try {
    if (ctx.args.what === 'prepare') {
      g.kept = await ctx.db.prepare('select $1::int * 2 as v', ['int'], { keep: true });
      return 'prepared ' + g.kept.paramCount;
    }
    if (ctx.args.what === 'use') return 'v=' + (await g.kept.query([21]))[0].v;
    if (ctx.args.what === 'in a transaction')
      return await ctx.db.transaction(async () => 'v=' + (await g.kept.query([5]))[0].v);
    if (ctx.args.what === 'cursor') { let n = 0; for await (const r of g.kept.cursor([1])) n += r.v; return 'sum=' + n; }
    if (ctx.args.what === 'free') { await g.kept.free(); return 'freed'; }
  } catch (e: any) { return e.sqlstate + ': ' + e.message; }
};
$$;
SELECT api_kept('prepare');
SELECT api_kept('use');
SELECT api_kept('in a transaction');
SELECT api_kept('cursor');
SELECT api_kept('free');
SELECT api_kept('use');

-- read-only functions prepare and query, but do not write
CREATE FUNCTION api_prepare_ro() RETURNS text STABLE LANGUAGE plts AS $$
export default async (ctx) => {
  const st = await ctx.db.prepare('insert into api_log values ($1)', ['int']);
  try { await st.exec([3]); return 'wrote'; } catch (e: any) { return e.sqlstate + ': ' + e.message; }
};
$$;
SELECT api_prepare_ro();

-- ---- cursors ------------------------------------------------------------------------------
-- a scan larger than plts.max_query_rows, in batches
SET plts.max_query_rows = 100;
CREATE FUNCTION api_cursor_sum(batch int) RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => {
  let n = 0, sum = 0;
  for await (const r of ctx.db.cursor('select i from api_big where i > $1 order by i', [0], { batch: ctx.args.batch })) { n++; sum += r.i; }
  return { n, sum };
};
$$;
SELECT api_cursor_sum(7), api_cursor_sum(100), api_cursor_sum(1000);
-- a query of the same table is refused by the same limit
CREATE FUNCTION api_query_all() RETURNS int LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select i from api_big')).length;
$$;
SELECT sqlstate_of('select api_query_all()');
RESET plts.max_query_rows;
-- leaving the loop closes the cursor; so does the end of the call; errors are catchable
CREATE FUNCTION api_cursor_life() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => {
  const open = async () => (await ctx.db.query('select count(*)::int as c from pg_cursors'))[0].c;
  const out: any = {};
  let m = 0;
  for await (const r of ctx.db.cursor('select i from api_big')) if (++m === 5) break;
  out.afterBreak = await open();
  const c = ctx.db.cursor('select i from api_big', [], { batch: 10 });
  out.first = (await c.next()).value;
  out.whileOpen = await open();
  await c.close();
  out.afterClose = await open();
  out.nextAfterClose = await c.next();
  try { for await (const r of ctx.db.cursor('select 1 / (i - 500) from api_big', [], { batch: 100 })) m++; }
  catch (e: any) { out.midScanError = e.sqlstate; }
  out.afterError = await open();
  try { for await (const r of ctx.db.cursor('selec 1')) m++; } catch (e: any) { out.openError = e.sqlstate; }
  try { ctx.db.cursor('select 1', [], { batch: 0 }); } catch (e: any) { out.badBatch = e.message; }
  try { for await (const r of ctx.db.cursor('create temp table api_cur_tmp(a int)')) m++; } catch (e: any) { out.notASelect = e.sqlstate; }
  const st = await ctx.db.prepare('select i from api_big where i <= $1', ['int']);
  let k = 0;
  for await (const r of st.cursor([25], { batch: 4 })) k++;
  out.fromStatement = k;
  ctx.db.cursor('select i from api_big');  // left open: closed by the end of the call
  ctx.db.cursor('selec 1');                // never read: its error is not an unhandled rejection
  return out;
};
$$;
SELECT jsonb_pretty(api_cursor_life());
SELECT count(*) AS cursors_left FROM pg_cursors;

-- ---- transactions -------------------------------------------------------------------------
TRUNCATE api_log;
CREATE FUNCTION api_txn() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => {
  const out: any = {};
  const ins = (db: any, v: unknown) => db.exec('insert into api_log values ($1)', [v]);
  out.committed = await ctx.db.transaction(async (db) => { await ins(db, 1); await ins(db, 2); return 'value'; });
  try { await ctx.db.transaction(async (db) => { await ins(db, 3); throw new Error('boom'); }); }
  catch (e: any) { out.thrown = e.message; }
  try { await ctx.db.transaction(async (db) => { await ins(db, 4); await ins(db, 'x'); }); }
  catch (e: any) { out.sqlError = e.sqlstate; }
  await ctx.db.transaction(async (db) => {
    await ins(db, 5);
    try { await db.transaction(async (inner) => { await ins(inner, 6); throw new Error('inner'); }); } catch {}
    await db.transaction(async (inner) => { await ins(inner, 7); });
    try { await ins(db, 'y'); } catch {}  // a failed statement alone rolls back alone
  });
  try { await ctx.db.transaction(async () => { await ctx.db.query('select 1'); }); }
  catch (e: any) { out.outerDbWhileOpen = e.sqlstate + ': ' + e.message; }
  let kept: any;
  await ctx.db.transaction(async (db) => { kept = db; });
  try { await kept.query('select 1'); } catch (e: any) { out.dbAfterEnd = e.sqlstate + ': ' + e.message; }
  try { await ctx.db.transaction(async (db) => { db.transaction(async (inner) => { await ins(inner, 8); await new Promise(() => {}); }); await ins(db, 9); }); }
  catch (e: any) { out.nestedNotAwaited = e.sqlstate + ': ' + e.message; }
  try { await ctx.db.transaction(async (db) => { await db.commit(); }); }
  catch (e: any) { out.commitInside = e.sqlstate; }
  try { await (ctx.db.transaction as any)(42); } catch (e: any) { out.notAFunction = e.message; }
  return out;
};
$$;
SELECT jsonb_pretty(api_txn());
SELECT array_agg(i ORDER BY i) AS kept_rows FROM api_log;
-- a transaction whose callback never settles is rolled back by the end of the call
CREATE FUNCTION api_txn_dangling() RETURNS int LANGUAGE plts AS $$
export default async (ctx) => {
  ctx.db.transaction(async (db) => { await db.exec('insert into api_log values (100)'); await new Promise(() => {}); });
  return 1;
};
$$;
SELECT api_txn_dangling();
SELECT count(*) AS dangling_rows FROM api_log WHERE i = 100;
-- and it leaves the caller's own subtransactions intact
DO $$ BEGIN PERFORM api_txn_dangling(); PERFORM 1 / 0; EXCEPTION WHEN division_by_zero THEN RAISE NOTICE 'caught after a dangling transaction'; END $$;
-- a read-only function's transaction reads but does not write
CREATE FUNCTION api_txn_ro() RETURNS text STABLE LANGUAGE plts AS $$
export default async (ctx) => ctx.db.transaction(async (db) => {
  const n = (await db.query('select count(*)::int as n from api_log'))[0].n;
  try { await db.exec('insert into api_log values (1)'); return 'wrote'; } catch (e: any) { return n + ' rows; ' + e.sqlstate; }
});
$$;
SELECT api_txn_ro();
-- a procedure commits between transactions, not inside one
CREATE PROCEDURE api_txn_proc() LANGUAGE plts AS $$
export default async (ctx) => {
  await ctx.db.transaction(async (db) => { await db.exec('insert into api_log values (200)'); });
  await ctx.db.commit();
  await ctx.db.transaction(async (db) => { await db.exec('insert into api_log values (201)'); });
  await ctx.db.rollback();
};
$$;
CALL api_txn_proc();
SELECT array_agg(i ORDER BY i) AS after_procedure FROM api_log WHERE i >= 200;

-- ---- calling functions --------------------------------------------------------------------
CREATE FUNCTION api_add(a int, b int DEFAULT 10) RETURNS int LANGUAGE sql AS 'SELECT a + b';
CREATE FUNCTION api_series(n int) RETURNS SETOF int LANGUAGE sql AS 'SELECT generate_series(1, n)';
CREATE FUNCTION api_pair(OUT x int, OUT y text) LANGUAGE sql AS $$ SELECT 1, 'one' $$;
CREATE FUNCTION api_rows() RETURNS TABLE(k int, v text) LANGUAGE sql AS $$ VALUES (1, 'a'), (2, 'b') $$;
CREATE FUNCTION api_plpgsql(t text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN upper(t) || '!'; END $$;
CREATE FUNCTION api_plts(n int) RETURNS jsonb LANGUAGE plts AS $$ export default (ctx) => ({ twice: ctx.args.n * 2 }) $$;
CREATE FUNCTION api_variadic(VARIADIC xs int[]) RETURNS int LANGUAGE sql AS 'SELECT sum(x)::int FROM unnest(xs) x';
CREATE FUNCTION api_record() RETURNS record LANGUAGE sql AS 'SELECT 1, 2';
CREATE PROCEDURE api_proc() LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION api_fn() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => {
  const out: any = {};
  const fail = async (f: () => Promise<unknown>) => { try { return await f(); } catch (e: any) { return e.sqlstate + ': ' + e.message + (e.hint ? ' / ' + e.hint : ''); } };
  out.sql = await ctx.db.fn('api_add')(1, 2);
  out.sqlDefault = await ctx.db.fn('public.api_add')(1);
  out.set = await ctx.db.fn('api_series')(3);
  out.out = await ctx.db.fn('api_pair')();
  out.table = await ctx.db.fn('api_rows')();
  out.plpgsql = await ctx.db.fn('api_plpgsql')('hi');
  out.plts = await ctx.db.fn('api_plts(int)')(21);
  out.builtin = await ctx.db.fn('pg_catalog.lower(text)')('ABC');
  out.variadic = await ctx.db.fn('api_variadic')(1, 2, 3);
  out.nullArg = await ctx.db.fn('api_add')(null, 1);
  out.missing = await fail(() => ctx.db.fn('api_nope')(1));
  out.ambiguous = await fail(() => ctx.db.fn('pg_catalog.lower')('x'));
  out.tooMany = await fail(() => ctx.db.fn('api_add')(1, 2, 3));
  out.tooFew = await fail(() => ctx.db.fn('api_add')());
  out.procedure = await fail(() => ctx.db.fn('api_proc')());
  out.aggregate = await fail(() => ctx.db.fn('pg_catalog.sum(int)')(1));
  out.record = await fail(() => ctx.db.fn('api_record')());
  out.badArg = await fail(() => ctx.db.fn('api_add')('x', 1));
  try { ctx.db.fn(42 as any); } catch (e: any) { out.notAName = e.message; }
  return out;
};
$$;
SELECT jsonb_pretty(api_fn());
-- EXECUTE is checked for the caller
CREATE ROLE api_role NOLOGIN;
CREATE FUNCTION api_secret() RETURNS int LANGUAGE sql AS 'SELECT 42';
REVOKE EXECUTE ON FUNCTION api_secret() FROM PUBLIC;
CREATE FUNCTION api_call_secret() RETURNS text LANGUAGE plts AS $$
export default async (ctx) => { try { return String(await ctx.db.fn('api_secret')()); } catch (e: any) { return e.sqlstate + ': ' + e.message; } };
$$;
SELECT api_call_secret();
SET ROLE api_role;
SELECT api_call_secret();
RESET ROLE;

-- ---- quoting ------------------------------------------------------------------------------
CREATE FUNCTION api_quote() RETURNS jsonb LANGUAGE plts AS $$
export default (ctx) => {
  const idents = ['foo', 'Foo', 'foo bar', 'select', 'a"b', 'ünï', '_x1'];
  const literals: unknown[] = ["it's", 'back\\slash', '', null, undefined, 42, 1.5, 10n, true, { a: [1, "q'"] }, new Date(Date.UTC(2024, 0, 2, 3, 4, 5))];
  const out: any = { idents: idents.map((i) => ctx.db.ident(i)), literals: literals.map((l) => ctx.db.literal(l)) };
  for (const bad of [() => ctx.db.ident(''), () => ctx.db.ident('a\u0000b'), () => ctx.db.literal('a\u0000b'), () => ctx.db.literal(Symbol('s')), () => (ctx.db.ident as any)(1)]) {
    try { bad(); out[`bad${Object.keys(out).length}`] = 'accepted'; } catch (e: any) { (out.errors ??= []).push(e.sqlstate + ': ' + e.message); }
  }
  return out;
};
$$;
SELECT jsonb_pretty(api_quote());
-- the same as PostgreSQL's own quote_ident / quote_nullable
SELECT q.i, q.i = quote_ident(n.name) AS same_as_quote_ident
FROM jsonb_array_elements_text(api_quote()->'idents') WITH ORDINALITY q(i, k)
JOIN unnest(ARRAY['foo', 'Foo', 'foo bar', 'select', 'a"b', 'ünï', '_x1']) WITH ORDINALITY n(name, k) USING (k);
SELECT quote_nullable('it''s') = (api_quote()->'literals'->>0) AS literal_1,
       quote_nullable('back\slash') = (api_quote()->'literals'->>1) AS literal_2;
-- a quoted identifier and literal round-trip through SQL
CREATE FUNCTION api_dynamic(col text, val text) RETURNS text LANGUAGE plts AS $$
export default async (ctx) => {
  const sql = `select ${ctx.db.literal(ctx.args.val)}::text as ${ctx.db.ident(ctx.args.col)}`;
  const row = (await ctx.db.query(sql))[0];
  return Object.keys(row)[0] + '=' + Object.values(row)[0];
};
$$;
SELECT api_dynamic('Weird "Col"', 'x''); drop table api_big; --');
SELECT count(*) AS api_big_still_there FROM api_big;

-- ---- notify -------------------------------------------------------------------------------
CREATE FUNCTION api_notify(ch text, payload text) RETURNS text LANGUAGE plts AS $$
export default async (ctx) => { try { await ctx.db.notify(ctx.args.ch, ctx.args.payload); return 'sent'; } catch (e: any) { return e.sqlstate + ': ' + e.message; } };
$$;
CREATE FUNCTION api_notify_ro() RETURNS text STABLE LANGUAGE plts AS $$
export default async (ctx) => { try { await ctx.db.notify('c', 'x'); return 'sent'; } catch (e: any) { return e.sqlstate + ': ' + e.message; } };
$$;
SELECT api_notify('api_channel', 'hello');
SELECT api_notify('api_channel', NULL);
SELECT api_notify(repeat('c', 64), 'x');
SELECT api_notify('api_channel', repeat('p', 8000));
SELECT api_notify_ro();

-- ---- plts.start_proc ----------------------------------------------------------------------
CREATE FUNCTION api_init() RETURNS void LANGUAGE plts AS $$
export default () => { (globalThis as any).initRuns = ((globalThis as any).initRuns ?? 0) + 1; };
$$;
CREATE FUNCTION api_init_runs() RETURNS int LANGUAGE plts AS $$ export default () => (globalThis as any).initRuns ?? 0 $$;
CREATE FUNCTION api_init_fails() RETURNS void LANGUAGE plts AS $$ export default () => { throw new Error('setup failed') } $$;
CREATE FUNCTION api_init_loops() RETURNS void LANGUAGE plts AS $$ export default () => { for (;;) {} } $$;
CREATE FUNCTION api_init_args(x int) RETURNS void LANGUAGE plts AS $$ export default () => {} $$;
CREATE FUNCTION api_init_sql() RETURNS void LANGUAGE sql AS 'SELECT';
-- each role's context runs it once, before its first call
\c
SET plts.start_proc = 'api_init';
SELECT api_init_runs();
SELECT api_init_runs();
GRANT EXECUTE ON FUNCTION api_init(), api_init_runs() TO api_role;
SET ROLE api_role;
SELECT api_init_runs();
RESET ROLE;
-- an error fails the call that needed it; the context runs it again at its next call
\c
SET plts.start_proc = 'api_init_fails';
SELECT api_init_runs();
SET plts.start_proc = 'api_init';
SELECT api_init_runs();
\c
SET plts.max_runtime_ms = 300;
SET plts.start_proc = 'api_init_loops';
SELECT api_init_runs();
RESET plts.max_runtime_ms;
SET plts.start_proc = 'api_init_args';
SELECT api_init_runs();
SET plts.start_proc = 'api_init_sql';
SELECT api_init_runs();
SET plts.start_proc = 'api_no_such_function';
SELECT api_init_runs();
RESET plts.start_proc;
SELECT api_init_runs();
-- only a superuser sets it
SET ROLE api_role;
SET plts.start_proc = 'api_init';
RESET ROLE;
DROP FUNCTION api_call_secret(), api_secret();
REVOKE ALL ON FUNCTION api_init(), api_init_runs() FROM api_role;
DROP ROLE api_role;

-- ---- every method with every kind of bad argument: a clean error or a result, never an internal
-- error or a crash (the hardened pass runs this under ASan + UBSan) -----------------------------
CREATE FUNCTION api_matrix() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => {
  const values: unknown[] = [undefined, null, 0, -1, 1.5, NaN, 2 ** 53, 'x', '', 'a\u0000b', 'select 1',
    'select $1', Symbol('s'), {}, [], [1], [1, 2, 3], { sql: 1 }, { sql: 'select 1', params: 'x' },
    { toSQL: () => 1 }, new Proxy({}, {}), () => 1, 10n, new Date(NaN), 'x'.repeat(100000), { batch: -1 },
    { batch: 1.5 }, { batch: 2 ** 40 }, ['no_such_type'], [1, 'int']];
  const second = [undefined, null, 1, 'x', [], [1], {}, ['int']];
  const db: any = ctx.db;
  const st: any = await db.prepare('select $1::int as v');
  const calls: [string, (a: any, b: any) => unknown][] = [
    ['query', (a, b) => db.query(a, b)], ['exec', (a, b) => db.exec(a, b)],
    ['prepare', (a, b) => db.prepare(a, b)], ['cursor', async (a, b) => { const c = db.cursor(a, b, b); await c.next(); await c.close(); }],
    ['cursor options', async (a) => { const c = db.cursor('select 1', [], a); await c.next(); await c.close(); }],
    ['transaction', (a) => db.transaction(a)], ['fn', (a, b) => db.fn(a)(b)], ['fn args', (a, b) => db.fn('api_add')(a, b)],
    ['notify', (a, b) => db.notify(a, b)], ['ident', (a) => db.ident(a)], ['literal', (a) => db.literal(a)],
    ['statement query', (a, b) => st.query(a, b)], ['statement exec', (a) => st.exec(a)],
    ['statement cursor', async (a, b) => { const c = st.cursor(a, b); await c.next(); await c.close(); }],
  ];
  let cases = 0;
  const bad: string[] = [];
  const kinds = new Set<string>();
  for (const [name, f] of calls)
    for (const a of values)
      for (const b of second) {
        cases++;
        try { await f(a, b); kinds.add('ok'); }
        catch (e: any) {
          const state = e?.sqlstate ?? (e instanceof TypeError ? 'TypeError' : e?.name);
          kinds.add(String(state));
          const message = String(e?.message ?? '');
          if (state === 'XX000' || state === undefined || message === '' || message.includes('[object Object]'))
            bad.push(`${name}(${typeof a}, ${typeof b}): ${state} ${message.slice(0, 80)}`);
        }
      }
  const open = (await db.query('select count(*)::int as c from pg_cursors'))[0].c;
  return { cases, bad, openCursors: open, outcomes: [...kinds].sort() };
};
$$;
SET client_min_messages = warning;  -- the long text as SQL gets an identifier-truncation notice
SELECT r->'cases' AS cases, r->'bad' AS bad, r->'openCursors' AS open_cursors, r->'outcomes' AS outcomes
FROM (SELECT api_matrix() AS r) s;
RESET client_min_messages;
SELECT count(*) AS cursors_left FROM pg_cursors;
