-- stopgap deploys every shape of plts routine (issue 13): SETOF and TABLE results, composite
-- arguments and results, RETURNS record, OUT/INOUT, polymorphic and VARIADIC arguments, int8 as
-- BigInt through a SET clause, trigger and event trigger functions, window functions, procedures.
-- Live pointers keep the source's signature, RETURNS clause, WINDOW flag and kind; a table's
-- trigger and an event trigger on live functions keep working across redeploys and rollbacks; a
-- deploy that would have to drop a live function a trigger uses fails (2BP01) and changes nothing.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION stopgap;
SET stopgap.live_schema = 'sgs_live';

CREATE SCHEMA sgs_data;
CREATE TABLE sgs_data.item(id int PRIMARY KEY, name text, price numeric, note text);
INSERT INTO sgs_data.item VALUES (1, 'apple', 1.50, NULL), (2, 'pear', 2.25, NULL), (3, 'fig', 4.00, NULL);
CREATE TABLE sgs_data.audit(op text, rows_seen int, version text);
CREATE TABLE sgs_data.ddl_log(event text, tag text, version text);
CREATE TABLE sgs_data.journal(id int, entry text);

-- The source schema: one function of each shape. Each body says "v1"; the redeploy below says "v2".
CREATE SCHEMA sgs_app;
CREATE FUNCTION sgs_app.series(n int) RETURNS SETOF int LANGUAGE plts IMMUTABLE STRICT AS $$
export default function* (ctx: any) { for (let i = 1; i <= ctx.args.n; i++) yield i; }
$$;
CREATE FUNCTION sgs_app.cheaper(max_price numeric) RETURNS TABLE(id int, name text) LANGUAGE plts STABLE ROWS 10 AS $$
export default async function* (ctx: any) {
  const rows = await ctx.db.query('select id, name from sgs_data.item where price < $1 order by id', [ctx.args.max_price]);
  for (const r of rows) yield r;
}
$$;
CREATE FUNCTION sgs_app.items_like(pattern text) RETURNS SETOF sgs_data.item LANGUAGE plts STABLE AS $$
export default async (ctx: any) =>
  ctx.db.query('select * from sgs_data.item where name like $1 order by id', [ctx.args.pattern]);
$$;
CREATE FUNCTION sgs_app.with_note(it sgs_data.item, note text) RETURNS sgs_data.item LANGUAGE plts AS $$
export default (ctx: any) => ({ ...ctx.args.it, note: `${ctx.args.note} v1` });
$$;
CREATE FUNCTION sgs_app.pair(a int) RETURNS record LANGUAGE plts AS $$
export default (ctx: any) => ({ a: ctx.args.a, b: 'v1' });
$$;
CREATE FUNCTION sgs_app.split_name(full_name text, OUT first text, OUT last text) LANGUAGE plts IMMUTABLE AS $$
export default (ctx: any) => { const [first, last] = ctx.args.full_name.split(' '); return { first, last }; };
$$;
CREATE FUNCTION sgs_app.twice(INOUT x int) LANGUAGE plts IMMUTABLE AS $$
export default (ctx: any) => ctx.args.x * 2;
$$;
CREATE FUNCTION sgs_app.first_of(xs anyarray) RETURNS anyelement LANGUAGE plts IMMUTABLE AS $$
export default (ctx: any) => ctx.args.xs[0];
$$;
CREATE FUNCTION sgs_app.joined(sep text, VARIADIC parts text[]) RETURNS text LANGUAGE plts IMMUTABLE AS $$
export default (ctx: any) => ctx.args.parts.join(ctx.args.sep) + ' v1';
$$;
CREATE FUNCTION sgs_app.arg_count(VARIADIC "any") RETURNS int LANGUAGE plts AS $$
export default (ctx: any) => ctx.argv[0].length;
$$;
CREATE FUNCTION sgs_app.big(x int8) RETURNS int8 LANGUAGE plts IMMUTABLE SET plts.int8 = 'bigint' AS $$
export default (ctx: any) => typeof ctx.args.x === 'bigint' ? ctx.args.x * 2n : -1;
$$;
CREATE FUNCTION sgs_app.stamp() RETURNS trigger LANGUAGE plts AS $$
export default (ctx: any) => {
  const t = ctx.trigger;
  if (t.new.name === 'skip') return null;
  return { ...t.new, note: `${t.args[0]} ${t.op} v1` };
};
$$;
CREATE FUNCTION sgs_app.audit() RETURNS trigger LANGUAGE plts AS $$
export default async (ctx: any) => {
  const [{ n }] = await ctx.db.query('select count(*)::int as n from inserted');
  await ctx.db.exec('insert into sgs_data.audit values ($1, $2, $3)', [ctx.trigger.op, n, 'v1']);
};
$$;
CREATE FUNCTION sgs_app.ddl_seen() RETURNS event_trigger LANGUAGE plts AS $$
export default async (ctx: any) => {
  await ctx.db.exec('insert into sgs_data.ddl_log values ($1, $2, $3)', [ctx.event.event, ctx.event.tag, 'v1']);
};
$$;
CREATE FUNCTION sgs_app.prev_of(x int) RETURNS int WINDOW LANGUAGE plts AS $$
export default (ctx: any) => ctx.window.value(0, -1) ?? null;
$$;
CREATE PROCEDURE sgs_app.add_entry(id int, entry text, INOUT entries bigint DEFAULT NULL) LANGUAGE plts AS $$
export default async (ctx: any) => {
  await ctx.db.exec('insert into sgs_data.journal values ($1, $2)', [ctx.args.id, `${ctx.args.entry} v1`]);
  await ctx.db.commit();
  await ctx.db.exec('insert into sgs_data.journal values ($1, $2)', [ctx.args.id + 1000, 'rolled back']);
  await ctx.db.rollback();
  const [{ n }] = await ctx.db.query('select count(*)::int as n from sgs_data.journal');
  return { entries: n };
};
$$;

