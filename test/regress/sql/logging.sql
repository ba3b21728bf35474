-- Issue 14: console and ctx.log report through ereport (client_min_messages decides what the
-- client sees), name the function and TypeScript line in CONTEXT, format values without running
-- user code, and are bounded per message and per call (plts.max_log_bytes).
\set VERBOSITY default
\set SHOW_CONTEXT always
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
RESET client_min_messages;
CREATE SCHEMA logging;
SET search_path = logging, public;

CREATE FUNCTION levels() RETURNS int LANGUAGE plts AS $$
export default (ctx) => {
  console.debug('console.debug');
  console.log('console.log');
  console.info('console.info');
  console.warn('console.warn');
  console.error('console.error');
  ctx.log.debug('ctx.log.debug');
  ctx.log.log('ctx.log.log');
  ctx.log.info('ctx.log.info');
  ctx.log.notice('ctx.log.notice');
  ctx.log.warning('ctx.log.warning');
  return 1;
};
$$;
-- the default (notice): console.log/info are NOTICEs, warn/error WARNINGs; debug and LOG hidden
SELECT levels();
\set SHOW_CONTEXT never
SET client_min_messages = debug1;
SELECT levels();
SET client_min_messages = warning;  -- INFO still reaches the client, as PostgreSQL does
SELECT levels();
SET client_min_messages = error;
SELECT levels();
RESET client_min_messages;

-- ctx.log carries DETAIL, HINT and a SQLSTATE like RAISE ... USING
CREATE FUNCTION structured() RETURNS void LANGUAGE plts AS $$
export default (ctx) => {
  ctx.log.notice('order rejected', { detail: 'order 42', hint: 'check the stock', code: 'P0002' });
  ctx.log.warning({ not: 'a string' }, { detail: { id: 42 } });
};
$$;
SELECT structured();
\set VERBOSITY sqlstate
SELECT structured();
\set VERBOSITY default
CREATE FUNCTION bad_code(c text) RETURNS void LANGUAGE plts AS $$
export default (ctx) => { ctx.log.notice('x', { code: ctx.args.c }); };
$$;
SELECT sqlstate_of($$SELECT logging.bad_code('abc')$$);
SELECT sqlstate_of($$SELECT logging.bad_code('p0001')$$);
SELECT bad_code('01ABC');
-- a bad code is an error also where the message would not be shown
CREATE FUNCTION bad_code_debug() RETURNS void LANGUAGE plts AS $$
export default (ctx) => { ctx.log.debug('x', { code: 42 }); };
$$;
SELECT sqlstate_of($$SELECT logging.bad_code_debug()$$);
-- ctx.log.error throws: uncaught, the call fails with its SQLSTATE, detail and hint
CREATE FUNCTION raises(catch_it bool) RETURNS text LANGUAGE plts AS $$
export default (ctx) => {
  try {
    ctx.log.error('no such order', { code: '22012', detail: 'order 7', hint: 'create it first' });
  } catch (e) {
    if (!ctx.args.catch_it) throw e;
    return `${e.message} / ${e.sqlstate} / ${e.detail} / ${e.hint}`;
  }
  return 'not reached';
};
$$;
\set SHOW_CONTEXT errors
SELECT raises(false);
SELECT raises(true);
SELECT sqlstate_of($$SELECT logging.raises(false)$$);
CREATE FUNCTION raises_default() RETURNS void LANGUAGE plts AS $$
export default (ctx) => ctx.log.error('plain');
$$;
SELECT sqlstate_of($$SELECT logging.raises_default()$$);
\set SHOW_CONTEXT always

-- formatting: strings as they are at the top, everything else as util.inspect shows it
CREATE FUNCTION formats() RETURNS void LANGUAGE plts AS $$
export default (ctx) => {
  console.log('text', 1, -0, 2.5, true, null, undefined, 10n, Symbol('s'));
  console.log('%s is %d years and %i days, %f%% sure; %o %j %c|', 'Ann', 42.9, 3.7, 99.5, [1], { a: 1 }, 'color: red');
  console.log({ a: 1, 'b-c': 'it\'s', nested: { l2: { l3: { l4: { l5: { gone: 1 }, arr: [1] } } } } });
  const cyc: any = { name: 'loop', list: [] }; cyc.list.push(cyc); cyc.self = cyc;
  console.log(cyc);
  console.log(new Map<any, any>([['a', 1], [{ k: 1 }, [2]]]), new Set(['x', 'y']), new WeakMap());
  console.log(new Date(Date.UTC(2024, 1, 29, 12, 30)), new Date(NaN), /a+b/gi, [1, , 3]);
  console.log(new Uint8Array([1, 2, 3]), new Float64Array(2), new ArrayBuffer(8));
  console.log(function named() {}, () => 1, async function af() {}, class K {});
  console.log(new (class Point { constructor(public x = 1, public y = 2) {} })(), Object.create(null));
  console.log(Promise.resolve(5), new Promise(() => {}), [new Number(1), new String('s'), Object(2n)]);
  console.log(Array.from({ length: 130 }, (_, i) => i), new Array(1e9), [[[[[['deep']]]]]]);
  console.log(Object.fromEntries(Array.from({ length: 103 }, (_, i) => ['k' + i, i])));
  console.log(['a\nb', 'tab\there', "it's", 'say "hi" it\'s', '\u0001', 'é ✓']);
  const e: any = new TypeError('bad thing'); e.sqlstate = '22000';
  console.log(e);
  console.log({ err: new RangeError('inner') });
  console.dir('quoted by dir');
  console.table([{ a: 1 }]);
  console.assert(true, 'not shown');
  console.assert(false);
  console.assert(0, 'shown with', { v: 0 });
};
$$;
SELECT formats();

