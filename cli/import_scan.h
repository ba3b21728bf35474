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

}  // namespace stopgap::cli
