// The pure part of a deploy: which deployed functions a function imports, the order to compile
// them in, the import map baked into each module, the pointer stub, what changed since the active
// deployment, and where a rollback goes. No PostgreSQL here, so GoogleTest covers it without a
// server (test/unit/stopgap_plan_test.cpp); the SPI side is plan.cpp and activate.cpp.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stopgap {

// One problem found while planning, reported as data by a dry run and raised by a deploy.
struct Problem {
  std::string function;  // the source function's name ("" for the schema as a whole)
  std::string message;
  std::string detail, hint;
  std::string sqlstate = "22023";       // five characters
  std::optional<int> line, column;      // in the function's TypeScript, when known
  std::string diagnostic;               // a compiler's message as it gave it ("" for others)
  nlohmann::json to_json() const;
};

// The deployed functions a module imports, from the compiler's list of its runtime imports:
// specifiers "<prefix><fn>" (prefix "@stopgap/<schema>/") give fn; other "@stopgap/..." specifiers
// than "@stopgap/runtime" go to *foreign (sorted, unique). Returns the names sorted and unique.
std::vector<std::string> deployed_imports(const std::vector<std::string>& imports,
                                          const std::string& prefix,
                                          std::vector<std::string>* foreign);

// Dependency order: every function after the functions it imports, ties by name (byte order).
// Names imported but absent from `imports` must have been refused before. Functions on or behind
// an import cycle are left out and returned in *cyclic (sorted).
std::vector<std::string> dependency_order(const std::map<std::string, std::vector<std::string>>& imports,
                                          std::vector<std::string>* cyclic);

// A JSON object of strings as PostgreSQL's jsonb prints it: keys shorter first, then by bytes;
// ", " and ": " separators. Hashes of baked modules depend on this text, so it must not change.
std::string jsonb_text(const std::map<std::string, std::string>& object);

// The module a deployed function compiles: its source with `map` (specifier -> target) in a
// `// plts-import-map:` comment appended at the end, so an artifact's hash covers what it links
// to. The map the source had itself (its first `// plts-import-map:` comment, wherever it stands,
// as plts's loader reads it) is merged (ours win), and every such marker is disarmed, so the
// loader finds the appended one. Unchanged source when map is empty. Throws Problem (22023) on a
// malformed own map.
std::string bake_import_map(const std::string& source, const std::map<std::string, std::string>& map,
                            const std::string& what);

// The clauses of a routine's definition as pg_get_functiondef prints it: what stands between its
// first line `head` ("CREATE OR REPLACE FUNCTION s.f(args)\n") and its body `body` (printed last,
// dollar-quoted, after "\nAS "): RETURNS, LANGUAGE, WINDOW, volatility, strictness, parallel
// safety, COST, ROWS, SET. nullopt when the definition is not of that form.
std::optional<std::string> definition_clauses(const std::string& def, const std::string& head,
                                              const std::string& body);
// That first line, for a routine `keyword` ("FUNCTION", "PROCEDURE") named by quoted identifiers.
std::string definition_head(const char* keyword, const std::string& qualified_name, const std::string& arguments);

// The names of the import map a source has itself (as plts's loader reads it), or none.
std::set<std::string> own_import_map_names(const std::string& source);

// Whether a type-check diagnostic is about a module the type check cannot see but the module
// loader resolves: "Cannot find module 'x'" for a data: URL, a plts+artifact: reference or a name
// of the source's own import map (those modules' types are unknown: their imports are untyped).
bool unresolvable_import_diagnostic(int code, const std::string& message, const std::set<std::string>& own_map);

// The live pointer function's body: export `export_name` of the artifact's module.
std::string pointer_stub(const std::string& artifact_hash,
                         const std::map<std::string, std::string>& import_map,
                         const std::string& export_name = "default");

// What a live function is made from: one function of a deployment (planned or recorded).
struct FnShape {
  std::string fn_name, routine, identity_types, arguments, clauses, artifact_hash, source_sha256;
  std::optional<std::string> result, comment;
  std::map<std::string, std::string> import_map;
  // Of a project's function (empty for one deployed from a schema): api.users.profile.get, the
  // module users/profile.ts, the export get.
  std::string path, module, export_name;
};

// Why a planned function differs from the active one: body, imports, signature or attributes,
// else compiler (same source, another artifact). Empty: unchanged.
std::vector<std::string> change_reasons(const FnShape& planned, const FnShape& active);

// Whether deploying `planned` would create what `active` already is (same functions, same
// artifacts, same signatures, attributes and comments).
bool same_deployment(const std::vector<FnShape>& planned, const std::vector<FnShape>& active);

// A deployment of an environment, for choosing a rollback's target.
struct DeploymentState {
  long long id;
  std::string status;
};

// The deployment a rollback activates: `to_id`, or the `steps`-th superseded deployment before
// the active one. Throws Problem (with its SQLSTATE) when there is none.
long long rollback_target(const std::vector<DeploymentState>& deployments, long long active,
                          std::optional<int> steps, std::optional<long long> to_id,
                          const std::string& env);

// Whether a deployment may go from status `from` to `to` (the catalog's trigger enforces the same).
bool transition_allowed(const std::string& from, const std::string& to);

}  // namespace stopgap
