// SQL-callable compiler functions: plts._transpile, plts.typecheck_ts, plts.compiler_fingerprint,
// plts._artifact_hash. The rest of the SQL API (compile_ts, compile_and_store, upsert_artifact,
// get_artifact) is written in SQL on top of these (sql/plts--*.sql).
#include <string>

#include <nlohmann/json.hpp>

#include "common/error_boundary.h"
#include "extensions/plts/compiler/compiler.h"

extern "C" {
#include "utils/jsonb.h"
}

namespace {

std::string text_arg(FunctionCallInfo fcinfo, int i, const char* name) {
  if (PG_ARGISNULL(i))
    throw pgx::PgError(ERRCODE_NULL_VALUE_NOT_ALLOWED, std::string(name) + " must not be null");
  std::string out;
  pgx::pg_guard([&] {
    text* t = PG_GETARG_TEXT_PP(i);
    out.assign(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
  });
  return out;
}

nlohmann::json jsonb_arg(FunctionCallInfo fcinfo, int i) {
  if (PG_ARGISNULL(i)) return nlohmann::json::object();
  std::string s;
  pgx::pg_guard([&] {
    Jsonb* jb = PG_GETARG_JSONB_P(i);
    s = JsonbToCString(nullptr, &jb->root, VARSIZE(jb));
  });
  return nlohmann::json::parse(s);
}

Datum jsonb_datum(const nlohmann::json& j) {
  std::string s = j.dump();
  Datum d = 0;
  pgx::pg_guard([&] { d = DirectFunctionCall1(jsonb_in, CStringGetDatum(s.c_str())); });
  return d;
}

Datum text_datum(const std::string& s) {
  Datum d = 0;
  pgx::pg_guard(
      [&] { d = PointerGetDatum(cstring_to_text_with_len(s.data(), static_cast<int>(s.size()))); });
  return d;
}

}  // namespace

// plts._transpile(source_ts text, compiler_opts jsonb) -> jsonb
//   {compiled_js, source_map, diagnostics, compiler_fingerprint, compiler_opts, artifact_hash}
PGX_FUNCTION(plts_transpile) {
  std::string source = text_arg(fcinfo, 0, "source_ts");
  nlohmann::json eff = plts::effective_options(jsonb_arg(fcinfo, 1));
  plts::TranspileResult r = plts::transpile_ts(source, eff);
  std::string fp = plts::compiler_fingerprint(eff);
  nlohmann::json out = {
      {"compiled_js", r.js},
      {"source_map", r.source_map.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.source_map)},
      {"diagnostics", r.diagnostics},
      {"imports", r.imports},
      {"compiler_fingerprint", fp},
      {"compiler_opts", eff},
      {"artifact_hash", plts::artifact_hash(fp, eff, source)},
  };
  return jsonb_datum(out);
}

// plts.typecheck_ts(source_ts text, compiler_opts jsonb) -> jsonb diagnostics
PGX_FUNCTION(plts_typecheck_ts) {
  std::string source = text_arg(fcinfo, 0, "source_ts");
  nlohmann::json eff = plts::effective_options(jsonb_arg(fcinfo, 1));
  return jsonb_datum(plts::typecheck_ts(source, eff));
}

// plts.compiler_fingerprint(compiler_opts jsonb) -> text
PGX_FUNCTION(plts_compiler_fingerprint) {
  nlohmann::json eff = plts::effective_options(jsonb_arg(fcinfo, 0));
  return text_datum(plts::compiler_fingerprint(eff));
}

// plts._artifact_hash(fingerprint text, compiler_opts jsonb, source_ts text) -> text
PGX_FUNCTION(plts_artifact_hash) {
  std::string fp = text_arg(fcinfo, 0, "fingerprint");
  nlohmann::json eff = plts::effective_options(jsonb_arg(fcinfo, 1));
  return text_datum(plts::artifact_hash(fp, eff, text_arg(fcinfo, 2, "source_ts")));
}

// plts._effective_opts(compiler_opts jsonb) -> jsonb
PGX_FUNCTION(plts_effective_opts) {
  return jsonb_datum(plts::effective_options(jsonb_arg(fcinfo, 0)));
}
