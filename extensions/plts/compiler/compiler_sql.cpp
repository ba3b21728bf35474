// SQL-callable compiler functions: plts._transpile, plts.typecheck_ts, plts._typecheck_modules,
// plts.compiler_fingerprint, plts._artifact_hash. The rest of the SQL API (compile_ts,
// compile_and_store, upsert_artifact, get_artifact) is written in SQL on top of these
// (sql/plts--*.sql).
#include <string>

#include <nlohmann/json.hpp>

#include "common/error_boundary.h"
#include "extensions/plts/compiler/compiler.h"

extern "C" {
#include "utils/array.h"
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
      {"type_imports", r.type_imports},
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

// plts._typecheck_modules(modules jsonb, check text[], compiler_opts jsonb) -> jsonb
//   {specifier: [diagnostic]} for the specifiers in check (NULL: every module)
// NULL modules gives NULL (nothing to check), as a strict function would; the function is not
// STRICT because a NULL check or compiler_opts has a meaning of its own.
PGX_FUNCTION(plts_typecheck_modules) {
  if (PG_ARGISNULL(0)) PG_RETURN_NULL();
  nlohmann::json modules;
  pgx::pg_guard([&] {
    Jsonb* jb = PG_GETARG_JSONB_P(0);
    if (!JB_ROOT_IS_OBJECT(jb)) return;
    modules = nlohmann::json::parse(JsonbToCString(nullptr, &jb->root, VARSIZE(jb)));
  });
  if (!modules.is_object())
    throw pgx::PgError(
        ERRCODE_INVALID_PARAMETER_VALUE,
        "modules must be a JSON object mapping module specifiers to TypeScript sources");
  for (auto& [spec, module] : modules.items()) {
    // A module is its source, or {"source": ..., "imports": {name: specifier of the set}}.
    const nlohmann::json* source = &module;
    if (module.is_object()) {
      auto s = module.find("source");
      source = s == module.end() ? nullptr : &*s;
      for (auto& [key, unused] : module.items())
        if (key != "source" && key != "imports")
          throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                             "modules[\"" + spec + "\"] has an unknown field \"" + key + "\"",
                             "A module is its source, or an object with \"source\" and \"imports\".");
      auto imports = module.find("imports");
      if (imports != module.end()) {
        if (!imports->is_object())
          throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                             "modules[\"" + spec + "\"].imports must be an object mapping import names to specifiers of modules");
        for (auto& [name, target] : imports->items())
          if (!target.is_string() || !modules.contains(target.get<std::string>()))
            throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                               "modules[\"" + spec + "\"].imports[\"" + name + "\"] must name a module of the set");
      }
    }
    if (source == nullptr || !source->is_string())
      throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                         "modules[\"" + spec +
                             "\"] must be a string (the module's TypeScript source) or an object with a string \"source\", not " +
                             (source == nullptr ? std::string("an object without one") : std::string(source->type_name())));
    if (spec == "@stopgap/runtime")
      throw pgx::PgError(
          ERRCODE_INVALID_PARAMETER_VALUE, "modules must not define \"@stopgap/runtime\"",
          "Imports of @stopgap/runtime always resolve to plts's runtime declarations.");
  }
  nlohmann::json check = nullptr;
  if (!PG_ARGISNULL(1)) {
    check = nlohmann::json::array();
    std::string missing;
    bool has_null = false;
    pgx::pg_guard([&] {
      ArrayType* a = PG_GETARG_ARRAYTYPE_P(1);
      Datum* elems = nullptr;
      bool* nulls = nullptr;
      int n = 0;
      deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
      for (int i = 0; i < n; i++) {
        if (nulls[i]) {
          has_null = true;
          continue;
        }
        text* t = DatumGetTextPP(elems[i]);
        check.push_back(std::string(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
      }
    });
    if (has_null) throw pgx::PgError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "check must not contain NULL");
    for (const auto& spec : check)
      if (!modules.contains(spec.get<std::string>()))
        throw pgx::PgError(
            ERRCODE_INVALID_PARAMETER_VALUE,
            "check names \"" + spec.get<std::string>() + "\", which is not in modules");
  }
  nlohmann::json eff = plts::effective_options(jsonb_arg(fcinfo, 2));
  if (check.is_array() && check.empty()) return jsonb_datum(nlohmann::json::object());
  return jsonb_datum(plts::typecheck_modules(modules, check, eff));
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
