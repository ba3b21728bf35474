-- The in-database TypeScript compiler and the artifact store.
-- compile_ts: JavaScript, syntactic diagnostics (1-based positions), a fingerprint
SELECT compiled_js, diagnostics, compiler_fingerprint ~ '^ts5\.9\.\d+:[0-9a-f]{16}$' AS fingerprint_ok
  FROM plts.compile_ts('export default (x: number): number => x + 1;');
SELECT d->>'code' AS code, d->>'category' AS category, d->>'message' AS message,
       d->>'line' AS line, d->>'column' AS col, d->>'end_line' AS end_line, d->>'end_column' AS end_col
  FROM plts.compile_ts(E'const ok = 1;\nexport default (x: number => {\n  return x;\n};'), jsonb_array_elements(diagnostics) d;
-- the fingerprint changes with the options, not with the source
SELECT plts.compiler_fingerprint() <> plts.compiler_fingerprint('{"source_map": true}') AS differs_by_options,
       (SELECT compiler_fingerprint FROM plts.compile_ts('export default 1')) = plts.compiler_fingerprint() AS same_for_any_source;
SELECT * FROM plts.compile_ts('export default 1', '{"target": "es5"}');
SELECT * FROM plts.compile_ts('export default 1', '[]');

-- compile_and_store: content-addressed, deduplicated, fails on errors with the diagnostics
SELECT plts.compile_and_store('export default (ctx: unknown) => 42;') AS h1 \gset
SELECT plts.compile_and_store('export default (ctx: unknown) => 42;') = :'h1' AS same_hash,
       plts.compile_and_store('export default (ctx: unknown) => 42;', '{"source_map": true}') <> :'h1' AS options_change_hash,
       plts.compile_and_store('export default (ctx: unknown) => 43;') <> :'h1' AS source_changes_hash;
SELECT count(*) FROM plts.artifact WHERE source_ts = 'export default (ctx: unknown) => 42;';
SELECT :'h1' ~ '^sha256:[0-9a-f]{64}$' AS hash_format;
SELECT source_ts, compiled_js, compiler_opts, compiler_fingerprint = plts.compiler_fingerprint() AS fp, source_map IS NULL AS no_map,
       diagnostics FROM plts.get_artifact(:'h1');
SELECT plts.compile_and_store('export default 1;', '{"source_map": true}') AS with_map \gset
SELECT source_map::jsonb->>'version' AS map_version FROM plts.get_artifact(:'with_map');
SELECT plts.compile_and_store('export default (;');
SELECT count(*) AS no_row_for_broken_source FROM plts.artifact WHERE source_ts = 'export default (;';

-- upsert_artifact: JavaScript compiled elsewhere; its fingerprint binds the JavaScript itself
SELECT plts.upsert_artifact('// source', 'export default () => "external";') AS ext \gset
SELECT compiler_fingerprint LIKE 'external:sha256:%' AS external_fp, compiled_js FROM plts.get_artifact(:'ext');
SELECT plts.upsert_artifact('// source', 'export default () => "external";') = :'ext' AS idempotent,
       plts.upsert_artifact('// source', 'export default () => "other";') <> :'ext' AS js_changes_hash;
-- only plts writes artifacts
CREATE ROLE plts_regress_user;
SET ROLE plts_regress_user;
INSERT INTO plts.artifact(artifact_hash, source_ts, compiled_js, compiler_fingerprint)
  VALUES ('sha256:' || repeat('0', 64), 'x', 'x', 'x');
UPDATE plts.artifact SET compiled_js = 'export default () => "evil"';
SELECT count(*) > 0 AS can_read FROM plts.artifact;
RESET ROLE;
DROP ROLE plts_regress_user;

-- typecheck_ts: semantic diagnostics against lib es2022 and @stopgap/runtime
SELECT plts.typecheck_ts('export default (x: number): number => x + 1;');
SELECT d->>'code' AS code, d->>'message' AS message, d->>'line' AS line
  FROM jsonb_array_elements(plts.typecheck_ts(E'import { query, v } from "@stopgap/runtime";\nexport default query(v.object({ id: v.int() }), (args) => args.id.toUpperCase());')) d;
SELECT d->>'code' AS code, d->>'message' AS message
  FROM jsonb_array_elements(plts.typecheck_ts('export default () => [3, 1].toSorted();')) d;

-- CREATE FUNCTION compiles TypeScript; the compiled form is stored
CREATE FUNCTION ts_add(a int, b int) RETURNS int LANGUAGE plts AS $$
interface Args { a: number; b: number }
export default (ctx: { args: Args }): number => ctx.args.a + ctx.args.b;
$$;
SELECT ts_add(2, 3);
SELECT count(*) AS stored FROM plts.artifact a, pg_proc p
  WHERE p.proname = 'ts_add' AND a.source_ts = p.prosrc;
-- a syntax error fails CREATE FUNCTION with its position inside the body
CREATE FUNCTION ts_broken() RETURNS int LANGUAGE plts AS $$
const x: number = 1;
export default () => { return x +; };
$$;
-- plts.typecheck decides what semantic errors do
CREATE FUNCTION ts_typed_wrong() RETURNS int LANGUAGE plts AS $$ const s: string = 1; export default () => 1; $$;
SET plts.typecheck = warn;
CREATE OR REPLACE FUNCTION ts_typed_wrong() RETURNS int LANGUAGE plts AS $$ const s: string = 1; export default () => 1; $$;
SET plts.typecheck = error;
CREATE OR REPLACE FUNCTION ts_typed_wrong() RETURNS int LANGUAGE plts AS $$ const s: string = 2; export default () => 2; $$;
SELECT ts_typed_wrong();
RESET plts.typecheck;

-- runtime errors point at TypeScript lines through the stored source map
CREATE FUNCTION ts_throws(n int) RETURNS int LANGUAGE plts AS $$
type Shape =
  | { kind: 'circle'; r: number }
  | { kind: 'square'; side: number };
interface Unused {
  a: string;
  b: number;
}
function area(s: Shape): number {
  if (s.kind === 'circle') throw new Error('circles are not supported');
  return s.side * s.side;
}
export default (ctx: { args: { n: number } }) => area({ kind: 'circle', r: ctx.args.n });
$$;
SELECT ts_throws(1);

-- a function restored without its artifact (check_function_bodies off) compiles once, lazily
SET check_function_bodies = off;
CREATE FUNCTION ts_lazy() RETURNS text LANGUAGE plts AS $$ export default (): string => 'compiled lazily'; $$;
RESET check_function_bodies;
SELECT count(*) AS before_call FROM plts.artifact a JOIN pg_proc p ON a.source_ts = p.prosrc WHERE p.proname = 'ts_lazy';
SELECT ts_lazy();
SELECT count(*) AS after_call FROM plts.artifact a JOIN pg_proc p ON a.source_ts = p.prosrc WHERE p.proname = 'ts_lazy';
DROP FUNCTION ts_add(int, int), ts_typed_wrong(), ts_throws(int), ts_lazy();

-- NULL inputs: NULL out, or a clear error; never a crash
SELECT * FROM plts.compile_ts(NULL);
SELECT plts.typecheck_ts(NULL);
SELECT plts.compile_and_store(NULL);
SELECT compiled_js, diagnostics FROM plts.compile_ts('export default 1', NULL);
SELECT plts.compiler_fingerprint(NULL) = plts.compiler_fingerprint() AS null_opts_are_defaults;
SELECT plts.upsert_artifact(NULL, 'x');
SELECT * FROM plts.get_artifact(NULL);
SELECT plts.artifact_exports(NULL);
