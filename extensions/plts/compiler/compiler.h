// The in-database TypeScript compiler: the real `typescript` (5.9, pinned by runtime-js's
// lockfile) in a separate isolate of this backend, created lazily from a build-time startup
// snapshot (verified before use; falls back to loading the sources, with a log line).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace plts {

struct TranspileResult {
  std::string js;
  std::string source_map;      // "" when not requested
  nlohmann::json diagnostics;  // [{code, category, message, line, column, end_line, end_column}]
  // The module's runtime imports: the specifiers of the emitted JavaScript (import, export from,
  // import() of a literal), string escapes decoded; imports of types only are elided from it.
  nlohmann::json imports;
  nlohmann::json type_imports;  // specifiers the source names for types only
  bool has_errors = false;
};

// Validates and canonicalizes compiler_opts (throws PgError 22023 for unknown or ill-typed keys).
nlohmann::json effective_options(const nlohmann::json& opts);

// Derived from the TypeScript version, the effective options and the runtime declarations;
// computed without loading the compiler.
std::string compiler_fingerprint(const nlohmann::json& effective_opts);

// "sha256:<hex>" over fingerprint, options and source.
std::string artifact_hash(const std::string& fingerprint, const nlohmann::json& effective_opts,
                          const std::string& source);

// sha256 hex of arbitrary bytes.
std::string sha256_hex(const std::string& data);

TranspileResult transpile_ts(const std::string& source, const nlohmann::json& effective_opts);
nlohmann::json typecheck_ts(const std::string& source, const nlohmann::json& effective_opts);

// Type-checks a set of modules in one TypeScript Program. `modules` maps module specifiers to
// TypeScript sources (an import of a specifier of the set resolves to that module,
// "@stopgap/runtime" to the runtime declarations); `check` lists the specifiers to report on
// (null: all). Returns {specifier: [diagnostic]}. The caller validates both.
nlohmann::json typecheck_modules(const nlohmann::json& modules, const nlohmann::json& check,
                                 const nlohmann::json& effective_opts);

// Where the compiler isolate came from: "snapshot", "source", or "" (not started).
const char* compiler_origin();

// Directory of plts's installed JS assets ($pkglibdir/plts).
std::string asset_dir();

}  // namespace plts
