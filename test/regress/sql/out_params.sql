-- Issue 13: OUT, INOUT and TABLE parameters.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
RESET client_min_messages;
CREATE SCHEMA shape_out;
SET search_path = shape_out, public;

-- one OUT parameter: the value itself
CREATE FUNCTION area(w int, h int, OUT a int) LANGUAGE plts AS $$ export default (ctx) => ctx.args.w * ctx.args.h $$;
SELECT area(3, 4), pg_get_function_result('shape_out.area(int, int)'::regprocedure);
SELECT * FROM area(5, 6);
-- an object keyed by the single OUT name is taken too; any other object is 42804
CREATE FUNCTION area_obj(w int, h int, OUT a int) LANGUAGE plts AS $$
export default (ctx) => ctx.args.w < 0 ? { b: 1 } : { a: ctx.args.w * ctx.args.h };
$$;
SELECT area_obj(2, 3);
SELECT sqlstate_of('select shape_out.area_obj(-1, 2)');

-- several OUT parameters: an object keyed by their names (the old
-- "cannot return polymorphic or record types" refusal is gone)
CREATE FUNCTION split_name(full_name text, OUT first text, OUT last text, OUT parts int) LANGUAGE plts AS $$
export default (ctx) => {
  const words = ctx.args.full_name.split(' ');
  return { first: words[0], last: words.length > 1 ? words[words.length - 1] : undefined, parts: words.length };
};
$$;
SELECT * FROM split_name('Ada King Lovelace');
SELECT split_name('Plato');
SELECT (split_name('Grace Hopper')).last;
SELECT pg_get_function_result('split_name'::regproc), prorettype::regtype FROM pg_proc WHERE oid = 'split_name'::regproc;
-- the OUT parameters are not in ctx.args / ctx.argv
CREATE FUNCTION args_seen(a int, OUT x jsonb, OUT y int) LANGUAGE plts AS $$
export default (ctx) => ({ x: { args: ctx.args, argv: ctx.argv }, y: ctx.argv.length });
$$;
SELECT * FROM args_seen(7);
-- a missing OUT key is NULL; an unknown one is 42703 naming it; a non-object is 42804
CREATE FUNCTION outs(kind text, OUT a int, OUT b text) LANGUAGE plts AS $$
export default (ctx) => ({ missing: { b: 'only b' }, unknown: { a: 1, b: 'x', c: 2 }, scalar: 5, none: undefined })[ctx.args.kind];
$$;
SELECT * FROM outs('missing');
SELECT *, (outs('none')) IS NULL AS all_null FROM outs('none');
SELECT sqlstate_of($$select shape_out.outs('unknown')$$);
SELECT sqlstate_of($$select shape_out.outs('scalar')$$);

-- INOUT: the value arrives in ctx.args and the result replaces it
CREATE FUNCTION twice(INOUT x int) LANGUAGE plts AS $$ export default (ctx) => ctx.args.x * 2 $$;
SELECT twice(21), * FROM twice(5);
CREATE FUNCTION swap(INOUT a text, INOUT b text) LANGUAGE plts AS $$
export default ({ args: { a, b } }) => ({ a: b, b: a });
$$;
SELECT * FROM swap('left', 'right');
CREATE FUNCTION bump(INOUT counter int, step int, OUT previous int) LANGUAGE plts AS $$
export default ({ args }) => ({ counter: args.counter + args.step, previous: args.counter });
$$;
SELECT * FROM bump(10, 5);

-- RETURNS TABLE with one column: a row may be the value or an object
CREATE FUNCTION one_col(kind text) RETURNS TABLE(x int) LANGUAGE plts AS $$
export default function* (ctx) {
  if (ctx.args.kind === 'values') { yield 1; yield 2; }
  else { yield { x: 1 }; yield { x: 2 }; }
}
$$;
SELECT * FROM one_col('values');
SELECT * FROM one_col('objects');
SELECT x + 1 AS next FROM one_col('values');
-- RETURNS TABLE with several columns
CREATE FUNCTION squares(n int) RETURNS TABLE(n int, square bigint, label text) LANGUAGE plts AS $$
export default function* (ctx) {
  for (let i = 1; i <= ctx.args.n; i++) yield { n: i, square: i * i, label: `${i}^2` };
}
$$;
SELECT * FROM squares(3);
SELECT label FROM squares(4) WHERE square > 4;

-- OUT parameters with SETOF record
CREATE FUNCTION enumerate(items text[], OUT idx int, OUT item text) RETURNS SETOF record LANGUAGE plts AS $$
export default (ctx) => ctx.args.items.map((item, idx) => ({ idx, item }));
$$;
SELECT * FROM enumerate(ARRAY['a', 'b', 'c']);
SELECT e.* FROM (VALUES (ARRAY['x']), (ARRAY['y', 'z'])) v(arr), LATERAL enumerate(arr) e;

-- OUT with polymorphic types
CREATE FUNCTION min_max(xs anyarray, OUT lo anyelement, OUT hi anyelement) LANGUAGE plts AS $$
export default ({ args: { xs } }) => {
  const s = [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { lo: s[0], hi: s[s.length - 1] };
};
$$;
SELECT * FROM min_max(ARRAY[3, 1, 2]);
SELECT * FROM min_max(ARRAY['pear', 'apple']);

-- a procedure with OUT/INOUT is covered in procedures.sql
DROP SCHEMA shape_out CASCADE;
