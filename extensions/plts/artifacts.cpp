#include "extensions/plts/artifacts.h"

#include "common/error_boundary.h"
#include "extensions/plts/compiler/compiler.h"

extern "C" {
#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
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

// plts.artifact's oid (PostgreSQL side: call within pg_guard).
Oid artifact_relid() {
  Oid relid = get_relname_relid("artifact", get_namespace_oid("plts", false));
  if (!OidIsValid(relid)) elog(ERROR, "plts.artifact is missing");
  return relid;
}

}  // namespace

// Every function's first call in a backend looks its artifact up: by the primary key index
// directly, without SPI's parse, analysis and planning (a fresh backend would pay ~1 ms for them).
// SELECT on the table is granted to PUBLIC. The statement's snapshot is tried first; an artifact it
// cannot see may still be committed: a pointer read from the (always current) catalog can name an
// artifact stored by a deploy that committed after this statement or REPEATABLE READ transaction
// took its snapshot. Artifacts never change once stored (their key is their content's hash), so the
// latest snapshot's row is the same artifact, and it is looked up there.
std::optional<Artifact> find_artifact(const std::string& hash) {
  std::optional<Artifact> out;
  std::vector<std::optional<std::string>> cols;
  static const char* const kColumns[] = {"artifact_hash",        "source_ts",  "compiled_js",
                                         "compiler_opts",        "compiler_fingerprint",
                                         "source_map",           "diagnostics"};
  pg_guard([&] {
    Relation rel = table_open(artifact_relid(), AccessShareLock);
    Oid index = RelationGetPrimaryKeyIndex(rel);
    if (!OidIsValid(index)) elog(ERROR, "plts.artifact has no primary key");
    auto scan_with = [&](Snapshot snap) {
      ScanKeyData key;
      ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(hash.c_str()));
      SysScanDesc scan = systable_beginscan(rel, index, true, snap, 1, &key);
      if (HeapTuple tup = systable_getnext(scan)) {
        TupleDesc desc = RelationGetDescr(rel);
        for (const char* name : kColumns) {
          int attnum = 0;
          for (int i = 0; i < desc->natts; i++) {
            Form_pg_attribute att = TupleDescAttr(desc, i);
            if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0) attnum = i + 1;
          }
          if (attnum == 0) elog(ERROR, "plts.artifact has no column %s", name);
          bool isnull = false;
          Datum v = heap_getattr(tup, attnum, desc, &isnull);
          if (isnull) {
            cols.emplace_back(std::nullopt);
            continue;
          }
          Oid out_fn = InvalidOid;
          bool varlena = false;
          getTypeOutputInfo(TupleDescAttr(desc, attnum - 1)->atttypid, &out_fn, &varlena);
          char* text = OidOutputFunctionCall(out_fn, v);
          cols.emplace_back(std::string(text));
          pfree(text);
        }
      }
      systable_endscan(scan);
    };
    if (ActiveSnapshotSet()) {
      scan_with(GetActiveSnapshot());
    } else {
      Snapshot snap = RegisterSnapshot(GetTransactionSnapshot());
      scan_with(snap);
      UnregisterSnapshot(snap);
    }
    if (cols.empty()) {
      Snapshot latest = RegisterSnapshot(GetLatestSnapshot());
      scan_with(latest);
      UnregisterSnapshot(latest);
    }
    table_close(rel, NoLock);
  });
  if (cols.empty()) return out;
  auto col = [&](int i) { return cols[i].value_or(""); };
  Artifact a;
  a.hash = col(0);
  a.source_ts = col(1);
  a.compiled_js = col(2);
  a.compiler_opts = nlohmann::json::parse(col(3));
  a.fingerprint = col(4);
  a.source_map = col(5);
  a.diagnostics = nlohmann::json::parse(cols[6].value_or("[]"));
  out = std::move(a);
  return out;
}

void store_artifact(const Artifact& a) {
  Oid owner = InvalidOid;
  pg_guard([&] {
    HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(artifact_relid()));
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
    // Made before the guarded block: a longjmp out of SPI must skip no destructor.
    const std::string opts = a.compiler_opts.dump(), diags = a.diagnostics.dump();
    with_spi([&] {
      pg_guard([&] {
        Oid types[7] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, JSONBOID};
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
