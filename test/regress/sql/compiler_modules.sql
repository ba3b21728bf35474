-- The compiler's side of deploy: a module's runtime imports (what the module loader will fetch)
-- apart from imports of types only, and plts._typecheck_modules: one type check over a set of
-- modules that import each other by specifier.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS plts;
RESET client_min_messages;

-- imports: the specifiers of the emitted JavaScript; type_imports: those the source names only for
-- types (TypeScript elides them, so the loader never sees them).
SELECT label, r->'imports' AS imports, r->'type_imports' AS type_imports
  FROM (VALUES
    ('import type',            'import type { X } from "@stopgap/src/a"; export default (x: X) => x;'),
    ('inline type specifier',  'import { type X } from "@stopgap/src/a"; export default (x: X) => x;'),
    ('used only as a type',    'import { X } from "@stopgap/src/a"; export default (x: X) => x;'),
    ('unused binding',         'import unused from "@stopgap/src/a"; export default () => 1;'),
    ('typeof import() type',   'export default (x: typeof import("@stopgap/src/a")) => x;'),
    ('value and type',         'import { type X, f } from "@stopgap/src/a"; export default (x: X) => f(x);'),
    ('default import used',    'import f from "@stopgap/src/a"; export default () => f();'),
    ('namespace import used',  'import * as ns from "@stopgap/src/a"; export default () => ns.f();'),
    ('side-effect import',     'import "@stopgap/src/a"; export default () => 1;'),
    ('export * from',          'export * from "@stopgap/src/a"; export default () => 1;'),
    ('export { } from',        'export { f } from "@stopgap/src/a"; export default () => 1;'),
    ('export type { } from',   'export type { X } from "@stopgap/src/a"; export default () => 1;'),
    ('dynamic import',         'export default async () => (await import("@stopgap/src/a")).default();'),
    ('dynamic import, template', 'export default async () => (await import(`@stopgap/src/a`)).default();'),
    ('dynamic import, computed', 'export default async (n: string) => (await import("@stopgap/src/" + n)).default();'),
    ('strings only',           E'const s = "@stopgap/x";\nconst t = `import x from "@stopgap/src/a"`;\n// import y from "@stopgap/src/b";\nexport default () => s + t;'),
    ('\u-escaped specifier',   E'import f from "\\u0040stopgap/src/\\u{61}";\nexport default () => f();'),
    ('each once, in order',    E'import { b } from "@stopgap/src/b";\nimport type { T } from "@stopgap/src/t";\nimport a from "@stopgap/src/a";\nimport { b2 } from "@stopgap/src/b";\nexport default (t: T) => a() + b() + b2();'),
    ('syntax error',           'import f from "@stopgap/src/a"; export default () => f(;')
  ) AS t(label, source),
  LATERAL plts._transpile(source, '{}') AS r;
-- the emitted JavaScript is unchanged by the analysis: the elided import is gone from it too
SELECT r->>'compiled_js' AS compiled_js
  FROM plts._transpile('import { type X, f } from "@stopgap/src/a"; import type { Y } from "@stopgap/src/y"; export default (x: X, y: Y) => f(x, y);', '{}') AS r;

-- _typecheck_modules: an import of a specifier of the set resolves to that module; a module that
-- uses another's exported type and function correctly has no diagnostics
SELECT plts._typecheck_modules($${
  "@stopgap/src/price": "export type Price = { cents: number; currency: string };\nexport const price = (cents: number): Price => ({ cents, currency: \"EUR\" });\nexport default (ctx: { args: { cents: number } }) => price(ctx.args.cents);\n",
  "@stopgap/src/quote": "import { price, type Price } from \"@stopgap/src/price\";\nimport base from \"@stopgap/src/price\";\nimport { query, v } from \"@stopgap/runtime\";\nconst p: Price = price(100);\nexport default query(v.object({ n: v.int() }), (args) => ({ total: p.cents * args.n, base: base({ args: { cents: 1 } }).currency }));\n"
}$$, NULL);
-- a wrong argument type across modules: reported in the importing module, at its line and column;
-- a wrong use of an imported type too; the imported module itself is clean
SELECT k AS module, d->>'code' AS code, d->>'category' AS category, d->>'message' AS message,
       d->>'line' AS line, d->>'column' AS col, d->>'end_line' AS end_line, d->>'end_column' AS end_col
  FROM jsonb_each(plts._typecheck_modules($${
    "@stopgap/src/price": "export type Price = { cents: number };\nexport const price = (cents: number): Price => ({ cents });\n",
    "@stopgap/src/quote": "import { price, type Price } from \"@stopgap/src/price\";\n\nexport default () => {\n  const p: Price = price(\"100\");\n  const q: Price = { cents: 1, euros: 2 };\n  return [p, q];\n};\n"
  }$$, NULL)) AS e(k, v)
  LEFT JOIN LATERAL jsonb_array_elements(v) AS d ON true
 ORDER BY k, (d->>'line')::int, (d->>'column')::int;
-- an import of a specifier outside the set is TypeScript's own "cannot find module"; so is a
-- module the previous call had (nothing is remembered between calls but parsed text)
SELECT plts._typecheck_modules($${"@stopgap/src/a": "export const a = 1;",
  "@stopgap/src/b": "import { a } from \"@stopgap/src/a\";\nimport { m } from \"@stopgap/src/missing\";\nexport default () => a + m;\n"}$$, NULL);
