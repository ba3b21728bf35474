#include "extensions/plts/db_bridge.h"

#include <cstring>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/error_boundary.h"
#include "extensions/plts/call.h"
#include "extensions/plts/convert.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/gucs.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/metrics.h"
#include "extensions/plts/realm.h"
#include "extensions/plts/rows.h"
#include "extensions/plts/watchdog.h"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "parser/parse_param.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/portal.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
}

namespace plts {

using pgx::pg_guard;
using pgx::ErrorFields;
using pgx::PgError;

namespace {

// ---- plan cache ----------------------------------------------------------------------------

// What a cached plan was made for: the same text is another statement under another
// search_path or user ("$user" in the path), and the inferred parameter types were fixed for the
// first one. Views: into the entry's own strings when stored, into the caller's for a lookup (no
// key string is built per statement).
struct PlanKey {
  std::string_view sql;
  std::string_view search_path;
  Oid user = InvalidOid;
  int nparams = 0;
  bool operator==(const PlanKey& o) const {
    return nparams == o.nparams && user == o.user && sql == o.sql && search_path == o.search_path;
  }
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    size_t h = std::hash<std::string_view>()(k.sql);
    h ^= std::hash<std::string_view>()(k.search_path) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h ^ ((static_cast<size_t>(k.user) << 20) + static_cast<size_t>(k.nparams));
  }
};

struct PlanEntry {
  // The key's strings (PlanCache::index views them: an entry is never moved).
  std::string sql, search_path;
  PlanKey key;
  SPIPlanPtr plan = nullptr;
  std::vector<std::unique_ptr<TypeConv>> param_conv;
  // The result's columns as a row (names, converters, the realm's row maker), for the last tuple
  // descriptor seen.
  std::unique_ptr<RowConv> rows;
  unsigned results = 0;  // results converted (a row maker is compiled for a reused plan only)
  // Statements running this plan now (a nested call may run other statements meanwhile): a
  // pinned entry is never evicted.
  int pins = 0;
};

struct PlanCache {
  std::list<PlanEntry*> lru;  // most recent first
  std::unordered_map<PlanKey, std::list<PlanEntry*>::iterator, PlanKeyHash> index;
};
PlanCache* plans = nullptr;  // never destroyed

void free_entry(PlanEntry* e) {
  if (e->plan != nullptr) pg_guard([&] { SPI_freeplan(e->plan); });
  delete e;
}

struct InferArg {
  Oid* types;
  int n;
};

void infer_setup(ParseState* pstate, void* arg) {
  auto* a = static_cast<InferArg*>(arg);
  setup_parse_variable_parameters(pstate, &a->types, &a->n);
}

[[noreturn]] void spi_failed(const char* what, int rc) {
  throw PgError(ERRCODE_INTERNAL_ERROR,
                std::string(what) + " failed: " + SPI_result_code_string(rc));
}

// Prepares sql with parameter types inferred by PostgreSQL (nparams < 0: as many parameters as
// the statement refers to), then re-prepares with those types fixed: a plan built with the
// variable-parameter hook would call it again on replanning. With `fixed`, those are the types.
std::unique_ptr<PlanEntry> prepare(const std::string& sql, int nparams,
                                   const std::vector<Oid>* fixed = nullptr) {
  auto e = std::make_unique<PlanEntry>();
  std::vector<Oid> types;
  if (fixed != nullptr) {
    types = *fixed;
    nparams = static_cast<int>(types.size());
  } else {
    InferArg a{nullptr, nparams < 0 ? 0 : nparams};
    pg_guard([&] {
      a.types = static_cast<Oid*>(palloc0(sizeof(Oid) * (a.n > 0 ? a.n : 1)));
      SPIPlanPtr probe = SPI_prepare_params(sql.c_str(), infer_setup, &a, 0);
      if (probe != nullptr) SPI_freeplan(probe);
    });
    if (SPI_result < 0 && a.types == nullptr) spi_failed("SPI_prepare_params", SPI_result);
    if (nparams < 0) nparams = a.n;
    if (a.n > nparams)
      throw PgError(ERRCODE_UNDEFINED_PARAMETER,
                    "the statement refers to $" + std::to_string(a.n) + " but " +
                        std::to_string(nparams) + " parameter" +
                        (nparams == 1 ? " was" : "s were") + " given");
    if (nparams > settings.max_params)
      throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, std::to_string(nparams) +
                                                        " parameters exceed plts.max_params (" +
                                                        std::to_string(settings.max_params) + ")");
    for (int i = 0; i < nparams; i++) {
      Oid t = a.types[i];
      types.push_back(t == InvalidOid || t == UNKNOWNOID ? TEXTOID : t);
    }
  }
  int statements = 0;
  pg_guard([&] {
    e->plan = SPI_prepare(sql.c_str(), nparams, types.data());
    if (e->plan == nullptr)
      elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
    statements = list_length(SPI_plan_get_plan_sources(e->plan));
    if (statements == 1) SPI_keepplan(e->plan);
  });
  if (statements != 1) {
    pg_guard([&] { SPI_freeplan(e->plan); });
    e->plan = nullptr;
    // As PostgreSQL's extended protocol (and so node-postgres with parameters) refuses them.
    throw PgError(ERRCODE_SYNTAX_ERROR,
                  statements == 0 ? "ctx.db: the SQL text holds no statement"
                                  : "ctx.db: the SQL text holds " + std::to_string(statements) +
                                        " statements; one call runs one statement",
                  "", "Call ctx.db once per statement.");
  }
  for (Oid t : types) e->param_conv.push_back(resolve_type(t));
  return e;
}

// The cached plan for sql with nparams parameters (moved to the front of the LRU).
PlanEntry* plan_for(const std::string& sql, int nparams, bool* owned) {
  if (plans == nullptr) plans = new PlanCache();
  PlanKey key{sql, namespace_search_path ? namespace_search_path : "", GetUserId(), nparams};
  auto it = plans->index.find(key);
  if (it != plans->index.end()) {
    plans->lru.splice(plans->lru.begin(), plans->lru, it->second);
    metrics.plan_cache_hits++;
    *owned = false;
    return *it->second;
  }
  metrics.plan_cache_misses++;
  std::unique_ptr<PlanEntry> e = prepare(sql, nparams);
  e->sql = sql;
  e->search_path = key.search_path;
  e->key = PlanKey{e->sql, e->search_path, key.user, nparams};
  if (settings.plan_cache_size <= 0) {
    *owned = true;
    return e.release();
  }
  // Evict least recently used entries that no running statement holds; if all are held, the
  // cache stays over its size until they are released.
  auto victim = plans->lru.end();
  while (static_cast<int>(plans->lru.size()) >= settings.plan_cache_size &&
         victim != plans->lru.begin()) {
    --victim;
    if ((*victim)->pins > 0) continue;
    PlanEntry* old = *victim;
    victim = plans->lru.erase(victim);
    plans->index.erase(old->key);
    free_entry(old);
  }
  plans->lru.push_front(e.get());
  // The key was not found above and preparing runs no statement: a fresh insert (an existing key
  // would keep views into another entry's strings).
  bool inserted = plans->index.try_emplace(e->key, plans->lru.begin()).second;
  Assert(inserted);
  (void)inserted;
  *owned = false;
  return e.release();
}

