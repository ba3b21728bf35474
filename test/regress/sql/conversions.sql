-- Datum <-> JavaScript conversions (node-postgres conventions), both ways.
CREATE SCHEMA conv;
SET search_path = conv, public;

-- typeof and value of each argument type, as JS sees it
CREATE FUNCTION js_view(v anyelement) RETURNS text LANGUAGE sql AS $$ SELECT 'unused' $$;
CREATE FUNCTION seen(b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, o oid, n numeric,
                     t text, vc varchar, bp char(3), nm name, u uuid, js json, jb jsonb,
                     d date, ts timestamp, tz timestamptz, by bytea, arr int4[], tarr text[],
                     iv interval)
RETURNS jsonb LANGUAGE plts AS $$
const show = (v) => v === null ? 'null'
  : v instanceof Date ? 'Date ' + v.toISOString()
  : v instanceof Uint8Array ? 'Uint8Array [' + Array.from(v).join(',') + ']'
  : Array.isArray(v) ? 'Array ' + JSON.stringify(v)
  : typeof v + ' ' + (typeof v === 'object' ? JSON.stringify(v) : String(v));
export default (ctx) => Object.fromEntries(Object.entries(ctx.args).map(([k, v]) => [k, show(v)]));
$$;
SELECT key, value FROM jsonb_each_text(seen(
  true, 2::int2, 4, 9007199254740993, 1.5::float4, 2.25, 26::oid, 12345678901234567890.123,
  'text', 'varchar', 'bp', 'name', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"j": [1, "x"]}',
  '{"b": {"c": null}, "a": 1.5}', '2024-02-29', '2024-02-29 12:34:56.789', '2024-02-29 12:34:56.789+00',
  '\x00ff10', ARRAY[1, NULL, 3], ARRAY['a', NULL], '1 day 2 hours'))
ORDER BY key;

-- NULL arguments arrive as null
SELECT seen(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)->>'i4' AS null_arg;

-- return values: JS -> each declared type
CREATE FUNCTION r_bool(v jsonb) RETURNS bool LANGUAGE plts AS $$ export default (c) => c.args.v === 1 $$;
CREATE FUNCTION r_int2() RETURNS int2 LANGUAGE plts AS $$ export default () => -32768 $$;
CREATE FUNCTION r_int4() RETURNS int4 LANGUAGE plts AS $$ export default () => 2147483647 $$;
CREATE FUNCTION r_int8_big() RETURNS int8 LANGUAGE plts AS $$ export default () => 9007199254740993n $$;
CREATE FUNCTION r_int8_str() RETURNS int8 LANGUAGE plts AS $$ export default () => '-9223372036854775808' $$;
CREATE FUNCTION r_int8_num() RETURNS int8 LANGUAGE plts AS $$ export default () => 2 ** 53 $$;
CREATE FUNCTION r_numeric_str() RETURNS numeric LANGUAGE plts AS $$ export default () => '12345678901234567890.000000001' $$;
CREATE FUNCTION r_numeric_num() RETURNS numeric LANGUAGE plts AS $$ export default () => 0.1 + 0.2 $$;
CREATE FUNCTION r_numeric_big() RETURNS numeric LANGUAGE plts AS $$ export default () => 123456789012345678901234567890n $$;
CREATE FUNCTION r_float4() RETURNS float4 LANGUAGE plts AS $$ export default () => 1.25 $$;
CREATE FUNCTION r_float8() RETURNS float8 LANGUAGE plts AS $$ export default () => Math.PI $$;
CREATE FUNCTION r_oid() RETURNS oid LANGUAGE plts AS $$ export default () => 4294967295 $$;
CREATE FUNCTION r_text() RETURNS text LANGUAGE plts AS $$ export default () => 'héllo ☃' $$;
CREATE FUNCTION r_text_num() RETURNS text LANGUAGE plts AS $$ export default () => 42 $$;
CREATE FUNCTION r_name() RETURNS name LANGUAGE plts AS $$ export default () => 'a_name' $$;
CREATE FUNCTION r_uuid() RETURNS uuid LANGUAGE plts AS $$ export default () => 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' $$;
CREATE FUNCTION r_json() RETURNS json LANGUAGE plts AS $$ export default () => ({ b: [1, 2], a: 'x' }) $$;
CREATE FUNCTION r_jsonb() RETURNS jsonb LANGUAGE plts AS $$
export default () => ({ z: 1, a: [true, false, null, 1.5, -0, 1e21, 'ü'], nested: { deep: { x: 'y' } },
  skipped: undefined, fn: () => 1, date: new Date(Date.UTC(2024, 0, 2)), big: 12345678901234567890n,
  nan: NaN, boxed: new String('s') });
