#include "extensions/plts/shapes.h"

#include <algorithm>
#include <cmath>

#include "common/error_boundary.h"
#include "extensions/plts/convert.h"
#include "extensions/plts/convert_support.h"
#include "extensions/plts/gucs.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/realm.h"
#include "extensions/plts/rows.h"

extern "C" {
#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "storage/proc.h"
#include "tcop/cmdtag.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
}

namespace plts {

using pgx::pg_guard;
using pgx::PgError;
using conv::checked;
using conv::js_type_name;

namespace {

// A returned {name: value} for a function with a single OUT or TABLE parameter gives the value,
// unless the result type takes objects itself.
v8::Local<v8::Value> unwrap_single_out(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                       const FunctionInfo& fi, const TypeConv& tc,
                                       v8::Local<v8::Value> v) {
  if (fi.single_out_name.empty() || !v->IsObject() || v->IsArray() || v->IsDate() ||
      v->IsArrayBufferView() || v->IsFunction() || tc.kind == TypeKind::kJson ||
      tc.kind == TypeKind::kJsonb || tc.kind == TypeKind::kComposite)
    return v;
  v8::Local<v8::Object> o = v.As<v8::Object>();
  v8::Local<v8::String> name = js_string(iso, fi.single_out_name);
  bool has = false;
  if (!o->HasOwnProperty(ctx, name).To(&has)) throw JsException();
  if (!has) return v;
  return checked(o->Get(ctx, name));
}

// Reads {done, value} of an iterator result.
bool iter_step(v8::Isolate* iso, v8::Local<v8::Context> ctx, const FunctionInfo& fi,
               v8::Local<v8::Value> r, v8::Local<v8::Value>* value) {
  if (!r->IsObject())
    throw PgError(ERRCODE_DATATYPE_MISMATCH,
                  "plts function " + fi.qualified + ": the iterator's next() returned " +
                      js_type_name(r) + ", not an iterator result object");
  v8::Local<v8::Object> o = r.As<v8::Object>();
  v8::Local<v8::Value> done = checked(o->Get(ctx, js_name(iso, "done")));
  if (done->BooleanValue(iso)) return false;
  *value = checked(o->Get(ctx, js_name(iso, "value")));
  return true;
}

// Fills `buffer` with the next values of a sync iterator, in JavaScript: one call from C++ per
// batch instead of one (plus two property reads) per row. Returns the count filled, or ~count when
// the iterator is done.
constexpr int kPullBatch = 256;
// Numbers go to `nums` (flags[i] = 1), which C++ reads without a property lookup per row.
// With next === null, `it` is an array and the batch starts at index `start`.
const char kPullJs[] =
    "(function (it, next, buf, nums, flags, start) { 'use strict';\n"
    "  if (next === null) {\n"
    "    let n = it.length - start;\n"
    "    if (n > buf.length) n = buf.length;\n"
    "    for (let j = 0; j < n; j++) {\n"
    "      const v = it[start + j];\n"
    "      if (typeof v === 'number') { nums[j] = v; flags[j] = 1; } else { buf[j] = v; flags[j] = 0; }\n"
    "    }\n"
    "    return n;\n"
    "  }\n"
    "  for (let i = 0; i < buf.length; i++) {\n"
    "    const r = next.call(it);\n"
    "    if (typeof r !== 'object' || r === null)\n"
    "      throw new TypeError('Iterator result ' + String(r) + ' is not an object');\n"
    "    if (r.done) return ~i;\n"
    "    const v = r.value;\n"
    "    if (typeof v === 'number') { nums[i] = v; flags[i] = 1; } else { buf[i] = v; flags[i] = 0; }\n"
    "  }\n"
    "  return buf.length;\n"
    "})";

v8::Local<v8::Function> pull_helper(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm) {
  if (!realm.pull.IsEmpty()) return realm.pull.Get(iso);
  v8::ScriptOrigin origin(iso, js_name(iso, "plts:set"));
  v8::Local<v8::Script> script =
      checked(v8::Script::Compile(ctx, js_name(iso, kPullJs), &origin));
  v8::Local<v8::Value> fn = checked(script->Run(ctx));
  realm.pull.Reset(iso, fn.As<v8::Function>());
  return fn.As<v8::Function>();
}

}  // namespace

void check_set_context(const FunctionInfo& fi, FunctionCallInfo fcinfo) {
  auto* rsi = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  if (rsi == nullptr || !IsA(rsi, ReturnSetInfo) || (rsi->allowedModes & SFRM_Materialize) == 0 ||
      rsi->econtext == nullptr)
    throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                  "set-valued plts function " + fi.qualified +
                      " called in a context that cannot accept a set");
}

