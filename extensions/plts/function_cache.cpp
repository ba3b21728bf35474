#include "extensions/plts/function_cache.h"

#include <algorithm>
#include <unordered_map>

#include "common/error_boundary.h"
#include "extensions/plts/artifacts.h"
#include "extensions/plts/compiler/compiler.h"
#include "extensions/plts/log.h"
#include "extensions/plts/modules.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/parse/parse_error.h"
#include "extensions/plts/parse/pointer_stub.h"
#include "extensions/plts/realm.h"
#include "extensions/plts/rows.h"
#include "extensions/plts/shapes.h"

extern "C" {
#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_proc.h"
#include "utils/fmgroids.h"
#include "utils/snapmgr.h"
#include "catalog/pg_namespace.h"
#include "access/xact.h"
#include "funcapi.h"
#include "utils/typcache.h"
#include "mb/pg_wchar.h"
#include "utils/inval.h"
#include "utils/resowner.h"
}

namespace plts {

using pgx::pg_guard;
using pgx::PgError;

namespace {

// Never destroyed; entries are deleted when their pg_proc row changes.
std::unordered_map<Oid, FunctionInfo*>* cache = nullptr;
CacheStats stats{0, 0};

// Bumped by every pg_proc invalidation this backend sees (ours or another session's).
uint64 proc_generation = 1;
bool callback_registered = false;

void on_proc_invalidation(Datum, int, uint32) { proc_generation++; }

struct CallSiteCache {
  FunctionInfo* fi;
  uint64 generation;
};

bool is_polymorphic(Oid t) { return IsPolymorphicType(t); }

// A parameter or result type resolved per call: polymorphic, "any".
bool per_call_type(Oid t) { return is_polymorphic(t) || t == ANYOID; }

// The result of a row-returning function whose row type is fixed: a named composite type
// (possibly under a domain) or its OUT parameters.
void resolve_row_result(FunctionInfo& fi, HeapTuple tup, Oid rettype) {
  Oid base = rettype;
  int32 base_typmod = -1;
  char typtype = 0;
  pg_guard([&] {
    base = getBaseTypeAndTypmod(rettype, &base_typmod);
    typtype = get_typtype(base);
  });
  if (typtype == TYPTYPE_COMPOSITE) {
    fi.shape.ret_row = row_conv_for_type(base, -1);
    fi.shape.ret_row->what = "its result type";
    if (base != rettype) fi.shape.ret_domain = rettype;
    return;
  }
  TupleDesc desc = nullptr;
  pg_guard([&] { desc = build_function_result_tupdesc_t(tup); });
  if (desc == nullptr) {  // RETURNS record: the column definition list at the call site says
    fi.per_call = true;
    return;
  }
  for (int i = 0; i < desc->natts; i++)
    if (per_call_type(TupleDescAttr(desc, i)->atttypid)) fi.per_call = true;
  if (!fi.per_call)
    fi.shape.ret_row = row_conv_for_desc(desc, "its result type");
}

std::unique_ptr<FunctionInfo> build(HeapTuple tup, Oid fn_oid) {
  if (GetDatabaseEncoding() != PG_UTF8)
    throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED, "plts requires a UTF8 database", "",
                  "Create the database with ENCODING 'UTF8' (from template0).");
  auto fi = std::make_unique<FunctionInfo>();
  Form_pg_proc proc = reinterpret_cast<Form_pg_proc>(GETSTRUCT(tup));
  fi->oid = fn_oid;
  fi->xmin = HeapTupleHeaderGetRawXmin(tup->t_data);
  fi->tid = tup->t_self;
  fi->name = NameStr(proc->proname);
  Oid rettype = proc->prorettype;
  fi->retset = proc->proretset;
  char volatility = proc->provolatile;
  char prokind = proc->prokind;
  Oid nsp = proc->pronamespace;

  Oid* types = nullptr;
  char** names = nullptr;
  char* modes = nullptr;
  int nargs = 0;
  const char* nspname = nullptr;
  const char* src = nullptr;
  pg_guard([&] {
    nargs = get_func_arg_info(tup, &types, &names, &modes);
    nspname = get_namespace_name(nsp);
    bool isnull = false;
    Datum d = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
    src = isnull ? "" : TextDatumGetCString(d);
  });
  fi->schema = nspname ? nspname : "";
  fi->qualified = fi->schema + "." + fi->name;
  fi->source = src;