// ---- arguments -----------------------------------------------------------------------------

struct Statement {
  std::string sql;
  v8::Local<v8::Array> params;  // may be empty
};

[[noreturn]] void type_error(const std::string& msg) {
  throw PgError(ERRCODE_INVALID_PARAMETER_VALUE, msg);
}

// A statement's parameters: one array (or nothing).
v8::Local<v8::Array> params_array(v8::Local<v8::Value> params, const char* fn) {
  if (params->IsNullOrUndefined()) return v8::Local<v8::Array>();
  if (!params->IsArray())
    type_error(std::string("ctx.db.") + fn + ": params must be an array, as in " + fn +
               "(sql, [a, b])");
  return params.As<v8::Array>();
}

// A third argument is the habit of APIs that take parameters as arguments (plv8's execute):
// refused rather than ignored.
void no_spread_params(v8::Local<v8::Value> extra, const char* fn) {
  if (!extra->IsUndefined())
    type_error(std::string("ctx.db.") + fn + " takes the parameters as one array: " + fn +
               "(sql, [a, b]), not " + fn + "(sql, a, b)");
}

// What the user passed as (input, params): SQL text, {sql, params} or an object with toSQL().
Statement parse_statement(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> input,
                          v8::Local<v8::Value> params, const char* fn) {
  Statement st;
  if (input->IsObject() && !input->IsString()) {
    v8::Local<v8::Object> obj = input.As<v8::Object>();
    v8::Local<v8::Value> to_sql;
    if (!obj->Get(ctx, js_name(iso, "toSQL")).ToLocal(&to_sql)) throw JsException();
    if (to_sql->IsFunction()) {
      v8::Local<v8::Value> r;
      if (!to_sql.As<v8::Function>()->Call(ctx, obj, 0, nullptr).ToLocal(&r)) throw JsException();
      if (!r->IsObject())
        type_error(std::string("ctx.db.") + fn + ": toSQL() must return {sql, params}");
      obj = r.As<v8::Object>();
    }
    if (!obj->Get(ctx, js_name(iso, "sql")).ToLocal(&input)) throw JsException();
    v8::Local<v8::Value> p;
    if (!obj->Get(ctx, js_name(iso, "params")).ToLocal(&p)) throw JsException();
    if (!p->IsUndefined()) params = p;
  }
  if (!input->IsString())
    type_error(std::string("ctx.db.") + fn +
               ": expected SQL text, {sql, params} or an object with toSQL()");
  st.sql = utf8(iso, input);
  st.params = params_array(params, fn);
  return st;
}

// ---- execution -----------------------------------------------------------------------------

void ensure_spi(CallFrame* frame) {
  if (frame->spi_connected) return;
  pg_guard([&] {
    int rc = SPI_connect_ext(frame->nonatomic ? SPI_OPT_NONATOMIC : 0);
    if (rc != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
    // A trigger's transition tables (REFERENCING NEW TABLE AS ...) are readable by their names.
    if (frame->trigdata != nullptr) {
      rc = SPI_register_trigger_data(frame->trigdata);
      if (rc != SPI_OK_TD_REGISTER)
        elog(ERROR, "SPI_register_trigger_data failed: %s", SPI_result_code_string(rc));
    }
  });
  frame->spi_connected = true;
  MemoryContextSwitchTo(frame->call_mcxt);
}

// Whether rc (a result's columns as last seen) still describes desc: a plan can be replanned
// with other result columns (ALTER TABLE, a view replaced).
bool same_columns(const RowConv& rc, TupleDesc desc) {
  if (rc.natts() != desc->natts) return false;
  for (int i = 0; i < desc->natts; i++) {
    Form_pg_attribute a = TupleDescAttr(desc, i), b = TupleDescAttr(rc.desc, i);
    if (a->atttypid != b->atttypid || a->atttypmod != b->atttypmod ||
        a->attisdropped != b->attisdropped || strcmp(NameStr(a->attname), NameStr(b->attname)) != 0)
      return false;
  }
  return true;
}

// The rows of a result as objects. Each is made by the realm's row maker for the columns (one
// call into V8 per row, object literals of one stable shape) when ctx is a realm's context and
// the plan was used before or the result has several rows (a statement run once does not pay for
// compiling a maker); otherwise property by property.
v8::Local<v8::Value> rows_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, PlanEntry* e,
                                SPITupleTable* tt, uint64 n) {
  TupleDesc desc = tt->tupdesc;
  if (e->rows == nullptr || !same_columns(*e->rows, desc))
    e->rows = row_conv_for_result(desc, "a ctx.db result");
  const RowConv& rc = *e->rows;
  if (n >= static_cast<uint64>(UINT32_MAX))
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                  "ctx.db.query returned " + std::to_string(n) + " rows, more than a JavaScript "
                  "array holds");
  if (e->results < 2) e->results++;
  Realm* realm = e->results > 1 || n > 1 ? realm_of_context(iso, ctx) : nullptr;
  std::vector<v8::Local<v8::String>> names;
  if (realm == nullptr) names = row_names(iso, rc);
  // A row's deformed columns: on the stack for up to 32 columns (no allocation per statement).
  constexpr int kInlineCols = 32;
  Datum inline_values[kInlineCols];
  bool inline_nulls[kInlineCols];
  std::unique_ptr<Datum[]> heap_values;
  std::unique_ptr<bool[]> heap_nulls;
  Datum* values = inline_values;
  bool* nulls = inline_nulls;
  if (desc->natts > kInlineCols) {
    heap_values.reset(new Datum[desc->natts]);
    heap_nulls.reset(new bool[desc->natts]);
    values = heap_values.get();
    nulls = heap_nulls.get();
  }
  auto row_at = [&](uint64 r) -> v8::Local<v8::Value> {
    pg_guard([&] { heap_deform_tuple(tt->vals[r], desc, values, nulls); });
    if (realm != nullptr) return row_to_js_in_realm(iso, ctx, *realm, rc, values, nulls);
    return row_values_to_js(iso, ctx, rc, names, values, nulls);
  };
  // A few rows (the common case: one) go into the array in one call.
  constexpr uint64 kSmall = 64;
  if (n <= kSmall) {
    v8::Local<v8::Value> small[kSmall];
    for (uint64 r = 0; r < n; r++) small[r] = row_at(r);
    return v8::Array::New(iso, small, static_cast<size_t>(n));
  }
  v8::Local<v8::Array> rows = v8::Array::New(iso, static_cast<int>(std::min<uint64>(n, 1 << 20)));
  StopPoll poll(iso);
  for (uint64 r = 0; r < n; r++) {
    // Converting millions of rows runs no JavaScript: poll for cancel, deadline and heap here.
    poll.check();
    v8::HandleScope row_scope(iso);
    if (rows->CreateDataProperty(ctx, static_cast<uint32_t>(r), row_at(r)).IsNothing())
      throw JsException();
  }
  return rows;
}

// Converts the parameters, runs the plan and returns the JS result (SPI side state is the
// caller's to clean up).
// Values and nulls of a statement's parameters, converted for plan e.
struct BoundParams {
  std::vector<Datum> values;
  std::vector<char> nulls;
};

