// ES module loading for plts: a function's module and everything it imports. plts resolves
// `@stopgap/runtime` (built in), `data:` URLs, `plts+artifact:sha256:...` (and bare `sha256:...`)
// from plts.artifact, and bare names through an import map (a stopgap stub's `import_map`, or an
// inline `// plts-import-map: {...}` comment). Nothing else: no filesystem, no network. Module
// instances are cached per realm (role context) by artifact hash.
#pragma once

#include <string>

#include <nlohmann/json.hpp>
#include <v8.h>

#include "extensions/plts/js_exception.h"

namespace plts {

struct Realm;

struct ModuleSpec {
  std::string key;         // cache identity: "sha256:..", "data:<sha>", "builtin:@stopgap/runtime"
  std::string name;        // resource name shown in stacks
  std::string js;          // JavaScript module code
  std::string source_map;  // "" when none
  nlohmann::json import_map = nlohmann::json::object();
  bool cache = true;  // false for DO blocks: evaluated afresh every time
};

struct FunctionInfo;

// The module a function runs (cached unless it is a DO block's).
ModuleSpec module_spec_of(const FunctionInfo& fi);

// Loads and evaluates the module graph rooted at `root` in realm; returns its namespace. Throws
// PgError (stage compile or load) naming the module or the specifier that failed.
v8::Local<v8::Object> load_module_graph(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                                        const ModuleSpec& root);

// Drops a module instance (and its import links) from the realm's caches.
void forget_module(v8::Isolate* iso, Realm& realm, const std::string& key);

// Checks that js parses as a module; throws PgError (42601) with line and column otherwise.
void check_module_syntax(v8::Isolate* iso, v8::Local<v8::Context> ctx, const std::string& js,
                         const std::string& name);

struct Artifact;

// The import map an artifact declares (from its source's comment, else its code's), or {}.
nlohmann::json artifact_import_map(const Artifact& a, const std::string& name);

// The cache key of a module instance: its artifact hash, plus a digest of the import map its
// imports resolve through when that matters.
std::string instance_key(const std::string& base, const std::string& js,
                         const nlohmann::json& import_map);

// The `// plts-import-map: {...}` comment of a module's code, or {}. Throws PgError when malformed.
nlohmann::json inline_import_map(const std::string& code, const std::string& name);

// Maps "name:line:col" of a JS stack frame back to TypeScript through the module's source map.
std::string map_stack_to_source(const std::string& stack);

// The TypeScript position of 1-based (line, column) of the module called `name`; false when the
// module has no source map or it does not map there.
bool map_source_position(const std::string& name, int line, int column, int* src_line,
                         int* src_column);

}  // namespace plts