void materialize_set(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                     const FunctionInfo& fi, const CallShape& shape, FunctionCallInfo fcinfo,
                     MemoryContext call_mcxt, v8::Local<v8::Value> result) {
  auto* rsi = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  const RowConv* row = shape.ret_row.get();
  TupleDesc desc = nullptr;
  Tuplestorestate* store = nullptr;
  MemoryContext rowcxt = nullptr;
  pg_guard([&] {
    MemoryContext old = MemoryContextSwitchTo(rsi->econtext->ecxt_per_query_memory);
    if (row != nullptr) {
      desc = CreateTupleDescCopy(row->desc);
    } else {
      desc = CreateTemplateTupleDesc(1);
      TupleDescInitEntry(desc, 1, fi.single_out_name.empty() ? fi.name.c_str()
                                                             : fi.single_out_name.c_str(),
                         shape.ret_conv->domain ? shape.ret_conv->domain : shape.ret_conv->type,
                         shape.ret_conv->typmod, 0);
    }
    store = tuplestore_begin_heap((rsi->allowedModes & SFRM_Materialize_Random) != 0, false,
                                  work_mem);
    MemoryContextSwitchTo(old);
    rowcxt = AllocSetContextCreate(call_mcxt, "plts set row", ALLOCSET_DEFAULT_SIZES);
  });
  int natts = row != nullptr ? row->natts() : 1;
  // Rows are converted into a batch and stored kPullBatch at a time: one guarded PostgreSQL
  // section (and one reset of the row context) per batch, not per row.
  std::vector<Datum> values(static_cast<size_t>(natts) * kPullBatch);
  std::vector<char> nulls_buf(values.size());
  bool* nulls = reinterpret_cast<bool*>(nulls_buf.data());
  int pending = 0;
  uint64 count = 0;
  uint64 limit = settings.max_query_rows > 0 ? static_cast<uint64>(settings.max_query_rows) : 0;
  StopPoll poll(iso);

  auto flush = [&] {
    if (pending == 0) return;
    pg_guard([&] {
      for (int r = 0; r < pending; r++)
        tuplestore_putvalues(store, desc, values.data() + r * natts, nulls + r * natts);
      MemoryContextReset(rowcxt);
    });
    pending = 0;
  };
  auto put = [&](v8::Local<v8::Value> v) {
    poll.check();
    if (limit != 0 && ++count > limit)
      throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                    "plts function " + fi.qualified + " returned more than plts.max_query_rows (" +
                        std::to_string(limit) + ") rows",
                    "", "Raise plts.max_query_rows (0 = unlimited) for this function or session.");
    MemoryContext old = MemoryContextSwitchTo(rowcxt);
    Datum* vals = values.data() + pending * natts;
    bool* nls = nulls + pending * natts;
    try {
      if (row != nullptr) {
        row_values_from_js_in_realm(iso, ctx, realm, *row, v, vals, nls);
      } else {
        v = unwrap_single_out(iso, ctx, fi, *shape.ret_conv, v);
        vals[0] = from_js(iso, ctx, *shape.ret_conv, v, &nls[0]);
      }
    } catch (const PgError& e) {
      MemoryContextSwitchTo(old);
      throw e.with_prefix("plts function " + fi.qualified + " returned a row that does not fit " +
                          "its result type: ");
    }
    MemoryContextSwitchTo(old);
    if (++pending == kPullBatch) flush();
  };

  // Values come out of JS a batch at a time (see kPullJs); numbers without a property read each.
  v8::Local<v8::Array> buf = v8::Array::New(iso, kPullBatch);
  // Memory of ours: V8 ends the process when ArrayBuffer::New finds the budget spent.
  std::shared_ptr<v8::BackingStore> store_mem = own_backing_store(kPullBatch * 9);
  v8::Local<v8::ArrayBuffer> nbuf = v8::ArrayBuffer::New(iso, store_mem);
  const double* nums = static_cast<const double*>(store_mem->Data());
  const uint8_t* flags = reinterpret_cast<const uint8_t*>(nums + kPullBatch);
  v8::Local<v8::Value> nums_view = v8::Float64Array::New(nbuf, 0, kPullBatch);
  v8::Local<v8::Value> flags_view = v8::Uint8Array::New(nbuf, kPullBatch * 8, kPullBatch);
  auto put_batch = [&](int32_t filled) {
    for (int32_t i = 0; i < filled; i++)
      put(flags[i] ? v8::Number::New(iso, nums[i]).As<v8::Value>()
                   : checked(buf->Get(ctx, static_cast<uint32_t>(i))));
  };
  if (result->IsArray()) {
    v8::Local<v8::Function> pull = pull_helper(iso, ctx, realm);
    for (double start = 0;;) {
      v8::HandleScope batch_scope(iso);
      v8::Local<v8::Value> args[6] = {result, v8::Null(iso), buf, nums_view, flags_view,
                                      v8::Number::New(iso, start)};
      int32_t n = checked(pull->Call(ctx, v8::Undefined(iso), 6, args)).As<v8::Int32>()->Value();
      if (n <= 0) break;
      put_batch(n);
      start += n;
    }
  } else if (result->IsObject()) {
    v8::Local<v8::Object> obj = result.As<v8::Object>();
    v8::Local<v8::Value> async_fn =
        checked(obj->Get(ctx, v8::Symbol::GetAsyncIterator(iso)));
    bool is_async = async_fn->IsFunction();
    v8::Local<v8::Value> iter_fn =
        is_async ? async_fn : checked(obj->Get(ctx, v8::Symbol::GetIterator(iso)));
    if (!iter_fn->IsFunction())
      throw PgError(ERRCODE_DATATYPE_MISMATCH,
                    "plts function " + fi.qualified + " returns a set: it returned " +
                        js_type_name(result) + ", not an array or iterable",
                    "", "Return an array, a generator, or any (async) iterable of rows.");
    v8::Local<v8::Value> it = checked(iter_fn.As<v8::Function>()->Call(ctx, obj, 0, nullptr));
    if (!it->IsObject())
      throw PgError(ERRCODE_DATATYPE_MISMATCH,
                    "plts function " + fi.qualified + ": its result's iterator is not an object");
    v8::Local<v8::Value> next = checked(it.As<v8::Object>()->Get(ctx, js_name(iso, "next")));
    if (!next->IsFunction())
      throw PgError(ERRCODE_DATATYPE_MISMATCH,
                    "plts function " + fi.qualified + ": its result's iterator has no next()");
    v8::Local<v8::Function> next_fn = next.As<v8::Function>();
    if (!is_async) {
      v8::Local<v8::Function> pull = pull_helper(iso, ctx, realm);
      for (;;) {
        v8::HandleScope batch_scope(iso);
        v8::Local<v8::Value> args[6] = {it, next_fn, buf, nums_view, flags_view, v8::Undefined(iso)};
        v8::Local<v8::Value> got = checked(pull->Call(ctx, v8::Undefined(iso), 6, args));
        int32_t n = got.As<v8::Int32>()->Value();
        put_batch(n < 0 ? ~n : n);
        if (n < 0) break;
      }
    } else {
      for (;;) {
        v8::HandleScope row_scope(iso);
        v8::Local<v8::Value> r = checked(next_fn->Call(ctx, it, 0, nullptr));
        // Each step settles within the call: ctx.db's promises are settled when they are made.
        drain_microtasks(iso, realm);
        if (call_must_stop(iso)) throw JsException();
        if (r->IsPromise()) {
          v8::Local<v8::Promise> p = r.As<v8::Promise>();
          if (p->State() == v8::Promise::kRejected) {
            // Marks it handled: the call's own error, not an unhandled rejection.
            p->MarkAsHandled();
            throw js_value_to_pg_error(iso, ctx, p->Result(), v8::Local<v8::Message>(),
                                       ErrorSite{fi.qualified, Stage::kExecute});
          }
          if (p->State() == v8::Promise::kPending)
            throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                          "plts function " + fi.qualified +
                              ": its async iterator's next() returned a promise that never settled",
                          "", "Await only ctx.db calls and promises that settle within the call.");
          r = p->Result();
        }
        v8::Local<v8::Value> value;
        if (!iter_step(iso, ctx, fi, r, &value)) break;
        put(value);
      }
    }
  } else if (!result->IsNullOrUndefined()) {
    throw PgError(ERRCODE_DATATYPE_MISMATCH,
                  "plts function " + fi.qualified + " returns a set: it returned " +
                      js_type_name(result) + ", not an array or iterable",
                  "", "Return an array, a generator, or any (async) iterable of rows.");
  }
  flush();
  pg_guard([&] {
    MemoryContextDelete(rowcxt);
    rsi->returnMode = SFRM_Materialize;
    rsi->setResult = store;
    rsi->setDesc = desc;
  });
}