BoundParams bind_params(v8::Isolate* iso, v8::Local<v8::Context> ctx, PlanEntry* e,
                        v8::Local<v8::Array> params) {
  int n = static_cast<int>(e->param_conv.size());
  int given = params.IsEmpty() ? 0 : static_cast<int>(params->Length());
  if (given != n)
    throw PgError(ERRCODE_UNDEFINED_PARAMETER,
                  "the statement takes " + std::to_string(n) + " parameter" + (n == 1 ? "" : "s") +
                      " but " + std::to_string(given) + (given == 1 ? " was" : " were") + " given");
  BoundParams b;
  b.values.resize(n);
  b.nulls.assign(n + 1, ' ');
  for (int i = 0; i < n; i++) {
    v8::Local<v8::Value> v;
    if (!params->Get(ctx, i).ToLocal(&v)) throw JsException();
    bool isnull = false;
    try {
      b.values[i] = param_from_js(iso, ctx, *e->param_conv[i], v, &isnull);
    } catch (const PgError& err) {
      throw err.with_prefix("parameter $" + std::to_string(i + 1) + ": ");
    }
    if (isnull) b.nulls[i] = 'n';
  }
  return b;
}

v8::Local<v8::Value> execute_plan(v8::Isolate* iso, v8::Local<v8::Context> ctx, PlanEntry* e,
                                  DbMode mode, const Statement& st, bool is_query) {
  BoundParams b = bind_params(iso, ctx, e, st.params);
  long tcount = is_query && settings.max_query_rows > 0 ? settings.max_query_rows + 1L : 0L;
  int rc = 0;
  {
    InSql in_sql;
    pg_guard([&] {
      rc = SPI_execute_plan(e->plan, b.values.data(), b.nulls.data(), mode == DbMode::kReadOnly,
                            tcount);
    });
  }
  if (rc == SPI_ERROR_COPY)
    throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED, "ctx.db cannot run COPY", "",
                  "Use INSERT ... SELECT, or pass rows as a parameter (jsonb or an array) and "
                  "unnest them.");
  if (rc == SPI_ERROR_TRANSACTION)
    throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                  "ctx.db cannot run transaction control statements (BEGIN, COMMIT, ROLLBACK, "
                  "SAVEPOINT, PREPARE TRANSACTION)",
                  "",
                  "A plts call runs inside its caller's transaction, and every ctx.db call in a "
                  "subtransaction of its own: catch its error in JavaScript to roll it back.");
  if (rc < 0) spi_failed("SPI_execute_plan", rc);
  uint64 processed = SPI_processed;
  SPITupleTable* tt = SPI_tuptable;
  struct FreeTuples {
    SPITupleTable* tt;
    ~FreeTuples() {
      if (tt != nullptr) SPI_freetuptable(tt);  // pfree only: cannot ereport
    }
  } free_tuples{tt};
  if (is_query) {
    if (settings.max_query_rows > 0 && processed > static_cast<uint64>(settings.max_query_rows))
      throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                    "ctx.db.query returned more than plts.max_query_rows (" +
                        std::to_string(settings.max_query_rows) + ") rows",
                    "", "Add a LIMIT, or raise plts.max_query_rows.");
    return tt != nullptr ? rows_to_js(iso, ctx, e, tt, processed)
                         : v8::Array::New(iso, 0).As<v8::Value>();
  }
  v8::Local<v8::Object> o = v8::Object::New(iso);
  ignore_result(o->CreateDataProperty(ctx, js_name(iso, "rowCount"),
                                      v8::Number::New(iso, static_cast<double>(processed))));
  return o;
}

// Runs body (which returns the JS result) in an internal subtransaction of the running call
// (outside parallel mode), so that a PostgreSQL error inside it is rolled back and can be caught
// in JavaScript. `writes`: what body does is refused in parallel mode.
template <typename F>
v8::Local<v8::Value> in_subxact(CallFrame* frame, DbMode mode, bool writes, const char* what,
                                F&& body) {
  ensure_spi(frame);
  MemoryContext oldcxt = CurrentMemoryContext;
  ResourceOwner oldowner = CurrentResourceOwner;
  // A parallel worker (or leader in parallel mode) cannot start subtransactions: it runs
  // read-only statements directly, and their errors end the call (JS cannot catch them).
  bool subxact = !IsInParallelMode();
  if (!subxact && writes)
    throw PgError(ERRCODE_INVALID_TRANSACTION_STATE,
                  std::string(what) + " cannot run during a parallel operation", "",
                  "Mark the function PARALLEL UNSAFE (the default) to write from it.");
  if (subxact) pg_guard([] { BeginInternalSubTransaction(nullptr); });
  MemoryContextSwitchTo(oldcxt);
  try {
    if (subxact && mode == DbMode::kReadOnly) XactReadOnly = true;  // restored by the subxact end
    v8::Local<v8::Value> result = body();
    if (subxact) pg_guard([] { ReleaseCurrentSubTransaction(); });
    MemoryContextSwitchTo(oldcxt);
    CurrentResourceOwner = oldowner;
    return result;
  } catch (...) {
    if (subxact) {
      pg_guard([] { RollbackAndReleaseCurrentSubTransaction(); });
    } else if (frame != nullptr) {
      // Without a subtransaction the error is not recoverable inside the call.
      try {
        throw;
      } catch (const PgError& err) {
        if (!frame->uncatchable) frame->uncatchable = std::make_unique<PgError>(err);
      } catch (...) {
      }
    }
    MemoryContextSwitchTo(oldcxt);
    CurrentResourceOwner = oldowner;
    throw;
  }
}

void check_statement_limits(const std::string& sql, int nparams) {
  if (static_cast<int64_t>(sql.size()) > settings.max_sql_bytes)
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "SQL text of " + std::to_string(sql.size()) +
                                                      " bytes exceeds plts.max_sql_bytes (" +
                                                      std::to_string(settings.max_sql_bytes) + ")");
  if (nparams > settings.max_params)
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, std::to_string(nparams) +
                                                      " parameters exceed plts.max_params (" +
                                                      std::to_string(settings.max_params) + ")");
}

// A plan in use: pinned against eviction while held; one made for a single use (plts.plan_cache_size
// = 0) is freed when released, after the subtransaction it ran in is gone.
struct PlanUse {
  PlanEntry* e = nullptr;
  bool owned = false;
  void take(PlanEntry* entry, bool own) {
    e = entry;
    owned = own;
    e->pins++;
  }
  ~PlanUse() {
    if (e == nullptr) return;
    e->pins--;
    if (owned) {
      try {
        free_entry(e);
      } catch (...) {
      }
    }
  }
};

// Runs one statement in an internal subtransaction and returns the JS result.
v8::Local<v8::Value> run_statement(v8::Isolate* iso, v8::Local<v8::Context> ctx, CallFrame* frame,
                                   DbMode mode, const Statement& st, bool is_query) {
  int nparams = st.params.IsEmpty() ? 0 : static_cast<int>(st.params->Length());
  check_statement_limits(st.sql, nparams);
  PlanUse use;
  return in_subxact(frame, mode, !is_query, "ctx.db.exec", [&] {
    bool owned = false;
    PlanEntry* e = plan_for(st.sql, nparams, &owned);
    use.take(e, owned);
    return execute_plan(iso, ctx, e, mode, st, is_query);
  });
}



// ---- a call's transactions, cursors and prepared statements --------------------------------