$$;
CREATE FUNCTION r_jsonb_scalar() RETURNS jsonb LANGUAGE plts AS $$ export default () => 'just a string' $$;
CREATE FUNCTION r_jsonb_num() RETURNS jsonb LANGUAGE plts AS $$ export default () => 3 $$;
CREATE FUNCTION r_date() RETURNS date LANGUAGE plts AS $$ export default () => new Date(Date.UTC(2024, 1, 29)) $$;
CREATE FUNCTION r_ts() RETURNS timestamp LANGUAGE plts AS $$ export default () => new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789)) $$;
CREATE FUNCTION r_tz() RETURNS timestamptz LANGUAGE plts AS $$ export default () => new Date(0) $$;
CREATE FUNCTION r_tz_str() RETURNS timestamptz LANGUAGE plts AS $$ export default () => '2024-01-01 00:00:00+02' $$;
CREATE FUNCTION r_bytea() RETURNS bytea LANGUAGE plts AS $$ export default () => new Uint8Array([0, 255, 16]) $$;
CREATE FUNCTION r_bytea_buf() RETURNS bytea LANGUAGE plts AS $$ export default () => new Uint16Array([258]).buffer $$;
CREATE FUNCTION r_int_arr() RETURNS int[] LANGUAGE plts AS $$ export default () => [1, null, 3] $$;
CREATE FUNCTION r_text_arr() RETURNS text[] LANGUAGE plts AS $$ export default () => ['a', 'b c', null] $$;
CREATE FUNCTION r_empty_arr() RETURNS int8[] LANGUAGE plts AS $$ export default () => [] $$;
CREATE FUNCTION r_interval() RETURNS interval LANGUAGE plts AS $$ export default () => '1 day 02:00:00' $$;
CREATE FUNCTION r_null() RETURNS int LANGUAGE plts AS $$ export default () => null $$;
CREATE FUNCTION r_undefined() RETURNS text LANGUAGE plts AS $$ export default () => {} $$;
CREATE FUNCTION r_void() RETURNS void LANGUAGE plts AS $$ export default () => 'ignored' $$;
SET timezone = 'UTC';
SELECT r_bool('1') AS t, r_bool('2') AS f, r_int2(), r_int4(), r_int8_big(), r_int8_str(), r_int8_num();
SELECT r_numeric_str(), r_numeric_num(), r_numeric_big(), r_float4(), r_float8(), r_oid();
SELECT r_text(), r_text_num(), r_name(), r_uuid(), r_json();
SELECT r_jsonb();
SELECT r_jsonb_scalar(), jsonb_typeof(r_jsonb_scalar()), r_jsonb_num(), jsonb_typeof(r_jsonb_num());
SELECT r_date(), r_ts(), r_tz(), r_tz_str();
SELECT r_bytea(), r_bytea_buf(), r_int_arr(), r_text_arr(), r_empty_arr(), r_interval();
SELECT r_null() IS NULL AS null_is_null, r_undefined() IS NULL AS undefined_is_null, r_void();

-- jsonb text edge cases: escapes, non-BMP characters, big and small numbers, deep nesting
CREATE FUNCTION r_jsonb_text() RETURNS jsonb LANGUAGE plts AS $$
export default () => ({ quote: 'a"b\\c', ctl: 'tab\tnl\n\u0001', emoji: '😀', lone: '\ud800x',
  nums: [0, -1, 1.5, -2.5e-7, 123456789012345, 2 ** 53 + 2, 1e21, 1.5e-10],
  deep: [[[[{ k: [] }]]]], empty: {}, '': 'empty key' });
$$;
SELECT r_jsonb_text();
SELECT r_jsonb_text()->>'emoji' = '😀' AS emoji_ok, length(r_jsonb_text()->>'ctl') AS ctl_len;
CREATE FUNCTION r_jsonb_nul() RETURNS jsonb LANGUAGE plts AS $$ export default () => ({ s: 'a\u0000b' }) $$;
SELECT r_jsonb_nul();
-- object keys come out in jsonb's order (length, then bytes), for small and large objects alike
CREATE FUNCTION r_jsonb_keys(n int) RETURNS jsonb LANGUAGE plts AS $$
export default (c) => { const o: Record<string, number> = {};
  for (let i = c.args.n; i > 0; i--) o['k'.repeat(i % 3 + 1) + String.fromCharCode(122 - i % 26) + i] = i;
  return o; } $$;
CREATE FUNCTION r_json_keys(n int) RETURNS text LANGUAGE plts AS $$
export default (c) => { const o: Record<string, number> = {};
  for (let i = c.args.n; i > 0; i--) o['k'.repeat(i % 3 + 1) + String.fromCharCode(122 - i % 26) + i] = i;
  return JSON.stringify(o); } $$;
SELECT n, r_jsonb_keys(n)::text = r_json_keys(n)::jsonb::text AS same_order
  FROM unnest(ARRAY[0, 1, 2, 5, 16, 17, 40]) n;
