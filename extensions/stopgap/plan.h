// What a deploy (or its dry run, diff) would deploy from a source schema: every plts function,
// checked, with its deployed imports, compiled in dependency order with the import map baked in.
// The SPI side of plan_logic.h.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "extensions/stopgap/plan_logic.h"
#include "extensions/stopgap/spi.h"

namespace stopgap {

struct PlannedFn : FnShape {
  std::string signature;
  std::string source;                 // as written in the source schema
  std::string baked;                  // the module compiled: source + baked import map
  std::vector<std::string> imports;   // deployed functions it imports (names)
  std::vector<Problem> problems;      // dry run: what is wrong with it (a deploy raises the first)
  bool compiled = false;              // the artifact exists or was transpiled without errors
  std::string kind;                   // the default export's kind, once loaded
};

struct Plan {
  std::string schema;                 // the source schema
  std::vector<PlannedFn> fns;         // sorted by name
  std::vector<Problem> problems;      // of the schema as a whole
  std::string fingerprint;            // the compiler's, with stopgap's options
  int transpiled = 0, reused = 0;     // functions transpiled, or known from earlier deployments
  int stored = 0;                     // artifacts new in plts.artifact
  int typechecked = 0;                // functions type-checked (the others' results were known)
  std::map<std::string, std::string> typecheck_results;  // artifact hash -> diagnostics, to cache
  std::map<std::string, std::string> modules;  // a project's (schema ""): file key -> artifact hash
  PlannedFn* find(const std::string& name);
};

// A function of a recorded deployment, as planning compares it.
struct RecordedFn : FnShape {
  std::string signature;
};
// The functions of deployment `id` by name, and (when asked) the schema it was deployed from.
std::vector<RecordedFn> recorded_functions(long long id, std::string* source_schema = nullptr);

// Builds the plan of schema. A deploy (dry_run false) raises the first problem; a dry run
// records every problem it can find and plans the rest.
Plan build_plan(const std::string& schema, bool dry_run);
// Type-checks the plan's functions (stopgap.typecheck); a deploy refuses type errors unless warn.
void typecheck_plan(Plan& plan, bool dry_run);
// Stores the artifacts plts.artifact lacks, in hash order (a global order: concurrent deploys
// sharing artifacts cannot deadlock).
void store_artifacts(Plan& plan);
// Loads every module (as stopgap_owner, under stopgap.deploy_timeout_ms) and records the kind of
// its default export; refuses a module that fails or whose default export is not a function.
void load_exports(Plan& plan);
// The exports of an artifact's module and their kinds (plts.artifact_exports), loaded as
// stopgap_owner under stopgap.deploy_timeout_ms, its imports resolved through import_map (a JSON
// object) when given. `what` names the module in errors.
nlohmann::json module_exports(const std::string& hash, const Value& import_map, const std::string& what);

// Raises a problem as the error of a deploy.
[[noreturn]] void raise_problem(const Problem& p);

}  // namespace stopgap