// A ctx.db.transaction() in progress: its subtransaction, and what was current when it began.
struct OpenTxn {
  double id = 0;
  ResourceOwner owner = nullptr;
  MemoryContext cxt = nullptr;
};

struct OpenCursor {
  std::string portal;                 // looked up by name: a transaction's end may have dropped it
  PlanUse plan;                       // the plan the portal runs, pinned while it is open
  std::unique_ptr<PlanEntry> conv;    // column converters of its rows
  DbMode mode = DbMode::kReadWrite;
  double txn = 0;                     // the transaction level it was opened at
};

}  // namespace

struct DbState {
  std::vector<OpenTxn> txns;  // innermost last
  std::unordered_map<int, std::unique_ptr<OpenCursor>> cursors;
  std::unordered_map<int, std::unique_ptr<PlanEntry>> prepared;
  int serial = 0;
};

namespace {

DbState& db_state(CallFrame* f) {
  if (f->db == nullptr) f->db = new DbState();
  return *f->db;
}

double txn_id_of(v8::Local<v8::Value> v) { return v->IsNumber() ? v.As<v8::Number>()->Value() : 0; }

double innermost_txn(const CallFrame* owner) {
  return owner->db == nullptr || owner->db->txns.empty() ? 0 : owner->db->txns.back().id;
}

// Statements of a call run at its innermost open ctx.db.transaction(), through the db that
// transaction's callback received: the call's own ctx.db (level 0) while a transaction is open,
// or a transaction's db after it ended or while a nested one is open, would put the statement
// in the wrong subtransaction.
void check_txn_level(const CallFrame* owner, v8::Local<v8::Value> level, const char* fn) {
  double want = txn_id_of(level), top = innermost_txn(owner);
  if (want == top || want < 0) return;  // -1: a kept statement runs at the innermost level
  bool open = false;
  if (owner->db != nullptr)
    for (const OpenTxn& t : owner->db->txns) open = open || t.id == want;
  std::string what = std::string("ctx.db.") + fn;
  if (want == 0)
    throw PgError(ERRCODE_ACTIVE_SQL_TRANSACTION,
                  what + " was called on ctx.db while a ctx.db.transaction() is open", "",
                  "Run the transaction's statements through the db its callback receives: "
                  "ctx.db.transaction(async (db) => { await db.query(...) }).");
  if (!open)
    throw PgError(ERRCODE_NO_ACTIVE_SQL_TRANSACTION,
                  what + " was called on the db of a ctx.db.transaction() that has ended", "",
                  "Await every statement inside the transaction's callback.");
  throw PgError(ERRCODE_ACTIVE_SQL_TRANSACTION,
                what + " was called on a transaction's db while a transaction nested in it is open",
                "", "Use the db the nested transaction's callback receives.");
}


// A ctx.db native: returns a promise at once and settles it with what body(frame, owner) returns
// (frame: the innermost running call; owner: the call whose token info[0] is, or null when that
// call has ended). A PostgreSQL error rejects it, except those JS must not be able to catch
// (cancel, terminate, timeout, heap exhaustion), which stop JS instead; a pending JS exception
// propagates.
template <typename F>
void promise_call(const v8::FunctionCallbackInfo<v8::Value>& info, F&& body) {
  v8::Isolate* iso = info.GetIsolate();
  v8::HandleScope scope(iso);
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(ctx).ToLocal(&resolver)) return;
  info.GetReturnValue().Set(resolver->GetPromise());
  CallFrame* frame = current_frame;
  CallFrame* owner = info[0]->IsNumber() ? frame_of_token(info[0].As<v8::Number>()->Value())
                                         : nullptr;
  MemoryContext entry_cxt = CurrentMemoryContext;
  try {
    v8::Local<v8::Value> result = body(iso, ctx, frame, owner);
    ignore_result(resolver->Resolve(ctx, result));
  } catch (const JsException&) {
  } catch (const PgError& e) {
    MemoryContextSwitchTo(entry_cxt);
    metrics.db_errors++;
    if (stop_call_for(iso, e)) return;
    ignore_result(resolver->Reject(ctx, pg_to_js_error(iso, ctx, e)));
  } catch (const std::bad_alloc&) {
    ignore_result(resolver->Reject(
        ctx, pg_to_js_error(iso, ctx, PgError(ERRCODE_OUT_OF_MEMORY, "out of memory"))));
  } catch (const std::exception& e) {
    ignore_result(
        resolver->Reject(ctx, pg_to_js_error(iso, ctx, PgError(ERRCODE_INTERNAL_ERROR, e.what()))));
  }
}

void db_call(const v8::FunctionCallbackInfo<v8::Value>& info, bool is_query) {
  DbMode mode = static_cast<DbMode>(info.Data().As<v8::Integer>()->Value());
  const char* fn = is_query ? "query" : "exec";
  // SQL runs in the innermost call (its SPI connection, its limits); the ctx.db used must belong
  // to a call still running: one kept in a global or a pending callback dies with its call.
  promise_call(info, [&](v8::Isolate* iso, v8::Local<v8::Context> ctx, CallFrame* frame,
                         CallFrame* owner) -> v8::Local<v8::Value> {
    if (frame == nullptr || owner == nullptr)
      throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    std::string("ctx.db.") + fn + " was called after its plts call ended", "",
                    "Use the ctx.db of the running call; await its promises before returning.");
    // Never more than the running call, nor the call that made this ctx.db, may do.
    if (frame->mode == DbMode::kReadOnly || owner->mode == DbMode::kReadOnly)
      mode = DbMode::kReadOnly;
    if (!is_query && mode == DbMode::kReadOnly)
      throw PgError(ERRCODE_READ_ONLY_SQL_TRANSACTION,
                    "ctx.db.exec is not allowed in read-only mode", "",
                    "STABLE and IMMUTABLE functions and query handlers get a read-only ctx.db; "
                    "declare the function VOLATILE (or use a mutation) to write.");
    no_spread_params(info[3], fn);
    check_txn_level(owner, info[4], fn);
    Statement st = parse_statement(iso, ctx, info[1], info[2], fn);
    metrics.db_calls++;
    return run_statement(iso, ctx, frame, mode, st, is_query);
  });
}

// ---- ctx.db's other methods: one native, (token, op, level, a, b, c) => Promise --------------

enum DbOp {
  kPrepare = 1,    // (sql, paramTypes?) => statement id
  kStmtQuery = 2,  // (id, params, extra) => rows
  kStmtExec = 3,   // (id, params, extra) => {rowCount}
  kStmtFree = 4,   // (id)
  kCursorOpen = 5,   // (sql input | statement id, params) => cursor id
  kCursorFetch = 6,  // (id, n) => rows ([] at the end)
  kCursorClose = 7,  // (id)
  kTxnBegin = 8,     // () => level
  kTxnEnd = 9,       // (level, rollback)
  kCallFn = 10,      // (name, args) => [rows, scalar, set]
  kNotify = 11,      // (channel, payload)
};

[[noreturn]] void call_ended(const char* what) {
  throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                std::string(what) + " was used after its plts call ended", "",
                "Use the ctx.db of the running call; await its promises before returning.");
}

int id_arg(v8::Local<v8::Value> v) {
  return v->IsInt32() ? v.As<v8::Int32>()->Value() : -1;
}