Datum result_datum(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                   const FunctionInfo& fi,
                   const CallShape& shape, v8::Local<v8::Value> result, bool* isnull) {
  if (shape.ret_row != nullptr) {
    if (result->IsNullOrUndefined()) {
      *isnull = true;
      return 0;
    }
    const RowConv& rc = *shape.ret_row;
    // A procedure's single OUT/INOUT parameter (its result is always a row): a value that is no
    // row object is that parameter's value.
    if (fi.kind == FnKind::kProcedure && rc.natts() == 1 && rc.cols[0] != nullptr &&
        !(result->IsObject() && !result->IsArray() && !result->IsDate() &&
          !result->IsArrayBufferView() && !result->IsFunction())) {
      bool null = false;
      Datum v = from_js(iso, ctx, *rc.cols[0], result, &null);
      Datum d = 0;
      pg_guard([&] { d = HeapTupleGetDatum(heap_form_tuple(rc.desc, &v, &null)); });
      *isnull = false;
      return d;
    }
    // Read like a set's rows: the realm's reader for this row type, no names made per call.
    std::vector<Datum> values(rc.natts());
    std::vector<char> nulls(rc.natts());
    bool* nb = reinterpret_cast<bool*>(nulls.data());
    row_values_from_js_in_realm(iso, ctx, realm, rc, result, values.data(), nb);
    Datum d = 0;
    pg_guard([&] {
      d = HeapTupleGetDatum(heap_form_tuple(rc.desc, values.data(), nb));
      if (OidIsValid(shape.ret_domain))
        domain_check(d, false, shape.ret_domain, &shape.ret_domain_extra, CurrentMemoryContext);
    });
    *isnull = false;
    return d;
  }
  result = unwrap_single_out(iso, ctx, fi, *shape.ret_conv, result);
  return from_js(iso, ctx, *shape.ret_conv, result, isnull);
}

