-- Issue 13: composite types both ways, RETURNS record, domains over composites.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
RESET client_min_messages;
CREATE SCHEMA shape_comp;
SET search_path = shape_comp, public;

CREATE TYPE address AS (street text, zip text);
CREATE TYPE person AS (name text, born date, home address, tags text[]);
CREATE TABLE customer(id int PRIMARY KEY, who person, shipping address[], balance numeric, visits int8);
INSERT INTO customer VALUES
  (1, ROW('Ada', '1815-12-10', ROW('St James Sq', 'SW1'), ARRAY['math', 'poetry']),
      ARRAY[ROW('Main St', '111')::address, ROW('Side St', NULL)::address], 12.50, 9007199254740993),
  (2, ROW('Bob', NULL, NULL, NULL), NULL, NULL, NULL),
  (3, NULL, ARRAY[]::address[], 0, 0);

-- a row-type argument arrives as an object: nested composites, arrays of composites, NULL fields
CREATE FUNCTION show_row(c customer) RETURNS jsonb LANGUAGE plts AS $$
export default (ctx) => ctx.args.c === null ? { shape: null } : ({
  shape: ctx.args.c,
  types: Object.fromEntries(Object.entries(ctx.args.c).map(([k, v]) => [k, v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v])),
  born_is_date: ctx.args.c.who?.born instanceof Date,
});
$$;
SELECT id, jsonb_pretty(show_row(c)) FROM customer c ORDER BY id;
-- the usual ways to pass a row
SELECT show_row(c.*)->'shape'->'who'->'home'->>'street' AS street FROM customer c WHERE id = 1;
SELECT show_row((SELECT c FROM customer c WHERE id = 2))->'shape'->'who' AS who;
-- a NULL row is null (the function is not STRICT)
SELECT show_row(NULL::customer) AS null_row;
-- fields are read by name: the typical use
CREATE FUNCTION greeting(p person) RETURNS text LANGUAGE plts AS $$
export default ({ args: { p } }) => `Hello ${p.name} of ${p.home?.street ?? 'nowhere'} (${(p.tags ?? []).join('/')})`;
$$;
SELECT greeting(who) FROM customer WHERE who IS NOT NULL ORDER BY id;
SELECT greeting(ROW('Cy', NULL, ROW('Elm', '9'), '{a}'));
-- an array of composites
CREATE FUNCTION zips(a address[]) RETURNS text[] LANGUAGE plts AS $$
export default (ctx) => ctx.args.a?.map((x) => x === null ? 'null row' : x.zip ?? 'no zip');
$$;
SELECT id, zips(shipping) FROM customer ORDER BY id;
SELECT zips(ARRAY[NULL, ROW('x', '1')]::address[]);

-- composite results from an object: missing keys are NULL
CREATE FUNCTION make_address(kind text) RETURNS address LANGUAGE plts AS $$
export default (ctx) => ({
  full: { street: 'Main St', zip: '111' },
  partial: { street: 'Main St' },
  empty: {},
  nulls: { street: null, zip: undefined },
  unknown: { street: 'Main St', city: 'Springfield', country: 'US' },
  number: 42,
  array: ['Main St', '111'],
  text: '(Elm St,222)',
  badtext: 'Elm St',
  null: null,
})[ctx.args.kind];
$$;
SELECT k, (make_address(k)).*, make_address(k)::text AS as_text, make_address(k) IS NULL AS is_null
  FROM unnest(ARRAY['full', 'partial', 'empty', 'nulls', 'null']) k;
-- an unknown key is 42703 naming it; a non-object is 42804 (a string in the composite's text
-- form too: RUNTIME.md promises objects only)
SELECT k, sqlstate_of(format('select shape_comp.make_address(%L)', k))
  FROM unnest(ARRAY['unknown', 'number', 'array', 'text', 'badtext']) k;
-- a field value that does not fit its column names the column
CREATE FUNCTION bad_field() RETURNS person LANGUAGE plts AS $$ export default () => ({ name: 'x', born: 'not a date' }) $$;
SELECT sqlstate_of('select shape_comp.bad_field()');
-- nested composites and arrays of composites in a result
CREATE FUNCTION make_customer(id int) RETURNS customer LANGUAGE plts AS $$
export default (ctx) => ({
  id: ctx.args.id,
  who: { name: 'Dee', born: new Date(Date.UTC(2000, 0, 31)), home: { street: 'Oak', zip: '7' }, tags: ['x'] },
  shipping: [{ street: 'Oak', zip: '7' }, null, { zip: '8' }],
  balance: '1e3',
  visits: 12345678901234567n,
});
$$;
SELECT (c).id, (c).who, (c).shipping, (c).balance, (c).visits FROM (SELECT make_customer(4) AS c) s;
INSERT INTO customer SELECT (make_customer(4)).*;
SELECT ((who).home).street, shipping[3].zip FROM customer WHERE id = 4;
-- an unknown key inside a nested composite
CREATE FUNCTION bad_nested() RETURNS person LANGUAGE plts AS $$ export default () => ({ name: 'x', home: { street: 's', planet: 'Mars' } }) $$;
SELECT sqlstate_of('select shape_comp.bad_nested()');
-- an array of composites as a result
CREATE FUNCTION addresses(n int) RETURNS address[] LANGUAGE plts AS $$
export default (ctx) => Array.from({ length: ctx.args.n }, (_, i) => ({ street: `No ${i + 1}`, zip: String(100 + i) }));
$$;
SELECT addresses(2), (addresses(2))[2].zip;

