// The compiler service plts runs in its own V8 isolate, after typescript.js (which defines the
// global `ts`). Plain ES2020 script: it is baked into a startup snapshot at build time.
// C++ calls globalThis.__pltsCompiler.{init, transpile, typecheck} with strings and gets JSON text.
(function () {
  "use strict";
  const USER_FILE = "/function.ts";
  const RUNTIME_DTS = "/node_modules/@stopgap/runtime/index.d.ts";
  const AMBIENT = "/plts/ambient.d.ts";
  // The standard globals every realm has (extensions/plts/web_globals.h; lib es2022 declares
  // none of them). Shaped as lib.dom declares them, so that the two merge in an editor.
  const WEB_GLOBALS_TEXT = [
    "interface TextEncoderEncodeIntoResult { read: number; written: number }",
    "interface TextEncoder { readonly encoding: string; encode(input?: string): Uint8Array;",
    "  encodeInto(source: string, destination: Uint8Array): TextEncoderEncodeIntoResult }",
    "declare var TextEncoder: { prototype: TextEncoder; new (): TextEncoder };",
    "interface TextDecoderOptions { fatal?: boolean; ignoreBOM?: boolean }",
    "interface TextDecodeOptions { stream?: boolean }",
    "interface TextDecoder { readonly encoding: string; readonly fatal: boolean; readonly ignoreBOM: boolean;",
    "  decode(input?: ArrayBuffer | ArrayBufferView, options?: TextDecodeOptions): string }",
    "declare var TextDecoder: { prototype: TextDecoder; new (label?: string, options?: TextDecoderOptions): TextDecoder };",
    "declare function atob(data: string): string;",
    "declare function btoa(data: string): string;",
    "declare function structuredClone<T = any>(value: T, options?: { transfer?: any[] }): T;",
    "declare function queueMicrotask(callback: () => void): void;",
    "interface SubtleCrypto {",
    "  digest(algorithm: string | { name: string }, data: ArrayBuffer | ArrayBufferView): Promise<ArrayBuffer> }",
    "interface Crypto { readonly subtle: SubtleCrypto;",
    "  getRandomValues<T extends Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array |",
    "    Int32Array | Uint32Array | BigInt64Array | BigUint64Array>(array: T): T;",
    "  randomUUID(): `${string}-${string}-${string}-${string}-${string}` }",
    "declare var crypto: Crypto;",
    "interface Performance { readonly timeOrigin: number; now(): number }",
    "declare var performance: Performance;",
    "interface URL { hash: string; host: string; hostname: string; href: string; toString(): string;",
    "  readonly origin: string; password: string; pathname: string; port: string; protocol: string;",
    "  search: string; readonly searchParams: URLSearchParams; username: string; toJSON(): string }",
    "declare var URL: { prototype: URL; new (url: string | URL, base?: string | URL): URL;",
    "  canParse(url: string | URL, base?: string | URL): boolean;",
    "  parse(url: string | URL, base?: string | URL): URL | null };",
    "interface URLSearchParams { readonly size: number; append(name: string, value: string): void;",
    "  delete(name: string, value?: string): void; get(name: string): string | null;",
    "  getAll(name: string): string[]; has(name: string, value?: string): boolean;",
    "  set(name: string, value: string): void; sort(): void; toString(): string;",
    "  forEach(callbackfn: (value: string, key: string, parent: URLSearchParams) => void, thisArg?: any): void;",
    "  entries(): IterableIterator<[string, string]>; keys(): IterableIterator<string>;",
    "  values(): IterableIterator<string>; [Symbol.iterator](): IterableIterator<[string, string]> }",
    "declare var URLSearchParams: { prototype: URLSearchParams;",
    "  new (init?: string[][] | Record<string, string> | string | URLSearchParams): URLSearchParams };",
    "",
  ].join("\n");
  // Imports plts resolves at run time (artifacts, data: URLs) type as `any` in a check.
  const AMBIENT_TEXT = WEB_GLOBALS_TEXT + 'declare module "plts+artifact:*";\ndeclare module "data:*";\n' +
    // plts's console (lib es2022 declares none): messages go to PostgreSQL's log and client.
    "interface Console {\n" +
    "  log(...data: any[]): void; info(...data: any[]): void; debug(...data: any[]): void;\n" +
    "  warn(...data: any[]): void; error(...data: any[]): void; trace(...data: any[]): void;\n" +
    "  dir(item?: any, options?: any): void; table(data?: any, columns?: string[]): void;\n" +
    "  assert(condition?: boolean, ...data: any[]): void;\n" +
    "}\ndeclare var console: Console;\n";

  const files = new Map();   // path -> text (lib files, runtime declarations)
  const parsed = new Map();  // path -> SourceFile, kept across calls (parsing libs dominates)

  function compilerOptions(opts) {
    return {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ES2022,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ["lib.es2022.d.ts"],
      types: [],
      strict: true,
      noImplicitAny: false,
      skipLibCheck: true,
      isolatedModules: true,
      esModuleInterop: true,
      sourceMap: !!opts.source_map,
      inlineSourceMap: false,
      inlineSources: false,
      removeComments: false,
      noEmitOnError: false,
    };
  }

  function categoryName(c) {
    return (ts.DiagnosticCategory[c] || "error").toLowerCase();
  }

  function toDiagnostic(d) {
    const out = {
      code: d.code,
      category: categoryName(d.category),
      message: ts.flattenDiagnosticMessageText(d.messageText, "\n"),
      line: null, column: null, end_line: null, end_column: null,
    };
    if (d.file && typeof d.start === "number") {
      const a = d.file.getLineAndCharacterOfPosition(d.start);
      const b = d.file.getLineAndCharacterOfPosition(d.start + (d.length || 0));
      out.line = a.line + 1; out.column = a.character + 1;
      out.end_line = b.line + 1; out.end_column = b.character + 1;
    }
    return out;
  }

  function parseOpts(text) {
    const o = text ? JSON.parse(text) : {};
    return o && typeof o === "object" ? o : {};
  }

  function transpile(source, optsText) {
    const opts = parseOpts(optsText);
    const r = ts.transpileModule(source, {
      compilerOptions: compilerOptions(opts),
      fileName: USER_FILE,
      reportDiagnostics: true,
    });
    let js = r.outputText;
    // transpileModule appends a sourceMappingURL comment: the map is stored beside the code.
    js = js.replace(/\n?\/\/# sourceMappingURL=[^\n]*\s*$/, "\n");
    const diagnostics = (r.diagnostics || []).map(toDiagnostic);
    // The module specifiers as the module loader will see them (string escapes decoded): stopgap
    // finds a function's imports of other deployed functions here, not in the source text.
    const imports = ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
    return JSON.stringify({ js, source_map: r.sourceMapText || null, diagnostics, imports });
  }

  let current = "";
  const host = {
    getSourceFile(name) {
      if (name === USER_FILE) return ts.createSourceFile(name, current, ts.ScriptTarget.ES2022, true);
      let sf = parsed.get(name);
      if (sf) return sf;
      const text = name === AMBIENT ? AMBIENT_TEXT : files.get(name);
      if (text === undefined) return undefined;
      sf = ts.createSourceFile(name, text, ts.ScriptTarget.ES2022, true);
      parsed.set(name, sf);
      return sf;
    },
    getDefaultLibFileName: () => "/lib/lib.es2022.d.ts",
    getDefaultLibLocation: () => "/lib",
    writeFile() {},
    getCurrentDirectory: () => "/",
    getCanonicalFileName: (f) => f,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => "\n",
    fileExists: (n) => n === USER_FILE || n === AMBIENT || files.has(n),
    readFile: (n) => (n === USER_FILE ? current : n === AMBIENT ? AMBIENT_TEXT : files.get(n)),
    directoryExists: () => true,
    getDirectories: () => [],
    resolveModuleNames(names) {
      return names.map((n) => n === "@stopgap/runtime" && files.has(RUNTIME_DTS)
        ? { resolvedFileName: RUNTIME_DTS, extension: ".d.ts", isExternalLibraryImport: false }
        : undefined);
    },
  };

  function typecheck(source, optsText) {
    const opts = parseOpts(optsText);
    current = source;
    const options = compilerOptions(opts);
    options.noEmit = true;
    const program = ts.createProgram({ rootNames: [USER_FILE, AMBIENT], options, host });
    const sf = program.getSourceFile(USER_FILE);
    const diags = program.getSyntacticDiagnostics(sf)
      .concat(program.getSemanticDiagnostics(sf))
      .concat(program.getOptionsDiagnostics());
    current = "";
    return JSON.stringify({ diagnostics: diags.map(toDiagnostic) });
  }

  // files: { "lib.es5.d.ts": text, ... }; runtimeDts: the @stopgap/runtime declarations.
  function init(libFiles, runtimeDts) {
    for (const name of Object.keys(libFiles)) files.set("/lib/" + name, libFiles[name]);
    if (runtimeDts) files.set(RUNTIME_DTS, runtimeDts);
  }

  // Runs both paths once so that the snapshot holds their compiled code. The parsed lib files are
  // dropped again: they would double the snapshot's deserialization time, and with it the cost of
  // the first compile in every backend (a backend parses them at its first typecheck instead).
  function warmup() {
    const sample = 'import { query, v } from "@stopgap/runtime";\n' +
      "export default async (ctx: { args: { n: number } }) => { const xs: number[] = [ctx.args.n]; return xs.map((x) => x + 1); };\n";
    transpile(sample, '{"source_map":true}');
    typecheck(sample, "{}");
    parsed.clear();
  }

  globalThis.__pltsCompiler = { version: ts.version, init, transpile, typecheck, warmup };
})();
