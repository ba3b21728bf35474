// Build: src/index.ts → dist/index.js (one import-free ES2022 module, comments stripped: plts loads
// it in every backend) and dist/index.d.ts (one declarations file, with docs: editors and
// plts.typecheck_ts read it); src/client.ts → dist/client.js + dist/client.d.ts, the Node-side
// `@stopgap/runtime/client` (the typed `call` helper: never loaded by plts, so the in-database
// runtime stays one module). One type-checked program; `npm run build`.
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
const clientEntry = path.join(root, "src", "client.ts");
const found = config.fileNames.map((f) => path.resolve(f)).sort();
if (found.length !== 2 || found[0] !== clientEntry || found[1] !== entry) {
  // dist/index.js is one module with no imports: keep the runtime in src/index.ts alone.
  console.error(`build: expected src/index.ts and src/client.ts as the only sources, found ${config.fileNames.join(", ")}`);
  process.exit(1);
}
if (ts.preProcessFile(readFileSync(entry, "utf8"), true, true).importedFiles.length !== 0) {
  console.error("build: src/index.ts must import nothing (plts loads dist/index.js alone)");
  process.exit(1);
}

const program = ts.createProgram(config.fileNames, config.options);
const diagnostics = ts.getPreEmitDiagnostics(program);
if (diagnostics.length) fail(diagnostics);

const outDir = config.options.outDir;
mkdirSync(outDir, { recursive: true });
const banner = `// ${pkg.name} ${pkg.version} — generated from src/index.ts; do not edit.\n`;

const dts = new Map(); // output base name -> declarations
const emitted = program.emit(undefined, (name, text) => {
  if (name.endsWith(".d.ts")) dts.set(path.basename(name), text);
}, undefined, /* emitOnlyDtsFiles */ true);
if (emitted.diagnostics.length || !dts.has("index.d.ts") || !dts.has("client.d.ts")) fail(emitted.diagnostics);

function transpile(file) {
  const js = ts.transpileModule(readFileSync(file, "utf8"), {
    compilerOptions: { ...config.options, removeComments: true, declaration: false, sourceMap: false },
    fileName: file,
    reportDiagnostics: true,
  });
  if (js.diagnostics.length) fail(js.diagnostics);
  return js.outputText;
}
const clientBanner = banner.replace("src/index.ts", "src/client.ts");
const outputs = [
  ["index.d.ts", banner + dts.get("index.d.ts")],
  ["index.js", banner + transpile(entry)],
  ["client.d.ts", clientBanner + dts.get("client.d.ts")],
  ["client.js", clientBanner + transpile(clientEntry)],
];
// Replace each output atomically: the CMake build and a test run may read dist/ meanwhile. An
// unchanged output keeps its mtime, or the next CMake build would remake the compiler snapshot.
for (const [name, text] of outputs) {
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