// Statements prepared with { keep: true }: they outlive their call, usable by any later call of
// the backend that holds the JS object (only code of the realm that made it can), until free() or
// until the isolate is recycled. Negative ids. At most kMaxKept.
constexpr int kMaxKept = 1000;
std::unordered_map<int, std::unique_ptr<PlanEntry>>* kept = nullptr;
int kept_serial = 0;

// Where the statement `id` lives: the owner call's statements, or the kept ones.
std::unordered_map<int, std::unique_ptr<PlanEntry>>* statements_of(CallFrame* owner, int id) {
  if (id < 0) return kept;
  return owner->db != nullptr ? &owner->db->prepared : nullptr;
}

PlanEntry* prepared_of(CallFrame* owner, v8::Local<v8::Value> id) {
  auto* map = statements_of(owner, id_arg(id));
  if (map != nullptr) {
    auto it = map->find(id_arg(id));
    if (it != map->end()) return it->second.get();
  }
  throw PgError(ERRCODE_INVALID_SQL_STATEMENT_NAME,
                "this prepared statement was freed", "", "Prepare it again.");
}

std::vector<Oid> param_types_of(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                v8::Local<v8::Value> types) {
  if (!types->IsArray()) type_error("ctx.db.prepare: paramTypes must be an array of type names");
  v8::Local<v8::Array> a = types.As<v8::Array>();
  if (static_cast<int>(a->Length()) > settings.max_params)
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, std::to_string(a->Length()) +
                                                      " parameters exceed plts.max_params (" +
                                                      std::to_string(settings.max_params) + ")");
  std::vector<Oid> out;
  for (uint32_t i = 0; i < a->Length(); i++) {
    v8::Local<v8::Value> t;
    if (!a->Get(ctx, i).ToLocal(&t)) throw JsException();
    if (!t->IsString())
      type_error("ctx.db.prepare: paramTypes[" + std::to_string(i) + "] must be a type name");
    std::string name = utf8(iso, t);
    if (name.find('\0') != std::string::npos) type_error("ctx.db.prepare: a type name holds NUL");
    Oid oid = InvalidOid;
    int32 typmod = -1;
    pg_guard([&] { parseTypeString(name.c_str(), &oid, &typmod, false); });
    out.push_back(oid);
  }
  return out;
}

v8::Local<v8::Value> run_prepared(v8::Isolate* iso, v8::Local<v8::Context> ctx, CallFrame* frame,
                                  PlanEntry* e, DbMode mode, v8::Local<v8::Value> params,
                                  bool is_query) {
  const char* fn = is_query ? "query" : "exec";
  Statement st;
  st.params = params_array(params, fn);
  int given = st.params.IsEmpty() ? 0 : static_cast<int>(st.params->Length());
  int nparams = static_cast<int>(e->param_conv.size());
  if (given != nparams)
    throw PgError(ERRCODE_UNDEFINED_PARAMETER,
                  "the prepared statement takes " + std::to_string(nparams) + " parameter" +
                      (nparams == 1 ? "" : "s") + " but " + std::to_string(given) +
                      (given == 1 ? " was" : " were") + " given");
  PlanUse use;
  return in_subxact(frame, mode, !is_query, "ctx.db.exec", [&] {
    use.take(e, false);
    return execute_plan(iso, ctx, e, mode, st, is_query);
  });
}

Portal find_portal(const OpenCursor& c) {
  Portal p = nullptr;
  pg_guard([&] { p = SPI_cursor_find(c.portal.c_str()); });
  return p;
}

v8::Local<v8::Value> cursor_open(v8::Isolate* iso, v8::Local<v8::Context> ctx, CallFrame* frame,
                                 CallFrame* owner, DbMode mode, double level,
                                 v8::Local<v8::Value> input, v8::Local<v8::Value> params) {
  auto c = std::make_unique<OpenCursor>();
  c->mode = mode;
  c->txn = level;
  c->conv = std::make_unique<PlanEntry>();
  Statement st;
  PlanEntry* prepared = nullptr;
  if (input->IsNumber()) {
    prepared = prepared_of(owner, input);
    st.params = params_array(params, "cursor");
  } else {
    st = parse_statement(iso, ctx, input, params, "cursor");
    check_statement_limits(st.sql, st.params.IsEmpty() ? 0 : static_cast<int>(st.params->Length()));
  }
  in_subxact(frame, mode, false, "ctx.db.cursor", [&]() -> v8::Local<v8::Value> {
    if (prepared != nullptr) {
      c->plan.take(prepared, false);
    } else {
      bool owned = false;
      c->plan.take(plan_for(st.sql, st.params.IsEmpty() ? 0 : static_cast<int>(st.params->Length()),
                            &owned),
                   owned);
    }
    BoundParams b = bind_params(iso, ctx, c->plan.e, st.params);
    InSql in_sql;
    pg_guard([&] {
      Portal p = SPI_cursor_open(nullptr, c->plan.e->plan, b.values.data(), b.nulls.data(),
                                 mode == DbMode::kReadOnly);
      if (p == nullptr) elog(ERROR, "SPI_cursor_open failed: %s", SPI_result_code_string(SPI_result));
      c->portal = p->name;
    });
    return v8::Undefined(iso);
  });
  DbState& state = db_state(owner);
  int id = ++state.serial;
  state.cursors[id] = std::move(c);
  return v8::Integer::New(iso, id);
}

void close_cursor(DbState& state, int id) {
  auto it = state.cursors.find(id);
  if (it == state.cursors.end()) return;
  std::unique_ptr<OpenCursor> c = std::move(it->second);
  state.cursors.erase(it);
  Portal p = find_portal(*c);
  if (p != nullptr) pg_guard([&] { SPI_cursor_close(p); });
}

v8::Local<v8::Value> cursor_fetch(v8::Isolate* iso, v8::Local<v8::Context> ctx, CallFrame* frame,
                                  CallFrame* owner, DbMode mode, v8::Local<v8::Value> idv,
                                  v8::Local<v8::Value> nv) {
  int id = id_arg(idv);
  DbState& state = db_state(owner);
  auto it = state.cursors.find(id);
  if (it == state.cursors.end())
    throw PgError(ERRCODE_INVALID_CURSOR_NAME, "ctx.db.cursor: the cursor is closed");
  OpenCursor& c = *it->second;
  int n = nv->IsInt32() ? nv.As<v8::Int32>()->Value() : 0;
  if (n < 1) n = 1;
  if (settings.max_query_rows > 0 && n > settings.max_query_rows) n = settings.max_query_rows;
  if (c.mode == DbMode::kReadOnly) mode = DbMode::kReadOnly;
  try {
    return in_subxact(frame, mode, false, "ctx.db.cursor", [&]() -> v8::Local<v8::Value> {
      Portal p = find_portal(c);
      if (p == nullptr)
        throw PgError(ERRCODE_INVALID_CURSOR_NAME,
                      "ctx.db.cursor: the cursor was closed by the end of its transaction", "",
                      "Read a cursor to its end inside the transaction that opened it.");
      {
        InSql in_sql;
        pg_guard([&] { SPI_cursor_fetch(p, true, n); });
      }
      uint64 processed = SPI_processed;
      SPITupleTable* tt = SPI_tuptable;
      struct FreeTuples {
        SPITupleTable* tt;
        ~FreeTuples() {
          if (tt != nullptr) SPI_freetuptable(tt);
        }
      } free_tuples{tt};
      return tt != nullptr ? rows_to_js(iso, ctx, c.conv.get(), tt, processed)
                           : v8::Array::New(iso, 0).As<v8::Value>();
    });
  } catch (...) {
    // A failed fetch leaves the portal failed: close it; its next use says it is closed.
    try {
      close_cursor(state, id);
    } catch (...) {
    }
    throw;
  }
}