-- int8 fields: strings by default, BigInt with plts.int8 = 'bigint' (here set on the function)
CREATE FUNCTION visits_plus(c customer) RETURNS customer LANGUAGE plts SET plts.int8 = 'bigint' AS $$
export default ({ args: { c } }) => ({ ...c, visits: c.visits === null ? null : typeof c.visits === 'bigint' ? c.visits + 1n : 'was ' + typeof c.visits });
$$;
SELECT id, visits, (visits_plus(c)).visits AS plus_one FROM customer c ORDER BY id;

-- a row in and a modified row out: the classic "update a record" helper
CREATE FUNCTION with_bonus(c customer, bonus numeric) RETURNS customer LANGUAGE plts AS $$
export default ({ args: { c, bonus } }) => ({ ...c, balance: (Number(c.balance ?? 0) + Number(bonus)).toFixed(2) });
$$;
SELECT (with_bonus(c, 5)).id, (with_bonus(c, 5)).balance, (with_bonus(c, 5)).who IS NOT DISTINCT FROM c.who AS who_kept FROM customer c ORDER BY id;

-- RETURNS record: the caller gives a column definition list
CREATE FUNCTION kv(k text, v int) RETURNS record LANGUAGE plts AS $$
export default (ctx) => ({ key: ctx.args.k, value: ctx.args.v });
$$;
SELECT * FROM kv('a', 1) AS t(key text, value int);
SELECT * FROM kv('b', 2) AS t(value bigint, key text);
SELECT * FROM kv('c', 3) AS t(key text, value int, extra date);
SELECT sqlstate_of($$select * from shape_comp.kv('d', 4) as t(key text)$$);
SELECT sqlstate_of($$select * from shape_comp.kv('e', 5) as t(key int, value int)$$);
-- ... without one, PostgreSQL refuses in FROM; in the select list the call fails
SELECT sqlstate_of($$select * from shape_comp.kv('f', 6)$$);
SELECT sqlstate_of($$select shape_comp.kv('g', 7)$$);
-- SETOF record with a column definition list
CREATE FUNCTION pairs(n int) RETURNS SETOF record LANGUAGE plts AS $$
export default function* (ctx) { for (let i = 1; i <= ctx.args.n; i++) yield { n: i, sq: i * i }; }
$$;
SELECT * FROM pairs(3) AS p(n int, sq int);

-- a domain over a composite: the result is checked
CREATE TYPE point2 AS (x int, y int);
CREATE DOMAIN pos_point AS point2 CHECK ((VALUE).x > 0 AND (VALUE).y > 0);
CREATE FUNCTION shift(p pos_point, dx int) RETURNS pos_point LANGUAGE plts AS $$
export default ({ args: { p, dx } }) => ({ x: p.x + dx, y: p.y });
$$;
SELECT shift(ROW(1, 2)::pos_point, 5);
SELECT sqlstate_of('select shape_comp.shift(row(1, 2)::shape_comp.pos_point, -5)');

-- ALTER TYPE ... ADD ATTRIBUTE: the next call sees and returns the new column
CREATE FUNCTION addr_keys(a address) RETURNS text LANGUAGE plts AS $$
export default (ctx) => Object.keys(ctx.args.a).join(',');
$$;
CREATE FUNCTION addr_with_city() RETURNS address LANGUAGE plts AS $$
export default () => ({ street: 'Main St', zip: '111', city: 'Springfield' });
$$;
SELECT addr_keys(ROW('a', 'b'));
SELECT sqlstate_of('select shape_comp.addr_with_city()');
ALTER TYPE address ADD ATTRIBUTE city text;
SELECT addr_keys(ROW('a', 'b', 'c'));
SELECT (addr_with_city()).*;
SELECT (make_address('full')).*;
ALTER TYPE address DROP ATTRIBUTE zip;
SELECT addr_keys(ROW('a', 'c'));
SELECT sqlstate_of($$select shape_comp.make_address('full')$$);

-- composites in ctx.db.query results come back as objects
CREATE FUNCTION query_rows() RETURNS jsonb LANGUAGE plts AS $$
export default async (ctx) => {
  const [r] = await ctx.db.query(
    `select row(1, 'x') as anon, ('Main St', 'Springfield')::shape_comp.address as addr,
            c as cust, array[row(2, 3)::shape_comp.point2] as pts
       from shape_comp.customer c where id = 1`);
  return { anon: r.anon, addr: r.addr, cust_who: r.cust.who, pts: r.pts, addr_type: typeof r.addr };
};
$$;
SELECT jsonb_pretty(query_rows());
-- composite parameters of ctx.db: an object converts to the row type
CREATE FUNCTION insert_pt() RETURNS text LANGUAGE plts AS $$
export default async (ctx) => (await ctx.db.query('select ($1::shape_comp.point2).y as y', [{ x: 1, y: 2 }]))[0].y;
$$;
SELECT insert_pt();

DROP SCHEMA shape_comp CASCADE;