-- every shape of jsonb result: plain objects and arrays are stringified inside the call (with the
-- JSON.stringify of before any user code), the rest converted afterwards
CREATE FUNCTION r_jsonb_forms(k text) RETURNS jsonb LANGUAGE plts AS $$
class P { a = 1; b = [2n] }
export default (c) => {
  switch (c.args.k) {
    case 'bigint': return { n: 12345678901234567890n, m: [1n] };
    case 'class': return new P();
    case 'null_proto': { const o = Object.create(null); o.z = 1; o.a = 2; return o; }
    case 'to_json': return { d: new Date(0), t: { toJSON: () => 'custom' } };
    case 'string': return 'just text';
    case 'array': return [3, { b: 1, a: 2 }];
    case 'patched': { JSON.stringify = () => '{"hacked": true}'; return { ok: 1 }; }
    case 'async': return Promise.resolve({ v: [1, 'two', null, true] });
    case 'to_json_undefined': return { toJSON: () => undefined };
    case 'proxy': return new Proxy({ a: 1, b: [2] }, {});
    case 'sparse': return [1, , 3];
    case 'non_finite': return { n: -0, inf: Infinity, nan: NaN };
  }
} $$;
SELECT k, r_jsonb_forms(k)
  FROM unnest(ARRAY['bigint', 'class', 'null_proto', 'to_json', 'string', 'array', 'patched',
                    'array', 'async', 'to_json_undefined', 'proxy', 'sparse', 'non_finite']) k;

-- round trips keep precision: int8 and numeric travel as strings
CREATE FUNCTION id8(x int8) RETURNS int8 LANGUAGE plts AS $$ export default (c) => c.args.x $$;
CREATE FUNCTION idn(x numeric) RETURNS numeric LANGUAGE plts AS $$ export default (c) => c.args.x $$;
CREATE FUNCTION idjb(x jsonb) RETURNS jsonb LANGUAGE plts AS $$ export default (c) => c.args.x $$;
CREATE FUNCTION idby(x bytea) RETURNS bytea LANGUAGE plts AS $$ export default (c) => c.args.x $$;
CREATE FUNCTION idts(x timestamptz) RETURNS timestamptz LANGUAGE plts AS $$ export default (c) => c.args.x $$;
CREATE FUNCTION iddate(x date) RETURNS date LANGUAGE plts AS $$ export default (c) => c.args.x $$;
CREATE FUNCTION idarr(x float8[]) RETURNS float8[] LANGUAGE plts AS $$ export default (c) => c.args.x $$;
SELECT id8(9223372036854775807), id8(-9223372036854775808), idn(-0.000000000000000000001), idn('NaN');
SELECT idjb('{"k": [1, {"x": "y"}, null, true, 1.25e-5]}'), idjb('"s"'), idjb('null'), idjb('[]');
SELECT idby('\xdeadbeef'), idts('2000-01-01 00:00:00.123+00'), iddate('1999-12-31'), idarr('{1.5,NULL,-2}');
-- multidimensional arrays arrive nested
CREATE FUNCTION md(x int[]) RETURNS jsonb LANGUAGE plts AS $$ export default (c) => c.args.x $$;
SELECT md('{{1,2},{3,4}}');

-- values that do not fit the return type are clear errors naming the function
CREATE FUNCTION bad_int() RETURNS int LANGUAGE plts AS $$ export default () => 2 ** 31 $$;
SELECT bad_int();
CREATE FUNCTION bad_frac() RETURNS int LANGUAGE plts AS $$ export default () => 1.5 $$;
SELECT bad_frac();
CREATE FUNCTION bad_bool() RETURNS bool LANGUAGE plts AS $$ export default () => 'maybe' $$;
SELECT bad_bool();
CREATE FUNCTION bad_int8() RETURNS int8 LANGUAGE plts AS $$ export default () => ({}) $$;
SELECT bad_int8();
CREATE FUNCTION bad_date() RETURNS date LANGUAGE plts AS $$ export default () => new Date(NaN) $$;
SELECT bad_date();
CREATE FUNCTION bad_str() RETURNS int LANGUAGE plts AS $$ export default () => 'abc' $$;
SELECT bad_str();
CREATE FUNCTION bad_md() RETURNS int[] LANGUAGE plts AS $$ export default () => [[1], [2]] $$;
SELECT bad_md();
CREATE FUNCTION bad_cycle() RETURNS jsonb LANGUAGE plts AS $$ export default () => { const a = {}; a.a = a; return a } $$;
SELECT bad_cycle();
CREATE FUNCTION bad_bytea() RETURNS bytea LANGUAGE plts AS $$ export default () => 12 $$;
SELECT bad_bytea();

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA conv CASCADE;
RESET client_min_messages;
