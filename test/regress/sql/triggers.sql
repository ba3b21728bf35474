-- Issue 13: trigger and event trigger functions in plts.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
RESET client_min_messages;
CREATE SCHEMA shape_trig;
SET search_path = shape_trig, public;

-- the classic audit trigger: AFTER INSERT/UPDATE/DELETE, old/new as jsonb in an audit table
CREATE TABLE account(id int PRIMARY KEY, owner text NOT NULL, balance numeric(12, 2) NOT NULL DEFAULT 0,
                     opened date, big int8, tags text[]);
CREATE TABLE audit_log(seq serial PRIMARY KEY, tbl text, op text, old_row jsonb, new_row jsonb, by_user text);
CREATE FUNCTION audit() RETURNS trigger LANGUAGE plts AS $$
export default async (ctx) => {
  const { op, schema, table, old, new: row } = ctx.trigger;
  await ctx.db.exec('insert into shape_trig.audit_log(tbl, op, old_row, new_row, by_user) values ($1, $2, $3, $4, current_user)',
    [`${schema}.${table}`, op, old, row]);
  return { ignored: 'what an AFTER trigger returns is ignored' };
};
$$;
CREATE TRIGGER account_audit AFTER INSERT OR UPDATE OR DELETE ON account
  FOR EACH ROW EXECUTE FUNCTION audit();
INSERT INTO account VALUES (1, 'ada', 100, '2024-02-29', 9007199254740993, '{vip}'), (2, 'bob', 5, NULL, NULL, NULL);
UPDATE account SET balance = balance + 0.5 WHERE id = 1;
DELETE FROM account WHERE id = 2;
SELECT seq, tbl, op, old_row, new_row, by_user = current_user AS by_me FROM audit_log ORDER BY seq;

-- an updated_at BEFORE trigger that normalizes the row too
CREATE TABLE doc(id int PRIMARY KEY, title text, slug text, created_at timestamptz DEFAULT now(), updated_at timestamptz);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plts AS $$
export default (ctx) => {
  const row = ctx.trigger.new;
  return { ...row, title: row.title.trim(), slug: row.title.trim().toLowerCase().replace(/\W+/g, '-'), updated_at: new Date(ctx.now) };
};
$$;
CREATE TRIGGER doc_touch BEFORE INSERT OR UPDATE OF title ON doc FOR EACH ROW EXECUTE FUNCTION touch();
BEGIN;
INSERT INTO doc(id, title) VALUES (1, '  Hello World  ');
SELECT id, title, slug, updated_at = date_trunc('milliseconds', now()) AS updated_now FROM doc;
COMMIT;
BEGIN;
UPDATE doc SET title = 'Second Draft!' WHERE id = 1;
SELECT id, title, slug, updated_at = date_trunc('milliseconds', now()) AS updated_now, updated_at > created_at AS later FROM doc;
COMMIT;

-- a BEFORE trigger that cancels the operation for some rows (returns null) and keeps others (undefined)
CREATE TABLE ledger(id int PRIMARY KEY, amount numeric, locked boolean DEFAULT false, at timestamptz);
INSERT INTO ledger VALUES (1, 10, false, '2024-01-01 10:00:00.123456+00'), (2, 20, true, '2024-01-01 10:00:00.654321+00'),
                          (3, 30, false, NULL);
CREATE FUNCTION guard() RETURNS trigger LANGUAGE plts AS $$
export default (ctx) => {
  const row = ctx.trigger.old ?? ctx.trigger.new;
  if (row.locked) return null;          // skip this row
  return undefined;                     // go ahead unchanged
};
$$;
CREATE TRIGGER ledger_guard BEFORE UPDATE OR DELETE ON ledger FOR EACH ROW EXECUTE FUNCTION guard();
DELETE FROM ledger WHERE id IN (1, 2);
UPDATE ledger SET amount = amount * 2;
-- undefined keeps the row exactly as PostgreSQL built it (microseconds included)
SELECT id, amount, locked, at FROM ledger ORDER BY id;
-- an INSERT skipped by a BEFORE trigger: INSERT 0 0
CREATE FUNCTION skip_all() RETURNS trigger LANGUAGE plts AS $$ export default () => null $$;
CREATE TABLE void_sink(x int);
CREATE TRIGGER void_skip BEFORE INSERT ON void_sink FOR EACH ROW EXECUTE FUNCTION skip_all();
INSERT INTO void_sink VALUES (1), (2);
SELECT count(*) FROM void_sink;
WITH ins AS (INSERT INTO void_sink VALUES (3) RETURNING x) SELECT count(*) AS returned FROM ins;