SELECT plts._typecheck_modules($${
  "@stopgap/src/b": "import { a } from \"@stopgap/src/a\";\nimport { m } from \"@stopgap/src/missing\";\nexport default () => a + m;\n"}$$, NULL);
-- the same specifier with another text is checked as that text
SELECT plts._typecheck_modules($${"@stopgap/src/a": "export const a = \"one\";",
  "@stopgap/src/b": "import { a } from \"@stopgap/src/a\";\nimport { m } from \"@stopgap/src/missing\";\nexport default () => a + m;\n"}$$, NULL);
SELECT plts._typecheck_modules($${"@stopgap/src/a": "export const a = 1;",
  "@stopgap/src/b": "import { a } from \"@stopgap/src/a\";\nexport default (): string => a;\n"}$$, NULL);
-- a syntax error: syntactic diagnostics at their position in that module
SELECT plts._typecheck_modules($${"@stopgap/src/ok": "export default () => 1;",
  "@stopgap/src/broken": "const x = 1;\nexport default () => { return x +; };\n"}$$, NULL);
-- specifiers with any characters (quotes, spaces, slashes, non-ASCII) name their module
SELECT plts._typecheck_modules($${"@stopgap/sg \"Odd\"/f ü/../x": "export const n = 1;",
  "@stopgap/sg \"Odd\"/g": "import { n } from \"@stopgap/sg \\\"Odd\\\"/f \\u00fc/../x\";\nexport default (): number => n;\nexport const bad: string = n;\n"}$$, NULL);
-- check: only the named modules are reported (the others are still the program's files)
SELECT plts._typecheck_modules($${"@stopgap/src/a": "export const a = (n: number) => n;",
  "@stopgap/src/b": "import { a } from \"@stopgap/src/a\";\nexport default () => a(\"x\");\n",
  "@stopgap/src/c": "export default (): number => \"c\";"}$$, '{@stopgap/src/b}');
SELECT plts._typecheck_modules($${"@stopgap/src/a": "export const a = (n: number) => n;",
  "@stopgap/src/c": "export default (): number => \"c\";"}$$, '{}');
SELECT plts._typecheck_modules('{}', NULL);
-- a module's own imports: relative names resolve per importing module (a project's files), before
-- the specifiers of the set; the same name can mean different modules in two importers
SELECT key, jsonb_path_query_array(value, '$[*].message') AS messages
  FROM jsonb_each(plts._typecheck_modules($${
  "users/profile.ts": {"source": "import { n } from \"../lib/util\"; export const p: string = n;",
                       "imports": {"../lib/util": "lib/util.ts"}},
  "lib/util.ts": {"source": "import { m } from \"./util\"; export const n: number = m;",
                  "imports": {"./util": "lib/deep/util.ts"}},
  "lib/deep/util.ts": "export const m = 1;",
  "other.ts": "import { n } from \"../lib/util\"; export const o = n;"}$$, NULL))
  ORDER BY key;
-- the compiler's options apply as in typecheck_ts
SELECT plts._typecheck_modules('{"m": "export default 1;"}', NULL, '{"source_map": true}');
-- NULL modules: NULL; bad input: 22023 / 22004 with what is wrong
SELECT plts._typecheck_modules(NULL, NULL) IS NULL AS null_for_null;
CREATE FUNCTION pg_temp.tc_error(modules jsonb, checks text[], opts jsonb DEFAULT '{}') RETURNS text
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM plts._typecheck_modules(modules, checks, opts);
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT pg_temp.tc_error('["export default 1"]', NULL) AS array_of_sources,
       pg_temp.tc_error('"export default 1"', NULL) AS a_string;
SELECT pg_temp.tc_error('{"@stopgap/src/a": {"text": "export default 1"}}', NULL) AS object_without_source,
       pg_temp.tc_error('{"@stopgap/src/a": {"source": 1}}', NULL) AS source_not_a_string,
       pg_temp.tc_error('{"@stopgap/src/a": null}', NULL) AS null_value;
SELECT pg_temp.tc_error('{"a": {"source": "export default 1", "imports": []}}', NULL) AS imports_not_an_object,
       pg_temp.tc_error('{"a": {"source": "export default 1", "imports": {"./b": "b"}}}', NULL) AS import_outside_the_set,
       pg_temp.tc_error('{"a": {"source": "export default 1", "imports": {"./b": 1}}}', NULL) AS import_not_a_string;
SELECT pg_temp.tc_error('{"@stopgap/runtime": "export const query = 1;"}', NULL) AS defines_runtime;
SELECT pg_temp.tc_error('{"@stopgap/src/a": "export default 1"}', '{@stopgap/src/b}') AS check_unknown,
       pg_temp.tc_error('{"@stopgap/src/a": "export default 1"}', ARRAY[NULL]::text[]) AS check_null;
SELECT pg_temp.tc_error('{"@stopgap/src/a": "export default 1"}', NULL, '{"target": "es5"}') AS unknown_option;
-- an internal entry point: not executable by PUBLIC
SELECT has_function_privilege('public', 'plts._typecheck_modules(jsonb, text[], jsonb)', 'EXECUTE') AS public_may_execute;
CREATE ROLE plts_modules_user;
SET ROLE plts_modules_user;
SELECT plts._typecheck_modules('{}', NULL);
RESET ROLE;
DROP ROLE plts_modules_user;