-- no user code runs while formatting: getters, Proxy traps and toString are left alone
CREATE FUNCTION no_user_code() RETURNS int LANGUAGE plts AS $$
export default (ctx) => {
  let ran = 0;
  const spin = () => { ran++; for (;;) {} };
  const o = { get g() { return spin(); }, set s(v) { spin(); }, get gs() { return 1; }, set gs(v) {},
              toString: spin, [Symbol.toPrimitive]: spin, toJSON: spin };
  const p = new Proxy({ target: 'shown' }, { get: spin, ownKeys: spin, getOwnPropertyDescriptor: spin,
                                             getPrototypeOf: spin, has: spin });
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  const arr: any[] = [1, 2];
  Object.defineProperty(arr, 1, { get: spin });
  console.log(o, p, proxy, arr, [p]);
  console.log('%s and %d', o, p);
  const e: any = new Error('with a getter');
  Object.defineProperty(e, 'detail', { get: spin, enumerable: true });
  console.log(e);
  return ran;
};
$$;
SELECT no_user_code();

-- a DO block and a module's top level log too
DO $$ console.log('from a DO block', { ok: true }); $$ LANGUAGE plts;
CREATE FUNCTION top_level() RETURNS int LANGUAGE plts AS $$
console.log('module loaded');
export default () => 1;
$$;
SELECT top_level();
SELECT top_level();  -- the module is loaded once per backend

-- a console kept past its call works in the call that runs it; console can be replaced by users
CREATE FUNCTION keep() RETURNS void LANGUAGE plts AS $$
export default () => { (globalThis as any).kept = console.log; (globalThis as any).log = ctx_log; };
const ctx_log = (m: string) => console.warn(m);
$$;
CREATE FUNCTION use_kept() RETURNS void LANGUAGE plts AS $$
export default () => { (globalThis as any).kept('kept', [1]); (globalThis as any).log('via closure'); };
$$;
SELECT keep();
SELECT use_kept();
CREATE FUNCTION frozen_log() RETURNS text LANGUAGE plts AS $$
export default (ctx) => {
  'use strict';
  try { (ctx.log as any).notice = null; } catch (e) { return `${Object.isFrozen(ctx.log)}: ${e.constructor.name}`; }
  return 'assigned';
};
$$;
SELECT frozen_log();

-- bounds: a message is cut where the call's plts.max_log_bytes runs out; one warning says so and
-- the call's further messages are dropped; the next call starts afresh
CREATE FUNCTION chatty(n int) RETURNS int LANGUAGE plts AS $$
export default (ctx) => {
  for (let i = 0; i < ctx.args.n; i++) console.log(String(i).padStart(40, '-'));
  ctx.log.warning('after the loop');
  return ctx.args.n;
};
$$;
\set SHOW_CONTEXT never
SET plts.max_log_bytes = 100;
SELECT chatty(5);
SELECT chatty(2);
SET plts.max_log_bytes = 0;
SELECT chatty(3);
RESET plts.max_log_bytes;
SHOW plts.max_log_bytes;
-- (a single message stops at 16 kB: see test/pg/logging_test.cpp)

-- console and ctx.log type-check (lib es2022 has no console; @stopgap/runtime declares ctx.log)
SET plts.typecheck = error;
CREATE FUNCTION typed() RETURNS void LANGUAGE plts AS $$
import type { PltsContext } from "@stopgap/runtime";
export default (ctx: PltsContext) => {
  console.log('typed', 1);
  ctx.log.notice('typed', { detail: 'd', hint: 'h', code: '01000' });
};
$$;
SELECT typed();
CREATE FUNCTION mistyped() RETURNS void LANGUAGE plts AS $$
import type { PltsContext } from "@stopgap/runtime";
export default (ctx: PltsContext) => { ctx.log.notice('x', { hnt: 'h' }); };
$$;
RESET plts.typecheck;