-- ctx.trigger: every field, for row and statement triggers
CREATE TABLE seen(seq serial, info jsonb);
CREATE FUNCTION record_ctx() RETURNS trigger LANGUAGE plts AS $$
export default async (ctx) => {
  const t = ctx.trigger;
  const [{ rel }] = await ctx.db.query('select $1::oid::regclass::text as rel', [t.relid]);
  await ctx.db.exec('insert into shape_trig.seen(info) values ($1)', [{
    op: t.op, when: t.when, level: t.level, name: t.name, table: t.table, schema: t.schema,
    relid_is: rel, args: t.args, new: t.new, old: t.old, keys: Object.keys(t).sort(),
    has_event: 'event' in ctx, has_window: 'window' in ctx,
  }]);
};
$$;
CREATE TABLE gadget(id int, name text);
CREATE TRIGGER g_row_before BEFORE INSERT OR UPDATE ON gadget FOR EACH ROW EXECUTE FUNCTION record_ctx('row', 'before');
CREATE TRIGGER g_row_after AFTER DELETE ON gadget FOR EACH ROW EXECUTE FUNCTION record_ctx();
CREATE TRIGGER g_stmt AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON gadget FOR EACH STATEMENT EXECUTE FUNCTION record_ctx('stmt', '');
INSERT INTO gadget VALUES (1, 'widget');
UPDATE gadget SET name = 'sprocket';
DELETE FROM gadget;
TRUNCATE gadget;
SELECT seq, jsonb_pretty(info) FROM seen ORDER BY seq;
-- a statement trigger fires even when no row changes
TRUNCATE seen;
UPDATE gadget SET name = 'none' WHERE false;
SELECT info->>'op' AS op, info->>'level' AS level, info->'new' AS new FROM seen;

-- INSTEAD OF triggers make a view writable
CREATE TABLE person_base(id int PRIMARY KEY, first text, last text);
CREATE VIEW person_v AS SELECT id, first || ' ' || last AS full_name FROM person_base;
CREATE FUNCTION person_v_write() RETURNS trigger LANGUAGE plts AS $$
export default async (ctx) => {
  const { op, new: row, old } = ctx.trigger;
  if (op === 'DELETE') { await ctx.db.exec('delete from shape_trig.person_base where id = $1', [old.id]); return old; }
  const [first, ...rest] = row.full_name.split(' ');
  if (first === 'nobody') return null;  // nothing done for this row
  if (op === 'INSERT')
    await ctx.db.exec('insert into shape_trig.person_base values ($1, $2, $3)', [row.id, first, rest.join(' ')]);
  else
    await ctx.db.exec('update shape_trig.person_base set first = $2, last = $3 where id = $1', [old.id, first, rest.join(' ')]);
  return row;
};
$$;
CREATE TRIGGER person_v_iud INSTEAD OF INSERT OR UPDATE OR DELETE ON person_v FOR EACH ROW EXECUTE FUNCTION person_v_write();
INSERT INTO person_v VALUES (1, 'Ada Lovelace'), (2, 'Alan Mathison Turing'), (3, 'nobody here');
UPDATE person_v SET full_name = 'Ada King' WHERE id = 1;
INSERT INTO person_v VALUES (4, 'Grace Hopper') RETURNING *;
DELETE FROM person_v WHERE id = 2;
SELECT * FROM person_base ORDER BY id;
SELECT * FROM person_v ORDER BY id;