// ---- triggers --------------------------------------------------------------------------------

namespace {

// The RowConv of the trigger's table (kept per table by the function entry, renewed when the
// table's row type changes).
const RowConv& trigger_row(FunctionInfo& fi, TriggerData* td) {
  Oid reltype = td->tg_relation->rd_rel->reltype;
  LocalTransactionId lxid = MyProc->lxid;
  CommandId cid = GetCurrentCommandId(false);
  for (auto& rc : fi.trigger_rows)
    if (rc->typid == reltype) {
      if (rc->valid_lxid == lxid && rc->valid_cid == cid) return *rc;
      if (!row_conv_current(*rc, reltype, -1)) {
        std::unique_ptr<RowConv> fresh = row_conv_for_type(reltype, -1);
        fresh->what = rc->what;
        retire_row_conv(std::move(rc));
        rc = std::move(fresh);
      }
      rc->valid_lxid = lxid;
      rc->valid_cid = cid;
      return *rc;
    }
  std::string what;
  pg_guard([&] {
    what = std::string("table ") +
           quote_qualified_identifier(get_namespace_name(RelationGetNamespace(td->tg_relation)),
                                      RelationGetRelationName(td->tg_relation));
  });
  auto rc = row_conv_for_type(reltype, -1);
  rc->what = what;
  if (fi.trigger_rows.size() >= 16) {
    retire_row_conv(std::move(fi.trigger_rows.front()));
    fi.trigger_rows.erase(fi.trigger_rows.begin());
  }
  fi.trigger_rows.push_back(std::move(rc));
  return *fi.trigger_rows.back();
}

v8::Local<v8::Value> trigger_tuple(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                                   const RowConv& rc, TriggerData* td, HeapTuple tup,
                                   RowOrigin* origin = nullptr) {
  if (tup == nullptr) return v8::Null(iso);
  // Deformed with the relation's descriptor: it knows the values of columns added later with a
  // default (missing attributes), which a copy of the row type does not.
  TupleDesc desc = RelationGetDescr(td->tg_relation);
  int n = desc->natts;
  constexpr int kInline = 32;
  Datum inline_values[kInline];
  bool inline_nulls[kInline];
  std::vector<Datum> heap_values;
  std::vector<char> heap_nulls;
  Datum* values = inline_values;
  bool* nulls = inline_nulls;
  if (n > kInline) {
    heap_values.resize(n);
    heap_nulls.resize(n);
    values = heap_values.data();
    nulls = reinterpret_cast<bool*>(heap_nulls.data());
  }
  pg_guard([&] { heap_deform_tuple(tup, desc, values, nulls); });
  if (origin == nullptr) return row_to_js_in_realm(iso, ctx, realm, rc, values, nulls);
  v8::Local<v8::Value> row = row_to_js_in_realm(iso, ctx, realm, rc, values, nulls, &origin->js);
  origin->date_ms.assign(origin->js.size(), std::nan(""));
  for (size_t i = 0; i < origin->js.size(); i++)
    if (!origin->js[i].IsEmpty() && origin->js[i]->IsDate())
      origin->date_ms[i] = origin->js[i].As<v8::Date>()->ValueOf();
  return row;
}

void check_same_natts(const RowConv& rc, TriggerData* td) {
  if (RelationGetDescr(td->tg_relation)->natts != rc.natts())
    throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                  "the row type of " + rc.what + " changed during the statement");
}

}  // namespace

