-- Issue 11: what one call can leave behind for another, and what ctx.db refuses.
\set VERBOSITY terse
\set SHOW_CONTEXT never
CREATE SCHEMA hc;
SET search_path = hc, public;
-- sqlstate_of(stmt): public, from hardening_values.

-- A role's pending callbacks never run in another role's call
CREATE ROLE hc_mallory;
CREATE ROLE hc_admin;
GRANT USAGE, CREATE ON SCHEMA hc TO hc_mallory;
CREATE TABLE hc.admin_only(x int);
ALTER TABLE hc.admin_only OWNER TO hc_admin;
CREATE FUNCTION admin_async() RETURNS int LANGUAGE plts SECURITY DEFINER SET search_path = pg_catalog AS $$
export default async () => { await Promise.resolve(); return 1; };
$$;
ALTER FUNCTION admin_async() OWNER TO hc_admin;
GRANT EXECUTE ON FUNCTION admin_async() TO hc_mallory;
SET ROLE hc_mallory;
-- a DO block keeps ctx.db in a pending callback, and in a global
DO $$ export default (ctx) => { const db = ctx.db; globalThis.kept = db;
  Promise.resolve().then(() => db.exec('insert into hc.admin_only values (1)')).catch(() => {}); } $$ LANGUAGE plts;
-- a function leaves a callback pending behind a promise only a later call could resolve
CREATE FUNCTION m_later() RETURNS int LANGUAGE plts AS $$
export default (ctx) => { const db = ctx.db; new Promise((r) => { globalThis.release = r; })
  .then(() => db.exec('insert into hc.admin_only values (2)')); return 1; };
$$;
SELECT m_later();
-- the admin's async function drains its own queue only
SELECT admin_async();
CREATE FUNCTION m_release() RETURNS text LANGUAGE plts AS $$
export default async () => { globalThis.release(); await null; return 'released'; };
$$;
SELECT sqlstate_of('select hc.m_release()');
-- a kept ctx.db is dead in every later call
CREATE FUNCTION m_use_kept() RETURNS text LANGUAGE plts AS $$
export default async () => { try { await globalThis.kept.query('select 1'); return 'used'; }
  catch (e: any) { return e.sqlstate + ': ' + e.message; } };
$$;
SELECT m_use_kept();
RESET ROLE;
SELECT count(*) AS admin_only_rows FROM hc.admin_only;
-- after DISCARD ALL and SET ROLE ... RESET ROLE nothing of mallory's runs either
DISCARD ALL;
SET search_path = hc, public;
SET ROLE hc_mallory;
RESET ROLE;
SELECT admin_async(), count(*) AS admin_only_rows FROM hc.admin_only;

-- a rejection nobody handled fails the call, with the reason's SQLSTATE
CREATE FUNCTION unhandled() RETURNS int LANGUAGE plts AS $$ export default (ctx) => { ctx.db.exec('select 1/0'); return 1; } $$;
CREATE FUNCTION handled_late() RETURNS int LANGUAGE plts AS $$
export default async (ctx) => { const p = ctx.db.query('select 1/0'); await null; try { await p; } catch { return 2; } return 1; };
$$;
CREATE FUNCTION unhandled_plain() RETURNS int LANGUAGE plts AS $$ export default () => { Promise.reject(new Error('lost')); return 1; } $$;
SELECT sqlstate_of('select hc.unhandled()'), handled_late(), sqlstate_of('select hc.unhandled_plain()');
-- callbacks left pending when a function returns a plain value run inside its call
CREATE TABLE side(x int);
CREATE FUNCTION after_return() RETURNS int LANGUAGE plts AS $$
export default (ctx) => { Promise.resolve().then(() => ctx.db.exec('insert into hc.side values (1)')); return 1; };
$$;
SELECT after_return();
SELECT count(*) AS side_rows FROM side;

-- ctx.db: one statement per call; COPY and transaction control are refused with a hint
CREATE FUNCTION run(sql text) RETURNS text LANGUAGE plts AS $$
export default async (ctx) => { try { await ctx.db.exec(ctx.args.sql); return 'ok'; }
  catch (e: any) { return e.sqlstate + ': ' + e.message; } };
$$;
SELECT s, run(s) FROM unnest(array['select 1; select 2', 'select 1;', '', 'begin', 'commit', 'rollback',
  'savepoint a', 'prepare transaction ''x''', 'copy hc.side to stdout', 'copy hc.side from stdin']) s;

-- ctx.db plans are per search_path (and user): the same text finds another table
CREATE SCHEMA hc1; CREATE SCHEMA hc2;
CREATE TABLE hc1.t(v int); INSERT INTO hc1.t VALUES (1);
CREATE TABLE hc2.t(v text); INSERT INTO hc2.t VALUES ('two');
CREATE FUNCTION pc(p text) RETURNS text LANGUAGE plts AS $$
export default async (ctx) => JSON.stringify(await ctx.db.query('select v, $1 as p from t', [ctx.args.p]));
$$;
SET search_path = hc1, hc, public; SELECT pc('a');
SET search_path = hc2, hc, public; SELECT pc('b');
SET search_path = hc, public;

-- a function compiled lazily (its artifact not stored at CREATE) in a READ ONLY transaction:
-- storing it fails inside a subtransaction and the call goes on (the error once pointed into a
-- freed memory context)
SET check_function_bodies = off;
CREATE FUNCTION lazy_ro() RETURNS int LANGUAGE plts AS $$ export default () => 7 + /* lazy_ro */ 0 $$;
RESET check_function_bodies;
BEGIN READ ONLY;
SELECT lazy_ro();
COMMIT;

-- DO blocks need no default export; an empty one is fine
DO $$ globalThis.doneByScript = 42 $$ LANGUAGE plts;
DO $$ $$ LANGUAGE plts;
DO $$ export default (ctx) => { if (globalThis.doneByScript !== 42) throw new Error('not run'); } $$ LANGUAGE plts;

-- typecheck = error checks TypeScript bodies, never pointer stubs (as stopgap makes them)
SET plts.typecheck = error;
SELECT plts.compile_and_store('export default (ctx: any) => ({ hi: 1 })', '{}') AS hello_hash \gset
SELECT format('CREATE FUNCTION hc.hello_ptr(args jsonb) RETURNS jsonb LANGUAGE plts AS %L',
  jsonb_build_object('plts', 1, 'kind', 'artifact_ptr', 'artifact_hash', :'hello_hash', 'export', 'default')) \gexec
SELECT hello_ptr('{}');
CREATE FUNCTION bad_types() RETURNS int LANGUAGE plts AS $$ export default () => { const x: number = 'no'; return x; } $$;
RESET plts.typecheck;

-- read-only ctx.db statements run in parallel workers (no subtransaction there)
CREATE TABLE par AS SELECT g FROM generate_series(1, 20000) g;
ANALYZE par;
CREATE FUNCTION pq(x int) RETURNS int LANGUAGE plts STABLE PARALLEL SAFE AS $$
export default async (ctx) => (await ctx.db.query('select $1::int + 1 as y', [ctx.args.x]))[0].y;
$$;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT sum(pq(g)) FROM par;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

DROP SCHEMA hc, hc1, hc2 CASCADE;
DROP ROLE hc_mallory;
DROP ROLE hc_admin;
