#include "extensions/plts/realm.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "extensions/plts/console.h"
#include "extensions/plts/convert.h"
#include "extensions/plts/db_bridge.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/modules.h"
#include "extensions/plts/shapes.h"
#include "extensions/plts/web_globals.h"
#include "db_kit_js.h"
#include "invoker_prelude_js.h"

extern "C" {
#include "utils/timestamp.h"
}

namespace plts {

using pgx::PgError;

namespace {
uint64_t realm_serial = 0;
}  // namespace

uint64_t next_realm_id() { return ++realm_serial; }

// Zeroed memory of ours, not the ArrayBuffer allocator's: a full plts.max_arraybuffer_mb budget
// cannot make what plts needs fail (V8 ends the process when ArrayBuffer::New cannot allocate).
std::shared_ptr<v8::BackingStore> own_backing_store(size_t size) {
  void* mem = calloc(1, size);
  if (mem == nullptr) throw std::bad_alloc();
  std::unique_ptr<v8::BackingStore> bs = v8::ArrayBuffer::NewBackingStore(
      mem, size, [](void* data, size_t, void*) { free(data); }, nullptr);
  return std::shared_ptr<v8::BackingStore>(std::move(bs));
}

namespace {

std::unordered_map<Oid, Realm*>* realms = nullptr;
Realm* last_realm = nullptr;  // the realm of the previous call: usually the next one's too

v8::Local<v8::Function> db_native(v8::Isolate* iso, v8::Local<v8::Context> ctx, DbMode mode,
                                  const char* name, v8::FunctionCallback cb) {
  v8::Local<v8::Value> data = v8::Integer::New(iso, static_cast<int>(mode));
  v8::Local<v8::Function> f =
      v8::Function::New(ctx, cb, data, 3, v8::ConstructorBehavior::kThrow).ToLocalChecked();
  f->SetName(js_name(iso, name));
  return f;
}

// Array.prototype.fill over more than kFillInBuiltin elements. V8's builtin fills a sparse
// (dictionary-mode) array or an array-like in a C++ loop that never checks for termination:
// `new Array(1e8).fill(1.5)` ran a minute past any limit. This loop does the same steps (the
// specification's, with `this` and the relative start and end) and stops when the call must,
// so heap exhaustion there is a 53200 like any other. Smaller fills take the builtin.
constexpr double kFillInBuiltin = 1 << 20;

double relative_index(v8::Local<v8::Context> ctx, v8::Local<v8::Value> v, double len, double dflt,
                      bool* ok) {
  if (v->IsUndefined()) return dflt;
  double rel = 0;
  if (!v->NumberValue(ctx).To(&rel)) {
    *ok = false;
    return 0;
  }
  rel = std::isnan(rel) ? 0 : std::trunc(rel);
  return rel < 0 ? std::max(len + rel, 0.0) : std::min(rel, len);
}

void array_fill(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Object> o;
  if (!info.This()->ToObject(ctx).ToLocal(&o)) return;
  v8::Local<v8::Value> len_v;
  double len = 0;
  if (!o->Get(ctx, js_name(iso, "length")).ToLocal(&len_v) || !len_v->NumberValue(ctx).To(&len))
    return;
  len = std::isnan(len) || len <= 0 ? 0 : std::min(std::trunc(len), 9007199254740991.0);
  // Data: [the builtin fill, Object.isExtensible], as they were before any user code ran.
  v8::Local<v8::Array> data = info.Data().As<v8::Array>();
  v8::Local<v8::Value> builtin, is_extensible, extensible;
  if (!data->Get(ctx, 0).ToLocal(&builtin) || !data->Get(ctx, 1).ToLocal(&is_extensible))
    return;
  v8::Local<v8::Value> target = o;
  if (len > kFillInBuiltin &&
      !is_extensible.As<v8::Function>()->Call(ctx, v8::Undefined(iso), 1, &target).ToLocal(&extensible))
    return;
  // Small fills, and frozen or sealed objects (whose errors the builtin reports), take the builtin.
  if (len <= kFillInBuiltin || !extensible->IsTrue()) {
    v8::Local<v8::Value> args[3] = {info[0], info[1], info[2]};
    v8::Local<v8::Value> r;
    if (builtin.As<v8::Function>()->Call(ctx, info.This(), 3, args).ToLocal(&r))
      info.GetReturnValue().Set(r);
    return;
  }
  bool ok = true;
  double k = relative_index(ctx, info[1], len, 0, &ok);
  double end = ok ? relative_index(ctx, info[2], len, len, &ok) : 0;
  if (!ok) return;
  StopPoll poll(iso);
  for (; k < end; k++) {
    try {
      poll.check();
    } catch (const JsException&) {
      return;  // termination is requested: it takes effect as soon as JavaScript resumes
    }
    v8::Maybe<bool> set = k <= 4294967294.0
                              ? o->Set(ctx, static_cast<uint32_t>(k), info[0])
                              : o->Set(ctx, v8::Number::New(iso, k), info[0]);
    if (set.IsNothing()) return;
  }
  info.GetReturnValue().Set(o);
}

void replace_array_fill(v8::Isolate* iso, v8::Local<v8::Context> ctx) {
  v8::Local<v8::Value> array, proto, fill, object, is_extensible;
  v8::Local<v8::Object> global = ctx->Global();
  if (!global->Get(ctx, js_name(iso, "Array")).ToLocal(&array) || !array->IsObject() ||
      !array.As<v8::Object>()->Get(ctx, js_name(iso, "prototype")).ToLocal(&proto) ||
      !proto->IsObject() || !proto.As<v8::Object>()->Get(ctx, js_name(iso, "fill")).ToLocal(&fill) ||
      !fill->IsFunction() || !global->Get(ctx, js_name(iso, "Object")).ToLocal(&object) ||
      !object->IsObject() ||
      !object.As<v8::Object>()->Get(ctx, js_name(iso, "isExtensible")).ToLocal(&is_extensible) ||
      !is_extensible->IsFunction())
    throw JsException();
  v8::Local<v8::Value> parts[2] = {fill, is_extensible};
  v8::Local<v8::Array> data = v8::Array::New(iso, parts, 2);
  v8::Local<v8::Function> f;
  if (!v8::Function::New(ctx, array_fill, data, 1, v8::ConstructorBehavior::kThrow).ToLocal(&f))
    throw JsException();
  f->SetName(js_name(iso, "fill"));
  if (proto.As<v8::Object>()
          ->DefineOwnProperty(ctx, js_name(iso, "fill"), f, v8::DontEnum)
          .IsNothing())
    throw JsException();
}

// The realm's db kit (db_kit.js), compiled on first use.
v8::Local<v8::Array> db_kit(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& r) {
  if (!r.db_kit.IsEmpty()) return r.db_kit.Get(iso);
  v8::Local<v8::Value> async_iterator = v8::Symbol::GetAsyncIterator(iso);
  v8::Local<v8::Value> args[9] = {
      db_native(iso, ctx, DbMode::kReadWrite, "db", db_op_callback),
      r.query_rw.Get(iso),
      r.exec_rw.Get(iso),
      r.txn.Get(iso),
      r.db_call_key.Get(iso),
      r.db_level_key.Get(iso),
      v8::Float64Array::New(v8::ArrayBuffer::New(iso, r.cell), 8, 1),
      async_iterator,
      r.db_methods.Get(iso)};
  v8::ScriptOrigin origin(iso, js_name(iso, "plts:db"));
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> factory, kit;
  if (!v8::Script::Compile(ctx, js_string(iso, kDbKitJs, sizeof(kDbKitJs) - 1), &origin)
           .ToLocal(&script) ||
      !script->Run(ctx).ToLocal(&factory) || !factory->IsFunction() ||
      !factory.As<v8::Function>()->Call(ctx, v8::Undefined(iso), 9, args).ToLocal(&kit) ||
      !kit->IsArray())
    throw JsException();
  r.db_kit.Reset(iso, kit.As<v8::Array>());
  return kit.As<v8::Array>();
}

// ctx.db.prepare/cursor/transaction/fn/notify: kit[i](this, ...arguments).
void db_method_stub(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::HandleScope scope(iso);
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Array> data = info.Data().As<v8::Array>();
  v8::Local<v8::Value> realm_ptr, index;
  if (!data->Get(ctx, 0).ToLocal(&realm_ptr) || !data->Get(ctx, 1).ToLocal(&index)) return;
  Realm& r = *static_cast<Realm*>(realm_ptr.As<v8::External>()->Value());
  v8::Local<v8::Array> kit;
  try {
    kit = db_kit(iso, ctx, r);
  } catch (const JsException&) {
    return;
  } catch (const std::bad_alloc&) {
    iso->ThrowException(v8::Exception::RangeError(js_name(iso, "out of memory")));
    return;
  }
  v8::Local<v8::Value> f;
  if (!kit->Get(ctx, index.As<v8::Uint32>()->Value()).ToLocal(&f) || !f->IsFunction()) return;
  v8::Local<v8::Value> args[4] = {info.This(), info[0], info[1], info[2]};
  v8::Local<v8::Value> result;
  if (f.As<v8::Function>()->Call(ctx, v8::Undefined(iso), 4, args).ToLocal(&result))
    info.GetReturnValue().Set(result);
}

void make_db_methods(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& r) {
  static const char* const kNames[] = {"prepare", "cursor", "transaction", "fn", "notify"};
  v8::Local<v8::Value> methods[7];
  v8::Local<v8::External> self = v8::External::New(iso, &r);
  for (int i = 0; i < 5; i++) {
    v8::Local<v8::Value> parts[2] = {self, v8::Integer::New(iso, i)};
    v8::Local<v8::Function> f;
    if (!v8::Function::New(ctx, db_method_stub, v8::Array::New(iso, parts, 2), 1,
                           v8::ConstructorBehavior::kThrow)
             .ToLocal(&f))
      throw JsException();
    f->SetName(js_name(iso, kNames[i]));
    methods[i] = f;
  }
  methods[5] = db_native(iso, ctx, DbMode::kReadOnly, "ident", db_ident_callback);
  methods[6] = db_native(iso, ctx, DbMode::kReadOnly, "literal", db_literal_callback);
  r.db_methods.Reset(iso, v8::Array::New(iso, methods, 7));
  r.db_call_key.Reset(iso, v8::Symbol::New(iso, js_name(iso, "plts.call")));
  r.db_level_key.Reset(iso, v8::Symbol::New(iso, js_name(iso, "plts.level")));
}

Realm* create_realm(v8::Isolate* iso, Oid role) {
  std::unique_ptr<Realm> r(new Realm());
  r->role = role;
  r->id = next_realm_id();
  r->isolate_gen = isolate_generation();
  r->microtasks = v8::MicrotaskQueue::New(iso, v8::MicrotasksPolicy::kExplicit);
  v8::Local<v8::Context> ctx = v8::Context::New(iso, nullptr, v8::MaybeLocal<v8::ObjectTemplate>(),
                                                v8::MaybeLocal<v8::Value>(),
                                                v8::DeserializeInternalFieldsCallback(),
                                                r->microtasks.get());
  if (ctx.IsEmpty()) throw JsException();
  v8::Context::Scope scope(ctx);
  // Lockdown: nothing beyond ECMAScript built-ins. Shared memory and blocking waits go too.
  v8::Local<v8::Object> global = ctx->Global();
  for (const char* name : {"SharedArrayBuffer", "Atomics"})
    ignore_result(global->Delete(ctx, js_name(iso, name)));
  replace_array_fill(iso, ctx);
  install_web_globals(iso, ctx);  // lazy: built on first use
  install_logging(iso, ctx, *r);
  r->cell = own_backing_store(32);
  v8::Local<v8::ArrayBuffer> cell = v8::ArrayBuffer::New(iso, r->cell);
  r->clock = static_cast<double*>(r->cell->Data());
  r->token = static_cast<double*>(r->cell->Data()) + 1;
  r->result_flag = static_cast<const uint8_t*>(r->cell->Data()) + 16;
  // The intrinsics invokers use, read before any user code can replace them (no script: a first
  // compile in a fresh isolate costs ~0.5 ms).
  auto get = [&](v8::Local<v8::Value> holder, const char* name) {
    v8::Local<v8::Value> v;
    if (!holder->IsObject() || !holder.As<v8::Object>()->Get(ctx, js_name(iso, name)).ToLocal(&v))
      throw JsException();
    return v;
  };
  v8::Local<v8::Value> date = get(global, "Date");
  v8::Local<v8::Value> parts[] = {
      get(get(global, "JSON"), "stringify"),
      get(get(global, "Object"), "getPrototypeOf"),
      v8::Object::New(iso)->GetPrototype(),
      v8::Array::New(iso)->GetPrototype(),
      v8::Uint8Array::New(cell, 16, 1),
      v8::Float64Array::New(cell, 0, 1),
      get(get(date, "prototype"), "toISOString"),
      get(get(global, "Reflect"), "apply"),
      date,
      get(get(global, "Math"), "floor"),
      v8::Float64Array::New(cell, 8, 1),
  };
  v8::Local<v8::Array> kit = v8::Array::New(iso, parts, sizeof parts / sizeof parts[0]);
  r->kit.Reset(iso, kit);
  r->query_ro.Reset(iso, db_native(iso, ctx, DbMode::kReadOnly, "query", db_query_callback));
  r->exec_ro.Reset(iso, db_native(iso, ctx, DbMode::kReadOnly, "exec", db_exec_callback));
  r->query_rw.Reset(iso, db_native(iso, ctx, DbMode::kReadWrite, "query", db_query_callback));
  r->exec_rw.Reset(iso, db_native(iso, ctx, DbMode::kReadWrite, "exec", db_exec_callback));
  r->txn.Reset(iso, db_native(iso, ctx, DbMode::kReadWrite, "commit", db_txn_callback));
  v8::Local<v8::Value> window_fns[] = {
      db_native(iso, ctx, DbMode::kReadOnly, "rowCount", window_row_count_callback),
      db_native(iso, ctx, DbMode::kReadOnly, "value", window_value_callback),
      db_native(iso, ctx, DbMode::kReadOnly, "peers", window_peers_callback),
      db_native(iso, ctx, DbMode::kReadOnly, "setMark", window_mark_callback),
  };
  r->window_fns.Reset(iso, v8::Array::New(iso, window_fns, 4));
  make_db_methods(iso, ctx, *r);
  r->context.Reset(iso, ctx);
  return r.release();
}

}  // namespace

Realm& current_realm(v8::Isolate* iso) {
  if (realms == nullptr) realms = new std::unordered_map<Oid, Realm*>();
  Oid role = GetUserId();
  if (last_realm != nullptr && last_realm->role == role) return *last_realm;
  auto it = realms->find(role);
  if (it != realms->end()) return *(last_realm = it->second);
  Realm* r = create_realm(iso, role);
  (*realms)[role] = r;
  return *(last_realm = r);
}

Realm::~Realm() { delete nested; }

Realm* realm_of_context(v8::Isolate* iso, v8::Local<v8::Context> ctx) {
  (void)iso;
  for (Realm* r = last_realm; r != nullptr; r = r->nested)
    if (r->context == ctx) return r;
  if (realms == nullptr) return nullptr;
  for (auto& [role, top] : *realms)
    for (Realm* r = top; r != nullptr; r = r->nested)
      if (r->context == ctx) return r;
  return nullptr;
}

Realm& realm_for_new_call(v8::Isolate* iso) {
  Realm* r = &current_realm(iso);
  while (r->microtasks->IsRunningMicrotasks()) {
    if (r->nested == nullptr) r->nested = create_realm(iso, r->role);
    r = r->nested;
  }
  return *r;
}

int realm_count() {
  int n = 0;
  if (realms != nullptr)
    for (auto& [role, r] : *realms)
      for (Realm* x = r; x != nullptr; x = x->nested) n++;
  return n;
}

void drop_realms() {
  free_kept_statements();  // their statement objects die with the realms
  if (realms == nullptr) return;
  for (auto& [role, r] : *realms) delete r;  // Globals reset while the isolate still lives
  realms->clear();
  last_realm = nullptr;
}

void drain_microtasks(v8::Isolate* iso, Realm& realm) { realm.microtasks->PerformCheckpoint(iso); }

bool realm_in_use(const Realm* r) {
  for (; r != nullptr; r = r->nested)
    if (r->active > 0) return true;
  return false;
}

void forget_realm_functions(const Realm* r) {
  for (; r != nullptr; r = r->nested) drop_loaded_for_realm(r);
}

void collect_idle_realms(uint64_t now_serial, uint64_t keep_calls) {
  if (realms == nullptr) return;
  for (auto it = realms->begin(); it != realms->end();) {
    Realm* r = it->second;
    if (r != last_realm && now_serial - r->last_used > keep_calls && !realm_in_use(r)) {
      forget_realm_functions(r);
      delete r;
      it = realms->erase(it);
    } else {
      ++it;
    }
  }
}

void forget_module_everywhere(v8::Isolate* iso, const std::string& key) {
  if (realms == nullptr) return;
  v8::HandleScope handles(iso);
  for (auto& [role, r] : *realms)
    for (Realm* x = r; x != nullptr; x = x->nested) forget_module(iso, *x, key);
}

namespace {

// Builds the function that makes a call's ctx and calls the export: plain JavaScript, so that V8
// creates ctx (and ctx.args, ctx.argv) from object literals with stable shapes at JIT speed.
//   (a0, a1, ...) => fn({ args: { name0: a0, ... } | a0, argv: [a0, ...], fn: meta, db,
//                         now: nowOf(clock[0]), log })
// db is made per call: query/exec (and commit/rollback) close over the call's token; its other
// methods are the realm's shared natives (Realm::db_methods), which find the call through the
// token db keeps under Realm::db_call_key. log is the realm's frozen ctx.log.
v8::Local<v8::Function> make_invoker(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                                     const FunctionInfo& fi, v8::Local<v8::Function> fn,
                                     v8::Local<v8::Object> meta, bool is_query) {
  std::string params, args;
  for (size_t i = 0; i < fi.arg_names.size(); i++) {
    std::string a = "a" + std::to_string(i);
    params += ", " + a;
    args += (i ? ", " : "") + nlohmann::json(fi.arg_names[i]).dump() + ": " + a;
  }
  std::string argv = params.empty() ? "" : params.substr(2);
  args = fi.single_jsonb_args ? "a0" : "{" + args + "}";
  // What the executor hands a trigger, event trigger or window function call comes first.
  std::string extra_params, extra_fields;
  switch (fi.kind) {
    case FnKind::kTrigger:
      extra_params = "tn, to, tc, tname, ttab, tsch, trel, targs";
      extra_fields =
          ", trigger: { new: tn, old: to, op: TOPS[tc & 3], when: TWHEN[(tc >> 2) & 3], "
          "level: tc >> 4 ? 'STATEMENT' : 'ROW', name: tname, table: ttab, schema: tsch, "
          "relid: trel, args: targs === undefined ? [] : targs }";
      break;
    case FnKind::kEventTrigger:
      extra_params = "xo";
      extra_fields = ", event: xo";
      break;
    case FnKind::kWindow:
      extra_params = "wp, wm";
      extra_fields =
          ", window: { position: wp, memory: wm, rowCount: () => w[0](t), "
          "value: (a, o, s) => w[1](t, false, a, o, s), "
          "frameValue: (a, o, s) => w[1](t, true, a, o, s), "
          "peers: (p, q) => w[2](t, p, q), setMark: (p) => w[3](t, p) }";
      break;
    default:
      break;
  }
  std::string all_params =
      extra_params.empty() ? argv : argv.empty() ? extra_params : extra_params + ", " + argv;
  // Procedures and DO blocks may end the transaction (see db_txn_callback).
  // Functions get a shared stand-in that says why (2D000), as PL/pgSQL's COMMIT would.
  std::string txn = fi.kind == FnKind::kProcedure || fi.transient
                        ? ", commit: () => tx(t, false), rollback: () => tx(t, true)"
                        : ", commit: noCommit, rollback: noRollback";
  // ctx.db is made per call, bound to the call's token: kept past its call, it is dead.
  std::string call = "fn({ args: " + args + ", argv: [" + argv +
                     "], fn: meta, db: { mode: mode, query: (i, p, z) => q(t, i, p, z), "
                     "exec: (i, p, z) => x(t, i, p, z)" + txn +
                     ", prepare: dPrepare, cursor: dCursor, transaction: dTransaction, fn: dFn, "
                     "notify: dNotify, ident: dIdent, literal: dLiteral, [CALL]: t }, "
                     "now: clock[0] === lastT ? lastS : nowOf(clock[0]), log: lg" + extra_fields +
                     " })";
  // A function returning jsonb gets its plain objects and arrays stringified right here, in JIT
  // code, instead of by a second call into V8 from C++ (see Realm::kit).
  std::string body =
      invoker_stringifies_jsonb(fi)
          ? "const t = token[0], r = " + call +
                ";\n"
                "    if (typeof r === 'object' && r !== null) {\n"
                "      const p = getProto(r);\n"
                "      if (p === OP || p === AP) {\n"
                "        let t;\n"
                "        try { t = stringify(r); } catch (e) { flag[0] = 2; return r; }\n"
                "        if (typeof t === 'string') { flag[0] = 1; return t; }\n"
                "      }\n"
                "    }\n"
                "    flag[0] = 0; return r;"
          : "const t = token[0];\n    return " + call + ";";
  std::string src = "(function (fn, meta, q, x, mode, kit, tx, w, dm, CALL, lg) { 'use strict';\n" +
                    std::string(kInvokerPreludeJs, sizeof(kInvokerPreludeJs) - 1) +
                    "  const noCommit = () => tx(0, false), noRollback = () => tx(0, true);\n"
                    "  const dPrepare = dm[0], dCursor = dm[1], dTransaction = dm[2], dFn = dm[3], "
                    "dNotify = dm[4], dIdent = dm[5], dLiteral = dm[6];\n" +
                    (fi.kind == FnKind::kTrigger
                         ? "  const TOPS = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'], "
                           "TWHEN = ['BEFORE', 'AFTER', 'INSTEAD OF'];\n"
                         : "") +
                    "  return function (" + all_params + ") {\n    " + body + "\n  };\n})";
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> factory, invoker;
  bool ro = fi.mode == DbMode::kReadOnly || is_query;
  v8::Local<v8::Value> factory_args[11] = {
      fn,
      meta,
      (ro ? realm.query_ro : realm.query_rw).Get(iso),
      (ro ? realm.exec_ro : realm.exec_rw).Get(iso),
      js_name(iso, ro ? "ro" : "rw"),
      realm.kit.Get(iso),
      realm.txn.Get(iso),
      realm.window_fns.Get(iso),
      realm.db_methods.Get(iso),
      realm.db_call_key.Get(iso),
      realm.log.IsEmpty() ? v8::Undefined(iso).As<v8::Value>() : realm.log.Get(iso).As<v8::Value>()};
  v8::ScriptOrigin origin(iso, js_name(iso, "plts:invoke"));
  if (!v8::Script::Compile(ctx, js_string(iso, src), &origin).ToLocal(&script) ||
      !script->Run(ctx).ToLocal(&factory) ||
      !factory.As<v8::Function>()->Call(ctx, v8::Undefined(iso), 11, factory_args).ToLocal(&invoker))
    throw JsException();
  return invoker.As<v8::Function>();
}

}  // namespace

bool invoker_stringifies_jsonb(const FunctionInfo& fi) {
  return !fi.per_call && !fi.retset && fi.shape.ret_conv != nullptr &&
         fi.shape.ret_conv->kind == TypeKind::kJsonb && fi.single_out_name.empty();
}

double transaction_start_ms() {
  TimestampTz ts = GetCurrentTransactionStartTimestamp();
  // PostgreSQL counts microseconds from 2000-01-01, JavaScript milliseconds from 1970-01-01;
  // milliseconds round down, as toISOString's would.
  int64 ms = ts / 1000;
  if (ts % 1000 < 0) ms -= 1;
  return static_cast<double>(ms) +
         static_cast<double>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000.0;
}

std::string export_kind(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v) {
  if (!v->IsFunction()) return "value";
  v8::TryCatch tc(iso);
  v8::Local<v8::Value> kind;
  if (v.As<v8::Object>()->Get(ctx, js_name(iso, "__stopgap_kind")).ToLocal(&kind) && kind->IsString()) {
    std::string k = utf8(iso, kind);
    if (k == "query" || k == "mutation") return k;
  }
  return "function";
}

v8::Local<v8::Function> function_in_realm(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                          Realm& realm, FunctionInfo& fi, bool* is_query,
                                          const FunctionInfo::Loaded** loaded) {
  unsigned gen = isolate_generation();
  for (auto& l : fi.loaded) {
    if (l->realm == &realm && l->isolate_gen == gen) {
      *is_query = l->query;
      *loaded = l.get();
      return l->fn.Get(iso);
    }
  }
  ModuleSpec spec = module_spec_of(fi);
  v8::Local<v8::Object> ns;
  try {
    ns = load_module_graph(iso, ctx, realm, spec);
  } catch (const PgError& e) {
    if (e.from_postgres() || !e.context().empty()) throw;
    throw e.with_context("plts function " + fi.qualified + " (load)");
  }
  v8::Local<v8::Value> def;
  if (!ns->Get(ctx, js_string(iso, fi.export_name)).ToLocal(&def)) throw JsException();
  if (!def->IsFunction()) {
    // A DO block may be a script of statements: its module ran, there is nothing to call.
    if (fi.transient && def->IsUndefined()) {
      *loaded = nullptr;
      return v8::Local<v8::Function>();
    }
    if (fi.export_name == "default")
      throw PgError(ERRCODE_INVALID_FUNCTION_DEFINITION,
                    "plts function " + fi.qualified + " has no default export function", "",
                    "The body must be a module: export default (ctx) => { ... }");
    throw PgError(ERRCODE_INVALID_FUNCTION_DEFINITION,
                  "plts function " + fi.qualified + ": export \"" + fi.export_name + "\" of " +
                      fi.module_key + " is not a function");
  }
  v8::Local<v8::Object> meta = v8::Object::New(iso);
  ignore_result(
      meta->CreateDataProperty(ctx, js_name(iso, "oid"), v8::Integer::NewFromUnsigned(iso, fi.oid)));
  ignore_result(meta->CreateDataProperty(ctx, js_name(iso, "schema"), js_string(iso, fi.schema)));
  ignore_result(meta->CreateDataProperty(ctx, js_name(iso, "name"), js_string(iso, fi.name)));
  ignore_result(meta->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen));
  auto l = std::make_unique<FunctionInfo::Loaded>();
  l->realm = &realm;
  l->isolate_gen = gen;
  l->fn.Reset(iso, def.As<v8::Function>());
  l->query = export_kind(iso, ctx, def) == "query";
  l->invoke.Reset(iso, make_invoker(iso, ctx, realm, fi, def.As<v8::Function>(), meta, l->query));
  *is_query = l->query;
  fi.loaded.push_back(std::move(l));
  *loaded = fi.loaded.back().get();
  return def.As<v8::Function>();
}

}  // namespace plts
