-- User code sees ECMAScript built-ins and what plts provides: nothing of the host.
CREATE FUNCTION globals_seen() RETURNS jsonb LANGUAGE plts AS $$
const names = ['require', 'process', 'module', 'exports', 'Buffer', 'fetch', 'XMLHttpRequest',
  'WebSocket', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'WebAssembly',
  'SharedArrayBuffer', 'Atomics', 'Deno', 'Bun', 'global', 'importScripts', 'navigator'];
export default () => Object.fromEntries(names.map((n) => [n, typeof globalThis[n]]));
$$;
SELECT key, value FROM jsonb_each_text(globals_seen()) ORDER BY key;

-- no module loading from the filesystem or the network
CREATE FUNCTION imports_fs() RETURNS int LANGUAGE plts AS $$
import fs from 'fs';
export default () => typeof fs;
$$;
SELECT imports_fs();
CREATE FUNCTION imports_file() RETURNS int LANGUAGE plts AS $$
import x from 'file:///etc/passwd';
export default () => typeof x;
$$;
SELECT imports_file();
CREATE FUNCTION dyn_import() RETURNS text LANGUAGE plts AS $$
export default async () => { try { await import('fs'); return 'loaded'; } catch (e) { return 'refused: ' + e.message; } };
$$;
SELECT dyn_import();

-- the built-ins work, including those that need care in a database backend
CREATE FUNCTION builtins() RETURNS jsonb LANGUAGE plts AS $$
export default () => ({
  json: JSON.parse('{"a":[1]}').a[0], regex: /(\d+)-(\d+)/.exec('10-20')[2],
  intl: new Intl.NumberFormat('en-US').format(1234567.5), date: new Date(0).toISOString(),
  bigint: (2n ** 64n).toString(), map: new Map([[1, 'x']]).get(1), eval: eval('1 + 1'),
  typed: new Float64Array([1.5])[0], symbol: typeof Symbol.iterator, weak: typeof WeakRef,
  math: Math.max(1, 2), proxy: new Proxy({}, { get: () => 'p' }).anything });
$$;
SELECT builtins();

-- globals persist within a role's context, across functions
CREATE FUNCTION set_global(v text) RETURNS void LANGUAGE plts AS $$ export default (c) => { globalThis.shared = c.args.v } $$;
CREATE FUNCTION get_global() RETURNS text LANGUAGE plts AS $$ export default () => globalThis.shared ?? null $$;
SELECT set_global('mine');
SELECT get_global();

-- ...but never across roles: a SECURITY DEFINER function runs in its owner's context
CREATE ROLE plts_lockdown_other NOLOGIN;
CREATE FUNCTION other_get() RETURNS text LANGUAGE plts SECURITY DEFINER AS $$ export default () => globalThis.shared ?? 'nothing here' $$;
CREATE FUNCTION other_set() RETURNS text LANGUAGE plts SECURITY DEFINER AS $$ export default () => { globalThis.shared = 'from other'; return 'set' } $$;
ALTER FUNCTION other_get() OWNER TO plts_lockdown_other;
ALTER FUNCTION other_set() OWNER TO plts_lockdown_other;
SELECT other_get();
SELECT other_set();
SELECT get_global();
SELECT other_get();
-- and SET ROLE switches context too
GRANT EXECUTE ON FUNCTION get_global() TO plts_lockdown_other;
SET ROLE plts_lockdown_other;
SELECT get_global();
RESET ROLE;
SELECT get_global();
DROP FUNCTION other_get(), other_set();
REVOKE ALL ON FUNCTION get_global() FROM plts_lockdown_other;
DROP ROLE plts_lockdown_other;

-- ctx.db kept past its call is dead in every later call (55000)
CREATE FUNCTION stash() RETURNS int LANGUAGE plts AS $$ export default (c) => { globalThis.keptDb = c.db; return 1 } $$;
CREATE FUNCTION use_stash() RETURNS text LANGUAGE plts AS $$
export default async (c) => (await globalThis.keptDb.query('select 1 as one'))[0].one === 1 ? 'usable within a later call' : 'no';
$$;
SELECT stash();
SELECT use_stash();
-- and so it never lends rights to another call either (a STABLE function stays read-only)
CREATE TEMP TABLE stash_target(x int);
CREATE FUNCTION write_via_stash() RETURNS text STABLE LANGUAGE plts AS $$
export default async () => {
  try { await globalThis.keptDb.exec('insert into stash_target values (1)'); return 'wrote'; }
  catch (e) { return e.sqlstate + ': ' + e.message; }
};
$$;
SELECT write_via_stash();
SELECT count(*) AS stash_rows FROM stash_target;
DROP FUNCTION write_via_stash();
DROP FUNCTION globals_seen(), imports_fs(), imports_file(), dyn_import(), builtins(), set_global(text),
  get_global(), stash(), use_stash();
