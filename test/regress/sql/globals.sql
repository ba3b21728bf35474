-- The standard globals (docs/RUNTIME.md, "Standard globals"): trusted, no I/O, made on first use.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
CREATE FUNCTION web_types() RETURNS jsonb LANGUAGE plts AS $$
const names = ['TextEncoder', 'TextDecoder', 'atob', 'btoa', 'structuredClone', 'queueMicrotask',
  'crypto', 'URL', 'URLSearchParams', 'performance', 'setTimeout', 'setInterval', 'clearTimeout'];
export default () => Object.fromEntries(names.map((n) => [n, typeof globalThis[n]]));
$$;
SELECT key, value FROM jsonb_each_text(web_types()) ORDER BY key;
-- not enumerable, as in browsers
CREATE FUNCTION web_enumerable() RETURNS jsonb LANGUAGE plts AS $$
export default () => Object.keys(globalThis).filter((k) => ['TextEncoder', 'crypto', 'URL'].includes(k));
$$;
SELECT web_enumerable();

-- TextEncoder: lone surrogates become U+FFFD (EF BF BD); 4-byte characters; encodeInto never
-- splits a character
CREATE FUNCTION enc(s text, lone boolean DEFAULT false) RETURNS text LANGUAGE plts AS $$
export default (ctx) => {
  const s = ctx.args.lone ? 'a\uD800b\uDC00' + ctx.args.s : ctx.args.s;
  return Array.from(new TextEncoder().encode(s), (b) => b.toString(16).padStart(2, '0')).join(' ');
};
$$;
SELECT enc('') AS empty, enc('héllo') AS latin, enc('😀') AS astral, enc('', true) AS lone_surrogates;
CREATE FUNCTION enc_into(s text, cap int) RETURNS jsonb LANGUAGE plts AS $$
export default (ctx) => {
  const dest = new Uint8Array(ctx.args.cap);
  const r = new TextEncoder().encodeInto(ctx.args.s, dest);
  return { read: r.read, written: r.written, bytes: Array.from(dest) };
};
$$;
SELECT enc_into('a😀', 4) AS split_astral, enc_into('a😀', 5) AS whole, enc_into('é', 1) AS none;
CREATE FUNCTION enc_misc() RETURNS jsonb LANGUAGE plts AS $$
export default () => {
  const e = new TextEncoder();
  let call = 'no error';
  try { (TextEncoder as any)(); } catch (x) { call = x.constructor.name; }
  let brand = 'no error';
  try { e.encode.call({}, 'x'); } catch (x) { brand = x.constructor.name + ': ' + x.message; }
  return { encoding: e.encoding, undef: e.encode().length, num: Array.from(e.encode(12 as any)),
           tag: Object.prototype.toString.call(e), call, brand };
};
$$;
SELECT enc_misc();