SELECT stopgap.deploy('sgs', 'sgs_app', 'v1') AS d1 \gset
SELECT count(*) AS problems FROM stopgap.check('sgs');
-- every live pointer has its source's shape: kind, arguments, result, set-ness, rows, WINDOW, SET
SELECT s.proname, l.prokind, pg_get_function_arguments(l.oid) AS arguments, pg_get_function_result(l.oid) AS result,
       (s.prokind, s.proretset, s.prorows, s.provolatile, s.proisstrict, s.proconfig, s.proargtypes,
        pg_get_function_arguments(s.oid), pg_get_function_result(s.oid))
       IS NOT DISTINCT FROM
       (l.prokind, l.proretset, l.prorows, l.provolatile, l.proisstrict, l.proconfig, l.proargtypes,
        pg_get_function_arguments(l.oid), pg_get_function_result(l.oid)) AS same_shape,
       l.prosrc::jsonb->>'kind' AS stub, pg_get_userbyid(l.proowner) AS owner
  FROM pg_proc s JOIN pg_proc l ON l.proname = s.proname AND l.pronamespace = 'sgs_live'::regnamespace
 WHERE s.pronamespace = 'sgs_app'::regnamespace ORDER BY 1;
SELECT fn_name, routine, result, kind FROM stopgap.fn_version WHERE deployment_id = :d1 ORDER BY fn_name;
SELECT f->>'fn_name' AS fn_name, f->>'routine' AS routine
  FROM stopgap.deployment d, jsonb_array_elements(d.manifest->'functions') f
 WHERE d.id = :d1 AND f->>'routine' <> 'function' ORDER BY 1;

-- app SQL on the live schema, with triggers on live functions
CREATE TEMP TABLE calls(step text, v1 text, v2 text, v3 text, v4 text, v5 text, v6 text);
CREATE TRIGGER item_stamp BEFORE INSERT OR UPDATE ON sgs_data.item
  FOR EACH ROW EXECUTE FUNCTION sgs_live.stamp('stamped');
CREATE TRIGGER item_audit AFTER INSERT ON sgs_data.item
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION sgs_live.audit();
CREATE EVENT TRIGGER sgs_ddl ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
  EXECUTE FUNCTION sgs_live.ddl_seen();

