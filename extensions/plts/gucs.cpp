#include "extensions/plts/gucs.h"

#include "common/log_level.h"
#include "common/pg.h"

namespace plts {

Settings settings;

namespace {
const struct config_enum_entry typecheck_options[] = {
    {"off", kTypecheckOff, false},
    {"warn", kTypecheckWarn, false},
    {"error", kTypecheckError, false},
    {nullptr, 0, false},
};
const struct config_enum_entry int8_options[] = {
    {"string", 0, false},
    {"bigint", 1, false},
    {nullptr, 0, false},
};
}  // namespace

void define_settings() {
  DefineCustomIntVariable(
      "plts.max_runtime_ms", "Maximum run time of one plts function call, in milliseconds.",
      "0 means no plts limit; statement_timeout applies either way and the "
      "stricter of the two wins.",
      &settings.max_runtime_ms, 0, 0, INT_MAX, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plts.max_heap_mb", "Maximum V8 heap of a backend's plts isolate.",
                          "Takes effect when the isolate is (re)created.", &settings.max_heap_mb,
                          256, 16, 16384, PGC_SUSET, GUC_UNIT_MB, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plts.max_arraybuffer_mb",
                          "Maximum memory of all ArrayBuffers of a backend's plts isolate.",
                          nullptr, &settings.max_arraybuffer_mb, 256, 1, 16384, PGC_SUSET,
                          GUC_UNIT_MB, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plts.max_sql_bytes", "Maximum length of SQL text passed to ctx.db.",
                          nullptr, &settings.max_sql_bytes, 1024 * 1024, 1, INT_MAX, PGC_USERSET,
                          GUC_UNIT_BYTE, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("plts.max_params", "Maximum number of parameters of one ctx.db call.",
                          nullptr, &settings.max_params, 1000, 0, 65535, PGC_USERSET, 0, nullptr,
                          nullptr, nullptr);
  DefineCustomIntVariable("plts.max_query_rows",
                          "Maximum number of rows one ctx.db.query call may return.",
                          "0 means unlimited.", &settings.max_query_rows, 100000, 0, INT_MAX,
                          PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "plts.plan_cache_size", "Number of prepared ctx.db plans kept per backend.", nullptr,
      &settings.plan_cache_size, 256, 0, 100000, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "plts.max_log_bytes",
      "Maximum bytes of console and ctx.log messages one plts call may log.",
      "Counted per outermost call (nested calls share it); past it, one warning says so and "
      "further messages of the call are suppressed. 0 means no limit.",
      &settings.max_log_bytes, 64 * 1024, 0, INT_MAX, PGC_USERSET, GUC_UNIT_BYTE, nullptr,
      nullptr, nullptr);
  DefineCustomEnumVariable("plts.log_level", "Lowest level of plts's own log lines.", nullptr,
                           &settings.log_level, LOG, pgx::log_level_options, PGC_SUSET, 0, nullptr,
                           nullptr, nullptr);
  DefineCustomEnumVariable(
      "plts.typecheck", "Whether CREATE FUNCTION type-checks TypeScript bodies.",
      "off: no semantic check; warn: type errors are warnings; error: they fail "
      "the statement. Syntax errors always fail.",
      &settings.typecheck, kTypecheckOff, typecheck_options, PGC_USERSET, 0, nullptr, nullptr,
      nullptr);
  DefineCustomBoolVariable(
      "plts.lossy_jsonb_numbers",
      "Whether jsonb numbers that no JavaScript number holds exactly convert to the nearest one.",
      "off (the default): such a number (12345678901234567890, 9007199254740993, 1e400) is an "
      "error 22003 rather than a silently different value.",
      &settings.lossy_jsonb_numbers, false, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomEnumVariable(
      "plts.int8", "How bigint (int8) values reach JavaScript.",
      "string (the default, as node-postgres): decimal text; bigint: a BigInt. Either way a BigInt, "
      "a number or a string converts back. Set it per function with SET plts.int8 = 'bigint'.",
      &settings.int8_bigint, 0, int8_options, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable(
      "plts.compiler_snapshot", "Compiler startup snapshot to use instead of the installed one.",
      "Read when a backend starts its compiler: at its first compile, and again at its "
      "first typecheck if that compiler came from the installed transpile snapshot. It "
      "serves compiles and typechecks alike. A snapshot that does not match this V8 build "
      "or fails its content hash is ignored (with a log line) and the compiler loads from "
      "its code cache or sources.",
      &settings.compiler_snapshot, "", PGC_SUSET, 0, nullptr, nullptr, nullptr);
  DefineCustomStringVariable(
      "plts.start_proc",
      "plts function run once in each JavaScript context (one per role) before its first call.",
      "A function without arguments, named as in regprocedure ('app.init' or 'app.init()'); it "
      "runs as the role whose context it sets up. Superuser-only: it runs under every role.",
      &settings.start_proc, "", PGC_SUSET, 0, nullptr, nullptr, nullptr);
  MarkGUCPrefixReserved("plts");
}

}  // namespace plts
