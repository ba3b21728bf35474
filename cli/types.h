// `stopgap types`: writes stopgap/_generated/api.ts, the typed map of the project's function paths.
// Each query(...)/mutation(...) export found by scan_function_exports (import_scan.h) becomes
//   fnRef<typeof m0.get>("api.users.profile.get")
// at api.users.profile.get, so its argument and result types are the module's own (imported with
// `import type * as m0 from "../users/profile.js"`), never re-declared. Offline: no server needed.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/fs.h"
#include "cli/import_scan.h"

namespace stopgap::cli {

// The function exports of one module (key relative to stopgap/, e.g. "users/profile.ts").
struct ModuleExports {
  std::string key;
  std::vector<FunctionExport> exports;
};

// Every module under root/stopgap that deploy would send (same skipping rules), in key order, with
// its function exports (modules without any are kept, with none). Throws ProjectError when a module
// cannot be read.
std::vector<ModuleExports> scan_project_exports(const FileSystem& fs, const std::string& root);

// The text of api.ts for these modules. Throws ProjectError when two functions claim the same
// path, or a function's path is a prefix of another's (api.users.profile both a function and an
// object of functions).
std::string render_api_ts(const std::vector<ModuleExports>& modules);

// The specifier api.ts imports a module's types with: "users/profile.ts" -> "../users/profile.js"
// (the extension tsc maps back to the source under both "bundler" and "node16" resolution).
std::string api_import_specifier(const std::string& module_key);

struct TypesResult {
  std::string file;  // "stopgap/_generated/api.ts"
  bool changed = false;
  nlohmann::json functions = nlohmann::json::array();  // [{path, module, export, kind}]
};

// Scans, renders and writes root/stopgap/_generated/api.ts (only when its text changes). Throws
// ProjectError (no stopgap/, unreadable module, path clash, unwritable file).
TypesResult write_api_types(FileSystem& fs, const std::string& root);

}  // namespace stopgap::cli