-- One row per step: what each live function answers (the bodies tell v1 from v2).
CREATE FUNCTION pg_temp.probe(step text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO calls
  SELECT step,
         (SELECT string_agg(s::text, ',') FROM sgs_live.series(3) s),
         (SELECT sgs_live.joined('-', 'a', 'b')),
         (SELECT (sgs_live.with_note(i, 'n')).note FROM sgs_data.item i WHERE i.id = 1),
         (SELECT b FROM sgs_live.pair(1) AS t(a int, b text)),
         (SELECT sgs_live.twice(21)::text),
         (SELECT string_agg(coalesce(p::text, '-'), ',' ORDER BY id)
            FROM (SELECT id, sgs_live.prev_of(id) OVER (ORDER BY id) AS p FROM sgs_data.item WHERE id < 4) w);
END
$$;
SELECT pg_temp.probe('v1');

-- SETOF in FROM and laterally
SELECT * FROM sgs_live.series(3);
SELECT i.id, s FROM sgs_data.item i, LATERAL sgs_live.series(i.id) s ORDER BY 1, 2;
SELECT * FROM sgs_live.cheaper(3);
SELECT id, name FROM sgs_live.items_like('%p%');
-- composites, records, OUT/INOUT, polymorphic, VARIADIC, int8 as BigInt
SELECT (sgs_live.with_note(i, 'hello')).* FROM sgs_data.item i WHERE i.id = 2;
SELECT * FROM sgs_live.pair(7) AS t(a int, b text);
SELECT * FROM sgs_live.split_name('Ada Lovelace');
SELECT sgs_live.twice(21);
SELECT sgs_live.first_of(ARRAY[5, 6]), sgs_live.first_of(ARRAY['x', 'y']);
SELECT sgs_live.joined('-', 'a', 'b', 'c'), sgs_live.joined('+', VARIADIC ARRAY['d', 'e']);
SELECT sgs_live.arg_count(1, 'two', now());
SELECT sgs_live.big(4611686018427387903);
-- a window function beside the built-in it mirrors
SELECT id, sgs_live.prev_of(id) OVER w AS prev_of, lag(id) OVER w AS lag
  FROM sgs_data.item WINDOW w AS (ORDER BY id) ORDER BY id;
-- triggers: BEFORE row (stamp, skip), AFTER statement with a transition table, event trigger
UPDATE sgs_data.item SET price = price + 1 WHERE id = 1;
INSERT INTO sgs_data.item(id, name, price) VALUES (4, 'plum', 3), (5, 'skip', 3);
SELECT id, name, note FROM sgs_data.item WHERE id IN (1, 4, 5) ORDER BY id;
SELECT * FROM sgs_data.audit;
CREATE TABLE sgs_data.made_v1(x int);
SELECT * FROM sgs_data.ddl_log;
-- a live procedure, called in a non-atomic context: it commits and rolls back
CALL sgs_live.add_entry(1, 'first');
SELECT * FROM sgs_data.journal;
-- in a transaction block the same procedure cannot commit
\set VERBOSITY sqlstate
BEGIN;
CALL sgs_live.add_entry(2, 'second');
ROLLBACK;
\set VERBOSITY default

-- redeploy every body as v2: the same live routines (oids) stay, the triggers follow
CREATE TEMP TABLE live_oids AS SELECT oid, proname FROM pg_proc WHERE pronamespace = 'sgs_live'::regnamespace;
DO $$
DECLARE
  f record;
  def text;
BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'sgs_app'::regnamespace LOOP
    def := replace(pg_get_functiondef(f.oid), 'v1', 'v2');
    EXECUTE def;
  END LOOP;
END
$$;
SELECT jsonb_pretty(s->'summary') AS summary,
       (SELECT array_agg(DISTINCT r) FROM jsonb_array_elements(s->'functions') f, jsonb_array_elements_text(f->'reasons') r) AS reasons
  FROM stopgap.diff('sgs', 'sgs_app') s;
SELECT stopgap.deploy('sgs', 'sgs_app', 'v2') AS d2 \gset
SELECT count(*) AS problems FROM stopgap.check('sgs');
SELECT count(*) AS live, count(*) FILTER (WHERE o.oid IS NOT NULL) AS same_oid
  FROM pg_proc p LEFT JOIN live_oids o ON o.oid = p.oid WHERE p.pronamespace = 'sgs_live'::regnamespace;
SELECT pg_temp.probe('v2');
UPDATE sgs_data.item SET price = price + 1 WHERE id = 1;
INSERT INTO sgs_data.item(id, name, price) VALUES (8, 'date', 3);
SELECT id, note FROM sgs_data.item WHERE id IN (1, 8) ORDER BY id;
SELECT * FROM sgs_data.audit;
CALL sgs_live.add_entry(3, 'third');
SELECT * FROM sgs_data.journal;
CREATE TABLE sgs_data.made_v2(x int);
SELECT * FROM sgs_data.ddl_log;

-- roll back: the v1 bodies answer again, through the same triggers
SELECT stopgap.rollback('sgs') = :d1 AS rolled_back_to_d1;
SELECT count(*) AS problems FROM stopgap.check('sgs');
SELECT pg_temp.probe('rolled back');
UPDATE sgs_data.item SET price = price + 1 WHERE id = 1;
SELECT id, note FROM sgs_data.item WHERE id = 1;
CALL sgs_live.add_entry(4, 'fourth');
SELECT * FROM sgs_data.journal;
CREATE TABLE sgs_data.made_after_rollback(x int);
SELECT * FROM sgs_data.ddl_log;
SELECT step, v1 AS series, v2 AS joined, v3 AS with_note, v4 AS pair, v5 AS twice, v6 AS prev_of FROM calls;

-- A deploy that must drop and re-create a live function that a trigger uses fails, names the
-- trigger and changes nothing: stopgap never cascades into a user's objects.
DROP FUNCTION sgs_app.stamp();
CREATE FUNCTION sgs_app.stamp() RETURNS text LANGUAGE plts AS $$ export default () => 'not a trigger' $$;
CREATE TEMP TABLE before AS
  SELECT (SELECT count(*) FROM stopgap.deployment) AS deployments,
         (SELECT string_agg(p.prosrc || pg_get_function_result(p.oid), ',' ORDER BY p.proname)
            FROM pg_proc p WHERE p.pronamespace = 'sgs_live'::regnamespace) AS live;
SELECT stopgap.deploy('sgs', 'sgs_app', 'retyped');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT (SELECT count(*) FROM stopgap.deployment) = deployments AS same_deployments,
       (SELECT string_agg(p.prosrc || pg_get_function_result(p.oid), ',' ORDER BY p.proname)
          FROM pg_proc p WHERE p.pronamespace = 'sgs_live'::regnamespace) = live AS same_live
  FROM before;
UPDATE sgs_data.item SET price = price + 1 WHERE id = 1;
SELECT id, note FROM sgs_data.item WHERE id = 1;
-- the same for a rollback whose target has another shape than the live function a view uses
DROP FUNCTION sgs_app.stamp();
CREATE FUNCTION sgs_app.stamp() RETURNS trigger LANGUAGE plts AS $$
export default (ctx: any) => ({ ...ctx.trigger.new, note: 'v3' });
$$;
DROP FUNCTION sgs_app.pair(int);
CREATE FUNCTION sgs_app.pair(a int, OUT a2 int, OUT b text) LANGUAGE plts AS $$
export default (ctx: any) => ({ a2: ctx.args.a * 2, b: 'v3' });
$$;
SELECT stopgap.deploy('sgs', 'sgs_app', 'v3') AS d3 \gset
SELECT * FROM sgs_live.pair(4);
CREATE VIEW sgs_data.paired AS SELECT * FROM sgs_live.pair(5);
SELECT stopgap.rollback('sgs');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT * FROM sgs_data.paired;
DROP VIEW sgs_data.paired;
SELECT stopgap.rollback('sgs') = :d1 AS rolled_back_to_d1;
SELECT * FROM sgs_live.pair(7) AS t(a int, b text);
SELECT count(*) AS problems FROM stopgap.check('sgs');

-- prune drops procedures and window functions the deployment lacks, and keeps what a trigger uses
DROP PROCEDURE sgs_app.add_entry(int, text, bigint);
DROP FUNCTION sgs_app.prev_of(int), sgs_app.audit();
SET stopgap.prune = on;
SELECT stopgap.deploy('sgs', 'sgs_app', 'pruned') AS d4 \gset
SELECT jsonb_pretty(manifest->'prune') AS prune FROM stopgap.deployment WHERE id = :d4;
SELECT count(*) AS problems FROM stopgap.check('sgs');
DROP TRIGGER item_audit ON sgs_data.item;
SELECT stopgap.deploy('sgs', 'sgs_app', 'pruned again') AS d5 \gset
SELECT manifest->'prune'->'dropped' AS dropped FROM stopgap.deployment WHERE id = :d5;
SELECT count(*) AS problems FROM stopgap.check('sgs');
RESET stopgap.prune;

-- cleanup (deployments are history and go with the extension)
DROP EVENT TRIGGER sgs_ddl;
DROP SCHEMA sgs_data, sgs_app, sgs_live CASCADE;
-- (the environments first: DROP EXTENSION stopgap is refused while any exists)
SELECT count(stopgap.drop_environment(env)) >= 0 AS dropped FROM stopgap.environment;
DROP EXTENSION stopgap;
