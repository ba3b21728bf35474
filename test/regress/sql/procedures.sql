-- Issue 13: procedures with transaction control (ctx.db.commit / ctx.db.rollback).
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
RESET client_min_messages;
CREATE SCHEMA shape_proc;
SET search_path = shape_proc, public;

CREATE TABLE batch(n int, xid_changed boolean);
-- commit and rollback in a loop: odd rows are rolled back, even rows committed one by one
CREATE PROCEDURE fill(total int) LANGUAGE plts AS $$
export default async (ctx) => {
  let lastXid = null;
  for (let n = 1; n <= ctx.args.total; n++) {
    const [{ x }] = await ctx.db.query('select txid_current()::text as x');
    await ctx.db.exec('insert into shape_proc.batch values ($1, $2)', [n, lastXid !== null && x !== lastXid]);
    lastXid = x;
    if (n % 2 === 0) await ctx.db.commit(); else await ctx.db.rollback();
  }
  return 'ignored';
};
$$;
CALL fill(6);
SELECT * FROM batch ORDER BY n;

-- CALL inside a transaction block is atomic: commit rejects with 2D000 and nothing is kept
TRUNCATE batch;
BEGIN;
CALL fill(2);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) FROM batch;
-- so is a CALL from a function (here PL/pgSQL's EXECUTE) ...
SELECT sqlstate_of('call shape_proc.fill(2)');
-- ... JavaScript can catch the refusal
CREATE PROCEDURE try_commit() LANGUAGE plts AS $$
export default async (ctx) => {
  try { await ctx.db.commit(); } catch (e) {
    await ctx.db.exec('insert into shape_proc.batch values (-1, null)');
    throw Object.assign(new Error(`caught ${e.sqlstate}: ${e.message}`), { sqlstate: e.sqlstate });
  }
};
$$;
BEGIN;
CALL try_commit();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- a procedure with a SET clause or SECURITY DEFINER cannot commit either
CREATE PROCEDURE with_set() LANGUAGE plts SET work_mem = '8MB' AS $$
export default async (ctx) => { await ctx.db.commit(); };
$$;
CALL with_set();
\echo :LAST_ERROR_SQLSTATE
CREATE PROCEDURE definer() LANGUAGE plts SECURITY DEFINER AS $$
export default async (ctx) => { await ctx.db.rollback(); };
$$;
CALL definer();
\echo :LAST_ERROR_SQLSTATE

-- in a plain function there is no transaction control: ctx.db.commit is not a function
CREATE FUNCTION fn_commit() RETURNS text LANGUAGE plts AS $$
export default async (ctx) => `${typeof ctx.db.commit}/${typeof ctx.db.rollback}`;
$$;
SELECT fn_commit();
CREATE FUNCTION fn_calls_commit() RETURNS int LANGUAGE plts AS $$
export default async (ctx) => { await ctx.db.commit(); return 1; };
$$;
SELECT sqlstate_of('select shape_proc.fn_calls_commit()');
-- the statement forms are refused by ctx.db in every routine
CREATE PROCEDURE sql_commit() LANGUAGE plts AS $$ export default async (ctx) => { await ctx.db.exec('commit'); } $$;
CALL sql_commit();
\echo :LAST_ERROR_SQLSTATE

-- an error after a commit: what was committed stays, the rest is rolled back
TRUNCATE batch;
CREATE PROCEDURE fail_after_commit() LANGUAGE plts AS $$
export default async (ctx) => {
  await ctx.db.exec('insert into shape_proc.batch values (1, null)');
  await ctx.db.commit();
  await ctx.db.exec('insert into shape_proc.batch values (2, null)');
  throw Object.assign(new Error('failed after the commit'), { sqlstate: '22023' });
};
$$;
CALL fail_after_commit();
\echo :LAST_ERROR_SQLSTATE
SELECT n FROM batch ORDER BY n;

-- plans and ctx.db stay usable across commits; a SQL error after a commit is caught as usual
TRUNCATE batch;
CREATE PROCEDURE resilient() LANGUAGE plts AS $$
export default async (ctx) => {
  const ins = 'insert into shape_proc.batch values ($1, null)';
  for (let n = 1; n <= 3; n++) {
    await ctx.db.exec(ins, [n]);
    await ctx.db.commit();
    try { await ctx.db.query('select 1/0'); } catch (e) { await ctx.db.exec(ins, [100 + n]); }
  }
  await ctx.db.rollback();
};
$$;
CALL resilient();
SELECT array_agg(n ORDER BY n) FROM batch;

-- INOUT and OUT parameters of a procedure come back as a row of CALL
CREATE PROCEDURE divide(a int, b int, INOUT quotient int, OUT remainder int) LANGUAGE plts AS $$
export default (ctx) => ({ quotient: Math.trunc(ctx.args.a / ctx.args.b), remainder: ctx.args.a % ctx.args.b });
$$;
CALL divide(17, 5, NULL, NULL);
TRUNCATE batch;
CREATE PROCEDURE counter_up(INOUT n int) LANGUAGE plts AS $$
export default async (ctx) => {
  await ctx.db.exec('insert into shape_proc.batch values ($1, null)', [ctx.args.n]);
  await ctx.db.commit();
  return { n: ctx.args.n + 1 };
};
$$;
CALL counter_up(41);
SELECT n FROM batch;
-- ... and to a PL/pgSQL caller's variables
DO LANGUAGE plpgsql $$
DECLARE q int; r int;
BEGIN
  CALL shape_proc.divide(100, 7, q, r);
  RAISE NOTICE 'q=% r=%', q, r;
END $$;

-- a DO block at top level may commit too
TRUNCATE batch;
DO $$
export default async (ctx) => {
  for (let n = 1; n <= 4; n++) {
    await ctx.db.exec('insert into shape_proc.batch values ($1, null)', [n]);
    if (n === 2) await ctx.db.commit();
  }
  await ctx.db.rollback();
}
$$ LANGUAGE plts;
SELECT array_agg(n ORDER BY n) FROM batch;
BEGIN;
DO $$ export default async (ctx) => { await ctx.db.commit(); } $$ LANGUAGE plts;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- a procedure CALLed through ctx.db from a procedure runs atomically (ctx.db statements are subtransactions)
CREATE PROCEDURE outer_call() LANGUAGE plts AS $$
export default async (ctx) => { await ctx.db.exec('call shape_proc.fill(2)'); };
$$;
TRUNCATE batch;
CALL outer_call();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM batch;

-- a procedure's single INOUT parameter takes a bare value, as a function's does
CREATE PROCEDURE bump(INOUT n int) LANGUAGE plts AS $$ export default (ctx) => ctx.args.n + 1 $$;
CALL bump(41);
-- after a commit, a nested plts call that awaits ctx.db (here: an AFTER trigger) settles
CREATE TABLE after_commit(x int);
CREATE TABLE after_commit_log(n int);
CREATE FUNCTION count_rows() RETURNS trigger LANGUAGE plts AS $$
export default async (ctx) => {
  const [{ n }] = await ctx.db.query('select count(*)::int as n from after_commit');
  await ctx.db.exec('insert into after_commit_log values ($1)', [n]);
} $$;
CREATE TRIGGER count_rows AFTER INSERT ON after_commit FOR EACH ROW EXECUTE FUNCTION count_rows();
CREATE PROCEDURE insert_twice() LANGUAGE plts AS $$
export default async (ctx) => {
  await ctx.db.exec('insert into after_commit values (1)');
  await ctx.db.commit();
  await ctx.db.exec('insert into after_commit values (2)');
} $$;
CALL insert_twice();
SELECT n FROM after_commit_log ORDER BY n;

DROP SCHEMA shape_proc CASCADE;