-- transition tables are readable through ctx.db
CREATE TABLE stock(sku text PRIMARY KEY, qty int);
CREATE TABLE stock_summary(op text, rows_changed int, qty_before bigint, qty_after bigint);
CREATE FUNCTION summarize() RETURNS trigger LANGUAGE plts AS $$
export default async (ctx) => {
  const { op } = ctx.trigger;
  const before = op === 'INSERT' ? null : (await ctx.db.query('select count(*)::int as n, sum(qty) as s from old_rows'))[0];
  const after = op === 'DELETE' ? null : (await ctx.db.query('select count(*)::int as n, sum(qty) as s from new_rows'))[0];
  await ctx.db.exec('insert into shape_trig.stock_summary values ($1, $2, $3, $4)',
    [op, (after ?? before).n, before?.s ?? null, after?.s ?? null]);
};
$$;
CREATE TRIGGER stock_ins AFTER INSERT ON stock REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION summarize();
CREATE TRIGGER stock_upd AFTER UPDATE ON stock REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION summarize();
CREATE TRIGGER stock_del AFTER DELETE ON stock REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION summarize();
INSERT INTO stock SELECT 'sku' || i, i FROM generate_series(1, 10) i;
UPDATE stock SET qty = qty * 10 WHERE qty <= 3;
DELETE FROM stock WHERE qty > 8;
SELECT * FROM stock_summary;

-- a BEFORE trigger returning a bad row: unknown column 42703, a non-object 42804, a bad value
CREATE TABLE strict_t(id int, note text);
CREATE FUNCTION bad_row() RETURNS trigger LANGUAGE plts AS $$
export default (ctx) => ({
  unknown: { ...ctx.trigger.new, colour: 'red' },
  scalar: 42,
  badval: { ...ctx.trigger.new, id: 'one' },
  partial: { id: ctx.trigger.new.id },
})[ctx.trigger.args[0]];
$$;
CREATE TRIGGER strict_bad BEFORE INSERT ON strict_t FOR EACH ROW EXECUTE FUNCTION bad_row('unknown');
SELECT sqlstate_of($$insert into shape_trig.strict_t values (1, 'x')$$);
DROP TRIGGER strict_bad ON strict_t;
CREATE TRIGGER strict_bad BEFORE INSERT ON strict_t FOR EACH ROW EXECUTE FUNCTION bad_row('scalar');
SELECT sqlstate_of($$insert into shape_trig.strict_t values (1, 'x')$$);
DROP TRIGGER strict_bad ON strict_t;
CREATE TRIGGER strict_bad BEFORE INSERT ON strict_t FOR EACH ROW EXECUTE FUNCTION bad_row('badval');
SELECT sqlstate_of($$insert into shape_trig.strict_t values (1, 'x')$$);
-- a missing key is NULL, as for every composite
DROP TRIGGER strict_bad ON strict_t;
CREATE TRIGGER strict_bad BEFORE INSERT ON strict_t FOR EACH ROW EXECUTE FUNCTION bad_row('partial');
INSERT INTO strict_t VALUES (7, 'dropped');
SELECT * FROM strict_t;
-- an error thrown by a trigger aborts the statement with its SQLSTATE
CREATE FUNCTION reject() RETURNS trigger LANGUAGE plts AS $$
export default (ctx) => { throw Object.assign(new Error(`no ${ctx.trigger.op} on ${ctx.trigger.table}`), { sqlstate: '23514' }); };
$$;
CREATE TRIGGER strict_reject BEFORE DELETE ON strict_t FOR EACH ROW EXECUTE FUNCTION reject();
SELECT sqlstate_of('delete from shape_trig.strict_t');
SELECT count(*) FROM strict_t;

-- calling a trigger function directly is refused
SELECT sqlstate_of('select shape_trig.audit()');
-- ctx.trigger is absent in an ordinary function
CREATE FUNCTION plain_keys() RETURNS text LANGUAGE plts AS $$ export default (ctx) => String('trigger' in ctx) $$;
SELECT plain_keys();

