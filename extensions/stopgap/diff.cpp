// stopgap.diff: what deploy(env, from_schema) would change, compiled but not stored, with every
// problem a deploy would raise reported as data.
#include "extensions/stopgap/diff.h"

#include "extensions/stopgap/environment.h"
#include "extensions/stopgap/plan.h"

namespace stopgap {

nlohmann::json diff(const std::string& caller, const Value& env_arg, const std::string& from_schema) {
  const std::string env = env_name(env_arg);
  authorize(caller, "diff", from_schema);
  std::optional<Environment> er = find_environment(env, false);
  std::optional<long long> active;
  if (er && er->active_deployment_id) active = *er->active_deployment_id;
  Plan plan = build_plan(from_schema, true);
  typecheck_plan(plan, true);

  std::map<std::string, RecordedFn> recorded;  // fn_name -> the active deployment's function
  if (active)
    for (RecordedFn& f : recorded_functions(*active)) recorded[f.fn_name] = std::move(f);

  nlohmann::json fns = nlohmann::json::array(), errors = nlohmann::json::array();
  std::map<std::string, int> counts = {{"added", 0}, {"changed", 0}, {"removed", 0}, {"unchanged", 0}};
  for (const Problem& p : plan.problems) errors.push_back(p.to_json());
  std::map<std::string, nlohmann::json> entries;
  for (const PlannedFn& f : plan.fns) {
    nlohmann::json e = {{"fn_name", f.fn_name}, {"signature", f.signature}};
    if (!f.artifact_hash.empty()) e["artifact_hash"] = f.artifact_hash;
    auto it = recorded.find(f.fn_name);
    if (it == recorded.end()) {
      e["change"] = "added";
    } else {
      e["active_artifact_hash"] = it->second.artifact_hash;
      std::vector<std::string> reasons = change_reasons(f, it->second);
      e["change"] = reasons.empty() ? "unchanged" : "changed";
      if (!reasons.empty()) e["reasons"] = reasons;
    }
    counts[e["change"].get<std::string>()]++;
    if (!f.problems.empty()) {
      const Problem& p = f.problems.front();
      e["error"] = {{"line", p.line ? nlohmann::json(*p.line) : nlohmann::json()},
                    {"column", p.column ? nlohmann::json(*p.column) : nlohmann::json()},
                    {"message", p.diagnostic.empty() ? p.message : p.diagnostic}};
      if (!p.line) e["error"].erase("line");
      if (!p.column) e["error"].erase("column");
      for (const Problem& q : f.problems) errors.push_back(q.to_json());
    }
    entries[f.fn_name] = e;
  }
  for (const auto& [name, rec] : recorded) {
    if (entries.count(name)) continue;
    entries[name] = {{"fn_name", name},
                     {"change", "removed"},
                     {"signature", rec.signature},
                     {"active_artifact_hash", rec.artifact_hash}};
    counts["removed"]++;
  }
  for (auto& [name, e] : entries) fns.push_back(e);
  return {{"env", env},
          {"from_schema", from_schema},
          {"active_deployment_id", active ? nlohmann::json(*active) : nlohmann::json()},
          {"summary",
           {{"added", counts["added"]},
            {"changed", counts["changed"]},
            {"removed", counts["removed"]},
            {"unchanged", counts["unchanged"]},
            {"errors", errors.size()}}},
          {"functions", fns},
          {"errors", errors}};
}

}  // namespace stopgap