v8::Local<v8::Value> txn_begin(v8::Isolate* iso, CallFrame* frame) {
  if (IsInParallelMode())
    throw PgError(ERRCODE_INVALID_TRANSACTION_STATE,
                  "ctx.db.transaction() cannot run during a parallel operation");
  ensure_spi(frame);
  OpenTxn t;
  t.cxt = CurrentMemoryContext;
  t.owner = CurrentResourceOwner;
  pg_guard([] { BeginInternalSubTransaction(nullptr); });
  MemoryContextSwitchTo(t.cxt);
  DbState& state = db_state(frame);
  t.id = ++state.serial;
  state.txns.push_back(t);
  return v8::Number::New(iso, t.id);
}

// Ends the innermost open transaction (rolling it back, or committing it).
void end_innermost_txn(DbState& state, bool rollback) {
  OpenTxn t = state.txns.back();
  state.txns.pop_back();
  try {
    if (rollback)
      pg_guard([] { RollbackAndReleaseCurrentSubTransaction(); });
    else
      pg_guard([] { ReleaseCurrentSubTransaction(); });
  } catch (...) {
    MemoryContextSwitchTo(t.cxt);
    CurrentResourceOwner = t.owner;
    if (!rollback) {
      // A commit that failed leaves the subtransaction aborted but open.
      pg_guard([] { RollbackAndReleaseCurrentSubTransaction(); });
      MemoryContextSwitchTo(t.cxt);
      CurrentResourceOwner = t.owner;
    }
    throw;
  }
  MemoryContextSwitchTo(t.cxt);
  CurrentResourceOwner = t.owner;
}

v8::Local<v8::Value> txn_end(v8::Isolate* iso, CallFrame* frame, v8::Local<v8::Value> idv,
                             bool rollback) {
  double id = txn_id_of(idv);
  DbState& state = db_state(frame);
  bool open = false;
  for (const OpenTxn& t : state.txns) open = open || t.id == id;
  if (!open)
    throw PgError(ERRCODE_NO_ACTIVE_SQL_TRANSACTION, "ctx.db.transaction() has already ended");
  // A nested transaction still open (its promise not awaited) is rolled back with this one.
  bool nested_open = state.txns.back().id != id;
  while (state.txns.back().id != id) end_innermost_txn(state, true);
  end_innermost_txn(state, rollback || nested_open);
  if (nested_open && !rollback)
    throw PgError(ERRCODE_INVALID_TRANSACTION_TERMINATION,
                  "ctx.db.transaction() ended while a transaction nested in it was still open, so "
                  "both were rolled back",
                  "", "Await every nested ctx.db.transaction() inside its parent's callback.");
  return v8::Undefined(iso);
}

// ---- ctx.db.fn -------------------------------------------------------------------------------

// The function a name designates: "schema.name" or "name" (one function of that name on the
// search_path), or a signature "schema.name(int, text)".
Oid resolve_function(const std::string& name) {
  if (name.find('\0') != std::string::npos) type_error("ctx.db.fn: the name holds NUL");
  Oid oid = InvalidOid;
  bool signature = name.find('(') != std::string::npos;
  try {
    pg_guard([&] {
      oid = DatumGetObjectId(DirectFunctionCall1(signature ? regprocedurein : regprocin,
                                                 CStringGetDatum(name.c_str())));
    });
  } catch (const PgError& e) {
    if (e.sqlerrcode() != ERRCODE_AMBIGUOUS_FUNCTION) throw;
    ErrorFields f = e.fields();
    f.hint = "Name one of them with its argument types, as in ctx.db.fn('" + name + "(text)').";
    throw PgError(std::move(f));
  }
  if (oid == InvalidOid)
    throw PgError(ERRCODE_UNDEFINED_FUNCTION, "function \"" + name + "\" does not exist");
  return oid;
}

std::string type_sql(Oid t) {
  std::string out;
  pg_guard([&] { out = format_type_be_qualified(t); });
  return out;
}

bool is_polymorphic(Oid t) {
  return IsPolymorphicType(t) || t == ANYOID;
}

// Calls the function `name` with JS args through a statement: PostgreSQL checks EXECUTE, applies
// defaults and runs any language. Returns [rows, scalar, set].
v8::Local<v8::Value> call_function_by_name(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                           CallFrame* frame, DbMode mode, v8::Local<v8::Value> namev,
                                           v8::Local<v8::Value> argsv) {
  if (!namev->IsString()) type_error("ctx.db.fn: the name must be a string");
  if (!argsv->IsArray()) type_error("ctx.db.fn: arguments must be an array");
  std::string name = utf8(iso, namev);
  v8::Local<v8::Array> args = argsv.As<v8::Array>();
  int given = static_cast<int>(args->Length());
  bool scalar = true, set = false;
  Statement st;
  st.params = args;
  v8::Local<v8::Value> rows = in_subxact(frame, mode, false, "ctx.db.fn", [&] {
    Oid oid = resolve_function(name);
    std::string qualified, sql;
    char kind = 'f';
    int nargs = 0, ndefaults = 0;
    Oid variadic = InvalidOid;
    std::vector<Oid> argtypes;
    TypeFuncClass cls = TYPEFUNC_SCALAR;
    pg_guard([&] {
      HeapTuple tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(oid));
      if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for function %u", oid);
      auto* p = reinterpret_cast<Form_pg_proc>(GETSTRUCT(tup));
      kind = p->prokind;
      nargs = p->pronargs;
      ndefaults = p->pronargdefaults;
      variadic = p->provariadic;
      set = p->proretset;
      for (int i = 0; i < nargs; i++) argtypes.push_back(p->proargtypes.values[i]);
      qualified = std::string(quote_identifier(get_namespace_name(p->pronamespace))) + "." +
                  quote_identifier(NameStr(p->proname));
      ReleaseSysCache(tup);
      Oid rettype = InvalidOid;
      TupleDesc desc = nullptr;
      cls = get_func_result_type(oid, &rettype, &desc);
    });
    if (kind == PROKIND_PROCEDURE)
      throw PgError(ERRCODE_WRONG_OBJECT_TYPE, "ctx.db.fn: " + name + " is a procedure", "",
                    "Call it with ctx.db.exec('CALL ...').");
    if (kind != PROKIND_FUNCTION)
      throw PgError(ERRCODE_WRONG_OBJECT_TYPE,
                    "ctx.db.fn: " + name + " is an aggregate or window function", "",
                    "Use it in a query: ctx.db.query('SELECT ...').");
    if (cls == TYPEFUNC_RECORD || cls == TYPEFUNC_OTHER)
      throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                    "ctx.db.fn: " + name + " returns record without OUT parameters", "",
                    "Call it with ctx.db.query and a column definition list: "
                    "SELECT * FROM f(...) AS t(a int, b text).");
    scalar = cls == TYPEFUNC_SCALAR;
    // VARIADIC functions take the variadic part as separate values, as SQL does.
    bool is_variadic = variadic != InvalidOid;
    if (given > nargs && !is_variadic)
      throw PgError(ERRCODE_UNDEFINED_FUNCTION,
                    "ctx.db.fn: " + name + " takes " + std::to_string(nargs) + " argument" +
                        (nargs == 1 ? "" : "s") + ", " + std::to_string(given) + " given");
    if (given < nargs - ndefaults - (is_variadic ? 1 : 0))
      throw PgError(ERRCODE_UNDEFINED_FUNCTION,
                    "ctx.db.fn: " + name + " needs at least " +
                        std::to_string(nargs - ndefaults - (is_variadic ? 1 : 0)) + " argument" +
                        (nargs - ndefaults - (is_variadic ? 1 : 0) == 1 ? "" : "s") + ", " +
                        std::to_string(given) + " given");
    check_statement_limits(qualified, given);
    std::string list;
    for (int i = 0; i < given; i++) {
      Oid t = i < nargs - (is_variadic ? 1 : 0) ? argtypes[i] : is_variadic ? variadic : argtypes[i];
      list += (i ? ", $" : "$") + std::to_string(i + 1);
      if (!is_polymorphic(t)) list += "::" + type_sql(t);
    }
    // A set's rows are objects (composite) or the column v (scalar); one result is the column v.
    std::string call_sql = qualified + "(" + list + ")";
    st.sql = !set     ? "SELECT " + call_sql + " AS v"
             : scalar ? "SELECT * FROM " + call_sql + " AS v(v)"
                      : "SELECT * FROM " + call_sql;
    bool owned = false;
    PlanEntry* e = plan_for(st.sql, given, &owned);
    PlanUse use;
    use.take(e, owned);
    return execute_plan(iso, ctx, e, mode, st, true);
  });
  v8::Local<v8::Value> parts[3] = {rows, v8::Boolean::New(iso, !set || scalar),
                                   v8::Boolean::New(iso, set)};
  return v8::Array::New(iso, parts, 3);
}

