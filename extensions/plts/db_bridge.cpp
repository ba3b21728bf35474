#include "extensions/plts/db_bridge.h"

#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/error_boundary.h"
#include "extensions/plts/call.h"
#include "extensions/plts/convert.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/gucs.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/metrics.h"
#include "extensions/plts/watchdog.h"

extern "C" {
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "parser/parse_param.h"
#include "utils/resowner.h"
}

namespace plts {

using pgx::pg_guard;
using pgx::PgError;

namespace {

// ---- plan cache ----------------------------------------------------------------------------

struct PlanEntry {
  std::string key;
  SPIPlanPtr plan = nullptr;
  std::vector<std::unique_ptr<TypeConv>> param_conv;
  // Result column converters, resolved for the last tuple descriptor seen.
  std::vector<Oid> col_types;
  std::vector<std::unique_ptr<TypeConv>> col_conv;
  // Statements running this plan now (a nested call may run other statements meanwhile): a
  // pinned entry is never evicted.
  int pins = 0;
};

struct PlanCache {
  std::list<PlanEntry*> lru;  // most recent first
  std::unordered_map<std::string, std::list<PlanEntry*>::iterator> index;
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

// Prepares sql with parameter types inferred by PostgreSQL, then re-prepares with those types
// fixed: a plan built with the variable-parameter hook would call it again on replanning.
std::unique_ptr<PlanEntry> prepare(const std::string& sql, int nparams) {
  auto e = std::make_unique<PlanEntry>();
  InferArg a{nullptr, nparams};
  std::vector<Oid> types;
  pg_guard([&] {
    a.types = static_cast<Oid*>(palloc0(sizeof(Oid) * (nparams > 0 ? nparams : 1)));
    SPIPlanPtr probe = SPI_prepare_params(sql.c_str(), infer_setup, &a, 0);
    if (probe != nullptr) SPI_freeplan(probe);
  });
  if (SPI_result < 0 && a.n == nparams && a.types == nullptr)
    spi_failed("SPI_prepare_params", SPI_result);
  if (a.n > nparams)
    throw PgError(ERRCODE_UNDEFINED_PARAMETER, "the statement refers to $" + std::to_string(a.n) +
                                                   " but " + std::to_string(nparams) +
                                                   " parameter" +
                                                   (nparams == 1 ? " was" : "s were") + " given");
  for (int i = 0; i < nparams; i++) {
    Oid t = a.types[i];
    types.push_back(t == InvalidOid || t == UNKNOWNOID ? TEXTOID : t);
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
  // The same text means another statement under another search_path or user ("$user" in the
  // path): the inferred parameter types were fixed for the first one.
  std::string key = std::to_string(nparams) + ":" + std::to_string(GetUserId()) + ":" +
                    (namespace_search_path ? namespace_search_path : "") + "\n" + sql;
  auto it = plans->index.find(key);
  if (it != plans->index.end()) {
    plans->lru.splice(plans->lru.begin(), plans->lru, it->second);
    metrics.plan_cache_hits++;
    *owned = false;
    return *it->second;
  }
  metrics.plan_cache_misses++;
  std::unique_ptr<PlanEntry> e = prepare(sql, nparams);
  e->key = key;
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
  plans->index[key] = plans->lru.begin();
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

Statement parse_statement(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                          const v8::FunctionCallbackInfo<v8::Value>& info, const char* fn) {
  Statement st;
  // info[0] is the call's token (see db_call); then what the user passed.
  v8::Local<v8::Value> input = info[1];
  v8::Local<v8::Value> params = info[2];
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
  if (!params->IsNullOrUndefined()) {
    if (!params->IsArray()) type_error(std::string("ctx.db.") + fn + ": params must be an array");
    st.params = params.As<v8::Array>();
  }
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

v8::Local<v8::Value> rows_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, PlanEntry* e,
                                SPITupleTable* tt, uint64 n) {
  TupleDesc desc = tt->tupdesc;
  int natts = desc->natts;
  bool same = static_cast<int>(e->col_types.size()) == natts;
  for (int i = 0; same && i < natts; i++)
    same = e->col_types[i] == TupleDescAttr(desc, i)->atttypid;
  if (!same) {
    e->col_types.clear();
    e->col_conv.clear();
    for (int i = 0; i < natts; i++) {
      Form_pg_attribute att = TupleDescAttr(desc, i);
      e->col_types.push_back(att->atttypid);
      e->col_conv.push_back(resolve_type(att->atttypid, att->atttypmod));
    }
  }
  std::vector<v8::Local<v8::String>> names(natts);
  for (int i = 0; i < natts; i++) {
    const char* name = NameStr(TupleDescAttr(desc, i)->attname);
    if (!v8::String::NewFromUtf8(iso, name, v8::NewStringType::kInternalized).ToLocal(&names[i]))
      throw JsException();
  }
  if (n >= static_cast<uint64>(UINT32_MAX))
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                  "ctx.db.query returned " + std::to_string(n) + " rows, more than a JavaScript "
                  "array holds");
  v8::Local<v8::Array> rows = v8::Array::New(iso, static_cast<int>(std::min<uint64>(n, 1 << 20)));
  StopPoll poll(iso);
  for (uint64 r = 0; r < n; r++) {
    // Converting millions of rows runs no JavaScript: poll for cancel, deadline and heap here.
    poll.check();
    v8::HandleScope row_scope(iso);
    HeapTuple tup = tt->vals[r];
    v8::Local<v8::Object> row = v8::Object::New(iso);
    for (int i = 0; i < natts; i++) {
      if (TupleDescAttr(desc, i)->attisdropped) continue;
      bool isnull = false;
      Datum d = heap_getattr(tup, i + 1, desc, &isnull);
      if (row->CreateDataProperty(ctx, names[i], to_js(iso, ctx, *e->col_conv[i], d, isnull))
              .IsNothing())
        throw JsException();
    }
    if (rows->CreateDataProperty(ctx, static_cast<uint32_t>(r), row).IsNothing())
      throw JsException();
  }
  return rows;
}

// Converts the parameters, runs the plan and returns the JS result (SPI side state is the
// caller's to clean up).
v8::Local<v8::Value> execute_plan(v8::Isolate* iso, v8::Local<v8::Context> ctx, PlanEntry* e,
                                  DbMode mode, const Statement& st, int nparams, bool is_query) {
  std::vector<Datum> values(nparams);
  std::vector<char> nulls(nparams + 1, ' ');
  for (int i = 0; i < nparams; i++) {
    v8::Local<v8::Value> v;
    if (!st.params->Get(ctx, i).ToLocal(&v)) throw JsException();
    bool isnull = false;
    try {
      values[i] = param_from_js(iso, ctx, *e->param_conv[i], v, &isnull);
    } catch (const PgError& err) {
      throw err.with_prefix("parameter $" + std::to_string(i + 1) + ": ");
    }
    if (isnull) nulls[i] = 'n';
  }
  long tcount = is_query && settings.max_query_rows > 0 ? settings.max_query_rows + 1L : 0L;
  int rc = 0;
  {
    InSql in_sql;
    pg_guard([&] {
      rc = SPI_execute_plan(e->plan, values.data(), nulls.data(), mode == DbMode::kReadOnly,
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

// Runs one statement in an internal subtransaction (outside parallel mode) and returns the JS
// result.
v8::Local<v8::Value> run_statement(v8::Isolate* iso, v8::Local<v8::Context> ctx, CallFrame* frame,
                                   DbMode mode, const Statement& st, bool is_query) {
  int nparams = st.params.IsEmpty() ? 0 : static_cast<int>(st.params->Length());
  if (static_cast<int64_t>(st.sql.size()) > settings.max_sql_bytes)
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "SQL text of " + std::to_string(st.sql.size()) +
                                                      " bytes exceeds plts.max_sql_bytes (" +
                                                      std::to_string(settings.max_sql_bytes) + ")");
  if (nparams > settings.max_params)
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, std::to_string(nparams) +
                                                      " parameters exceed plts.max_params (" +
                                                      std::to_string(settings.max_params) + ")");
  ensure_spi(frame);

  MemoryContext oldcxt = CurrentMemoryContext;
  ResourceOwner oldowner = CurrentResourceOwner;
  // A parallel worker (or leader in parallel mode) cannot start subtransactions: it runs
  // read-only statements directly, and their errors end the call (JS cannot catch them).
  bool subxact = !IsInParallelMode();
  if (!subxact && !is_query)
    throw PgError(ERRCODE_INVALID_TRANSACTION_STATE,
                  "ctx.db.exec cannot run during a parallel operation", "",
                  "Mark the function PARALLEL UNSAFE (the default) to write from it.");
  if (subxact) pg_guard([] { BeginInternalSubTransaction(nullptr); });
  MemoryContextSwitchTo(oldcxt);
  bool owned = false;
  PlanEntry* e = nullptr;
  try {
    if (subxact && mode == DbMode::kReadOnly) XactReadOnly = true;  // restored by the subxact end
    e = plan_for(st.sql, nparams, &owned);
    e->pins++;
    v8::Local<v8::Value> result = execute_plan(iso, ctx, e, mode, st, nparams, is_query);
    e->pins--;
    if (owned) free_entry(e);
    e = nullptr;
    if (subxact) pg_guard([] { ReleaseCurrentSubTransaction(); });
    MemoryContextSwitchTo(oldcxt);
    CurrentResourceOwner = oldowner;
    return result;
  } catch (...) {
    if (e != nullptr) e->pins--;
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
    // A plan made for this statement alone (plts.plan_cache_size = 0) is kept by SPI_keepplan:
    // free it here too, after the subtransaction is gone.
    if (owned && e != nullptr) free_entry(e);
    throw;
  }
}

bool is_uncatchable(const PgError& e) {
  int code = e.sqlerrcode();
  return ERRCODE_TO_CATEGORY(code) == ERRCODE_OPERATOR_INTERVENTION ||  // 57xxx: cancel, shutdown
         heap_limit_hit() || watchdog_stop_requested();
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
    if (is_uncatchable(e) || (frame != nullptr && frame->uncatchable)) {
      if (frame != nullptr && !frame->uncatchable)
        frame->uncatchable = std::make_unique<PgError>(e);
      iso->TerminateExecution();
      return;
    }
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
    Statement st = parse_statement(iso, ctx, info, fn);
    metrics.db_calls++;
    return run_statement(iso, ctx, frame, mode, st, is_query);
  });
}

}  // namespace

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

}  // namespace plts