-- a trigger on a partitioned table is cloned to its partitions; ctx.trigger.table is the partition
CREATE TABLE measurement(city text, logdate date, reading int) PARTITION BY RANGE (logdate);
CREATE TABLE measurement_2024 PARTITION OF measurement FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE measurement_2025 PARTITION OF measurement FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE FUNCTION clamp_reading() RETURNS trigger LANGUAGE plts AS $$
export default async (ctx) => {
  await ctx.db.exec('insert into shape_trig.seen(info) values ($1)', [{ table: ctx.trigger.table, name: ctx.trigger.name }]);
  return { ...ctx.trigger.new, reading: Math.min(ctx.trigger.new.reading, 100) };
};
$$;
CREATE TRIGGER measurement_clamp BEFORE INSERT ON measurement FOR EACH ROW EXECUTE FUNCTION clamp_reading();
TRUNCATE seen;
INSERT INTO measurement VALUES ('Oslo', '2024-06-01', 150), ('Rome', '2025-06-01', 42);
SELECT tableoid::regclass, * FROM measurement ORDER BY logdate;
SELECT info FROM seen ORDER BY seq;
-- a row moved between partitions by UPDATE goes through DELETE + INSERT: the BEFORE INSERT trigger runs
UPDATE measurement SET logdate = '2025-02-02', reading = 500 WHERE city = 'Oslo';
SELECT tableoid::regclass, * FROM measurement ORDER BY logdate;

-- event triggers: ctx.event = { event, tag }; created, used and dropped in one transaction so that
-- no other session's DDL reaches them
CREATE TABLE ddl_log(seq serial, event text, tag text, detail text);
CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plts AS $$
export default async (ctx) => {
  let detail = null;
  if (ctx.event.event === 'ddl_command_end') {
    const cmds = await ctx.db.query('select object_type, object_identity from pg_event_trigger_ddl_commands() order by 1, 2');
    detail = cmds.map((c) => `${c.object_type} ${c.object_identity}`).join('; ');
  }
  await ctx.db.exec('insert into shape_trig.ddl_log(event, tag, detail) values ($1, $2, $3)',
    [ctx.event.event, ctx.event.tag, detail]);
};
$$;
CREATE FUNCTION no_drops() RETURNS event_trigger LANGUAGE plts AS $$
export default (ctx) => { throw new Error(`${ctx.event.tag} is not allowed here (${Object.keys(ctx.event).sort().join(',')})`); };
$$;
BEGIN;
CREATE EVENT TRIGGER shape_trig_log_start ON ddl_command_start WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION log_ddl();
CREATE EVENT TRIGGER shape_trig_log_end ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION log_ddl();
CREATE EVENT TRIGGER shape_trig_no_drops ON sql_drop WHEN TAG IN ('DROP SEQUENCE') EXECUTE FUNCTION no_drops();
CREATE TABLE shape_trig.evt_made(id int);
ALTER TABLE shape_trig.evt_made ADD COLUMN note text;
CREATE SEQUENCE shape_trig.evt_seq;
SAVEPOINT s;
DROP SEQUENCE shape_trig.evt_seq;
ROLLBACK TO SAVEPOINT s;
DROP EVENT TRIGGER shape_trig_log_start;
DROP EVENT TRIGGER shape_trig_log_end;
DROP EVENT TRIGGER shape_trig_no_drops;
COMMIT;
SELECT seq, event, tag, detail FROM ddl_log ORDER BY seq;
-- an event trigger function cannot be called directly either
SELECT sqlstate_of('select shape_trig.log_ddl()');

-- a BEFORE trigger that returns {...ctx.trigger.new, x} keeps the microseconds of the timestamps
-- it did not touch (a Date holds milliseconds); a Date it changed in place converts anew
CREATE TABLE stamped(id int, created_at timestamptz, note text);
CREATE FUNCTION touch_note() RETURNS trigger LANGUAGE plts AS $$
export default (ctx) => {
  const n = ctx.trigger.new;
  if (n.note === 'move') n.created_at.setTime(Date.UTC(2001, 0, 1));
  return { ...n, note: n.note + '!' };
} $$;
CREATE TRIGGER touch BEFORE INSERT OR UPDATE ON stamped FOR EACH ROW EXECUTE FUNCTION touch_note();
INSERT INTO stamped VALUES (1, '2024-05-06 07:08:09.123456+00', 'keep'), (2, '2024-05-06 07:08:09.123456+00', 'move');
UPDATE stamped SET note = 'again' WHERE id = 1;
SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS created_at, note
  FROM stamped ORDER BY id;

DROP SCHEMA shape_trig CASCADE;
