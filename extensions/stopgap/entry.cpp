// The SQL entry points of the engine: stopgap.deploy, rollback, diff and create_environment.
// They are SECURITY DEFINER with a pinned search_path (sql/stopgap--0.1.0--0.2.0.sql); each checks
// the calling role itself (environment.cpp) and counts its calls and errors (metrics.cpp).
#include <chrono>

#include "common/error_boundary.h"
#include "extensions/stopgap/activate.h"
#include "extensions/stopgap/diff.h"
#include "extensions/stopgap/environment.h"
#include "extensions/stopgap/metrics.h"
#include "extensions/stopgap/project.h"
#include "extensions/stopgap/settings.h"
#include "extensions/stopgap/spi.h"

extern "C" {
#include "utils/jsonb.h"
}

namespace {

stopgap::Value text_arg(FunctionCallInfo fcinfo, int i) {
  if (PG_NARGS() <= i || PG_ARGISNULL(i)) return std::nullopt;
  std::string out;
  pgx::pg_guard([&] {
    text* t = PG_GETARG_TEXT_PP(i);
    out.assign(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
  });
  return out;
}

std::string required(const stopgap::Value& v, const char* name) {
  if (!v) throw pgx::PgError(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(name) + " must not be null");
  return *v;
}

// Runs one operation in its own SPI connection and counts it, failed or not.
template <typename F>
auto measured(stopgap::Op op, F&& body) {
  auto started = std::chrono::steady_clock::now();
  auto us = [&] {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  };
  try {
    stopgap::SpiSession spi;
    auto result = body();
    spi.finish();
    stopgap::record(op, us(), "");
    return result;
  } catch (const pgx::PgError& e) {
    stopgap::record(op, us(), unpack_sql_state(e.sqlerrcode()));
    throw;
  } catch (...) {
    stopgap::record(op, us(), "XX000");
    throw;
  }
}

}  // namespace

// stopgap.deploy(env text, from_schema text, label text, force boolean) -> bigint
PGX_FUNCTION(stopgap_deploy) {
  stopgap::Value env = text_arg(fcinfo, 0), from = text_arg(fcinfo, 1), label = text_arg(fcinfo, 2);
  bool force = PG_NARGS() > 3 && !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
  long long id = measured(stopgap::Op::kDeploy, [&] {
    return stopgap::deploy(stopgap::calling_role(), env, required(from, "from_schema"), label, force);
  });
  return Int64GetDatum(id);
}

// stopgap.rollback(env text, steps integer, to_id bigint) -> bigint
PGX_FUNCTION(stopgap_rollback) {
  stopgap::Value env = text_arg(fcinfo, 0);
  std::optional<int> steps;
  std::optional<long long> to_id;
  if (!PG_ARGISNULL(1)) steps = PG_GETARG_INT32(1);
  if (!PG_ARGISNULL(2)) to_id = PG_GETARG_INT64(2);
  long long id = measured(stopgap::Op::kRollback,
                          [&] { return stopgap::rollback(stopgap::calling_role(), env, steps, to_id); });
  return Int64GetDatum(id);
}

// stopgap.diff(env text, from_schema text) -> jsonb
PGX_FUNCTION(stopgap_diff) {
  stopgap::Value env = text_arg(fcinfo, 0), from = text_arg(fcinfo, 1);
  std::string text = measured(stopgap::Op::kDiff, [&] {
    return stopgap::diff(stopgap::calling_role(), env, required(from, "from_schema")).dump();
  });
  Datum d = 0;
  pgx::pg_guard([&] { d = DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
  return d;
}

// stopgap.create_environment(env text, live_schema text) -> text: the live schema, which exists
// from then on (the environment has no deployment until its first deploy).
PGX_FUNCTION(stopgap_create_environment) {
  stopgap::Value env = text_arg(fcinfo, 0), live = text_arg(fcinfo, 1);
  if (live) {
    std::string problem = stopgap::live_schema_problem(live->c_str());
    if (!problem.empty())
      throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE, "invalid live schema name \"" + *live + "\"", problem);
  }
  std::string schema;
  {
    stopgap::SpiSession spi;
    std::string caller = stopgap::calling_role();
    stopgap::require_writable("create an environment");
    stopgap::authorize(caller, "create an environment", std::nullopt);
    std::string e = stopgap::env_name(env);
    stopgap::lock_environment(e);
    if (stopgap::find_environment(e, false))
      throw pgx::PgError(ERRCODE_DUPLICATE_OBJECT, "environment \"" + e + "\" already exists");
    schema = stopgap::environment(e, true, caller, live).live_schema;
    spi.finish();
  }
  Datum d = 0;
  pgx::pg_guard([&] { d = PointerGetDatum(cstring_to_text_with_len(schema.data(), static_cast<int>(schema.size()))); });
  return d;
}

namespace {

stopgap::Value jsonb_arg(FunctionCallInfo fcinfo, int i) {
  if (PG_NARGS() <= i || PG_ARGISNULL(i)) return std::nullopt;
  std::string out;
  pgx::pg_guard([&] { out = DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(i))); });
  return out;
}

Datum jsonb_datum(const std::string& text) {
  Datum d = 0;
  pgx::pg_guard([&] { d = DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
  return d;
}

}  // namespace

// stopgap.deploy_project(env text, project jsonb, label text, options jsonb) -> jsonb
PGX_FUNCTION(stopgap_deploy_project) {
  stopgap::Value env = text_arg(fcinfo, 0), project = jsonb_arg(fcinfo, 1), label = text_arg(fcinfo, 2),
                 options = jsonb_arg(fcinfo, 3);
  nlohmann::json opts = nlohmann::json::parse(options.value_or("{}"));
  bool dry_run = opts.is_object() && opts.contains("dry_run") && opts["dry_run"].is_boolean() &&
                 opts["dry_run"].get<bool>();
  std::string text = measured(dry_run ? stopgap::Op::kDiff : stopgap::Op::kDeploy, [&] {
    nlohmann::json p = nlohmann::json::parse(required(project, "project"));
    return stopgap::deploy_project(stopgap::calling_role(), env, p, label, opts).dump();
  });
  return jsonb_datum(text);
}

// stopgap.call_fn(path text, args jsonb, env text) -> jsonb
PGX_FUNCTION(stopgap_call_fn) {
  stopgap::Value path = text_arg(fcinfo, 0), args = jsonb_arg(fcinfo, 1), env = text_arg(fcinfo, 2);
  stopgap::Value result = measured(stopgap::Op::kCall, [&] {
    return stopgap::call_fn(required(path, "path"), args.value_or("{}"), env);
  });
  if (!result) PG_RETURN_NULL();
  return jsonb_datum(*result);
}
