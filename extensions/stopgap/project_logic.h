// The pure rules of a TypeScript project deployed as files (issue 16): which files are modules and
// which are npm package files, how a relative import names another file, which imports are Node
// built-ins, and the path and live-function name of each exported function. No PostgreSQL here:
// the server's project deploy and the `stopgap` CLI both build on it, and GoogleTest covers it
// (test/unit/stopgap_project_test.cpp).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace stopgap::project {

// A file key is its path relative to the project's stopgap/ directory, with '/' separators:
// "users/profile.ts", or "node_modules/zod/index.js" for a file of an npm package.
bool is_package_file(const std::string& key);

// Why a key cannot name a file of a project (nullopt when it can): empty, absolute, with a "." or
// ".." segment or an empty one, a backslash or a control character, or not ending in .ts, .mts,
// .js or .mjs (.d.ts is a declaration, not a module). A module outside node_modules/ may use only
// letters, digits, '_', '-' and '.' in its segments (its path names SQL functions).
std::optional<std::string> key_problem(const std::string& key);

// Whether an import names a Node built-in ("fs", "node:fs", "fs/promises", "process", ...), which
// plts does not provide.
bool is_node_builtin(const std::string& specifier);

// Whether a specifier is relative ("./x", "../x"): resolved against the importing file.
bool is_relative(const std::string& specifier);

// The file a relative import names, among `keys`: the path itself, then with .ts, .mts, .js, .mjs
// appended, then <path>/index.ts, index.mts, index.js, index.mjs. A ".js" import also finds the
// ".ts" file of the same name (TypeScript's convention). nullopt when none exists; *escapes is set
// when the path leaves the project (above stopgap/).
std::optional<std::string> resolve_relative(const std::string& from, const std::string& specifier,
                                            const std::set<std::string>& keys, bool* escapes = nullptr);

// "users/profile.ts", "get" -> "api.users.profile.get".
std::string function_path(const std::string& module_key, const std::string& export_name);
// "users/profile.ts", "get" -> "users_profile_get" ('/', '-' and '.' become '_'). Longer than
// PostgreSQL's 63 bytes is a problem the caller reports (live_name_problem).
std::string live_function_name(const std::string& module_key, const std::string& export_name);
std::optional<std::string> live_name_problem(const std::string& live_name);

// The imports of each file resolved to file keys. `imports` holds each file's runtime import
// specifiers (as the compiler reports them); `resolve` the bare specifiers a client resolved from
// node_modules (file key -> specifier -> file key). "@stopgap/runtime" is provided by plts and left
// out. Problems are reported per file, in key order.
struct Link {
  std::map<std::string, std::map<std::string, std::string>> targets;  // file -> specifier -> file
  std::map<std::string, std::vector<std::string>> problems;           // file -> messages
};
Link link_files(const std::map<std::string, std::vector<std::string>>& imports,
                const std::map<std::string, std::map<std::string, std::string>>& resolve);

// Collisions between the live names of the exports: two functions with one live name ("a/b.ts"
// export "c" and "a_b.ts" export "c"). Returns one message per collision.
std::vector<std::string> live_name_collisions(const std::map<std::string, std::vector<std::string>>& exports);

}  // namespace stopgap::project
