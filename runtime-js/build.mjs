// Build: src/index.ts → dist/index.js (one import-free ES2022 module, comments stripped: plts loads
// it in every backend) and dist/index.d.ts (one declarations file, with docs: editors and
// plts.typecheck_ts read it). One type-checked program; `npm run build`.
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const ts = require("typescript");
const root = path.dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));

const config = ts.getParsedCommandLineOfConfigFile(path.join(root, "tsconfig.json"), {}, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (d) => fail([d]),
});
if (config.errors.length) fail(config.errors);
const entry = path.join(root, "src", "index.ts");
if (config.fileNames.length !== 1 || path.resolve(config.fileNames[0]) !== entry) {
  // dist/index.js is one module with no imports: keep the runtime in src/index.ts alone.
  console.error(`build: expected src/index.ts as the only source, found ${config.fileNames.join(", ")}`);
  process.exit(1);
}

const program = ts.createProgram(config.fileNames, config.options);
const diagnostics = ts.getPreEmitDiagnostics(program);
if (diagnostics.length) fail(diagnostics);

const outDir = config.options.outDir;
mkdirSync(outDir, { recursive: true });
const banner = `// ${pkg.name} ${pkg.version} — generated from src/index.ts; do not edit.\n`;

let dts;
const emitted = program.emit(undefined, (name, text) => {
  if (name.endsWith(".d.ts")) dts = text;
}, undefined, /* emitOnlyDtsFiles */ true);
if (emitted.diagnostics.length || dts === undefined) fail(emitted.diagnostics);
const dtsText = banner + dts;

const js = ts.transpileModule(readFileSync(entry, "utf8"), {
  compilerOptions: { ...config.options, removeComments: true, declaration: false, sourceMap: false },
  fileName: entry,
  reportDiagnostics: true,
});
if (js.diagnostics.length) fail(js.diagnostics);
// Replace each output atomically: the CMake build and a test run may read dist/ meanwhile. An
// unchanged output keeps its mtime, or the next CMake build would remake the compiler snapshot.
for (const [name, text] of [["index.d.ts", dtsText], ["index.js", banner + js.outputText]]) {
  const file = path.join(outDir, name);
  if (existsSync(file) && readFileSync(file, "utf8") === text) continue;
  writeFileSync(`${file}.${process.pid}.tmp`, text);
  renameSync(`${file}.${process.pid}.tmp`, file);
}

function fail(diags) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => "\n" };
  console.error(ts.formatDiagnosticsWithColorAndContext(diags, host));
  process.exit(1);
}
