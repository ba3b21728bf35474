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

  // The module specifiers a module names, string escapes decoded (as the loader sees them), in
  // order of first appearance: import and export declarations, import() with a literal argument,
  // and (in TypeScript) `typeof import("...")` types.
  function moduleSpecifiers(sf) {
    const out = [];
    const add = (lit) => {
      if (lit && ts.isStringLiteralLike(lit) && !out.includes(lit.text)) out.push(lit.text);
    };
    const visit = (node) => {
      if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
        add(node.moduleSpecifier);
      } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
        add(node.moduleReference.expression);
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        add(node.arguments[0]);
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
        add(node.argument.literal);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    return out;
  }

  function transpile(source, optsText) {
    const opts = parseOpts(optsText);
    let named = [];
    const r = ts.transpileModule(source, {
      compilerOptions: compilerOptions(opts),
      fileName: USER_FILE,
      reportDiagnostics: true,
      // Sees the parsed source before TypeScript's own transforms, so it costs no second parse.
      transformers: { before: [() => (sf) => { named = moduleSpecifiers(sf); return sf; }] },
    });
    let js = r.outputText;
    // transpileModule appends a sourceMappingURL comment: the map is stored beside the code.
    js = js.replace(/\n?\/\/# sourceMappingURL=[^\n]*\s*$/, "\n");
    const diagnostics = (r.diagnostics || []).map(toDiagnostic);
    // The module's runtime imports are those of the emitted JavaScript: TypeScript has elided the
    // imports that only name types (`import type`, `{ type X }`, bindings used only as types), so
    // what is left is exactly what the module loader will fetch. stopgap finds a function's
    // dependencies on other deployed functions here. type_imports: the specifiers the source names
    // for types only (a type check needs them resolvable, the loader never sees them).
    const imports = moduleSpecifiers(ts.createSourceFile("/function.js", js, ts.ScriptTarget.ES2022,
                                                         false, ts.ScriptKind.JS));
    const type_imports = named.filter((n) => !imports.includes(n));
    return JSON.stringify({ js, source_map: r.sourceMapText || null, diagnostics, imports, type_imports });
  }

  // A lib file, the ambient declarations or the runtime declarations, parsed once per backend.
  function sharedSourceFile(name) {
    let sf = parsed.get(name);
    if (sf) return sf;
    const text = name === AMBIENT ? AMBIENT_TEXT : files.get(name);
    if (text === undefined) return undefined;
    sf = ts.createSourceFile(name, text, ts.ScriptTarget.ES2022, true);
    parsed.set(name, sf);
    return sf;
  }

  function resolveRuntime(name) {
    return name === "@stopgap/runtime" && files.has(RUNTIME_DTS)
      ? { resolvedFileName: RUNTIME_DTS, extension: ".d.ts", isExternalLibraryImport: false }
      : undefined;
  }

  // A compiler host over the shared files plus `own`: { text(path), sourceFile(path), resolve(name) }.
  function makeHost(own) {
    return {
      getSourceFile: (name) => own.sourceFile(name) || sharedSourceFile(name),
      getDefaultLibFileName: () => "/lib/lib.es2022.d.ts",
      getDefaultLibLocation: () => "/lib",
      writeFile() {},
      getCurrentDirectory: () => "/",
      getCanonicalFileName: (f) => f,
      useCaseSensitiveFileNames: () => true,
      getNewLine: () => "\n",
      fileExists: (n) => own.text(n) !== undefined || n === AMBIENT || files.has(n),
      readFile: (n) => { const t = own.text(n); return t !== undefined ? t : n === AMBIENT ? AMBIENT_TEXT : files.get(n); },
      directoryExists: () => true,
      getDirectories: () => [],
      resolveModuleNames: (names, containing) => names.map((n) => own.resolve(n, containing) || resolveRuntime(n)),
    };
  }

  let current = "";
  const host = makeHost({
    text: (n) => (n === USER_FILE ? current : undefined),
    sourceFile: (n) => (n === USER_FILE ? ts.createSourceFile(n, current, ts.ScriptTarget.ES2022, true) : undefined),
    resolve: () => undefined,
  });

  function typecheck(source, optsText) {
    const opts = parseOpts(optsText);
    beginCheck();
    current = source;
    const options = compilerOptions(opts);
    options.noEmit = true;
    const program = ts.createProgram({ rootNames: [USER_FILE, AMBIENT], options, host });
    const sf = program.getSourceFile(USER_FILE);
    const diags = program.getSyntacticDiagnostics(sf)
      .concat(program.getSemanticDiagnostics(sf))
      .concat(program.getOptionsDiagnostics());
    current = "";
    checkInterrupted = false;
    return JSON.stringify({ diagnostics: diags.map(toDiagnostic) });
  }

  // A type check of a set of modules that import each other by specifier, in one Program: the
  // lib files are parsed once per backend, and a module's SourceFile is kept from the previous call
  // when its text is the same (a deploy checks the same functions again and again).
  const MODULE_DIR = "/modules/";
  // One file name per specifier, whatever characters it holds ("/" included): always a single
  // path segment ending in .ts, so TypeScript neither splits nor normalizes it.
  const modulePath = (spec) => MODULE_DIR + encodeURIComponent(spec) + ".ts";
  let moduleTexts = new Map();    // path -> text, this call's modules
  let moduleImports = new Map();  // path -> Map(import name -> path): a module's own resolutions
  let moduleSpecs = new Map();    // specifier -> path, this call's modules
  let moduleFiles = new Map();    // path -> SourceFile, the modules of the last call
  let lastModuleProgram;          // the last call's Program (oldProgram of the next)

  // TypeScript binds a SourceFile in place, once, when a checker first needs it: a check that was
  // terminated (timeout, cancel) can leave kept SourceFiles half-bound. The next check then starts
  // from freshly parsed files rather than report against incomplete declarations.
  let checkInterrupted = false;
  function beginCheck() {
    if (checkInterrupted) {
      parsed.clear();
      moduleFiles = new Map();
      lastModuleProgram = undefined;
    }
    checkInterrupted = true;
  }

  const moduleHost = makeHost({
    text: (n) => moduleTexts.get(n),
    sourceFile(n) {
      const text = moduleTexts.get(n);
      if (text === undefined) return undefined;
      let sf = moduleFiles.get(n);
      if (!sf || sf.text !== text) {
        sf = ts.createSourceFile(n, text, ts.ScriptTarget.ES2022, true);
        moduleFiles.set(n, sf);
      }
      return sf;
    },
    // "@stopgap/runtime" is never one of the set (the SQL entry refuses it as a module name).
    resolve: (name, containing) => {
      const own = moduleImports.get(containing);
      const p = (own && own.get(name)) || moduleSpecs.get(name);
      return p === undefined ? undefined : { resolvedFileName: p, extension: ".ts", isExternalLibraryImport: false };
    },
  });

  // request: {"modules": {specifier: source | {"source": source, "imports": {name: specifier}}},
  // "check": [specifier] | null}; returns {specifier: [diagnostic]} for the checked modules (all
  // when check is null). A module's "imports" resolve names it imports (relative ones, say) to
  // modules of the set before the specifiers of the set do.
  function typecheckModules(requestText, optsText) {
    const req = JSON.parse(requestText);
    const opts = parseOpts(optsText);
    const specs = Object.keys(req.modules).sort();
    beginCheck();
    moduleTexts = new Map();
    moduleSpecs = new Map();
    moduleImports = new Map();
    for (const spec of specs) moduleSpecs.set(spec, modulePath(spec));
    for (const spec of specs) {
      const m = req.modules[spec];
      const p = moduleSpecs.get(spec);
      moduleTexts.set(p, typeof m === "string" ? m : m.source);
      if (typeof m !== "string" && m.imports)
        moduleImports.set(p, new Map(Object.entries(m.imports).map(([name, target]) => [name, moduleSpecs.get(target)])));
    }
    // Only this call's modules are kept for the next one.
    const keep = new Map();
    for (const [p, sf] of moduleFiles) if (moduleTexts.get(p) === sf.text) keep.set(p, sf);
    moduleFiles = keep;
    const options = compilerOptions(opts);
    options.noEmit = true;
    const rootNames = specs.map((spec) => moduleSpecs.get(spec)).concat([AMBIENT]);
    const program = ts.createProgram({ rootNames, options, host: moduleHost, oldProgram: lastModuleProgram });
    lastModuleProgram = program;
    const optionDiags = program.getOptionsDiagnostics();
    const out = {};
    for (const spec of Array.isArray(req.check) ? req.check : specs) {
      const sf = program.getSourceFile(moduleSpecs.get(spec));
      const diags = program.getSyntacticDiagnostics(sf)
        .concat(program.getSemanticDiagnostics(sf))
        .concat(optionDiags);
      out[spec] = diags.map(toDiagnostic);
    }
    moduleTexts = new Map();
    moduleSpecs = new Map();
    moduleImports = new Map();
    checkInterrupted = false;
    return JSON.stringify(out);
  }

  // files: { "lib.es5.d.ts": text, ... }; runtimeDts: the @stopgap/runtime declarations.
  function init(libFiles, runtimeDts) {
    for (const name of Object.keys(libFiles)) files.set("/lib/" + name, libFiles[name]);
    if (runtimeDts) files.set(RUNTIME_DTS, runtimeDts);
  }

  // Runs both paths once so that the snapshot holds their compiled code. keepLibs: the parsed lib
  // files stay (the typecheck snapshot: a first typecheck then parses none, ~0.4 s less); without
  // it they are dropped, which keeps the transpile snapshot small (a first transpile deserializes
  // ~4 MB less; a backend that typechecks later switches to the typecheck snapshot).
  function warmup(keepLibs) {
    const sample = 'import { query, v } from "@stopgap/runtime";\n' +
      "export default async (ctx: { args: { n: number } }) => { const xs: number[] = [ctx.args.n]; return xs.map((x) => x + 1); };\n";
    transpile(sample, '{"source_map":true}');
    typecheck(sample, "{}");
    typecheckModules(JSON.stringify({
      modules: { "@stopgap/w/a": "export const a = (n: number): number => n;\n",
                 "@stopgap/w/b": sample + 'import { a } from "@stopgap/w/a";\nexport const b = a(1);\n' },
      check: null,
    }), "{}");
    if (!keepLibs) parsed.clear();
    moduleFiles = new Map();
    lastModuleProgram = undefined;
  }

  globalThis.__pltsCompiler = { version: ts.version, init, transpile, typecheck, typecheckModules, warmup };
})();
