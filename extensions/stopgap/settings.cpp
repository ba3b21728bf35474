#include "extensions/stopgap/settings.h"

#include <cctype>
#include <cstring>
#include <string>

#include "common/error_boundary.h"
#include "common/log_level.h"
#include "common/pg.h"

namespace stopgap {

// Why a live schema name is refused, or "" when it is not. Names that only look like another
// schema (PG_CATALOG, "public ", a name with a newline) are refused with the reserved ones.
std::string live_schema_problem(const char* s) {
  size_t n = s == nullptr ? 0 : strlen(s);
  if (n == 0) return "The live schema name must not be empty.";
  if (n >= NAMEDATALEN)
    return "The live schema name must be shorter than " + std::to_string(NAMEDATALEN) + " bytes.";
  for (size_t i = 0; i < n; i++) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return "The live schema name must not contain control characters.";
  }
  if (isspace(static_cast<unsigned char>(s[0])) || isspace(static_cast<unsigned char>(s[n - 1])))
    return "The live schema name must not begin or end with white space.";
  if (pg_strncasecmp(s, "pg_", 3) == 0)
    return "Schema names beginning with \"pg_\" (in any case) are reserved for the system.";
  for (const char* reserved : {"stopgap", "plts", "public", "information_schema"})
    if (pg_strcasecmp(s, reserved) == 0)
      return std::string("\"") + s + "\" is reserved or looks like a reserved schema; choose a schema " +
             "that only stopgap writes to.";
  return "";
}


Settings settings;

namespace {

// GUC check hooks run inside PostgreSQL's GUC machinery: no exception may leave them.

// A value SET before stopgap.so was loaded is a placeholder, checked only when the library loads:
// PostgreSQL then warns and keeps the default. It is kept here so that a deploy refuses it
// instead of silently using the default; the next accepted value clears it.
std::string* rejected_live_schema = nullptr;

bool check_live_schema(char** newval, void**, GucSource) {
  try {
    std::string problem = live_schema_problem(*newval);
    if (problem.empty()) return true;
    GUC_check_errdetail("%s", problem.c_str());
  } catch (...) {  // std::bad_alloc must not unwind through PostgreSQL's frames
    GUC_check_errdetail("out of memory while checking the live schema name");
  }
  return false;
}

void assign_live_schema(const char*, void*) {
  delete rejected_live_schema;
  rejected_live_schema = nullptr;
}

bool check_env_name(char** newval, void**, GucSource) {
  const char* s = *newval;
  size_t n = s == nullptr ? 0 : strlen(s);
  bool ok = n > 0 && n < NAMEDATALEN && s[0] != '.' && s[0] != '-';
  for (size_t i = 0; ok && i < n; i++) {
    char c = s[i];
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
  }
  if (!ok) GUC_check_errdetail("Environment names are 1-63 letters, digits, '_', '.' or '-'.");
  return ok;
}

const struct config_enum_entry typecheck_options[] = {
    {"off", kTypecheckOff, false}, {"warn", kTypecheckWarn, false}, {"on", kTypecheckOn, false},
    {"error", kTypecheckOn, true}, {"true", kTypecheckOn, true},    {"false", kTypecheckOff, true},
    {nullptr, 0, false}};

const struct config_enum_entry pause_phase_options[] = {
    {"", 0, false},          {"compile", 1, false},  {"store", 2, false},
    {"load", 3, false},      {"materialize", 4, false}, {"activate", 5, false},
    {nullptr, 0, false}};

}  // namespace

std::string live_schema_setting() {
  if (rejected_live_schema != nullptr)
    throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                       "invalid value for parameter \"stopgap.live_schema\": \"" +
                           *rejected_live_schema + "\"",
                       live_schema_problem(rejected_live_schema->c_str()),
                       "It was set before stopgap was loaded in this session, so it was checked "
                       "only now. SET stopgap.live_schema to another name.");
  return settings.live_schema;
}

void define_settings() {
  const char* placeholder = GetConfigOption("stopgap.live_schema", true, false);
  std::string before = placeholder == nullptr ? "" : placeholder;
  DefineCustomStringVariable(
      "stopgap.live_schema", "Live schema of an environment created by its first deploy.",
      "Read once, when stopgap.deploy creates the environment; the environment keeps it.",
      &settings.live_schema, "live_deployment", PGC_USERSET, 0, check_live_schema,
      assign_live_schema, nullptr);
  if (placeholder != nullptr && before != settings.live_schema)
    rejected_live_schema = new std::string(before);
  DefineCustomEnumVariable(
      "stopgap.pause_at", "Phase of deploy or rollback that waits for a test's advisory lock.",
      "For fault-injection tests only: the deploy waits in that phase on "
      "pg_advisory_xact_lock(hashtext('stopgap.pause_at'), hashtext(phase)).",
      &settings.pause_at, 0, pause_phase_options, PGC_SUSET, GUC_NOT_IN_SAMPLE, nullptr, nullptr,
      nullptr);
  DefineCustomStringVariable(
      "stopgap.default_env", "Environment used when stopgap functions are given env => NULL.",
      nullptr, &settings.default_env, "prod", PGC_USERSET, 0, check_env_name, nullptr, nullptr);
  DefineCustomBoolVariable("stopgap.prune",
                           "Whether activating a deployment drops live functions it lacks.",
                           "Functions that other objects depend on (pg_depend) are kept and "
                           "reported as skipped.",
                           &settings.prune, false, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomEnumVariable("stopgap.log_level", "Lowest level of stopgap's own log lines.",
                           "Activations are logged at log, their details at debug.",
                           &settings.log_level, LOG, pgx::log_level_options, PGC_SUSET, 0, nullptr,
                           nullptr, nullptr);
  DefineCustomEnumVariable(
      "stopgap.typecheck", "Whether stopgap.deploy type-checks the functions it deploys.",
      "on: type errors refuse the deploy; warn: they are reported as warnings and the deploy goes "
      "on; off: no type check (syntax errors always refuse a deploy).",
      &settings.typecheck, kTypecheckOn, typecheck_options, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "stopgap.deploy_timeout_ms",
      "Longest a module's top-level code may run when stopgap.deploy loads it.",
      "A deploy loads every module it deploys; one that runs longer fails the deploy (57014). "
      "0: no limit of its own (plts.max_runtime_ms and statement_timeout still apply).",
      &settings.deploy_timeout_ms, 5000, 0, INT_MAX, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr,
      nullptr);
  DefineCustomIntVariable(
      "stopgap.scheduler_workers", "Scheduler workers per database that has schedules.",
      "Workers claim due runs with FOR UPDATE SKIP LOCKED, so a run never runs twice. 0: no "
      "scheduler runs (schedules wait). May be set per database (ALTER DATABASE ... SET).",
      &settings.scheduler_workers, 1, 0, 16, PGC_SUSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "stopgap.job_run_retention", "How long stopgap.job_run keeps the record of a finished run.",
      "The scheduler deletes older runs. 0: keep every run.", &settings.job_run_retention_s,
      7 * 24 * 3600, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
  DefineCustomStringVariable(
      "stopgap.scheduler_clock", "The scheduler functions' clock, for tests.",
      "A timestamptz the scheduler's SQL functions take as the current time; empty: the real "
      "clock. The scheduler workers always use the real clock.",
      &settings.scheduler_clock, "", PGC_SUSET, GUC_NOT_IN_SAMPLE, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("stopgap");
}

}  // namespace stopgap
