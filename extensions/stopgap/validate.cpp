// What a deploy checks beyond compiling: the type check of every function against
// @stopgap/runtime and the other deployed functions, and the loading of every module (its
// top-level code runs, under a time limit) to learn the kind of its default export.
#include <map>
#include <set>

#include "extensions/stopgap/environment.h"
#include "extensions/stopgap/log.h"
#include "extensions/stopgap/plan.h"
#include "extensions/stopgap/settings.h"
#include "extensions/stopgap/spi.h"

namespace stopgap {

namespace {

std::string at(const nlohmann::json& d) {
  if (!d.value("line", nlohmann::json()).is_number()) return "";
  return " at line " + std::to_string(d["line"].get<int>()) + ", column " +
         (d["column"].is_number() ? std::to_string(d["column"].get<int>()) : std::string("?"));
}

}  // namespace

void typecheck_plan(Plan& plan, bool dry_run) {
  if (settings.typecheck == kTypecheckOff) return;
  const std::string prefix = "@stopgap/" + plan.schema + "/";
  std::vector<std::string> hashes;
  nlohmann::json modules = nlohmann::json::object();
  for (const PlannedFn& f : plan.fns) {
    if (!f.compiled) continue;
    modules[prefix + f.fn_name] = f.source;
    if (!f.artifact_hash.empty()) hashes.push_back(f.artifact_hash);
  }
  std::map<std::string, nlohmann::json> diags;  // artifact hash -> diagnostics
  for (const Row& r : query("SELECT c.artifact_hash, c.diagnostics::text FROM stopgap.typecheck_cache c"
                            " WHERE c.artifact_hash IN (SELECT pg_catalog.jsonb_array_elements_text($1::jsonb))",
                            {nlohmann::json(hashes).dump()}))
    diags[r.str(0)] = nlohmann::json::parse(r.str(1));
  std::vector<std::string> check;
  for (const PlannedFn& f : plan.fns)
    if (f.compiled && !f.artifact_hash.empty() && diags.count(f.artifact_hash) == 0)
      check.push_back(prefix + f.fn_name);
  if (!check.empty()) {
    nlohmann::json result = nlohmann::json::parse(*scalar(
        "SELECT plts._typecheck_modules($1::jsonb, ARRAY(SELECT pg_catalog.jsonb_array_elements_text($2::jsonb)),"
        " '{\"source_map\": true}'::jsonb)::text",
        {modules.dump(), nlohmann::json(check).dump()}));
    for (const PlannedFn& f : plan.fns) {
      auto it = result.find(prefix + f.fn_name);
      if (it == result.end() || f.artifact_hash.empty() || diags.count(f.artifact_hash)) continue;
      diags[f.artifact_hash] = *it;
      plan.typecheck_results[f.artifact_hash] = it->dump();
    }
    plan.typechecked = static_cast<int>(check.size());
  }

  std::vector<Problem> errors;
  for (PlannedFn& f : plan.fns) {
    auto it = diags.find(f.artifact_hash);
    if (!f.compiled || it == diags.end()) continue;
    std::set<std::string> own = own_import_map_names(f.source);
    for (const auto& d : it->second) {
      if (d.value("category", "") != "error") continue;
      if (unresolvable_import_diagnostic(d.value("code", 0), d.value("message", ""), own)) continue;
      Problem p;
      p.function = f.fn_name;
      p.sqlstate = "42804";
      if (d["line"].is_number()) p.line = d["line"].get<int>();
      if (d["column"].is_number()) p.column = d["column"].get<int>();
      p.diagnostic = d.value("message", "");
      p.message = "cannot deploy " + plan.schema + "." + f.fn_name + ": type error" + at(d) + ": " + p.diagnostic;
      p.hint = "Nothing was deployed. Fix the type errors, or SET stopgap.typecheck = warn (deploys and "
               "reports them) or off.";
      if (dry_run) f.problems.push_back(p);
      errors.push_back(p);
    }
  }
  if (errors.empty() || dry_run) return;
  if (settings.typecheck == kTypecheckWarn) {
    for (const Problem& p : errors) pgx::pg_guard([&] { ereport(WARNING, (errmsg_internal("%s", p.message.c_str()))); });
    return;
  }
  // One error for the deploy, every type error of every function in its detail.
  std::string detail;
  std::set<std::string> fns;
  for (const Problem& p : errors) {
    fns.insert(p.function);
    detail += (detail.empty() ? "" : "\n") + plan.schema + "." + p.function +
              (p.line ? " line " + std::to_string(*p.line) + ", column " + std::to_string(p.column.value_or(0)) : "") +
              ": " + p.diagnostic;
  }
  Problem first = errors.front();
  if (errors.size() > 1)
    first.message += " (" + std::to_string(errors.size()) + " type errors in " + std::to_string(fns.size()) +
                     " function" + (fns.size() > 1 ? "s" : "") + ")";
  first.detail = detail;
  raise_problem(first);
}

nlohmann::json module_exports(const std::string& hash, const Value& import_map, const std::string& what) {
  // Module top-level code runs under stopgap.deploy_timeout_ms (or plts.max_runtime_ms when stricter).
  int limit = settings.deploy_timeout_ms;
  const char* own = GetConfigOption("plts.max_runtime_ms", true, false);
  int user_limit = own != nullptr ? atoi(own) : 0;
  if (limit <= 0 || (user_limit > 0 && user_limit < limit)) limit = user_limit;
  Value kinds;
  int nest = 0;
  try {
    pgx::pg_guard([&] {
      nest = NewGUCNestLevel();
      set_config_option("plts.max_runtime_ms", std::to_string(limit).c_str(), PGC_USERSET, PGC_S_SESSION,
                        GUC_ACTION_SAVE, true, 0, false);
    });
    kinds = import_map ? scalar("SELECT stopgap._export_kinds($1, $2::jsonb)::text", {hash, *import_map})
                       : scalar("SELECT stopgap._export_kinds($1)::text", {hash});
    pgx::pg_guard([&] { AtEOXact_GUC(true, nest); });
  } catch (const pgx::PgError& e) {
    if (e.sqlerrcode() == ERRCODE_QUERY_CANCELED && e.message().find("max_runtime_ms") != std::string::npos)
      throw pgx::PgError(ERRCODE_QUERY_CANCELED,
                         "cannot deploy " + what + ": its module's top-level code ran longer than " +
                             std::to_string(limit) + " ms",
                         "A deploy loads every module it deploys; stopgap.deploy_timeout_ms limits each.",
                         "Nothing was deployed. Move long work out of the module's top level into the function.");
    pgx::ErrorFields fields = e.fields();
    fields.message = "cannot deploy " + what + ": its module fails to load: " + fields.message;
    fields.hint = "Nothing was deployed.";
    fields.context.clear();
    throw pgx::PgError(std::move(fields));
  }
  return nlohmann::json::parse(kinds.value_or("{}"));
}

void load_exports(Plan& plan) {
  // A kind recorded for the same artifact by an earlier deployment is known: that module loaded.
  std::vector<std::string> hashes;
  for (const PlannedFn& f : plan.fns) hashes.push_back(f.artifact_hash);
  std::map<std::string, std::string> known;
  for (const Row& r : query("SELECT DISTINCT ON (v.artifact_hash) v.artifact_hash, v.kind FROM stopgap.fn_version v"
                            " WHERE v.artifact_hash IN (SELECT pg_catalog.jsonb_array_elements_text($1::jsonb))"
                            "   AND v.kind IN ('function', 'query', 'mutation')",
                            {nlohmann::json(hashes).dump()}))
    known[r.str(0)] = r.str(1);

  bool loaded_any = false;
  for (PlannedFn& f : plan.fns) {
    const std::string qualified = plan.schema + "." + f.fn_name;
    auto k = known.find(f.artifact_hash);
    if (k != known.end()) {
      f.kind = k->second;
      continue;
    }
    nlohmann::json j = module_exports(f.artifact_hash, std::nullopt, qualified);
    loaded_any = true;
    auto d = j.find("default");
    if (d == j.end() || !d->is_string())
      throw pgx::PgError(ERRCODE_INVALID_OBJECT_DEFINITION, "cannot deploy " + qualified + ": its module has no default export",
                         "", "A plts function's module must export default the function (or a query/mutation).");
    f.kind = d->get<std::string>();
    if (f.kind != "function" && f.kind != "query" && f.kind != "mutation")
      throw pgx::PgError(ERRCODE_INVALID_OBJECT_DEFINITION,
                         "cannot deploy " + qualified + ": its default export is not a function (it is a " + f.kind + ")",
                         "A live function calls its module's default export on every call.",
                         "Export default a function, or a query/mutation from @stopgap/runtime.");
    pause_point("load");
  }
  if (!loaded_any) pause_point("load");
}

}  // namespace stopgap