  if (prokind == PROKIND_PROCEDURE)
    fi->kind = FnKind::kProcedure;
  else if (prokind == PROKIND_WINDOW)
    fi->kind = FnKind::kWindow;
  else if (rettype == TRIGGEROID)
    fi->kind = FnKind::kTrigger;
  else if (rettype == EVENT_TRIGGEROID)
    fi->kind = FnKind::kEventTrigger;
  if (prokind == PROKIND_AGGREGATE)
    throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                  "plts functions cannot be aggregates (function " + fi->qualified + ")", "",
                  "Write the state transition function in plts and CREATE AGGREGATE over it.");

  int outs = 0;
  for (int i = 0; i < nargs; i++) {
    char mode = modes ? modes[i] : PROARGMODE_IN;
    std::string n = names && names[i] && names[i][0] ? names[i] : "";
    if (mode == PROARGMODE_OUT || mode == PROARGMODE_TABLE || mode == PROARGMODE_INOUT) {
      outs++;
      fi->single_out_name = n;
    }
    if (mode == PROARGMODE_OUT || mode == PROARGMODE_TABLE) continue;
    int pos = static_cast<int>(fi->arg_names.size());
    fi->arg_names.push_back(n.empty() ? "$" + std::to_string(pos + 1) : n);
    fi->arg_types.push_back(types[i]);
    if (mode == PROARGMODE_VARIADIC && types[i] == ANYOID) fi->variadic_any = pos;
    if (per_call_type(types[i])) fi->per_call = true;
  }
  if (outs != 1) fi->single_out_name.clear();
  if (!fi->per_call)
    for (Oid t : fi->arg_types) fi->shape.arg_conv.push_back(resolve_type(t));
  fi->single_jsonb_args = fi->arg_types.size() == 1 && fi->arg_types[0] == JSONBOID &&
                          fi->arg_names[0] == "args" && fi->kind == FnKind::kFunction;

  if (fi->kind == FnKind::kTrigger || fi->kind == FnKind::kEventTrigger) {
    // No result conversion: a trigger returns a row of its table, or nothing.
  } else if (per_call_type(rettype)) {
    fi->per_call = true;
  } else {
    char typtype = 0;
    pg_guard([&] { typtype = get_typtype(getBaseType(rettype)); });
    if (rettype == RECORDOID || typtype == TYPTYPE_COMPOSITE)
      resolve_row_result(*fi, tup, rettype);
    else if (typtype == TYPTYPE_PSEUDO && rettype != VOIDOID) {
      std::string tname;
      pg_guard([&] { tname = format_type_be(rettype); });
      throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED, "plts functions cannot return type " + tname +
                                                       " (function " + fi->qualified + ")");
    } else
      fi->shape.ret_conv = resolve_type(rettype);
  }
  fi->mode = volatility == PROVOLATILE_VOLATILE ? DbMode::kReadWrite : DbMode::kReadOnly;
  return fi;
}

// Replaced definitions: freed (with their module instances, when no current definition shares
// them) once no call of theirs is on the stack.
std::vector<FunctionInfo*>* retired = nullptr;

void free_retired() {
  if (retired == nullptr) return;
  for (size_t i = 0; i < retired->size();) {
    FunctionInfo* fi = (*retired)[i];
    if (fi->active_calls > 0) {
      i++;
      continue;
    }
    std::string key = module_spec_of(*fi).key;
    bool shared = false;
    for (auto& [oid, other] : *cache)
      if (!other->module_key.empty() && module_spec_of(*other).key == key) shared = true;
    if (!shared && !fi->module_key.empty() && user_isolate_exists()) forget_module_everywhere(user_isolate(), key);
    delete fi;
    (*retired)[i] = retired->back();
    retired->pop_back();
  }
}

void retire(FunctionInfo* fi) {
  if (retired == nullptr) retired = new std::vector<FunctionInfo*>();
  retired->push_back(fi);
  free_retired();
}

