// A stopgap project on disk: its root (the directory holding stopgap/), and the payload that
// `stopgap deploy` sends to stopgap.deploy_project:
//   {"modules": {"users/profile.ts": "<text>", "node_modules/zod/index.js": "<text>", ...},
//    "resolve": {"users/profile.ts": {"zod/mini": "node_modules/zod/mini/index.js"}, ...}}
// Module keys are relative to stopgap/; npm files are keyed "node_modules/..." (relative to the
// project root). "resolve" maps each file's bare specifiers (never "@stopgap/runtime", which plts
// provides) to npm file keys; relative specifiers are left to the server, which resolves them by
// the rules of extensions/stopgap/project_logic.h (the CLI includes the npm files they reach by the
// same rules).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/fs.h"

namespace stopgap::cli {

struct ProjectError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// cwd when it holds a stopgap/ directory; else ProjectError.
std::string find_project_root(const FileSystem& fs, const std::string& cwd);

// True for a file under stopgap/ that is a module: *.ts, *.mts, *.js, *.mjs, but not *.d.ts or
// *.d.mts.
bool is_module_file(const std::string& name);

// The keys (relative to stopgap/) of the module files under root/stopgap, skipping _generated/ at
// its top, node_modules/ and dot-files, in the order the file system lists them.
std::vector<std::string> project_module_keys(const FileSystem& fs, const std::string& root);

// Every module under root/stopgap (skipping _generated/ at its top, node_modules/ and dot-files)
// and every npm file they reach, transitively. Throws ProjectError (an unreadable file, a module
// path the server would refuse) or ResolveError (an import that cannot be resolved).
nlohmann::json build_project_payload(const FileSystem& fs, const std::string& root);

}  // namespace stopgap::cli