v8::Local<v8::Value> notify(v8::Isolate* iso, v8::Local<v8::Context>, CallFrame* frame, DbMode mode,
                            v8::Local<v8::Value> channel, v8::Local<v8::Value> payload) {
  if (mode == DbMode::kReadOnly)
    throw PgError(ERRCODE_READ_ONLY_SQL_TRANSACTION, "ctx.db.notify is not allowed in read-only mode",
                  "", "STABLE and IMMUTABLE functions and query handlers get a read-only ctx.db.");
  if (!channel->IsString()) type_error("ctx.db.notify: the channel must be a string");
  if (!payload->IsNullOrUndefined() && !payload->IsString())
    type_error("ctx.db.notify: the payload must be a string");
  std::string ch = utf8(iso, channel);
  std::string pl = payload->IsString() ? utf8(iso, payload) : "";
  if (ch.find('\0') != std::string::npos || pl.find('\0') != std::string::npos)
    throw PgError(ERRCODE_UNTRANSLATABLE_CHARACTER, "ctx.db.notify: text holds NUL");
  return in_subxact(frame, mode, true, "ctx.db.notify", [&]() -> v8::Local<v8::Value> {
    pg_guard([&] { Async_Notify(ch.c_str(), pl.c_str()); });
    return v8::Undefined(iso);
  });
}

}  // namespace

void db_op_callback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  promise_call(info, [&](v8::Isolate* iso, v8::Local<v8::Context> ctx, CallFrame* frame,
                         CallFrame* owner) -> v8::Local<v8::Value> {
    int op = id_arg(info[1]);
    if (frame == nullptr || owner == nullptr) call_ended("ctx.db");
    DbMode mode = frame->mode == DbMode::kReadOnly || owner->mode == DbMode::kReadOnly
                      ? DbMode::kReadOnly
                      : DbMode::kReadWrite;
    v8::Local<v8::Value> level = info[2], a = info[3], b = info[4], c = info[5];
    metrics.db_calls++;
    switch (op) {
      case kPrepare: {
        check_txn_level(owner, level, "prepare");
        if (!a->IsString()) type_error("ctx.db.prepare: expected SQL text");
        std::string sql = utf8(iso, a);
        check_statement_limits(sql, 0);
        bool typed = !b->IsNullOrUndefined();
        std::unique_ptr<PlanEntry> e;
        // parseTypeString may raise (an unknown type): inside the subtransaction too.
        in_subxact(frame, mode, false, "ctx.db.prepare", [&]() -> v8::Local<v8::Value> {
          std::vector<Oid> types;
          if (typed) types = param_types_of(iso, ctx, b);
          e = prepare(sql, -1, typed ? &types : nullptr);
          return v8::Undefined(iso);
        });
        int nparams = static_cast<int>(e->param_conv.size());
        int id = 0;
        if (c->IsTrue()) {
          if (kept == nullptr) kept = new std::unordered_map<int, std::unique_ptr<PlanEntry>>();
          if (static_cast<int>(kept->size()) >= kMaxKept) {
            free_entry(e.release());
            throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                          "ctx.db.prepare: " + std::to_string(kMaxKept) +
                              " statements are kept already",
                          "", "Free kept statements you no longer use, or keep fewer.");
          }
          id = -(++kept_serial);
          (*kept)[id] = std::move(e);
        } else {
          DbState& state = db_state(owner);
          id = ++state.serial;
          state.prepared[id] = std::move(e);
        }
        v8::Local<v8::Value> parts[2] = {v8::Integer::New(iso, id), v8::Integer::New(iso, nparams)};
        return v8::Array::New(iso, parts, 2);
      }
      case kStmtQuery:
      case kStmtExec: {
        bool is_query = op == kStmtQuery;
        const char* fn = is_query ? "query" : "exec";
        PlanEntry* e = prepared_of(owner, a);
        no_spread_params(c, fn);
        check_txn_level(owner, level, fn);
        if (!is_query && mode == DbMode::kReadOnly)
          throw PgError(ERRCODE_READ_ONLY_SQL_TRANSACTION,
                        "ctx.db.exec is not allowed in read-only mode");
        return run_prepared(iso, ctx, frame, e, mode, b, is_query);
      }
      case kStmtFree: {
        auto* map = statements_of(owner, id_arg(a));
        if (map == nullptr) return v8::Undefined(iso);
        auto it = map->find(id_arg(a));
        if (it != map->end()) {
          if (it->second->pins > 0)
            throw PgError(ERRCODE_OBJECT_IN_USE,
                          "this prepared statement has an open cursor: close it first");
          free_entry(it->second.release());
          map->erase(it);
        }
        return v8::Undefined(iso);
      }
      case kCursorOpen:
        check_txn_level(owner, level, "cursor");
        return cursor_open(iso, ctx, frame, owner, mode, txn_id_of(level), a, b);
      case kCursorFetch:
        return cursor_fetch(iso, ctx, frame, owner, mode, a, b);
      case kCursorClose:
        if (owner->db != nullptr) close_cursor(*owner->db, id_arg(a));
        return v8::Undefined(iso);
      case kTxnBegin:
        if (owner != frame)
          throw PgError(ERRCODE_INVALID_TRANSACTION_STATE,
                        "ctx.db.transaction() was called while another plts call runs inside it");
        check_txn_level(owner, level, "transaction");
        return txn_begin(iso, frame);
      case kTxnEnd:
        if (owner != frame)
          throw PgError(ERRCODE_INVALID_TRANSACTION_STATE,
                        "ctx.db.transaction() ended while another plts call runs inside it");
        return txn_end(iso, frame, a, b->IsTrue());
      case kCallFn:
        check_txn_level(owner, level, "fn");
        return call_function_by_name(iso, ctx, frame, mode, a, b);
      case kNotify:
        check_txn_level(owner, level, "notify");
        return notify(iso, ctx, frame, mode, a, b);
      default:
        type_error("ctx.db: unknown operation");
    }
  });
}

