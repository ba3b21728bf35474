// User code checked against dist/index.d.ts the way plts.typecheck_ts does it: the declarations
// served as the bare module "@stopgap/runtime", ES2022 lib only, strict, bundler resolution.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);
const ts = require("typescript");
const libDir = path.dirname(require.resolve("typescript/lib/lib.es2022.d.ts"));
const runtimeDts = readFileSync(new URL("../dist/index.d.ts", import.meta.url), "utf8");

const USER = "/function.ts";
const RUNTIME = "/node_modules/@stopgap/runtime/index.d.ts";
const libCache = new Map();
const parsed = new Map();

function typecheck(source) {
  const options = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2022.d.ts"],
    types: [],
    strict: true,
    noImplicitAny: false,
    skipLibCheck: true,
    isolatedModules: true,
    noEmit: true,
  };
  const text = (name) => {
    if (name === USER) return source;
    if (name === RUNTIME) return runtimeDts;
    if (name.startsWith("/lib/")) {
      if (!libCache.has(name)) {
        try {
          libCache.set(name, readFileSync(path.join(libDir, name.slice(5)), "utf8"));
        } catch {
          libCache.set(name, undefined);
        }
      }
      return libCache.get(name);
    }
    return undefined;
  };
  const host = {
    getSourceFile: (name) => {
      if (name !== USER && parsed.has(name)) return parsed.get(name); // lib and runtime: parse once
      const t = text(name);
      const sf = t === undefined ? undefined : ts.createSourceFile(name, t, ts.ScriptTarget.ES2022, true);
      if (name !== USER) parsed.set(name, sf);
      return sf;
    },
    getDefaultLibFileName: () => "/lib/lib.es2022.d.ts",
    getDefaultLibLocation: () => "/lib",
    writeFile() {},
    getCurrentDirectory: () => "/",
    getCanonicalFileName: (f) => f,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => "\n",
    fileExists: (n) => text(n) !== undefined,
    readFile: text,
    resolveModuleNames: (names) =>
      names.map((n) =>
        n === "@stopgap/runtime" ? { resolvedFileName: RUNTIME, extension: ".d.ts", isExternalLibraryImport: false } : undefined,
      ),
  };
  const program = ts.createProgram({ rootNames: [USER], options, host });
  const sf = program.getSourceFile(USER);
  return [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf), ...program.getGlobalDiagnostics()].map(
    (d) => {
      const { line } = d.file ? d.file.getLineAndCharacterOfPosition(d.start) : { line: -1 };
      return { line: line + 1, message: ts.flattenDiagnosticMessageText(d.messageText, "\n") };
    },
  );
}

test("a correct handler type-checks with no diagnostics", () => {
  const diags = typecheck(`import { query, mutation, v } from "@stopgap/runtime";
export const get = query(v.object({ id: v.int(), tags: v.optional(v.array(v.string())) }), async (args, ctx) => {
  const rows = await ctx.db.query<{ name: string }>("select name from item where id = $1", [args.id]);
  return { name: rows[0]?.name ?? null, n: (args.tags ?? []).map((t) => t.toUpperCase()).length, at: ctx.now };
});
export default mutation({ type: "object", properties: { id: { type: "integer" } }, required: ["id"] }, async ({ id }, ctx) => {
  const { rowCount } = await ctx.db.exec("delete from item where id = $1", [id]);
  return rowCount + id;
});
`);
  assert.deepEqual(diags, []);
});

test("args.id.toUpperCase() is flagged when id is v.int()", () => {
  const diags = typecheck(`import { query, v } from "@stopgap/runtime";
export default query(v.object({ id: v.int() }), (args) => {
  return args.id.toUpperCase();
});
`);
  assert.equal(diags.length, 1, JSON.stringify(diags));
  assert.equal(diags[0].line, 3);
  assert.match(diags[0].message, /Property 'toUpperCase' does not exist on type 'number'/);
});

test("ctx.db.exec in a query handler and unknown args keys are flagged", () => {
  const diags = typecheck(`import { query, v } from "@stopgap/runtime";
export default query(v.object({ id: v.int() }), async (args, ctx) => {
  await ctx.db.exec("delete from item");
  return args.name;
});
`);
  assert.deepEqual(
    diags.map((d) => d.line),
    [3, 4],
    JSON.stringify(diags),
  );
  assert.match(diags[1].message, /Property 'name' does not exist/);
});
