// stopgap.call_fn(path, args, env): calls a project's function by path (api.users.profile.get)
// through its live function in the environment's active deployment, as the caller: EXECUTE on the
// live function and USAGE on the live schema are PostgreSQL's own checks, the read-only rule of a
// query(...) is plts's.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/quote.h"
#include "extensions/stopgap/environment.h"
#include "extensions/stopgap/project.h"

namespace stopgap {

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) row[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); j++) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string last_segment(const std::string& path) { return path.substr(path.rfind('.') + 1); }

// Up to three paths close to `path`: a few edits away, or with the same function name.
std::vector<std::string> close_matches(const std::string& path, const std::vector<std::string>& paths) {
  std::vector<std::pair<size_t, std::string>> scored;
  const size_t limit = std::max<size_t>(3, path.size() / 3);
  for (const std::string& p : paths) {
    size_t d = edit_distance(path, p);
    if (d <= limit || last_segment(p) == last_segment(path)) scored.emplace_back(d, p);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < 3; i++) out.push_back(scored[i].second);
  return out;
}

}  // namespace

Value call_fn(const std::string& path, const std::string& args, const Value& env_arg) {
  const std::string env = env_name(env_arg);
  Value route;
  try {
    route = scalar("SELECT stopgap._route($1, $2)::text", {env, path});
  } catch (const pgx::PgError& e) {
    if (e.sqlerrcode() != ERRCODE_INSUFFICIENT_PRIVILEGE) throw;
    throw pgx::PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       "permission denied to call stopgap functions by path: the role is not a member of app_user",
                       "Live functions are executable by app_user (and stopgap_deployer may look paths up).",
                       "GRANT app_user TO <role>;");
  }
  if (!route)
    throw pgx::PgError(ERRCODE_UNDEFINED_OBJECT, "stopgap environment \"" + env + "\" does not exist", "",
                       "Deploy a project to it first (stopgap deploy --env " + env + ").");
  nlohmann::json r = nlohmann::json::parse(*route);
  if (r["deployment_id"].is_null())
    throw pgx::PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                       "stopgap environment \"" + env + "\" has no active deployment");
  if (r["fn_name"].is_null()) {
    Value listed = scalar("SELECT pg_catalog.array_to_json(stopgap._paths($1))::text", {env});
    std::vector<std::string> paths = nlohmann::json::parse(listed.value_or("[]")).get<std::vector<std::string>>();
    std::vector<std::string> close = close_matches(path, paths);
    std::string hint;
    for (const std::string& c : close) hint += (hint.empty() ? "Did you mean " : ", ") + c;
    if (!hint.empty()) hint += "?";
    throw pgx::PgError(ERRCODE_UNDEFINED_FUNCTION,
                       "no function at path \"" + path + "\" in stopgap environment \"" + env + "\"",
                       paths.empty() ? "Its active deployment has no functions with paths (it was deployed from a schema)."
                                     : "Its active deployment has " + std::to_string(paths.size()) + " function" +
                                           (paths.size() == 1 ? "" : "s") + " with paths.",
                       hint);
  }
  const std::string call = "SELECT " + pgx::quote_ident(r["live_schema"].get<std::string>()) + "." +
                           pgx::quote_ident(r["fn_name"].get<std::string>()) + "($1::jsonb)::text";
  Rows rows = query_text(call, {args});
  return rows.empty() ? Value() : rows[0][0];
}

}  // namespace stopgap