// A function's pg_proc row: the catalog's current one (syscache), or, when a concurrent
// transaction has dropped the function since this statement resolved it by oid (a deploy that
// re-creates a live function with another result type), the row as the statement's snapshot sees
// it, so that the call completes with the version the statement resolved.
struct ProcRow {
  HeapTuple tup = nullptr;
  bool from_syscache = false;  // else a copy
};

ProcRow proc_row(Oid fn_oid) {
  ProcRow row;
  pg_guard([&] {
    HeapTuple t = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
    if (HeapTupleIsValid(t)) {
      row = {t, true};
      return;
    }
    if (!ActiveSnapshotSet()) return;
    Relation rel = table_open(ProcedureRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_proc_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(fn_oid));
    SysScanDesc scan =
        systable_beginscan(rel, ProcedureOidIndexId, true, GetActiveSnapshot(), 1, &key);
    if (HeapTuple found = systable_getnext(scan)) row = {heap_copytuple(found), false};
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
  });
  if (row.tup == nullptr)
    throw PgError(ERRCODE_UNDEFINED_FUNCTION,
                  "cache lookup failed for function " + std::to_string(fn_oid));
  return row;
}

void release(const ProcRow& row) {
  pg_guard([&] {
    if (row.from_syscache)
      ReleaseSysCache(row.tup);
    else
      heap_freetuple(row.tup);
  });
}

// Stores a lazily compiled artifact if this transaction can; a failure (read-only transaction,
// missing privilege) only costs a recompile in the next backend.
void try_store(const Artifact& a) {
  // A parallel worker can neither write nor start a subtransaction.
  if (IsInParallelMode()) return;
  MemoryContext oldcxt = CurrentMemoryContext;
  ResourceOwner oldowner = CurrentResourceOwner;
  try {
    pg_guard([] { BeginInternalSubTransaction(nullptr); });
  } catch (const PgError& e) {
    MemoryContextSwitchTo(oldcxt);
    CurrentResourceOwner = oldowner;
    plts_log(DEBUG1, std::string("plts: could not store a compiled artifact: ") + e.what());
    return;
  }
  MemoryContextSwitchTo(oldcxt);
  try {
    store_artifact(a);
    pg_guard([] { ReleaseCurrentSubTransaction(); });
  } catch (const PgError& e) {
    pg_guard([] { RollbackAndReleaseCurrentSubTransaction(); });
    plts_log(DEBUG1, std::string("plts: could not store a compiled artifact: ") + e.what());
  }
  MemoryContextSwitchTo(oldcxt);
  CurrentResourceOwner = oldowner;
}

}  // namespace

bool parse_pointer_stub(const std::string& prosrc, std::string* hash, std::string* export_name,
                        nlohmann::json* import_map, const std::string& fn) {
  std::optional<PointerStub> stub;
  try {
    stub = pointer_stub_of(prosrc, fn);
  } catch (const ParseError& e) {
    throw PgError(ERRCODE_INVALID_FUNCTION_DEFINITION, e.message(), "", e.hint());
  }
  if (!stub) return false;
  *hash = stub->artifact_hash;
  *export_name = stub->export_name;
  *import_map = stub->import_map;
  return true;
}

void prepare_module(FunctionInfo& fi, bool store) {
  std::string hash, export_name;
  nlohmann::json stub_map;
  if (parse_pointer_stub(fi.source, &hash, &export_name, &stub_map, fi.qualified)) {
    std::optional<Artifact> a = find_artifact(hash);
    if (!a)
      throw PgError(ERRCODE_UNDEFINED_OBJECT, "plts function " + fi.qualified +
                                                  " points to artifact " + hash +
                                                  ", which does not exist");
    fi.is_stub = true;
    fi.module_key = hash;
    fi.js = a->compiled_js;
    fi.source_map = a->source_map;
    fi.export_name = export_name;
    fi.import_map = artifact_import_map(*a, fi.qualified);
    for (auto& [k, v] : stub_map.items()) fi.import_map[k] = v;
    return;
  }
  nlohmann::json eff = effective_options({{"source_map", true}});
  Artifact a = compile_artifact(fi.source, eff, "plts function " + fi.qualified, store);
  if (a.fresh && !store) try_store(a);
  fi.module_key = a.hash;
  fi.js = a.compiled_js;
  fi.source_map = a.source_map;
  fi.export_name = "default";
  fi.import_map = inline_import_map(fi.source, fi.qualified);
}

