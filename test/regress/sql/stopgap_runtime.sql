-- @stopgap/runtime inside the database: query/mutation wrappers, argument validation, metadata.
CREATE SCHEMA rt;
SET search_path = rt, public;
CREATE TABLE notes(id int PRIMARY KEY, body text);
INSERT INTO notes VALUES (1, 'first');
CREATE FUNCTION sneaky_write() RETURNS int VOLATILE LANGUAGE plpgsql AS $$
BEGIN INSERT INTO notes VALUES (100, 'sneaky'); RETURN 1; END $$;

-- a query reads, with typed and validated args; its ctx.db is read-only even in a VOLATILE function
CREATE FUNCTION get_note(args jsonb) RETURNS jsonb VOLATILE LANGUAGE plts AS $$
import { query, v } from "@stopgap/runtime";
export default query(v.object({ id: v.int() }), async (args, ctx) => {
  const rows = await ctx.db.query('select id, body from notes where id = $1', [args.id]);
  return { mode: ctx.db.mode, note: rows[0] ?? null };
});
$$;
SELECT get_note('{"id": 1}');
-- bad args fail with the JSON path
SELECT get_note('{"id": "1"}');
SELECT get_note('{}');
SELECT get_note('{"id": 1, "extra": true}');

-- every way to write from a query is refused, by the wrapper and by PostgreSQL
CREATE FUNCTION try_in_query(args jsonb) RETURNS text VOLATILE LANGUAGE plts AS $$
import { query, v } from "@stopgap/runtime";
export default query(v.object({ how: v.string() }), async (args, ctx) => {
  const attempts: Record<string, () => Promise<unknown>> = {
    exec: () => ctx.db.exec("insert into notes values (2, 'x')"),
    insert: () => ctx.db.query("insert into notes values (3, 'x') returning id"),
    volatile_fn: () => ctx.db.query('select sneaky_write()'),
    cte: () => ctx.db.query("with d as (delete from notes where id = 1 returning id) select * from d"),
    for_update: () => ctx.db.query('select * from notes where id = 1 for update'),
  };
  try { await attempts[args.how](); return 'allowed'; }
  catch (e: any) { return `${e.sqlstate}: ${e.message}`; }
});
$$;
SELECT how, try_in_query(jsonb_build_object('how', how))
  FROM unnest(ARRAY['exec', 'insert', 'volatile_fn', 'cte', 'for_update']) how;
SELECT count(*) AS untouched FROM notes;

-- a mutation may write
CREATE FUNCTION add_note(args jsonb) RETURNS jsonb LANGUAGE plts AS $$
import { mutation, v } from "@stopgap/runtime";
export default mutation(v.object({ id: v.int(), body: v.string() }), async (args, ctx) => {
  const r = await ctx.db.exec('insert into notes values ($1, $2)', [args.id, args.body]);
  return { mode: ctx.db.mode, inserted: r.rowCount };
});
$$;
SELECT add_note('{"id": 2, "body": "second"}');
SELECT * FROM notes ORDER BY id;

-- plain JSON-Schema args work too
CREATE FUNCTION json_schema_args(args jsonb) RETURNS jsonb LANGUAGE plts AS $$
import { mutation } from "@stopgap/runtime";
export default mutation({ type: 'object', required: ['tags'], additionalProperties: false,
  properties: { tags: { type: 'array', items: { type: 'string' } } } }, async (args: any) => args.tags.length);
$$;
SELECT json_schema_args('{"tags": ["a", "b"]}');
SELECT json_schema_args('{"tags": ["a", 2]}');

-- loading a module tells the kind of each export (what stopgap records at deploy)
SELECT plts.compile_and_store($$
import { query, mutation, v } from "@stopgap/runtime";
export const list = query(v.object({}), async () => []);
export const save = mutation(v.object({}), async () => null);
export const helper = () => 1;
export const version = 3;
export default query(v.object({}), async () => 'default');
$$) AS kinds \gset
SELECT key, value FROM jsonb_each_text(plts.artifact_exports(:'kinds')) ORDER BY key;
SELECT plts.artifact_exports('nope');

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA rt CASCADE;
RESET client_min_messages;