void trigger_call_args(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                       FunctionInfo& fi, TriggerData* td, v8::Local<v8::Value>* out,
                       RowOrigin* new_origin) {
  TriggerEvent ev = td->tg_event;
  bool row_level = TRIGGER_FIRED_FOR_ROW(ev);
  RowConv& rc = const_cast<RowConv&>(trigger_row(fi, td));
  check_same_natts(rc, td);
  v8::Local<v8::Value> new_row = v8::Null(iso), old_row = v8::Null(iso);
  if (row_level) {
    if (TRIGGER_FIRED_BY_INSERT(ev)) {
      new_row = trigger_tuple(iso, ctx, realm, rc, td, td->tg_trigtuple, new_origin);
    } else if (TRIGGER_FIRED_BY_UPDATE(ev)) {
      old_row = trigger_tuple(iso, ctx, realm, rc, td, td->tg_trigtuple);
      new_row = trigger_tuple(iso, ctx, realm, rc, td, td->tg_newtuple, new_origin);
    } else if (TRIGGER_FIRED_BY_DELETE(ev)) {
      old_row = trigger_tuple(iso, ctx, realm, rc, td, td->tg_trigtuple);
    }
  }
  // op | when << 2 | level << 4 (the invoker names them: see make_invoker).
  int op = TRIGGER_FIRED_BY_INSERT(ev) ? 0 : TRIGGER_FIRED_BY_UPDATE(ev) ? 1
           : TRIGGER_FIRED_BY_DELETE(ev) ? 2 : 3;
  int when = TRIGGER_FIRED_BEFORE(ev) ? 0 : TRIGGER_FIRED_AFTER(ev) ? 1 : 2;
  Oid nsp = RelationGetNamespace(td->tg_relation);
  if (rc.rel_nsp != nsp) {
    pg_guard([&] {
      const char* name = get_namespace_name(nsp);
      rc.rel_schema = name ? name : "";
    });
    rc.rel_nsp = nsp;
  }
  const char* table = RelationGetRelationName(td->tg_relation);
  const char* tgname = td->tg_trigger->tgname;
  out[0] = new_row;
  out[1] = old_row;
  out[2] = v8::Integer::New(iso, op | when << 2 | (row_level ? 0 : 1) << 4);
  out[3] = js_string(iso, tgname, static_cast<int>(strlen(tgname)));
  out[4] = js_string(iso, table, static_cast<int>(strlen(table)));
  out[5] = js_string(iso, rc.rel_schema);
  out[6] = v8::Integer::NewFromUnsigned(iso, RelationGetRelid(td->tg_relation));
  if (td->tg_trigger->tgnargs == 0) {
    out[7] = v8::Undefined(iso);
  } else {
    v8::Local<v8::Array> args = v8::Array::New(iso, td->tg_trigger->tgnargs);
    for (int i = 0; i < td->tg_trigger->tgnargs; i++) {
      const char* a = td->tg_trigger->tgargs[i];
      if (args->CreateDataProperty(ctx, i, js_string(iso, a, static_cast<int>(strlen(a))))
              .IsNothing())
        throw JsException();
    }
    out[7] = args;
  }
}

