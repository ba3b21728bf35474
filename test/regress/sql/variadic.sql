-- Issue 13: VARIADIC parameters arrive as an array.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
RESET client_min_messages;
CREATE SCHEMA shape_var;
SET search_path = shape_var, public;

-- VARIADIC int[]: the trailing arguments arrive as one array
CREATE FUNCTION total(VARIADIC xs int[]) RETURNS int LANGUAGE plts AS $$
export default ({ args: { xs } }) => xs.reduce((a, b) => a + (b ?? 0), 0);
$$;
SELECT total(1), total(1, 2, 3), total(1, NULL, 3);
-- explicit VARIADIC ARRAY[...], an empty array, a NULL array
SELECT total(VARIADIC ARRAY[10, 20]), total(VARIADIC '{}'::int[]);
CREATE FUNCTION show_args(label text, VARIADIC xs numeric[]) RETURNS jsonb LANGUAGE plts AS $$
export default (ctx) => ({ args: ctx.args, argv: ctx.argv, is_array: Array.isArray(ctx.args.xs) });
$$;
SELECT show_args('a', 1, 2.5), show_args('b', VARIADIC ARRAY[3]);
SELECT show_args('c', VARIADIC NULL);
SELECT sqlstate_of('select shape_var.total()');

-- VARIADIC text[] after a normal parameter, the usual join
CREATE FUNCTION joined(sep text, VARIADIC parts text[]) RETURNS text LANGUAGE plts AS $$
export default ({ args: { sep, parts } }) => parts.filter((p) => p !== null).join(sep);
$$;
SELECT joined('-', 'a', 'b', 'c'), joined(', ', VARIADIC string_to_array('x y z', ' ')), joined('+', 'solo');
-- named notation
SELECT joined(sep => '/', VARIADIC parts => ARRAY['p', 'q']);

-- VARIADIC "any": mixed types, each element converted as its own type
CREATE FUNCTION describe(VARIADIC "any") RETURNS text LANGUAGE plts AS $$
export default (ctx) => ctx.argv[0].map((x) =>
  x === null ? 'null' : x instanceof Date ? 'Date' : Array.isArray(x) ? `array(${x.length})` : `${typeof x}:${typeof x === 'object' ? JSON.stringify(x) : x}`).join(', ');
$$;
SELECT describe(1, 'two'::text, true, 2.5, 9007199254740993::int8, NULL::int, '2024-01-01'::date, ARRAY[1, 2], '{"k": 1}'::jsonb);
SELECT describe(42);
-- explicit VARIADIC with "any": the array's elements
SELECT describe(VARIADIC ARRAY[1, 2, 3]), describe(VARIADIC ARRAY['a', 'b']);
CREATE FUNCTION any_shape(label text, VARIADIC "any") RETURNS jsonb LANGUAGE plts AS $$
export default (ctx) => ({ argv: ctx.argv, args: ctx.args });
$$;
SELECT any_shape('mixed', 1, 'x'::text, false);

-- VARIADIC with a polymorphic element type
CREATE FUNCTION greatest_js(VARIADIC xs anyarray) RETURNS anyelement LANGUAGE plts AS $$
export default ({ args: { xs } }) => xs.reduce((a, b) => (b !== null && (a === null || b > a) ? b : a), null);
$$;
SELECT greatest_js(3, 9, 4), greatest_js('pear'::text, 'apple', 'zucchini'), pg_typeof(greatest_js(1.5, 2.0));
CREATE FUNCTION sum_compatible(VARIADIC xs anycompatiblearray) RETURNS anycompatible LANGUAGE plts AS $$
export default ({ args: { xs } }) => xs.reduce((a, b) => a + Number(b), 0);
$$;
SELECT sum_compatible(1, 2.5, 3::int8), pg_typeof(sum_compatible(1, 2.5));

DROP SCHEMA shape_var CASCADE;
