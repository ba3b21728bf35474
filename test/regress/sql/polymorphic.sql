-- Issue 13: polymorphic arguments and results, resolved per call site.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
RESET client_min_messages;
CREATE SCHEMA shape_poly;
SET search_path = shape_poly, public;

-- anyelement: the value converts as its actual type, the result as the resolved one
CREATE FUNCTION ident(x anyelement) RETURNS anyelement LANGUAGE plts AS $$ export default (ctx) => ctx.args.x $$;
CREATE FUNCTION js_type(x anyelement) RETURNS text LANGUAGE plts AS $$
export default ({ args: { x } }) => x === null ? 'null' : x instanceof Date ? 'Date' : Array.isArray(x) ? 'array' : typeof x;
$$;
-- the same functions with different types in one query
SELECT ident(1) AS i, ident('x'::text) AS t, ident(true) AS b, ident(2.5::numeric) AS n,
       ident('2024-02-29'::date) AS d, ident('{"a": 1}'::jsonb) AS j, ident(ARRAY[1, 2]) AS arr;
SELECT pg_typeof(ident(1)), pg_typeof(ident('x'::varchar)), pg_typeof(ident(1::int8)), pg_typeof(ident(now()::date));
SELECT js_type(1) AS int4, js_type(1::int8) AS int8, js_type(1.5::float8) AS float8, js_type(1.5) AS numeric,
       js_type('x'::text) AS text, js_type(now()) AS tz, js_type('{}'::jsonb) AS jsonb, js_type(NULL::int) AS null;
-- one call site, rows of one type: the converter is chosen for it
SELECT v, ident(v) FROM (VALUES (10), (20), (NULL)) t(v);
-- an unresolved call is PostgreSQL's own error
SELECT sqlstate_of($$select shape_poly.ident('unknown literal')$$);
-- the result must fit the resolved type
CREATE FUNCTION plus_one(x anyelement) RETURNS anyelement LANGUAGE plts AS $$ export default (ctx) => ctx.args.x + 1 $$;
SELECT plus_one(41), plus_one(1.5::float8), plus_one('a'::text);
SELECT sqlstate_of('select shape_poly.plus_one(2147483647)'), sqlstate_of('select shape_poly.plus_one(true)');

-- anyarray / anyelement together
CREATE FUNCTION first_of(xs anyarray) RETURNS anyelement LANGUAGE plts AS $$ export default (ctx) => ctx.args.xs[0] $$;
CREATE FUNCTION append_js(xs anyarray, x anyelement) RETURNS anyarray LANGUAGE plts AS $$
export default ({ args: { xs, x } }) => [...(xs ?? []), x];
$$;
SELECT first_of(ARRAY[5, 6]), first_of(ARRAY['x', 'y']), first_of(ARRAY['2024-01-01'::date]), first_of('{}'::int[]);
SELECT append_js(ARRAY[1, 2], 3), append_js(ARRAY['a'], 'b'), append_js(NULL::numeric[], 1.5);
SELECT append_js(ARRAY[1::int8], 9223372036854775807), pg_typeof(append_js(ARRAY[1::int8], 2::int8));
-- anynonarray refuses arrays at the call site
CREATE FUNCTION describe_scalar(x anynonarray) RETURNS text LANGUAGE plts AS $$
export default ({ args: { x } }) => `${typeof x}:${x}`;
$$;
SELECT describe_scalar(42), describe_scalar('forty-two'::text);
SELECT sqlstate_of('select shape_poly.describe_scalar(array[1])');

-- anycompatible: arguments are promoted to a common type
CREATE FUNCTION larger(a anycompatible, b anycompatible) RETURNS anycompatible LANGUAGE plts AS $$
export default ({ args: { a, b } }) => (Number(a) >= Number(b) ? a : b);
$$;
SELECT larger(1, 2.5), pg_typeof(larger(1, 2.5)), larger(7, 3::int8), pg_typeof(larger(7, 3::int8));
CREATE FUNCTION with_extra(xs anycompatiblearray, x anycompatible) RETURNS anycompatiblearray LANGUAGE plts AS $$
export default ({ args: { xs, x } }) => xs.concat([x]);
$$;
SELECT with_extra(ARRAY[1, 2], 2.5), pg_typeof(with_extra(ARRAY[1, 2], 2.5));
CREATE FUNCTION pair_kinds(a anycompatiblenonarray, b anycompatible) RETURNS text LANGUAGE plts AS $$
export default ({ args: { a, b } }) => `${typeof a}/${typeof b}`;
$$;
SELECT pair_kinds(1, 2::int8), pair_kinds(1, 2);

-- anyenum: an enum value arrives as its label; a result is checked against the enum
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE size AS ENUM ('S', 'M', 'L');
CREATE FUNCTION next_label(e anyenum, labels text[]) RETURNS anyenum LANGUAGE plts AS $$
export default ({ args: { e, labels } }) => labels[Math.min(labels.indexOf(e) + 1, labels.length - 1)];
$$;
SELECT next_label('sad'::mood, enum_range(NULL::mood)::text[]), next_label('M'::size, enum_range(NULL::size)::text[]);
SELECT pg_typeof(next_label('ok'::mood, enum_range(NULL::mood)::text[]));
CREATE FUNCTION bad_enum(e anyenum) RETURNS anyenum LANGUAGE plts AS $$ export default () => 'ecstatic' $$;
SELECT sqlstate_of($$select shape_poly.bad_enum('ok'::shape_poly.mood)$$);

-- anyrange: a range arrives in its text form (as node-postgres gives it) and is returned as text
CREATE FUNCTION range_text(r anyrange) RETURNS text LANGUAGE plts AS $$
export default ({ args: { r } }) => `${typeof r} ${JSON.stringify(r)}`;
$$;
SELECT range_text(int4range(1, 5)), range_text('[2024-01-01,2024-02-01)'::daterange), range_text('empty'::int4range);
CREATE FUNCTION widen(r anyrange, lo anyelement) RETURNS anyrange LANGUAGE plts AS $$
export default ({ args: { r, lo } }) => r.replace(/^[\[(][^,]*,/, `[${lo instanceof Date ? lo.toISOString().slice(0, 10) : lo},`);
$$;
SELECT widen(int4range(3, 9), 1), widen(daterange('2024-03-01', '2024-04-01'), '2024-01-15'::date);
SELECT pg_typeof(widen(int4range(3, 9), 1)), widen(numrange(1.5, 2.5), 0.5::numeric);
CREATE FUNCTION bad_range(r anyrange) RETURNS anyrange LANGUAGE plts AS $$ export default () => '[5,1)' $$;
SELECT sqlstate_of('select shape_poly.bad_range(int4range(1, 2))');

-- a polymorphic set-returning function
CREATE FUNCTION explode(xs anyarray) RETURNS SETOF anyelement LANGUAGE plts AS $$
export default function* ({ args: { xs } }) { yield* xs; }
$$;
SELECT * FROM explode(ARRAY[3, 1, 2]);
SELECT e, pg_typeof(e) FROM explode(ARRAY['b', 'a']::text[]) e;
SELECT x FROM explode(ARRAY[1.5, NULL, 2.25]) x;

DROP SCHEMA shape_poly CASCADE;