Datum trigger_result(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm, FunctionInfo& fi,
                     TriggerData* td, v8::Local<v8::Value> result, RowOrigin* new_origin) {
  TriggerEvent ev = td->tg_event;
  // What AFTER and statement-level triggers return is ignored.
  if (!TRIGGER_FIRED_FOR_ROW(ev) || TRIGGER_FIRED_AFTER(ev)) return PointerGetDatum(nullptr);
  HeapTuple keep = TRIGGER_FIRED_BY_UPDATE(ev) ? td->tg_newtuple : td->tg_trigtuple;
  if (result->IsUndefined()) return PointerGetDatum(keep);
  if (result->IsNull()) return PointerGetDatum(nullptr);
  // DELETE: any row means "go ahead" (there is nothing to store).
  if (TRIGGER_FIRED_BY_DELETE(ev)) return PointerGetDatum(keep);
  const RowConv& rc = trigger_row(fi, td);
  check_same_natts(rc, td);
  TupleDesc desc = RelationGetDescr(td->tg_relation);
  int n = desc->natts;
  std::vector<Datum> values(n);
  std::vector<char> nulls(n);
  bool* nb = reinterpret_cast<bool*>(nulls.data());
  std::vector<Datum> orig_values(n);
  std::vector<char> orig_nulls(n);
  bool use_origin = new_origin != nullptr && !new_origin->js.empty() && keep != nullptr;
  if (use_origin) {
    pg_guard([&] {
      heap_deform_tuple(keep, desc, orig_values.data(), reinterpret_cast<bool*>(orig_nulls.data()));
    });
    new_origin->values = orig_values.data();
    new_origin->nulls = reinterpret_cast<bool*>(orig_nulls.data());
  }
  try {
    row_values_from_js_in_realm(iso, ctx, realm, rc, result, values.data(), nb,
                                use_origin ? new_origin : nullptr);
  } catch (const PgError& e) {
    throw e.with_prefix("trigger function " + fi.qualified + " returned a row that does not fit " +
                        rc.what + ": ");
  }
  HeapTuple tup = nullptr;
  pg_guard([&] { tup = heap_form_tuple(desc, values.data(), nb); });
  return PointerGetDatum(tup);
}