std::unique_ptr<FunctionInfo> describe_function(Oid fn_oid) {
  ProcRow row = proc_row(fn_oid);
  try {
    auto fi = build(row.tup, fn_oid);
    release(row);
    return fi;
  } catch (...) {
    release(row);
    throw;
  }
}

FunctionInfo* lookup_function(Oid fn_oid) {
  if (cache == nullptr) cache = new std::unordered_map<Oid, FunctionInfo*>();
  // No pg_proc row has changed since this entry was last checked: skip the catalog (each new
  // statement comes here once per call site).
  auto it = cache->find(fn_oid);
  if (it != cache->end() && callback_registered &&
      it->second->validated_generation == proc_generation) {
    stats.hits++;
    return it->second;
  }
  uint64 generation = proc_generation;
  ProcRow row = proc_row(fn_oid);
  HeapTuple tup = row.tup;
  if (it != cache->end()) {
    FunctionInfo* fi = it->second;
    if (fi->xmin == HeapTupleHeaderGetRawXmin(tup->t_data) &&
        ItemPointerEquals(&fi->tid, &tup->t_self)) {
      release(row);
      fi->validated_generation = generation;
      stats.hits++;
      return fi;
    }
    cache->erase(it);
    retire(fi);
  }
  stats.misses++;
  std::unique_ptr<FunctionInfo> fi;
  try {
    fi = build(tup, fn_oid);
  } catch (...) {
    release(row);
    throw;
  }
  release(row);
  prepare_module(*fi, false);
  fi->validated_generation = generation;
  FunctionInfo* raw = fi.release();
  (*cache)[fn_oid] = raw;
  return raw;
}

void drop_loaded_functions() {
  forget_window_memory(nullptr);
  if (cache == nullptr) return;
  for (auto& [oid, fi] : *cache) fi->loaded.clear();
  if (retired != nullptr)
    for (FunctionInfo* fi : *retired) fi->loaded.clear();
}

void drop_loaded_for_realm(const Realm* realm) {
  forget_window_memory(realm);
  auto drop = [&](FunctionInfo* fi) {
    auto& l = fi->loaded;
    l.erase(std::remove_if(l.begin(), l.end(), [&](const auto& x) { return x->realm == realm; }),
            l.end());
  };
  if (cache != nullptr)
    for (auto& [oid, fi] : *cache) drop(fi);
  if (retired != nullptr)
    for (FunctionInfo* fi : *retired) drop(fi);
}

FunctionInfo* lookup_function_for_call(FmgrInfo* flinfo) {
  if (!callback_registered) {
    pg_guard([] { CacheRegisterSyscacheCallback(PROCOID, on_proc_invalidation, 0); });
    callback_registered = true;
  }
  auto* site = static_cast<CallSiteCache*>(flinfo->fn_extra);
  if (site != nullptr && site->generation == proc_generation) {
    stats.hits++;
    return site->fi;
  }
  uint64 generation = proc_generation;
  FunctionInfo* fi = lookup_function(flinfo->fn_oid);
  if (site == nullptr) {
    pg_guard([&] {
      site =
          static_cast<CallSiteCache*>(MemoryContextAlloc(flinfo->fn_mcxt, sizeof(CallSiteCache)));
    });
    flinfo->fn_extra = site;
  }
  site->fi = fi;
  site->generation = generation;
  return fi;
}

FunctionInfo::FunctionInfo() = default;
FunctionInfo::~FunctionInfo() = default;
CallShape::CallShape() = default;
CallShape::~CallShape() = default;

