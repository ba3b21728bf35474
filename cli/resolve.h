// Resolution of bare import specifiers ("zod/mini", "@scope/pkg/x") to files under node_modules,
// following Node's ES module rules: the nearest node_modules/<package> walking up from the
// importing file (here: up to the project root, leaving out stopgap/ itself), then the
// package.json "exports" (string, subpath map with "*" patterns, condition objects matched in key
// order against "import" and "default", nested, arrays as fallbacks), else "module", else "main",
// else index.js. Only ES modules are
// accepted: CommonJS packages and Node built-ins are refused with an error that names them.
#pragma once

#include <stdexcept>
#include <string>

#include "cli/fs.h"

namespace stopgap::cli {

// A specifier that cannot be resolved; what() names the import, the importing file and the cause.
struct ResolveError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "./x", "../x", "/x" and URLs ("data:", "https:", "plts+artifact:") are not bare; "node:x" is
// (so that it is refused as a Node built-in).
bool is_bare_specifier(const std::string& spec);
// A module Node provides itself: "fs", "fs/promises", "node:anything", ... (the server's rule,
// extensions/stopgap/project_logic.h).
bool is_node_builtin(const std::string& spec);

// The file a bare specifier imported from `importer` resolves to, as an absolute path below
// `root` (the project root). `importer` is an absolute path below root too.
std::string resolve_bare(const FileSystem& fs, const std::string& root, const std::string& importer,
                         const std::string& spec);

}  // namespace stopgap::cli