v8::Local<v8::Value> event_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                 EventTriggerData* ev) {
  v8::Local<v8::Object> e = v8::Object::New(iso);
  const char* event = ev->event ? ev->event : "";
  const char* tag = GetCommandTagName(ev->tag);
  if (e->CreateDataProperty(ctx, js_name(iso, "event"),
                            js_string(iso, event, static_cast<int>(strlen(event))))
          .IsNothing() ||
      e->CreateDataProperty(ctx, js_name(iso, "tag"),
                            js_string(iso, tag, static_cast<int>(strlen(tag))))
          .IsNothing())
    throw JsException();
  return e;
}

// ---- window functions ------------------------------------------------------------------------

namespace {

// ctx.window.memory objects, by partition: a partition's local memory (zeroed by the executor
// when the partition starts) holds its serial number here.
struct WindowMemory {
  uint64 id;
  const Realm* realm;
  v8::Global<v8::Object> obj;
};
std::vector<WindowMemory*>* window_memories = nullptr;
uint64 window_serial = 0;
constexpr size_t kWindowMemories = 64;

// The running window call a ctx.window native was given, or an exception for JS.
CallFrame* window_frame(const v8::FunctionCallbackInfo<v8::Value>& info) {
  CallFrame* f = current_frame;
  if (f == nullptr || f->winobj == nullptr || !info[0]->IsNumber() ||
      static_cast<double>(f->token) != info[0].As<v8::Number>()->Value())
    throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                  "ctx.window was used outside its window function call", "",
                  "Use ctx.window only while the call that received it runs.");
  return f;
}

template <typename F>
void window_native(const v8::FunctionCallbackInfo<v8::Value>& info, F&& body) {
  v8::Isolate* iso = info.GetIsolate();
  v8::HandleScope scope(iso);
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  native_guard(iso, ctx, [&] { body(iso, ctx, window_frame(info)); });
}

int64 int_arg(v8::Local<v8::Context> ctx, v8::Local<v8::Value> v, const char* what) {
  if (v->IsUndefined()) return 0;
  double d = 0;
  if (!v->IsNumber() || !v->NumberValue(ctx).To(&d) || !std::isfinite(d) || d != std::trunc(d) ||
      std::fabs(d) > 9007199254740991.0)
    throw PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                  std::string("ctx.window: ") + what + " must be an integer");
  return static_cast<int64>(d);
}

}  // namespace

v8::Local<v8::Value> window_memory(v8::Isolate* iso, v8::Local<v8::Context> ctx, const Realm* realm,
                                   WindowObject winobj) {
  (void)ctx;
  uint64* slot = nullptr;
  pg_guard([&] { slot = static_cast<uint64*>(WinGetPartitionLocalMemory(winobj, sizeof(uint64))); });
  if (window_memories == nullptr) window_memories = new std::vector<WindowMemory*>();
  auto& v = *window_memories;
  if (*slot != 0)
    for (size_t i = 0; i < v.size(); i++)
      if (v[i]->id == *slot && v[i]->realm == realm) return v[i]->obj.Get(iso);
  *slot = ++window_serial;
  if (v.size() >= kWindowMemories) {
    delete v.front();
    v.erase(v.begin());
  }
  v8::Local<v8::Object> obj = v8::Object::New(iso);
  v.push_back(new WindowMemory{*slot, realm, v8::Global<v8::Object>(iso, obj)});
  return obj;
}