-- TextDecoder: replacement, fatal, BOM, streaming, labels
CREATE FUNCTION utf8_dec(hex text, opts jsonb DEFAULT '{}', label text DEFAULT 'utf-8') RETURNS text LANGUAGE plts AS $$
export default (ctx) => {
  const bytes = new Uint8Array(ctx.args.hex.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
  try {
    const s = new TextDecoder(ctx.args.label, ctx.args.opts).decode(bytes);
    return Array.from(s, (c) => c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')).join(' ');
  } catch (e) { return e.name + ': ' + e.message; }
};
$$;
SELECT utf8_dec('68c3a9f09f9880') AS valid,
       utf8_dec('61ff62') AS bad_byte,
       utf8_dec('e282') AS truncated,
       utf8_dec('eda080') AS surrogate_bytes,
       utf8_dec('f0808080') AS overlong,
       utf8_dec('c0af') AS overlong_2;
SELECT utf8_dec('61ff62', '{"fatal": true}') AS fatal_bad, utf8_dec('e282', '{"fatal": true}') AS fatal_truncated,
       utf8_dec('68', '{"fatal": true}') AS fatal_ok;
SELECT utf8_dec('efbbbf68') AS bom_dropped, utf8_dec('efbbbf68', '{"ignoreBOM": true}') AS bom_kept,
       utf8_dec('efbbbfefbbbf') AS second_bom_kept;
SELECT utf8_dec('68', '{}', ' UTF8 ') AS label_utf8, utf8_dec('68', '{}', 'latin1') AS latin1_refused;
CREATE FUNCTION dec_stream() RETURNS jsonb LANGUAGE plts AS $$
export default () => {
  const d = new TextDecoder();
  const parts = [[0xEF, 0xBB], [0xBF, 0xF0, 0x9F], [0x98], [0x80, 0x61]].map((p) =>
    d.decode(new Uint8Array(p), { stream: true }));
  const end = d.decode();
  const again = d.decode(new Uint8Array([0xEF, 0xBB, 0xBF, 0x62]));
  const f = new TextDecoder('utf-8', { fatal: true });
  f.decode(new Uint8Array([0xE2]), { stream: true });
  let flush = 'no error';
  try { f.decode(); } catch (e) { flush = e.name; }
  const views = [new DataView(new Uint8Array([0x6F, 0x6B]).buffer), new Uint8Array([0x6F, 0x6B]).buffer,
                 new Uint16Array([0x6B6F])];
  return { parts, end, again, flush, views: views.map((v) => d.decode(v)),
           props: [d.encoding, d.fatal, d.ignoreBOM, f.fatal] };
};
$$;
SELECT dec_stream();
CREATE FUNCTION dec_bad_input() RETURNS text LANGUAGE plts AS $$
export default () => { try { new TextDecoder().decode('abc' as any); } catch (e) { return e.name + ': ' + e.message; } };
$$;
SELECT dec_bad_input();

-- atob / btoa: forgiving-base64
CREATE FUNCTION b64(op text, s text) RETURNS text LANGUAGE plts AS $$
export default (ctx) => {
  try {
    const r = ctx.args.op === 'atob' ? atob(ctx.args.s) : btoa(ctx.args.s);
    return JSON.stringify(r);
  } catch (e) { return e.name + ': ' + e.message; }
};
$$;
SELECT t.s, b64('btoa', t.s) AS btoa FROM (VALUES (''), ('f'), ('fo'), ('foo'), ('foob'), ('ÿþ'), ('€')) AS t(s);
SELECT t.s, b64('atob', t.s) AS atob FROM (VALUES (''), ('Zg=='), ('Zg'), ('Zm8='), ('Zm9v'), (' Z m 9 v '),
  (E'Zm\t9\nv\f\r'), ('Zg='), ('Z'), ('Zg==='), ('=Zg='), ('Zm9v*'), ('Zm9v€'), ('/+8='), ('-_8=')) AS t(s);
CREATE FUNCTION b64_misc() RETURNS jsonb LANGUAGE plts AS $$
export default () => {
  let none = '';
  try { (atob as any)(); } catch (e) { none = e.constructor.name; }
  let undef = '';
  try { atob(undefined as any); } catch (e) { undef = e.name; }
  return { roundtrip: atob(btoa('\x00\x01\xfe\xff')) === '\x00\x01\xfe\xff', undef,
           nul: btoa(null as any), none };
};
$$;
SELECT b64_misc();

-- structuredClone
CREATE FUNCTION clones() RETURNS jsonb LANGUAGE plts AS $$
export default () => {
  const cyc: any = { name: 'c' }; cyc.self = cyc;
  const src = { m: new Map([[1, 'a']]), s: new Set([1, 2]), d: new Date(86400000), r: /x+/gi,
                u8: new Uint8Array([1, 2, 3]), f64: new Float64Array([1.5]), big: 10n, cyc,
                arr: [1, , 3], nested: { deep: [{ x: 1 }] }, err: new RangeError('boom') };
  const c = structuredClone(src);
  return {
    map: c.m instanceof Map && c.m.get(1) === 'a' && c.m !== src.m,
    set: c.s instanceof Set && c.s.has(2),
    date: c.d instanceof Date && c.d.getTime() === 86400000,
    regexp: c.r instanceof RegExp && c.r.source === 'x+' && c.r.flags === 'gi',
    typed: c.u8 instanceof Uint8Array && c.u8.join() === '1,2,3' && c.u8.buffer !== src.u8.buffer,
    f64: c.f64[0] === 1.5, bigint: c.big === 10n,
    cycle: c.cyc.self === c.cyc && c.cyc !== cyc,
    hole: !(1 in c.arr) && c.arr.length === 3,
    deep: c.nested.deep[0].x === 1 && c.nested.deep !== src.nested.deep,
    error: c.err instanceof RangeError && c.err.message === 'boom',
    prim: [structuredClone(1), structuredClone('s'), structuredClone(null), structuredClone(undefined)],
  };
};
$$;
SELECT clones();
CREATE FUNCTION clone_err(what text) RETURNS text LANGUAGE plts AS $$
export default (ctx) => {
  const cases: Record<string, () => unknown> = {
    fn: () => structuredClone(() => 1),
    nested_fn: () => structuredClone({ a: [1, { f() {} }] }),
    symbol: () => structuredClone(Symbol('s')),
    weakmap: () => structuredClone(new WeakMap()),
    proxy: () => structuredClone(new Proxy({}, {})),
    transfer: () => { const b = new ArrayBuffer(8); return structuredClone(b, { transfer: [b] }); },
    empty_transfer: () => structuredClone(1, { transfer: [] }),
    none: () => (structuredClone as any)(),
  };
  try { return 'ok: ' + JSON.stringify(cases[ctx.args.what]()); }
  catch (e) { return e.name + ': ' + e.message; }
};
$$;
SELECT w, clone_err(w) FROM unnest(ARRAY['fn', 'nested_fn', 'symbol', 'weakmap', 'proxy', 'transfer',
  'empty_transfer', 'none']) AS w;

-- queueMicrotask: the realm's own queue, in order with promise jobs; a throw fails the call
CREATE FUNCTION microtasks() RETURNS text LANGUAGE plts AS $$
export default async () => {
  const log: string[] = [];
  queueMicrotask(() => log.push('a'));
  Promise.resolve().then(() => log.push('b'));
  queueMicrotask(function (this: unknown) { log.push('c:' + arguments.length + ':' + typeof this); });
  log.push('sync');
  await null; await null;
  let bad = '';
  try { queueMicrotask(1 as any); } catch (e) { bad = e.constructor.name; }
  return log.join(' ') + ' | ' + bad;
};
$$;
SELECT microtasks();
CREATE FUNCTION microtask_left() RETURNS int LANGUAGE plts AS $$
export default () => { queueMicrotask(() => { globalThis.leftOver = (globalThis.leftOver ?? 0) + 1; }); return 1; };
$$;
CREATE FUNCTION microtask_seen() RETURNS int LANGUAGE plts AS $$ export default () => globalThis.leftOver ?? 0 $$;
SELECT microtask_left(), microtask_seen();
CREATE FUNCTION microtask_throws() RETURNS int LANGUAGE plts AS $$
export default () => { queueMicrotask(() => { throw new Error('from a microtask'); }); return 1; };
$$;
SELECT microtask_throws();

-- crypto.getRandomValues
CREATE FUNCTION rnd(kind text, n int) RETURNS text LANGUAGE plts AS $$
export default (ctx) => {
  const C: any = { u8: Uint8Array, i32: Int32Array, u64: BigUint64Array, f32: Float32Array,
                   c8: Uint8ClampedArray, dv: DataView, ab: ArrayBuffer };
  const a = ctx.args.kind === 'dv' ? new DataView(new ArrayBuffer(ctx.args.n))
          : ctx.args.kind === 'ab' ? new ArrayBuffer(ctx.args.n) : new C[ctx.args.kind](ctx.args.n);
  try {
    const r = crypto.getRandomValues(a);
    return (r === a ? 'same array, ' : 'other array, ') + a.byteLength + ' bytes, ' +
      (a.byteLength >= 16 && new Uint8Array(a.buffer).some((b) => b !== 0) ? 'filled' : 'checked');
  } catch (e) { return e.name + ': ' + e.message; }
};
$$;
SELECT k, n, rnd(k, n) FROM (VALUES ('u8', 16), ('i32', 16384), ('u64', 8192), ('c8', 0), ('u8', 65537),
  ('u64', 8193), ('f32', 4), ('dv', 4), ('ab', 4)) AS t(k, n);
CREATE FUNCTION rnd_distinct() RETURNS boolean LANGUAGE plts AS $$
export default () => {
  const a = crypto.getRandomValues(new Uint32Array(4)), b = crypto.getRandomValues(new Uint32Array(4));
  return a.join() !== b.join();
};
$$;
SELECT rnd_distinct();

-- crypto.randomUUID: version 4, variant 10, lowercase, distinct
CREATE FUNCTION uuids(n int) RETURNS SETOF text LANGUAGE plts AS $$
export default (ctx) => Array.from({ length: ctx.args.n }, () => crypto.randomUUID());
$$;
SELECT count(*) AS n, count(DISTINCT u) AS distinct_n,
       bool_and(u ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$') AS v4_format,
       bool_and(u::uuid::text = u) AS valid_uuid
FROM uuids(200) AS u;

-- crypto.subtle.digest, against PostgreSQL's own sha256()/sha384()/sha512()
CREATE FUNCTION digest_hex(alg jsonb, data text) RETURNS text LANGUAGE plts AS $$
export default async (ctx) => {
  try {
    const d = await crypto.subtle.digest(ctx.args.alg, new TextEncoder().encode(ctx.args.data));
    return (d instanceof ArrayBuffer ? '' : 'not an ArrayBuffer: ') +
      Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('');
  } catch (e) { return e.name + ': ' + e.message; }
};
$$;
SELECT length(d), digest_hex('"SHA-256"', d) = encode(sha256(d::bytea), 'hex') AS sha256,
          digest_hex('{"name": "SHA-384"}', d) = encode(sha384(d::bytea), 'hex') AS sha384,
          digest_hex('"sha-512"', d) = encode(sha512(d::bytea), 'hex') AS sha512
FROM (VALUES (''), ('abc'), (repeat('x', 1000000))) AS t(d);
-- SHA-1 has no built-in SQL function: the FIPS 180 vectors
SELECT digest_hex('"SHA-1"', '') AS sha1_empty, digest_hex('"SHA-1"', 'abc') AS sha1_abc;
SELECT digest_hex('"MD5"', 'abc') AS md5, digest_hex('{"name": "SHA-3"}', 'abc') AS sha3;
CREATE FUNCTION digest_misc() RETURNS jsonb LANGUAGE plts AS $$
export default async () => {
  const out: string[] = [];
  for (const data of [new Uint8Array([0x61, 0x62, 0x63]).buffer, new DataView(new Uint8Array([0x61, 0x62, 0x63]).buffer),
                      new Uint8Array([0, 0x61, 0x62, 0x63, 0]).subarray(1, 4), 'abc', null]) {
    const p = crypto.subtle.digest('SHA-256', data as any);
    try { out.push((p instanceof Promise ? '' : 'no promise ') +
                   new Uint8Array(await p).slice(0, 4).join('.')); }
    catch (e) { out.push((p instanceof Promise ? 'rejected ' : 'thrown ') + e.name); }
  }
  return out;
};
$$;
SELECT digest_misc();

-- performance.now(): monotonic, from the realm's creation, microseconds
CREATE FUNCTION perf() RETURNS jsonb LANGUAGE plts AS $$
export default () => {
  const a = performance.now(); let x = 0; for (let i = 0; i < 1e5; i++) x += i; const b = performance.now();
  return { monotonic: b >= a, positive: a >= 0, us: Math.round(a * 1000) === a * 1000 || Math.abs(Math.round(a * 1000) - a * 1000) < 1e-6,
           origin: Math.abs(performance.timeOrigin + a - Date.now()) < 5000, frozen: Object.isFrozen(performance),
           tag: Object.prototype.toString.call(performance) };
};
$$;
SELECT perf();

-- What plts provides is frozen: one function cannot change it for the others
CREATE FUNCTION tamper() RETURNS jsonb LANGUAGE plts AS $$
export default () => {
  const tries: Record<string, () => void> = {
    getRandomValues: () => { (crypto as any).getRandomValues = () => 'evil'; },
    digest: () => { (crypto.subtle as any).digest = () => 'evil'; },
    encode: () => { (TextEncoder.prototype as any).encode = () => 'evil'; },
    decoderProto: () => { (TextDecoder.prototype as any).extra = 1; },
    urlHref: () => { Object.defineProperty(URL.prototype, 'href', { get: () => 'evil' }); },
    searchGet: () => { (URLSearchParams.prototype as any).get = () => 'evil'; },
    iterator: () => { (Object.getPrototypeOf(new URLSearchParams().entries()) as any).next = () => 'evil'; },
    now: () => { (performance as any).now = () => -1; },
  };
  const out: Record<string, string> = {};
  for (const [k, f] of Object.entries(tries)) { try { f(); out[k] = 'changed'; } catch (e) { out[k] = e.constructor.name; } }
  return out;
};
$$;
SELECT tamper();
-- a role's code may rebind a global for itself (like any global): the binding is replaceable
CREATE FUNCTION rebind() RETURNS text LANGUAGE plts AS $$
export default () => { const saved = globalThis.atob; (globalThis as any).atob = () => 'mine'; const r = atob('x'); globalThis.atob = saved; return r; };
$$;
SELECT rebind(), b64('atob', 'YQ==');

-- URL and URLSearchParams
CREATE FUNCTION url_parts(input text, base text DEFAULT NULL) RETURNS jsonb LANGUAGE plts AS $$
export default (ctx) => {
  try {
    const u = ctx.args.base === null ? new URL(ctx.args.input) : new URL(ctx.args.input, ctx.args.base);
    return { href: u.href, origin: u.origin, protocol: u.protocol, host: u.host, port: u.port,
             pathname: u.pathname, search: u.search, hash: u.hash, json: JSON.stringify(u) };
  } catch (e) { return { error: e.constructor.name }; }
};
$$;
SELECT url_parts('HTTPS://例え.テスト:443/a/./b/../c?q=ü#f');
SELECT url_parts('../x?y', 'http://h/a/b/c'), url_parts('not a url'), url_parts('http://[::1]:8080/');
CREATE FUNCTION search_params() RETURNS jsonb LANGUAGE plts AS $$
export default () => {
  const p = new URLSearchParams('?b=2&a=1&a=%20x+y&c');
  p.append('d', 'é&='); p.sort();
  const u = new URL('https://h/p?x=1'); u.searchParams.set('x', '2'); u.searchParams.append('y', 'a b');
  return { str: p.toString(), all: p.getAll('a'), entries: [...p], size: p.size, url: u.href,
           fromObj: new URLSearchParams({ k: 'v', 'k 2': 'w' }).toString(),
           canParse: [URL.canParse('x:'), URL.canParse('http://[')],
           tag: Object.prototype.toString.call(p) };
};
$$;
SELECT search_params();

-- URL uses the realm's own TextEncoder and intrinsics, even when user code replaced the globals
-- before the first use of URL in its realm (a fresh role: a fresh realm)
CREATE ROLE plts_globals_other NOLOGIN;
CREATE FUNCTION url_after_clobber() RETURNS text LANGUAGE plts SECURITY DEFINER AS $$
export default () => {
  const g = globalThis as any;
  g.TextEncoder = class { encode() { throw new Error('user TextEncoder'); } };
  g.TextDecoder = class { decode() { throw new Error('user TextDecoder'); } };
  g.Array = null; g.Object = null; g.String = null; g.TypeError = null; g.Symbol = null; g.Reflect = null;
  return new URL('http://h/ä?ü=€').href + ' ' + new URLSearchParams('a=%E2%82%AC').get('a');
};
$$;
ALTER FUNCTION url_after_clobber() OWNER TO plts_globals_other;
SELECT url_after_clobber();
DROP FUNCTION url_after_clobber();
DROP ROLE plts_globals_other;

-- TypeScript: plts.typecheck knows these globals (declared by plts, not lib.dom)
SET plts.typecheck = 'error';
CREATE FUNCTION typed_globals() RETURNS jsonb LANGUAGE plts AS $$
export default async (): Promise<Record<string, unknown>> => {
  const bytes: Uint8Array = new TextEncoder().encode('hi');
  const text: string = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  const u: URL = new URL('https://h/p?q=1');
  const q: string | null = u.searchParams.get('q');
  const id: string = crypto.randomUUID();
  const r: Uint32Array = crypto.getRandomValues(new Uint32Array(2));
  const d: ArrayBuffer = await crypto.subtle.digest({ name: 'SHA-256' }, bytes);
  const c: Map<string, number> = structuredClone(new Map([['a', 1]]));
  const t: number = performance.now();
  const a: string = atob(btoa(text));
  queueMicrotask(() => {});
  return { text, q, uuid: id.length, random: r.length, digest: d.byteLength, clone: c.get('a'), now: t >= 0, a };
};
$$;
SELECT typed_globals();
CREATE FUNCTION typed_wrong() RETURNS text LANGUAGE plts AS $$
export default () => new TextEncoder().encode(42).length + performance.now().toFixed();
$$;
RESET plts.typecheck;

-- Every WHATWG URL test vector (web-platform-tests' urltestdata.json, see data/README.md): the
-- parts of each URL, or its failure, as the vector says
\getenv abs_srcdir PG_ABS_SRCDIR
\set urltestdata `cat :abs_srcdir/data/urltestdata.json`
CREATE FUNCTION url_vectors(vectors text) RETURNS jsonb LANGUAGE plts AS $$
const PARTS = ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port',
  'pathname', 'search', 'hash'] as const;
export default (ctx) => {
  const vectors = JSON.parse(ctx.args.vectors);
  let total = 0, passed = 0, failures = 0, parsed = 0;
  const failed: string[] = [];
  for (const t of vectors) {
    if (typeof t === 'string') continue;
    total++;
    let u: URL | null = null;
    try { u = t.base == null ? new URL(t.input) : new URL(t.input, t.base); } catch (e) {
      if (!(e instanceof TypeError)) { failed.push(JSON.stringify(t.input) + ': ' + e); continue; }
    }
    const can = t.base == null ? URL.canParse(t.input) : URL.canParse(t.input, t.base);
    let ok = can === !t.failure;
    if (t.failure) { ok = ok && u === null; failures++; }
    else if (u === null) ok = false;
    else {
      parsed++;
      for (const k of PARTS) if (k in t && u[k] !== t[k]) ok = false;
      if (t.search !== undefined && u.searchParams.toString() !== new URLSearchParams(t.search).toString()) ok = false;
    }
    if (ok) passed++; else failed.push(JSON.stringify(t.input) + (t.base == null ? '' : ' against ' + t.base));
  }
  return { total, passed, parsed, failures, failed };
};
$$;
SELECT url_vectors(:'urltestdata');
