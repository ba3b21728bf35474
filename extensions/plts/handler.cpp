// The language's fmgr entry points: call handler, inline handler (DO), validator, and
// plts.metrics().
#include <nlohmann/json.hpp>

#include "common/error_boundary.h"
#include "extensions/plts/artifacts.h"
#include "extensions/plts/call.h"
#include "extensions/plts/cycle_clock.h"
#include "extensions/plts/compiler/compiler.h"
#include "extensions/plts/db_bridge.h"
#include "extensions/plts/function_cache.h"
#include "extensions/plts/metrics.h"
#include "extensions/plts/realm.h"

extern "C" {
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "utils/jsonb.h"
}

PGX_FUNCTION(plts_call_handler) { return plts::call_function(fcinfo); }

PGX_FUNCTION(plts_inline_handler) {
  auto* block = reinterpret_cast<InlineCodeBlock*>(DatumGetPointer(PG_GETARG_DATUM(0)));
  plts::run_inline(block->source_text, block->atomic);
  PG_RETURN_VOID();
}

PGX_FUNCTION(plts_validator) {
  Oid fn_oid = PG_GETARG_OID(0);
  bool allowed = false;
  pgx::pg_guard([&] { allowed = CheckFunctionValidatorAccess(fcinfo->flinfo->fn_oid, fn_oid); });
  if (allowed) plts::validate_function(fn_oid);
  PG_RETURN_VOID();
}

// plts.metrics() -> jsonb: this backend's counters.
PGX_FUNCTION(plts_metrics) {
  const plts::Metrics& m = plts::metrics;
  plts::CacheStats cs = plts::function_cache_stats();
  double us_per_tick = plts::microseconds_per_tick();
  auto us = [&](uint64_t ticks) {
    return static_cast<uint64_t>(static_cast<double>(ticks) * us_per_tick);
  };
  nlohmann::json j = {
      {"calls", m.calls},
      {"errors", m.errors},
      {"latency_us",
       {{"total", us(m.latency_total_ticks)},
        {"last", us(m.latency_last_ticks)},
        {"max", us(m.latency_max_ticks)}}},
      {"error_classes",
       {{"js_exception", m.js_exception},
        {"sql_error", m.sql_error},
        {"timeout", m.timeout},
        {"cancel", m.cancel},
        {"heap", m.heap},
        {"stack", m.stack}}},
      {"function_cache", {{"hits", cs.hits}, {"misses", cs.misses}}},
      {"plan_cache",
       {{"hits", m.plan_cache_hits},
        {"misses", m.plan_cache_misses},
        {"size", plts::plan_cache_size()}}},
      {"db", {{"calls", m.db_calls}, {"errors", m.db_errors}}},
      {"contexts", plts::realm_count()},
      {"isolate_recycles", m.isolate_recycles},
      {"compiler", plts::compiler_origin()},
  };
  std::string text = j.dump();
  Datum d = 0;
  pgx::pg_guard([&] { d = DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
  return d;
}

// plts.artifact_exports(artifact_hash text [, import_map jsonb]) -> jsonb {export name: kind}
PGX_FUNCTION(plts_artifact_exports) {
  std::string hash, map_text;
  pgx::pg_guard([&] {
    hash = text_to_cstring(PG_GETARG_TEXT_PP(0));
    if (PG_NARGS() > 1)
      map_text = DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(1)));
  });
  nlohmann::json map = nlohmann::json::object();
  if (!map_text.empty()) {
    map = nlohmann::json::parse(map_text);
    if (!map.is_object())
      throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE, "import_map must be a JSON object of strings");
    for (auto& [k, v] : map.items())
      if (!v.is_string())
        throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                           "import_map entry \"" + k + "\" must map to a string");
  }
  std::string normalized = plts::normalize_artifact_ref(hash);
  if (normalized.empty())
    throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                       "\"" + hash + "\" is not an artifact hash (sha256:<64 hex digits>)");
  std::string text = plts::artifact_exports(normalized, map).dump();
  Datum d = 0;
  pgx::pg_guard([&] { d = DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
  return d;
}