void forget_window_memory(const Realm* realm) {
  if (window_memories == nullptr) return;
  auto& v = *window_memories;
  for (size_t i = 0; i < v.size();) {
    if (realm == nullptr || v[i]->realm == realm) {
      delete v[i];
      v.erase(v.begin() + static_cast<long>(i));
    } else {
      i++;
    }
  }
}

void window_row_count_callback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  window_native(info, [&](v8::Isolate* iso, v8::Local<v8::Context>, CallFrame* f) {
    int64 n = 0;
    pg_guard([&] { n = WinGetPartitionRowCount(f->winobj); });
    info.GetReturnValue().Set(v8::Number::New(iso, static_cast<double>(n)));
  });
}

void window_value_callback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  window_native(info, [&](v8::Isolate* iso, v8::Local<v8::Context> ctx, CallFrame* f) {
    bool in_frame = info[1]->IsTrue();
    int argno = -1;
    v8::Local<v8::Value> a = info[2];
    if (a->IsString()) {
      std::string name = utf8(iso, a);
      for (size_t i = 0; i < f->fi->arg_names.size(); i++)
        if (f->fi->arg_names[i] == name) argno = static_cast<int>(i);
      if (argno < 0)
        throw PgError(ERRCODE_UNDEFINED_PARAMETER,
                      "ctx.window: plts function " + f->fi->qualified + " has no argument \"" +
                          name + "\"");
    } else {
      argno = static_cast<int>(int_arg(ctx, a, "the argument index"));
    }
    if (argno < 0 || argno >= f->nargs)
      throw PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                    "ctx.window: argument index " + std::to_string(argno) +
                        " is out of range (the function has " + std::to_string(f->nargs) +
                        " arguments)");
    int64 offset = int_arg(ctx, info[3], "offset");
    int seek = WINDOW_SEEK_CURRENT;
    if (!info[4]->IsUndefined()) {
      std::string s = info[4]->IsString() ? utf8(iso, info[4]) : "";
      if (s == "current")
        seek = WINDOW_SEEK_CURRENT;
      else if (s == "head")
        seek = WINDOW_SEEK_HEAD;
      else if (s == "tail")
        seek = WINDOW_SEEK_TAIL;
      else
        throw PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                      "ctx.window: seek must be 'current', 'head' or 'tail'");
    }
    if (offset < INT32_MIN || offset > INT32_MAX) {
      info.GetReturnValue().SetUndefined();
      return;
    }
    bool isnull = false, isout = false;
    Datum d = 0;
    pg_guard([&] {
      d = in_frame ? WinGetFuncArgInFrame(f->winobj, argno, static_cast<int>(offset), seek, false,
                                          &isnull, &isout)
                   : WinGetFuncArgInPartition(f->winobj, argno, static_cast<int>(offset), seek,
                                              false, &isnull, &isout);
    });
    if (isout) {
      info.GetReturnValue().SetUndefined();
      return;
    }
    info.GetReturnValue().Set(to_js(iso, ctx, *f->shape->arg_conv[argno], d, isnull));
  });
}

void window_peers_callback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  window_native(info, [&](v8::Isolate* iso, v8::Local<v8::Context> ctx, CallFrame* f) {
    int64 a = int_arg(ctx, info[1], "position"), b = int_arg(ctx, info[2], "position");
    int64 n = 0;
    pg_guard([&] { n = WinGetPartitionRowCount(f->winobj); });
    if (a < 0 || b < 0 || a >= n || b >= n)
      throw PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                    "ctx.window.peers: positions must be within the partition (0 to " +
                        std::to_string(n - 1) + ")");
    bool peers = false;
    pg_guard([&] { peers = WinRowsArePeers(f->winobj, a, b); });
    info.GetReturnValue().Set(v8::Boolean::New(iso, peers));
  });
}

void window_mark_callback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  window_native(info, [&](v8::Isolate*, v8::Local<v8::Context> ctx, CallFrame* f) {
    int64 pos = int_arg(ctx, info[1], "position");
    pg_guard([&] { WinSetMarkPosition(f->winobj, pos); });
  });
}

}  // namespace plts