// ctx.db.ident(name) and ctx.db.literal(value): PostgreSQL's quoting, synchronous.
namespace {
template <typename F>
void quote_native(const v8::FunctionCallbackInfo<v8::Value>& info, F&& body) {
  v8::Isolate* iso = info.GetIsolate();
  v8::HandleScope scope(iso);
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  native_guard(iso, ctx, [&] { info.GetReturnValue().Set(js_string(iso, body(iso, ctx))); });
}

std::string text_for_quoting(const std::string& s, const char* fn) {
  if (s.find('\0') != std::string::npos)
    throw PgError(ERRCODE_UNTRANSLATABLE_CHARACTER,
                  std::string("ctx.db.") + fn + ": text holds NUL, which PostgreSQL text cannot");
  if (static_cast<int64_t>(s.size()) > settings.max_sql_bytes)
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                  std::string("ctx.db.") + fn + ": text longer than plts.max_sql_bytes");
  return s;
}
}  // namespace

void db_ident_callback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  quote_native(info, [&](v8::Isolate* iso, v8::Local<v8::Context>) {
    if (!info[0]->IsString()) type_error("ctx.db.ident: the name must be a string");
    std::string s = text_for_quoting(utf8(iso, info[0]), "ident");
    if (s.empty()) type_error("ctx.db.ident: the name is empty");
    std::string out;
    pg_guard([&] { out = quote_identifier(s.c_str()); });
    return out;
  });
}

void db_literal_callback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  quote_native(info, [&](v8::Isolate* iso, v8::Local<v8::Context> ctx) -> std::string {
    v8::Local<v8::Value> v = info[0];
    if (v->IsNullOrUndefined()) return "NULL";
    v8::Local<v8::Value> text = v;
    if (v->IsDate()) {
      v8::Local<v8::Value> iso_fn;
      v8::Local<v8::Object> o = v.As<v8::Object>();
      if (!o->Get(ctx, js_name(iso, "toISOString")).ToLocal(&iso_fn) || !iso_fn->IsFunction() ||
          !iso_fn.As<v8::Function>()->Call(ctx, o, 0, nullptr).ToLocal(&text))
        throw JsException();
    } else if (v->IsObject() && !v->IsStringObject() && !v->IsNumberObject() &&
               !v->IsBigIntObject() && !v->IsBooleanObject()) {
      v8::Local<v8::String> json;
      if (!v8::JSON::Stringify(ctx, v).ToLocal(&json)) throw JsException();
      text = json;
    } else if (v->IsSymbol()) {
      type_error("ctx.db.literal: a symbol has no SQL form");
    }
    v8::Local<v8::String> str;
    if (!text->ToString(ctx).ToLocal(&str)) throw JsException();
    std::string s = text_for_quoting(utf8(iso, str), "literal");
    std::string out;
    pg_guard([&] { out = quote_literal_cstr(s.c_str()); });
    return out;
  });
}


CallFrame* frame_of_token(double token) {
  for (CallFrame* f = current_frame; f != nullptr; f = f->outer)
    if (static_cast<double>(f->token) == token) return f;
  return nullptr;
}

void db_query_callback(const v8::FunctionCallbackInfo<v8::Value>& info) { db_call(info, true); }

void db_txn_callback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  bool rollback = info[1]->IsTrue();
  const char* fn = rollback ? "ctx.db.rollback()" : "ctx.db.commit()";
  promise_call(info, [&](v8::Isolate* iso, v8::Local<v8::Context>, CallFrame* frame,
                         CallFrame* owner) -> v8::Local<v8::Value> {
    if (info[0]->IsNumber() && info[0].As<v8::Number>()->Value() == 0)
      throw PgError(ERRCODE_INVALID_TRANSACTION_TERMINATION,
                    std::string("invalid transaction termination: ") + fn +
                        " is available only in procedures and DO blocks",
                    "A function always runs inside its caller's transaction.",
                    "Make it a procedure (CREATE PROCEDURE ... LANGUAGE plts) and CALL it.");
    if (frame == nullptr || owner == nullptr)
      throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    std::string(fn) + " was called after its plts call ended");
    if (owner != frame)
      throw PgError(ERRCODE_INVALID_TRANSACTION_TERMINATION,
                    std::string(fn) + " was called while another plts function call runs inside it");
    if (!frame->nonatomic)
      throw PgError(ERRCODE_INVALID_TRANSACTION_TERMINATION,
                    std::string("invalid transaction termination: ") + fn +
                        " is allowed only in a procedure called by CALL (or a DO block) outside a "
                        "transaction block and outside any function",
                    "", "Call the procedure with CALL at the top level, not inside BEGIN ... COMMIT, "
                    "a function or a ctx.db statement.");
    if (IsSubTransaction())
      throw PgError(ERRCODE_INVALID_TRANSACTION_TERMINATION,
                    std::string("cannot ") + (rollback ? "roll back" : "commit") +
                        " while a subtransaction is active");
    ensure_spi(frame);
    metrics.db_calls++;
    pg_guard([&] {
      if (rollback)
        SPI_rollback();
      else
        SPI_commit();
    });
    return v8::Undefined(iso);
  });
}
void db_exec_callback(const v8::FunctionCallbackInfo<v8::Value>& info) { db_call(info, false); }

size_t plan_cache_size() { return plans ? plans->lru.size() : 0; }

void free_kept_statements() {
  if (kept == nullptr) return;
  for (auto& [id, e] : *kept) {
    try {
      free_entry(e.release());
    } catch (const PgError&) {
    }
  }
  kept->clear();
}

void db_frame_end(CallFrame& frame) {
  if (frame.db == nullptr) return;
  std::unique_ptr<DbState> state(frame.db);
  frame.db = nullptr;
  std::unique_ptr<PgError> first;
  auto step = [&](auto&& f) {
    try {
      f();
    } catch (const PgError& e) {
      if (!first) first = std::make_unique<PgError>(e);
    }
  };
  // A transaction whose callback never settled: nothing of it may outlive the call (its caller's
  // own subtransactions must find theirs current when they end).
  while (!state->txns.empty()) step([&] { end_innermost_txn(*state, true); });
  std::vector<int> ids;
  for (auto& [id, c] : state->cursors) ids.push_back(id);
  for (int id : ids) step([&] { close_cursor(*state, id); });
  for (auto& [id, e] : state->prepared) step([&] { free_entry(e.release()); });
  state->prepared.clear();
  if (first) throw *first;
}

}  // namespace plts
