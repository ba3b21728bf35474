#include "extensions/stopgap/activate.h"

#include "extensions/stopgap/scheduler.h"

#include <chrono>

#include "extensions/stopgap/environment.h"
#include "extensions/stopgap/log.h"
#include "extensions/stopgap/materialize.h"
#include "extensions/stopgap/plan.h"
#include "extensions/stopgap/settings.h"

namespace stopgap {

// A deploy's progress: one NOTICE per phase (stopgap.log_level gates it like every stopgap line).
void progress(const std::string& env, const std::string& what) {
  stopgap_log(NOTICE, "stopgap: deploy to environment \"" + env + "\": " + what);
}

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Whether the live schema holds exactly what deployment `id` wrote (definitions, owner,
// privileges; with stopgap.prune on, nothing else).
bool live_schema_current(const std::string& live, long long id) {
  Value ok = scalar(
      "SELECT bool_and(p.oid IS NOT NULL AND pg_catalog.pg_get_functiondef(p.oid) IS NOT DISTINCT FROM v.definition"
      "                AND p.proowner = 'stopgap_owner'::pg_catalog.regrole AND stopgap._privilege_drift(p.oid) IS NULL)"
      "       AND ($3::boolean IS NOT TRUE OR NOT EXISTS ("
      "             SELECT FROM pg_catalog.pg_proc x WHERE x.pronamespace = n.oid AND NOT EXISTS ("
      "               SELECT FROM stopgap.fn_version w WHERE w.deployment_id = $2::bigint AND w.fn_name = x.proname"
      "                  AND w.identity_types = stopgap._identity_types(x.oid))))"
      "  FROM pg_catalog.pg_namespace n"
      "  JOIN stopgap.fn_version v ON v.deployment_id = $2::bigint"
      "  LEFT JOIN pg_catalog.pg_proc p ON p.pronamespace = n.oid AND p.proname = v.fn_name"
      "        AND stopgap._identity_types(p.oid) = v.identity_types"
      " WHERE n.nspname = $1::name"
      " GROUP BY n.oid",
      {live, std::to_string(id), settings.prune ? "true" : "false"});
  return ok && *ok == "t";
}

long long insert_deployment(const std::string& env, const Value& label, const Value& schema,
                            const std::string& caller) {
  return std::stoll(*scalar("INSERT INTO stopgap.deployment (env, label, source_schema, created_by)"
                            " VALUES ($1, $2, $3::name, $4::name) RETURNING id",
                            {env, label, schema, caller}));
}

void record_versions(long long id, const Plan& plan) {
  nlohmann::json rows = nlohmann::json::array();
  for (const PlannedFn& f : plan.fns)
    rows.push_back({{"fn_name", f.fn_name},
                    {"signature", f.signature},
                    {"identity_types", f.identity_types},
                    {"routine", f.routine},
                    {"arguments", f.arguments},
                    {"result", f.result ? nlohmann::json(*f.result) : nlohmann::json()},
                    {"clauses", f.clauses},
                    {"kind", f.kind},
                    {"artifact_hash", f.artifact_hash},
                    {"source_sha256", f.source_sha256},
                    {"imports", f.imports},
                    {"import_map", f.import_map},
                    {"pointer", pointer_stub(f.artifact_hash, f.import_map,
                                             f.export_name.empty() ? "default" : f.export_name)},
                    {"comment", f.comment ? nlohmann::json(*f.comment) : nlohmann::json()},
                    {"path", f.path.empty() ? nlohmann::json() : nlohmann::json(f.path)},
                    {"module", f.module.empty() ? nlohmann::json() : nlohmann::json(f.module)},
                    {"export_name", f.export_name.empty() ? nlohmann::json() : nlohmann::json(f.export_name)}});
  // stopgap 0.2.0's catalog (the library updated, ALTER EXTENSION UPDATE not yet run) has no
  // path, module and export_name: a schema's deploy still works there.
  Value has_paths = scalar(
      "SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'stopgap.fn_version'::pg_catalog.regclass"
      "                  AND a.attname = 'path' AND NOT a.attisdropped)");
  if (has_paths != "t") {
    if (!plan.schema.empty()) {
      query("INSERT INTO stopgap.fn_version (deployment_id, fn_name, signature, identity_types, routine, arguments,"
            "  result, clauses, kind, artifact_hash, source_sha256, imports, import_map, pointer, comment)"
            " SELECT $1::bigint, r.fn_name, r.signature, r.identity_types, r.routine, r.arguments, r.result, r.clauses,"
            "        r.kind, r.artifact_hash, r.source_sha256,"
            "        ARRAY(SELECT pg_catalog.jsonb_array_elements_text(r.imports)), r.import_map, r.pointer, r.comment"
            "   FROM pg_catalog.jsonb_to_recordset($2::jsonb) AS r(fn_name name, signature text, identity_types text,"
            "        routine text, arguments text, result text, clauses text, kind text, artifact_hash text,"
            "        source_sha256 text, imports jsonb, import_map jsonb, pointer text, comment text)",
            {std::to_string(id), rows.dump()});
      return;
    }
    throw pgx::PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                       "stopgap's catalog is older than its library: deploying a project needs stopgap 0.3.0", "",
                       "Run ALTER EXTENSION plts UPDATE; ALTER EXTENSION stopgap UPDATE;");
  }
  query("INSERT INTO stopgap.fn_version (deployment_id, fn_name, signature, identity_types, routine, arguments,"
        "  result, clauses, kind, artifact_hash, source_sha256, imports, import_map, pointer, comment, path, module,"
        "  export_name)"
        " SELECT $1::bigint, r.fn_name, r.signature, r.identity_types, r.routine, r.arguments, r.result, r.clauses,"
        "        r.kind, r.artifact_hash, r.source_sha256,"
        "        ARRAY(SELECT pg_catalog.jsonb_array_elements_text(r.imports)), r.import_map, r.pointer, r.comment,"
        "        r.path, r.module, r.export_name"
        "   FROM pg_catalog.jsonb_to_recordset($2::jsonb) AS r(fn_name name, signature text, identity_types text,"
        "        routine text, arguments text, result text, clauses text, kind text, artifact_hash text,"
        "        source_sha256 text, imports jsonb, import_map jsonb, pointer text, comment text, path text,"
        "        module text, export_name text)",
        {std::to_string(id), rows.dump()});
}

nlohmann::json manifest(const std::string& env, const std::string& live, const Plan& plan,
                        const nlohmann::json& pruned) {
  nlohmann::json fns = nlohmann::json::array(), map = nlohmann::json::object();
  for (const PlannedFn& f : plan.fns) {
    nlohmann::json fn = {{"fn_name", f.fn_name},
                         {"signature", f.signature},
                         {"routine", f.routine},
                         {"result", f.result ? nlohmann::json(*f.result) : nlohmann::json()},
                         {"kind", f.kind},
                         {"artifact_hash", f.artifact_hash},
                         {"imports", f.imports}};
    if (!f.path.empty()) {
      fn["path"] = f.path;
      fn["module"] = f.module;
      fn["export"] = f.export_name;
    } else {
      map["@stopgap/" + plan.schema + "/" + f.fn_name] = "plts+artifact:" + f.artifact_hash;
    }
    fns.push_back(std::move(fn));
  }
  nlohmann::json out = {{"format", 2}, {"env", env}, {"live_schema", live}, {"functions", fns}, {"prune", pruned}};
  if (plan.schema.empty()) {
    // format 3: a project (issue 16), its modules by file key
    out["format"] = 3;
    out["source_schema"] = nullptr;
    out["modules"] = plan.modules;
  } else {
    out["source_schema"] = plan.schema;
    out["import_map"] = map;
  }
  return out;
}

// Makes deployment `to` the active one of env (from `from`, if any), and logs the activation.
void activate(const std::string& env, std::optional<long long> from, long long to, const char* action,
              const std::string& caller, const nlohmann::json& detail) {
  const std::string ids = std::to_string(to);
  if (std::string(action) == "deploy") {
    if (from) query("UPDATE stopgap.deployment SET status = 'superseded' WHERE id = $1::bigint", {std::to_string(*from)});
  } else {
    query("UPDATE stopgap.deployment d SET status = 'rolled_back'"
          " WHERE d.env = $1 AND d.id > $2::bigint AND d.status IN ('active', 'superseded')",
          {env, ids});
  }
  query("UPDATE stopgap.deployment SET status = 'active' WHERE id = $1::bigint", {ids});
  query("UPDATE stopgap.environment SET active_deployment_id = $2::bigint, updated_at = pg_catalog.now() WHERE env = $1",
        {env, ids});
  pause_point("activate");
  // Schedules follow the active deployment: their workers look again (a target that came back, or
  // went) when this commits.
  pgx::pg_guard([] { scheduler::wake_at_commit(false); });
  query("INSERT INTO stopgap.activation_log (env, action, from_deployment_id, to_deployment_id, actor, detail)"
        " VALUES ($1, $2, $3::bigint, $4::bigint, $5::name, $6::jsonb)",
        {env, std::string(action), from ? Value(std::to_string(*from)) : Value(), ids, caller, detail.dump()});
}

long long elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

long long deploy(const std::string& caller, const Value& env_arg, const std::string& from_schema,
                 const Value& label, bool force) {
  auto started = std::chrono::steady_clock::now();
  require_writable("deploy");
  authorize(caller, "deploy", from_schema);
  const std::string env = env_name(env_arg);
  lock_environment(env);
  Environment er = environment(env, true, caller);
  const std::optional<long long> prev = er.active_deployment_id;

  Plan plan = build_plan(from_schema, false);
  progress(env, "compiling " + plural(plan.fns.size(), "function", "functions") + " of schema \"" + from_schema + "\"");

  if (prev && !force) {
    std::string prev_schema;
    std::vector<RecordedFn> recorded = recorded_functions(*prev, &prev_schema);
    std::vector<FnShape> active(recorded.begin(), recorded.end());
    std::vector<FnShape> planned(plan.fns.begin(), plan.fns.end());
    if (prev_schema == from_schema && same_deployment(planned, active) && live_schema_current(er.live_schema, *prev)) {
      progress(env, "nothing changed since the active deployment, which stays active; nothing was recorded "
                    "(force => true deploys anyway)");
      return *prev;
    }
  }

  const long long id = insert_deployment(env, label, from_schema, caller);
  typecheck_plan(plan, false);
  progress(env, "storing and loading " + plural(plan.fns.size(), "module", "modules"));
  store_artifacts(plan);
  load_exports(plan);
  record_versions(id, plan);

  progress(env, "materializing " + plural(plan.fns.size(), "live function", "live functions") + " in schema \"" +
                    er.live_schema + "\"");
  int replaced = 0;
  std::map<std::string, std::string> defs = materialize(er.live_schema, id, "deploy", &replaced);
  query("UPDATE stopgap.fn_version v SET definition = d.value"
        "  FROM pg_catalog.jsonb_each_text($2::jsonb) d WHERE v.deployment_id = $1::bigint AND v.fn_name = d.key",
        {std::to_string(id), nlohmann::json(defs).dump()});
  nlohmann::json pruned = prune(er.live_schema, id);
  query("UPDATE stopgap.deployment SET manifest = $2::jsonb, status = 'sealed' WHERE id = $1::bigint",
        {std::to_string(id), manifest(env, er.live_schema, plan, pruned).dump()});

  size_t dropped = pruned["dropped"].size();
  progress(env, "activating" + (settings.prune ? " (pruned " + plural(dropped, "live function", "live functions") + ")"
                                                : std::string()));
  activate(env, prev, id, "deploy", caller, {{"functions", plan.fns.size()}, {"prune", pruned}});
  stopgap_log(LOG, "stopgap: environment " + env + ": deployment " + std::to_string(id) +
                       (label ? " \"" + *label + "\"" : "") + " (" + std::to_string(plan.fns.size()) +
                       " functions from schema " + from_schema + ") activated by " + caller + ", replacing " +
                       (prev ? std::to_string(*prev) : std::string("nothing")) + "; pruned " + std::to_string(dropped));
  stopgap_log(DEBUG1, "stopgap: environment " + env + ": deployment " + std::to_string(id) + ": transpiled " +
                          std::to_string(plan.transpiled) + " functions (" + std::to_string(plan.reused) +
                          " known), stored " + std::to_string(plan.stored) + " artifacts, type-checked " +
                          std::to_string(plan.typechecked) + " functions, replaced " + std::to_string(replaced) +
                          " live functions, in " + std::to_string(elapsed_ms(started)) + " ms");
  return id;
}

long long rollback(const std::string& caller, const Value& env_arg, std::optional<int> steps,
                   std::optional<long long> to_id) {
  require_writable("roll back");
  authorize(caller, "roll back", std::nullopt);
  const std::string env = env_name(env_arg);
  lock_environment(env);
  Environment er = environment(env, false, caller);
  if (!er.active_deployment_id)
    throw pgx::PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                       "environment \"" + env + "\" has no active deployment");
  const long long active = *er.active_deployment_id;
  std::vector<DeploymentState> deployments;
  for (const Row& r : query("SELECT d.id, d.status FROM stopgap.deployment d WHERE d.env = $1", {env}))
    deployments.push_back({std::stoll(r.str(0)), r.str(1)});
  long long target = 0;
  try {
    target = rollback_target(deployments, active, steps, to_id, env);
  } catch (const Problem& p) {
    raise_problem(p);
  }
  int replaced = 0;
  materialize(er.live_schema, target, "roll back", &replaced);
  nlohmann::json pruned = prune(er.live_schema, target);
  activate(env, active, target, "rollback", caller,
           {{"steps", to_id ? nlohmann::json() : nlohmann::json(steps.value_or(1))},
            {"to_id", to_id ? nlohmann::json(*to_id) : nlohmann::json()},
            {"prune", pruned}});
  Value label = scalar("SELECT d.label FROM stopgap.deployment d WHERE d.id = $1::bigint", {std::to_string(target)});
  stopgap_log(LOG, "stopgap: environment " + env + ": rolled back from deployment " + std::to_string(active) + " to " +
                       std::to_string(target) + (label ? " \"" + *label + "\"" : "") + " by " + caller);
  stopgap_log(DEBUG1, "stopgap: environment " + env + ": rollback to " + std::to_string(target) + " replaced " +
                          std::to_string(replaced) + " live functions");
  return target;
}

}  // namespace stopgap
