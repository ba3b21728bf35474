#include "extensions/plts/realm.h"

#include <unordered_map>

#include "extensions/plts/convert.h"
#include "extensions/plts/db_bridge.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/modules.h"

extern "C" {
#include "utils/datetime.h"
#include "utils/timestamp.h"
}

namespace plts {

using pgx::PgError;

namespace {

std::unordered_map<Oid, Realm*>* realms = nullptr;
Realm* last_realm = nullptr;  // the realm of the previous call: usually the next one's too

v8::Local<v8::Object> make_db(v8::Isolate* iso, v8::Local<v8::Context> ctx, DbMode mode) {
  v8::Local<v8::Object> db = v8::Object::New(iso);
  v8::Local<v8::Value> data = v8::Integer::New(iso, static_cast<int>(mode));
  auto add = [&](const char* name, v8::FunctionCallback cb) {
    v8::Local<v8::Function> f =
        v8::Function::New(ctx, cb, data, 1, v8::ConstructorBehavior::kThrow).ToLocalChecked();
    f->SetName(js_name(iso, name));
    ignore_result(db->CreateDataProperty(ctx, js_name(iso, name), f));
  };
  ignore_result(db->CreateDataProperty(ctx, js_name(iso, "mode"),
                                       js_name(iso, mode == DbMode::kReadOnly ? "ro" : "rw")));
  add("query", db_query_callback);
  add("exec", db_exec_callback);
  ignore_result(db->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen));
  return db;
}

Realm* create_realm(v8::Isolate* iso, Oid role) {
  auto* r = new Realm();
  r->role = role;
  r->isolate_gen = isolate_generation();
  v8::Local<v8::Context> ctx = v8::Context::New(iso);
  v8::Context::Scope scope(ctx);
  // Lockdown: nothing beyond ECMAScript built-ins. Shared memory and blocking waits go too.
  v8::Local<v8::Object> global = ctx->Global();
  for (const char* name : {"SharedArrayBuffer", "Atomics"})
    ignore_result(global->Delete(ctx, js_name(iso, name)));
  v8::Local<v8::ArrayBuffer> flag_buf = v8::ArrayBuffer::New(iso, 1);
  r->result_flag_store = flag_buf->GetBackingStore();
  r->result_flag = static_cast<const volatile uint8_t*>(r->result_flag_store->Data());
  v8::Local<v8::Value> kit_parts[1] = {v8::Uint8Array::New(flag_buf, 0, 1)};
  v8::Local<v8::Value> kit;
  v8::Local<v8::Script> kit_script;
  const char* kit_src =
      "(function (flag) { 'use strict'; return [JSON.stringify, Object.getPrototypeOf, "
      "Object.prototype, Array.prototype, flag]; })";
  if (!v8::Script::Compile(ctx, js_string(iso, kit_src, static_cast<int>(strlen(kit_src))))
           .ToLocal(&kit_script) ||
      !kit_script->Run(ctx).ToLocal(&kit) ||
      !kit.As<v8::Function>()->Call(ctx, v8::Undefined(iso), 1, kit_parts).ToLocal(&kit) ||
      !kit->IsArray())
    throw JsException();
  r->result_kit.Reset(iso, kit.As<v8::Array>());
  r->db_ro.Reset(iso, make_db(iso, ctx, DbMode::kReadOnly));
  r->db_rw.Reset(iso, make_db(iso, ctx, DbMode::kReadWrite));
  r->context.Reset(iso, ctx);
  return r;
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

int realm_count() { return realms ? static_cast<int>(realms->size()) : 0; }

void drop_realms() {
  if (realms == nullptr) return;
  for (auto& [role, r] : *realms) delete r;  // Globals reset while the isolate still lives
  realms->clear();
  last_realm = nullptr;
}

void drain_microtasks(v8::Isolate* iso) { iso->PerformMicrotaskCheckpoint(); }

namespace {

// Builds the function that makes a call's ctx and calls the export: plain JavaScript, so that V8
// creates ctx (and ctx.args, ctx.argv) from object literals with stable shapes at JIT speed.
//   (now, a0, a1, ...) => fn({ args: { name0: a0, ... } | a0, argv: [a0, ...], fn: meta, db, now })
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
  std::string call = "fn({ args: " + args + ", argv: [" + argv + "], fn: meta, db: db, now: now })";
  // A function returning jsonb gets its plain objects and arrays stringified right here, in JIT
  // code, instead of by a second call into V8 from C++ (see Realm::result_kit).
  std::string body =
      fi.ret_conv->kind == TypeKind::kJsonb
          ? "const r = " + call +
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
          : "return " + call + ";";
  std::string src =
      "(function (fn, meta, db, kit) { 'use strict';\n"
      "  const stringify = kit[0], getProto = kit[1], OP = kit[2], AP = kit[3], flag = kit[4];\n"
      "  return function (now" +
      params + ") {\n    " + body + "\n  };\n})";
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> factory, invoker;
  bool ro = fi.mode == DbMode::kReadOnly || is_query;
  v8::Local<v8::Value> factory_args[4] = {fn, meta, (ro ? realm.db_ro : realm.db_rw).Get(iso),
                                          realm.result_kit.Get(iso)};
  v8::ScriptOrigin origin(iso, js_name(iso, "plts:invoke"));
  if (!v8::Script::Compile(ctx, js_string(iso, src), &origin).ToLocal(&script) ||
      !script->Run(ctx).ToLocal(&factory) ||
      !factory.As<v8::Function>()->Call(ctx, v8::Undefined(iso), 4, factory_args).ToLocal(&invoker))
    throw JsException();
  return invoker.As<v8::Function>();
}

}  // namespace

v8::Local<v8::String> transaction_now(v8::Isolate* iso, v8::Local<v8::Context> ctx) {
  static TimestampTz cached_ts = 0;
  static unsigned cached_gen = 0;
  static v8::Global<v8::String>* cached = nullptr;
  TimestampTz ts = GetCurrentTransactionStartTimestamp();
  if (cached != nullptr && cached_ts == ts && cached_gen == isolate_generation())
    return cached->Get(iso);
  // ISO 8601 in UTC with milliseconds, as Date.prototype.toISOString writes it. Every statement of
  // an autocommit session is a new transaction: the date part is kept per day and the time of day
  // is written digit by digit (timestamp2tm + snprintf were most of a warm call's plts overhead).
  static int64 cached_day = PG_INT64_MIN;
  static char day_text[16];  // "YYYY-MM-DDT"
  static bool day_valid = false;
  char buf[32];
  int n = 0;
  if (!TIMESTAMP_NOT_FINITE(ts)) {
    int64 day = ts / USECS_PER_DAY;
    int64 time_of_day = ts - day * USECS_PER_DAY;
    if (time_of_day < 0) {
      time_of_day += USECS_PER_DAY;
      day -= 1;
    }
    if (day != cached_day) {
      int year = 0, month = 0, mday = 0;
      j2date(static_cast<int>(day + POSTGRES_EPOCH_JDATE), &year, &month, &mday);
      day_valid = year > 0 && year <= 9999;
      if (day_valid) snprintf(day_text, sizeof day_text, "%04d-%02d-%02dT", year, month, mday);
      cached_day = day;
    }
    if (day_valid) {
      memcpy(buf, day_text, 11);
      int64 ms = time_of_day / 1000;
      auto two = [&](int pos, int v) {
        buf[pos] = static_cast<char>('0' + v / 10);
        buf[pos + 1] = static_cast<char>('0' + v % 10);
      };
      two(11, static_cast<int>(ms / 3600000));
      buf[13] = ':';
      two(14, static_cast<int>(ms / 60000 % 60));
      buf[16] = ':';
      two(17, static_cast<int>(ms / 1000 % 60));
      buf[19] = '.';
      int milli = static_cast<int>(ms % 1000);
      buf[20] = static_cast<char>('0' + milli / 100);
      two(21, milli % 100);
      buf[23] = 'Z';
      n = 24;
    }
  }
  if (n == 0) n = snprintf(buf, sizeof buf, "invalid");
  v8::Local<v8::String> text = js_string(iso, buf, n);
  (void)ctx;
  // A handle into a discarded isolate is abandoned, never reset.
  if (cached == nullptr || cached_gen != isolate_generation())
    cached = new v8::Global<v8::String>();
  cached->Reset(iso, text);
  cached_ts = ts;
  cached_gen = isolate_generation();
  return text;
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
    if (e.edata() != nullptr || !e.context().empty()) throw;
    throw PgError(e.sqlerrcode(), e.message(), e.detail(), e.hint(),
                  "plts function " + fi.qualified + " (load)");
  }
  v8::Local<v8::Value> def;
  if (!ns->Get(ctx, js_string(iso, fi.export_name)).ToLocal(&def)) throw JsException();
  if (!def->IsFunction()) {
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