namespace {

void add_key(std::string& key, Oid t, int32 typmod) {
  key.append(reinterpret_cast<const char*>(&t), sizeof t);
  key.append(reinterpret_cast<const char*>(&typmod), sizeof typmod);
}

// A named composite result whose type changed since it was resolved (ALTER TYPE ... ADD
// ATTRIBUTE): resolved again, so that the rows formed match what the caller expects.
void refresh_row_result(FunctionInfo& fi, CallShape& shape) {
  RowConv* rc = shape.ret_row.get();
  if (rc == nullptr || rc->typid == RECORDOID || row_conv_current(*rc, rc->typid, -1)) return;
  std::unique_ptr<RowConv> fresh = row_conv_for_type(rc->typid, -1);
  fresh->what = rc->what;
  retire_row_conv(std::move(shape.ret_row));
  shape.ret_row = std::move(fresh);
  (void)fi;
}

}  // namespace

CallShape& shape_for_call(FunctionInfo& fi, FunctionCallInfo fcinfo) {
  if (!fi.per_call) {
    refresh_row_result(fi, fi.shape);
    return fi.shape;
  }
  // The actual argument types, then the result's (scalar type, or the row's columns).
  std::string key;
  std::vector<Oid> actual(fcinfo->nargs);
  TupleDesc desc = nullptr;
  Oid rettype = InvalidOid;
  TypeFuncClass cls = TYPEFUNC_OTHER;
  pg_guard([&] {
    for (int i = 0; i < fcinfo->nargs; i++) {
      Oid declared = i < static_cast<int>(fi.arg_types.size()) ? fi.arg_types[i] : ANYOID;
      actual[i] = per_call_type(declared) ? get_fn_expr_argtype(fcinfo->flinfo, i) : declared;
      if (!OidIsValid(actual[i]))
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("could not determine the actual type of argument %d of plts "
                               "function %s", i + 1, fi.qualified.c_str())));
    }
    if (fi.kind != FnKind::kTrigger && fi.kind != FnKind::kEventTrigger)
      cls = get_call_result_type(fcinfo, &rettype, &desc);
  });
  for (Oid t : actual) add_key(key, t, -1);
  key.push_back('|');
  if (cls == TYPEFUNC_SCALAR) {
    add_key(key, rettype, -1);
  } else if (cls == TYPEFUNC_COMPOSITE || cls == TYPEFUNC_COMPOSITE_DOMAIN) {
    add_key(key, desc->tdtypeid, desc->tdtypmod);
    for (int i = 0; i < desc->natts; i++) {
      Form_pg_attribute a = TupleDescAttr(desc, i);
      add_key(key, a->attisdropped ? InvalidOid : a->atttypid, a->atttypmod);
      key.append(NameStr(a->attname));
      key.push_back(0);
    }
  } else if (cls == TYPEFUNC_RECORD) {
    throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                  "plts function " + fi.qualified +
                      " returns record and was called in a context that cannot accept type record",
                  "", "Call it in FROM with a column definition list: FROM " + fi.name +
                          "(...) AS t(a int, b text), or declare OUT parameters.");
  } else if (cls == TYPEFUNC_OTHER && fi.kind != FnKind::kTrigger &&
             fi.kind != FnKind::kEventTrigger) {
    throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                  "could not determine the actual result type of plts function " + fi.qualified);
  }
  for (auto& s : fi.shapes)
    if (s->key == key) {
      refresh_row_result(fi, *s);
      return *s;
    }
  auto shape = std::make_unique<CallShape>();
  shape->key = key;
  for (Oid t : actual) shape->arg_conv.push_back(resolve_type(t));
  if (cls == TYPEFUNC_SCALAR) {
    shape->ret_conv = resolve_type(rettype);
  } else if (cls == TYPEFUNC_COMPOSITE || cls == TYPEFUNC_COMPOSITE_DOMAIN) {
    shape->ret_row = row_conv_for_desc(desc, "its result type");
    if (cls == TYPEFUNC_COMPOSITE_DOMAIN) shape->ret_domain = rettype;
  }
  // A call site's types rarely vary; a function called with very many type sets keeps the last
  // few (a retired shape may still be in use by a call on the stack: only idle functions drop).
  if (fi.shapes.size() >= 32 && fi.active_calls == 0) fi.shapes.erase(fi.shapes.begin());
  fi.shapes.push_back(std::move(shape));
  return *fi.shapes.back();
}

CacheStats function_cache_stats() { return stats; }

}  // namespace plts
