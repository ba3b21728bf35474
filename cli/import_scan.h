// Finds the module specifiers a JavaScript or TypeScript file imports, without parsing it: a small
// tokenizer that steps over comments, strings, template literals and regular expressions, then
// matches the import forms on its tokens.
#pragma once

#include <string>
#include <vector>

namespace stopgap::cli {

// Specifiers of `import ... from "x"`, `import "x"`, `export ... from "x"` and `import("x")` with a
// string literal, in order of appearance, each once. Whole-statement type-only forms
// (`import type ... from`, `export type ... from`) are left out: they vanish from the emitted JS.
std::vector<std::string> scan_imports(const std::string& source);

// A named export made with query(...) or mutation(...): what `stopgap types` lists.
struct FunctionExport {
  std::string name;
  std::string kind;  // "query" or "mutation"
  bool operator==(const FunctionExport& o) const { return name == o.name && kind == o.kind; }
};

// The exports of the form `export const NAME = query(` or `= mutation(` (also `let`/`var`, and a
// qualified callee `rt.query(`), in order of appearance. Not seen: other declarators of the same
// statement (`export const a = query(...), b = ...`), a type annotation or type arguments
// (`export const a: T = query(`, `query<T>(`), renamed imports (`import { query as q }`), and
// exports of a local (`const a = query(...); export { a }`); such functions are still deployed,
// they are only missing from api.ts.
std::vector<FunctionExport> scan_function_exports(const std::string& source);

}  // namespace stopgap::cli
