#include "extensions/plts/artifacts.h"

#include "common/error_boundary.h"
#include "extensions/plts/compiler/compiler.h"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "utils/rel.h"
}

namespace plts {

using pgx::pg_guard;
using pgx::PgError;

namespace {

// Runs f between SPI_connect and SPI_finish (f must not throw past SPI state it created).
template <typename F>
void with_spi(F&& f) {
  pg_guard([] {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  });
  try {
    f();
  } catch (...) {
    pg_guard([] { SPI_finish(); });
    throw;
  }
  pg_guard([] { SPI_finish(); });
}

std::string text_col(HeapTuple tup, TupleDesc desc, int col) {
  std::string out;
  pg_guard([&] {
    char* v = SPI_getvalue(tup, desc, col);
    if (v != nullptr) out = v;
  });
  return out;
}

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::string normalize_artifact_ref(const std::string& ref) {
  std::string r = ref;
  if (r.rfind("plts+artifact:", 0) == 0) r = r.substr(14);
  if (r.rfind("sha256:", 0) == 0 && is_hex64(r.substr(7))) return r;
  return "";
}

std::optional<Artifact> find_artifact(const std::string& hash) {
  std::optional<Artifact> out;
  with_spi([&] {
    int rc = 0;
    pg_guard([&] {
      // Prepared once per backend: every function's first call looks its artifact up.
      static SPIPlanPtr plan = nullptr;
      Oid types[1] = {TEXTOID};
      if (plan == nullptr) {
        SPIPlanPtr p = SPI_prepare(
            "SELECT artifact_hash, source_ts, compiled_js, compiler_opts::text, "
            "compiler_fingerprint, "
            "source_map, diagnostics::text FROM plts.artifact WHERE artifact_hash = $1",
            1, types);
        if (p == nullptr) elog(ERROR, "preparing the artifact lookup failed");
        SPI_keepplan(p);
        plan = p;
      }
      Datum values[1] = {CStringGetTextDatum(hash.c_str())};
      rc = SPI_execute_plan(plan, values, nullptr, true, 1);
    });
    if (rc != SPI_OK_SELECT) throw PgError(ERRCODE_INTERNAL_ERROR, "reading plts.artifact failed");
    if (SPI_processed == 0) return;
    HeapTuple t = SPI_tuptable->vals[0];
    TupleDesc d = SPI_tuptable->tupdesc;
    Artifact a;
    a.hash = text_col(t, d, 1);
    a.source_ts = text_col(t, d, 2);
    a.compiled_js = text_col(t, d, 3);
    a.compiler_opts = nlohmann::json::parse(text_col(t, d, 4));
    a.fingerprint = text_col(t, d, 5);
    a.source_map = text_col(t, d, 6);
    a.diagnostics = nlohmann::json::parse(text_col(t, d, 7));
    out = std::move(a);
  });
  return out;
}

void store_artifact(const Artifact& a) {
  Oid owner = InvalidOid;
  pg_guard([&] {
    Oid rel = get_relname_relid("artifact", get_namespace_oid("plts", false));
    HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
    if (!HeapTupleIsValid(tup)) elog(ERROR, "plts.artifact is missing");
    owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup))->relowner;
    ReleaseSysCache(tup);
  });
  Oid save_user = InvalidOid;
  int save_sec = 0;
  GetUserIdAndSecContext(&save_user, &save_sec);
  SetUserIdAndSecContext(owner,
                         save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
  try {
    with_spi([&] {
      pg_guard([&] {
        Oid types[7] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, JSONBOID};
        std::string opts = a.compiler_opts.dump(), diags = a.diagnostics.dump();
        Datum values[7] = {
            CStringGetTextDatum(a.hash.c_str()),
            CStringGetTextDatum(a.source_ts.c_str()),
            CStringGetTextDatum(a.compiled_js.c_str()),
            DirectFunctionCall1(jsonb_in, CStringGetDatum(opts.c_str())),
            CStringGetTextDatum(a.fingerprint.c_str()),
            a.source_map.empty() ? Datum(0) : CStringGetTextDatum(a.source_map.c_str()),
            DirectFunctionCall1(jsonb_in, CStringGetDatum(diags.c_str())),
        };
        const char nulls[8] = {' ', ' ', ' ', ' ', ' ', a.source_map.empty() ? 'n' : ' ',
                               ' ', '\0'};
        int rc = SPI_execute_with_args(
            "INSERT INTO plts.artifact(artifact_hash, source_ts, compiled_js, compiler_opts, "
            "compiler_fingerprint, source_map, diagnostics) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (artifact_hash) DO NOTHING",
            7, types, values, nulls, false, 0);
        if (rc != SPI_OK_INSERT)
          elog(ERROR, "storing the artifact failed: %s", SPI_result_code_string(rc));
      });
    });
  } catch (...) {
    SetUserIdAndSecContext(save_user, save_sec);
    throw;
  }
  SetUserIdAndSecContext(save_user, save_sec);
}

Artifact compile_artifact(const std::string& source, const nlohmann::json& eff,
                          const std::string& what, bool store) {
  Artifact a;
  a.fingerprint = compiler_fingerprint(eff);
  a.hash = artifact_hash(a.fingerprint, eff, source);
  if (std::optional<Artifact> found = find_artifact(a.hash)) return *found;
  TranspileResult r = transpile_ts(source, eff);
  if (r.has_errors) {
    for (const auto& d : r.diagnostics) {
      if (d.value("category", "") != "error") continue;
      std::string pos = d["line"].is_number()
                            ? " at line " + std::to_string(d["line"].get<int>()) + ", column " +
                                  std::to_string(d["column"].get<int>())
                            : "";
      throw PgError(ERRCODE_SYNTAX_ERROR,
                    "TypeScript error in " + what + pos + ": " + d.value("message", ""),
                    "diagnostics: " + r.diagnostics.dump());
    }
  }
  a.source_ts = source;
  a.compiled_js = r.js;
  a.compiler_opts = eff;
  a.source_map = r.source_map;
  a.diagnostics = r.diagnostics;
  a.fresh = true;
  if (store) store_artifact(a);
  return a;
}

}  // namespace plts
