// The TypeScript compiler that plts embeds is pinned: the 5.9 line is the last one written in JS
// that runs inside V8 10.2, and es2022 is the newest lib that V8 10.2 implements.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const ts = require("typescript");

test("typescript is pinned to the 5.9 line", () => {
  assert.match(ts.version, /^5\.9\.\d+$/);
});

test("transpiles a module against es2022 and reports syntax errors", () => {
  const ok = ts.transpileModule("export default (x: number): number => x + 1;", {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
    reportDiagnostics: true,
  });
  assert.equal(ok.diagnostics.length, 0);
  assert.match(ok.outputText, /export default \(x\) => x \+ 1;/);

  const bad = ts.transpileModule("export default (x: number => x;", {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
    reportDiagnostics: true,
  });
  assert.ok(bad.diagnostics.length > 0, "a syntax error yields diagnostics");
});
