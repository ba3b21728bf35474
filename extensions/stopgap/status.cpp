// stopgap.status and stopgap._drift: an environment's live schema, active deployment and how the
// live schema differs from what that deployment wrote. Run as the caller (SECURITY INVOKER: SELECT
// on the catalog is granted to stopgap_deployer).
#include "common/error_boundary.h"
#include "extensions/stopgap/environment.h"
#include "extensions/stopgap/spi.h"

extern "C" {
#include "utils/jsonb.h"
}

namespace stopgap {

namespace {

// {drift: [{fn_name, signature, problem, ...}], retained: [signature]}. Problems:
// live_schema_missing, missing, artifact_missing, modified, owner_changed, privileges_changed,
// unexpected. Retained routines are earlier deployments' pointers left in place (prune off).
nlohmann::json drift(const Environment& er) {
  nlohmann::json out = {{"drift", nlohmann::json::array()}, {"retained", nlohmann::json::array()}};
  nlohmann::json& d = out["drift"];
  if (!scalar("SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = $1::name", {er.live_schema})) {
    d.push_back({{"problem", "live_schema_missing"}, {"schema", er.live_schema}});
    return out;
  }
  const Value active = er.active_deployment_id ? Value(std::to_string(*er.active_deployment_id)) : Value();
  // What stopgap wrote, compared with what is there.
  for (const Row& r : query(
           "SELECT v.fn_name, v.signature, p.oid IS NULL,"
           "       NOT EXISTS (SELECT FROM plts.artifact a WHERE a.artifact_hash = v.artifact_hash),"
           "       pg_catalog.pg_get_functiondef(p.oid) IS DISTINCT FROM v.definition,"
           "       p.prosrc IS DISTINCT FROM v.pointer,"
           "       p.proowner <> 'stopgap_owner'::pg_catalog.regrole,"
           "       stopgap._privilege_drift(p.oid)::text"
           "  FROM stopgap.fn_version v"
           "  LEFT JOIN (pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
           "             AND n.nspname = $2::name)"
           "    ON p.proname = v.fn_name AND stopgap._identity_types(p.oid) = v.identity_types"
           " WHERE v.deployment_id = $1::bigint ORDER BY v.fn_name",
           {active, er.live_schema})) {
    nlohmann::json item = {{"fn_name", r.str(0)}, {"signature", r.str(1)}};
    if (r.str(2) == "t") {
      item["problem"] = "missing";
      d.push_back(item);
      continue;
    }
    auto with = [&](nlohmann::json more) {
      nlohmann::json j = item;
      j.update(more);
      d.push_back(j);
    };
    if (r.str(3) == "t") {
      with({{"problem", "artifact_missing"}});
    } else if (r.str(4) == "t") {
      with({{"problem", "modified"}, {"body_changed", r.str(5) == "t"}});
    } else if (r.str(6) == "t") {
      with({{"problem", "owner_changed"}});
    }
    if (!r.null(7)) {
      nlohmann::json p = nlohmann::json::parse(r.str(7));
      p["problem"] = "privileges_changed";
      with(p);
    }
  }
  // Live routines the active deployment lacks: left by earlier deployments (not pruned), or never
  // written by stopgap.
  for (const Row& r : query(
           "SELECT x.proname, pg_catalog.format('%s(%s)', x.proname, pg_catalog.pg_get_function_identity_arguments(x.oid)),"
           "       EXISTS (SELECT FROM stopgap.fn_version w JOIN stopgap.deployment y ON y.id = w.deployment_id"
           "                WHERE y.env = $3 AND w.fn_name = x.proname AND w.pointer = x.prosrc)"
           "  FROM pg_catalog.pg_proc x JOIN pg_catalog.pg_namespace n ON n.oid = x.pronamespace"
           " WHERE n.nspname = $2::name"
           "   AND NOT EXISTS (SELECT FROM stopgap.fn_version w"
           "                    WHERE w.deployment_id = $1::bigint AND w.fn_name = x.proname"
           "                      AND w.identity_types = stopgap._identity_types(x.oid))"
           " ORDER BY 1, 2",
           {active, er.live_schema, er.env})) {
    if (r.str(2) == "t")
      out["retained"].push_back(r.str(1));
    else
      d.push_back({{"fn_name", r.str(0)}, {"signature", r.str(1)}, {"problem", "unexpected"}});
  }
  return out;
}

Datum jsonb_result(const nlohmann::json& j) {
  std::string text = j.dump();
  Datum d = 0;
  pgx::pg_guard([&] { d = DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
  return d;
}

Value arg(FunctionCallInfo fcinfo, int i) {
  if (PG_ARGISNULL(i)) return std::nullopt;
  std::string out;
  pgx::pg_guard([&] { out = text_to_cstring(PG_GETARG_TEXT_PP(i)); });
  return out;
}

}  // namespace

}  // namespace stopgap

// stopgap._drift(env text) -> jsonb (NULL for an environment that does not exist)
PGX_FUNCTION(stopgap_drift) {
  stopgap::Value env = stopgap::arg(fcinfo, 0);
  if (!env) PG_RETURN_NULL();
  stopgap::SpiSession spi;
  std::optional<stopgap::Environment> er = stopgap::find_environment(*env, false);
  if (!er) {
    spi.finish();
    PG_RETURN_NULL();
  }
  nlohmann::json j = stopgap::drift(*er);
  spi.finish();
  return stopgap::jsonb_result(j);
}

// stopgap.status(env text) -> jsonb
PGX_FUNCTION(stopgap_status) {
  stopgap::Value env_arg = stopgap::arg(fcinfo, 0);
  stopgap::SpiSession spi;
  const std::string env = stopgap::env_name(env_arg);
  std::optional<stopgap::Environment> er = stopgap::find_environment(env, false);
  if (!er)
    throw pgx::PgError(ERRCODE_UNDEFINED_OBJECT, "environment \"" + env + "\" does not exist", "",
                       "An environment is created by stopgap.create_environment or its first stopgap.deploy.");
  const stopgap::Value active = er->active_deployment_id ? stopgap::Value(std::to_string(*er->active_deployment_id))
                                                         : stopgap::Value();
  stopgap::Rows r = stopgap::query(
      "SELECT (SELECT pg_catalog.jsonb_build_object("
      "          'id', d.id, 'label', d.label, 'status', d.status, 'source_schema', d.source_schema,"
      "          'created_at', d.created_at, 'created_by', d.created_by,"
      "          'activated_at', (SELECT max(l.activated_at) FROM stopgap.activation_log l"
      "                            WHERE l.env = d.env AND l.to_deployment_id = d.id))::text"
      "          FROM stopgap.deployment d WHERE d.id = $1::bigint),"
      "       (SELECT count(*) FROM stopgap.fn_version v WHERE v.deployment_id = $1::bigint),"
      // to_jsonb: stopgap 0.2.0's catalog (not yet updated) has no path column
      "       (SELECT coalesce(pg_catalog.jsonb_agg(x.path ORDER BY x.path), '[]')::text"
      "          FROM (SELECT pg_catalog.to_jsonb(v)->>'path' AS path FROM stopgap.fn_version v"
      "                 WHERE v.deployment_id = $1::bigint) x WHERE x.path IS NOT NULL)",
      {active});
  nlohmann::json d = stopgap::drift(*er);
  nlohmann::json out = {
      {"env", env},
      {"live_schema", er->live_schema},
      {"active_deployment", r[0].null(0) ? nlohmann::json() : nlohmann::json::parse(r[0].str(0))},
      {"function_count", std::stoll(r[0].str(1))},
      {"paths", nlohmann::json::parse(r[0].str(2))},  // a project's functions (none from a schema)
      {"drifted", !d["drift"].empty()},
      {"drift", d["drift"]},
      {"retained", d["retained"]},
  };
  spi.finish();
  return stopgap::jsonb_result(out);
}
