// stopgap.metrics() and the recorder the SQL side calls when an operation ends.
#include "extensions/stopgap/metrics.h"

#include <nlohmann/json.hpp>

#include "common/error_boundary.h"

extern "C" {
#include "utils/jsonb.h"
#include "utils/timestamp.h"
}

namespace stopgap {

Metrics metrics;

ErrorClass classify_sqlstate(const std::string& s) {
  if (s == "42601") return ErrorClass::kCompile;
  if (s == "42501") return ErrorClass::kPermission;
  if (s == "55P03" || s.rfind("40", 0) == 0) return ErrorClass::kConflict;
  if (s.rfind("57", 0) == 0) return ErrorClass::kCanceled;
  if (s.rfind("55", 0) == 0) return ErrorClass::kState;
  if (s.rfind("22", 0) == 0 || s.rfind("3F", 0) == 0 || s.rfind("42", 0) == 0)
    return ErrorClass::kInvalidInput;
  return ErrorClass::kInternal;
}

const char* error_class_name(ErrorClass c) {
  switch (c) {
    case ErrorClass::kCompile:
      return "compile";
    case ErrorClass::kPermission:
      return "permission";
    case ErrorClass::kInvalidInput:
      return "invalid_input";
    case ErrorClass::kState:
      return "state";
    case ErrorClass::kConflict:
      return "conflict";
    case ErrorClass::kCanceled:
      return "canceled";
    default:
      return "internal";
  }
}

const char* op_name(Op op) {
  switch (op) {
    case Op::kDeploy:
      return "deploy";
    case Op::kRollback:
      return "rollback";
    case Op::kCall:
      return "call";
    default:
      return "diff";
  }
}

void record(Op op, int64_t latency_us, const std::string& sqlstate) {
  OpCounters& c = metrics.ops[static_cast<int>(op)];
  uint64_t us = latency_us > 0 ? static_cast<uint64_t>(latency_us) : 0;
  c.calls++;
  c.latency_total_us += us;
  c.latency_last_us = us;
  if (us > c.latency_max_us) c.latency_max_us = us;
  metrics.last_latency_us = us;
  if (!sqlstate.empty()) {
    c.errors++;
    metrics.error_classes[static_cast<int>(classify_sqlstate(sqlstate))]++;
  }
}

}  // namespace stopgap

namespace {

Datum to_jsonb(const nlohmann::json& j) {
  std::string text = j.dump();
  Datum d = 0;
  pgx::pg_guard([&] { d = DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str())); });
  return d;
}

nlohmann::json latency_json(uint64_t total, uint64_t last, uint64_t max) {
  return {{"total", total}, {"last", last}, {"max", max}};
}

}  // namespace

// stopgap.metrics() -> jsonb: this backend's counters.
PGX_FUNCTION(stopgap_metrics) {
  using stopgap::metrics;
  nlohmann::json j = nlohmann::json::object();
  uint64_t calls = 0, errors = 0, total = 0, max = 0;
  for (int i = 0; i < static_cast<int>(stopgap::Op::kCount); i++) {
    const stopgap::OpCounters& c = metrics.ops[i];
    j[stopgap::op_name(static_cast<stopgap::Op>(i))] = {
        {"calls", c.calls},
        {"errors", c.errors},
        {"latency_us", latency_json(c.latency_total_us, c.latency_last_us, c.latency_max_us)}};
    calls += c.calls;
    errors += c.errors;
    total += c.latency_total_us;
    if (c.latency_max_us > max) max = c.latency_max_us;
  }
  j["calls"] = calls;
  j["errors"] = errors;
  j["latency_us"] = latency_json(total, metrics.last_latency_us, max);
  nlohmann::json classes = nlohmann::json::object();
  for (int i = 0; i < static_cast<int>(stopgap::ErrorClass::kCount); i++)
    classes[stopgap::error_class_name(static_cast<stopgap::ErrorClass>(i))] =
        metrics.error_classes[i];
  j["error_classes"] = classes;
  return to_jsonb(j);
}

// stopgap._record_metric(op text, started_at timestamptz, sqlstate text) -> void
PGX_FUNCTION(stopgap_record_metric) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_VOID();
  TimestampTz started = PG_GETARG_TIMESTAMPTZ(1);
  TimestampTz now = GetCurrentTimestamp();
  char* o = nullptr;
  char* s = nullptr;
  pgx::pg_guard([&] {
    o = text_to_cstring(PG_GETARG_TEXT_PP(0));
    if (!PG_ARGISNULL(2)) s = text_to_cstring(PG_GETARG_TEXT_PP(2));
  });
  std::string op = o, sqlstate = s != nullptr ? s : "";
  stopgap::Op which;
  if (op == "deploy") {
    which = stopgap::Op::kDeploy;
  } else if (op == "rollback") {
    which = stopgap::Op::kRollback;
  } else if (op == "diff") {
    which = stopgap::Op::kDiff;
  } else {
    throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE, "unknown stopgap operation \"" + op + "\"");
  }
  stopgap::record(which, static_cast<int64_t>(now - started), sqlstate);
  PG_RETURN_VOID();
}
