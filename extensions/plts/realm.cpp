#include "extensions/plts/realm.h"

#include <unordered_map>

#include "extensions/plts/convert.h"
#include "extensions/plts/db_bridge.h"
#include "extensions/plts/engine.h"

extern "C" {
#include "utils/timestamp.h"
}

namespace plts {

using pgx::PgError;

namespace {

std::unordered_map<Oid, Realm*>* realms = nullptr;

v8::Local<v8::String> str(v8::Isolate* iso, const char* s) {
  return v8::String::NewFromUtf8(iso, s, v8::NewStringType::kInternalized).ToLocalChecked();
}

// ctx.now: the transaction's start time as an ISO string, computed on first access.
void now_getter(v8::Local<v8::Name>, const v8::PropertyCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  TimestampTz ts = GetCurrentTransactionStartTimestamp();
  double ms = static_cast<double>(ts) / 1000.0 + 946684800000.0;
  v8::Local<v8::Value> date;
  if (!v8::Date::New(ctx, ms).ToLocal(&date)) return;
  v8::Local<v8::Value> fn;
  if (!date.As<v8::Object>()->Get(ctx, str(iso, "toISOString")).ToLocal(&fn) || !fn->IsFunction()) return;
  v8::Local<v8::Value> iso_text;
  if (fn.As<v8::Function>()->Call(ctx, date, 0, nullptr).ToLocal(&iso_text))
    info.GetReturnValue().Set(iso_text);
}

v8::Local<v8::Object> make_db(v8::Isolate* iso, v8::Local<v8::Context> ctx, DbMode mode) {
  v8::Local<v8::Object> db = v8::Object::New(iso);
  v8::Local<v8::Value> data = v8::Integer::New(iso, static_cast<int>(mode));
  auto add = [&](const char* name, v8::FunctionCallback cb) {
    v8::Local<v8::Function> f =
        v8::Function::New(ctx, cb, data, 1, v8::ConstructorBehavior::kThrow).ToLocalChecked();
    f->SetName(str(iso, name));
    ignore_result(db->CreateDataProperty(ctx, str(iso, name), f));
  };
  ignore_result(db->CreateDataProperty(ctx, str(iso, "mode"),
                               str(iso, mode == DbMode::kReadOnly ? "ro" : "rw")));
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
  for (const char* name : {"SharedArrayBuffer", "Atomics"}) ignore_result(global->Delete(ctx, str(iso, name)));
  v8::Local<v8::ObjectTemplate> tmpl = v8::ObjectTemplate::New(iso);
  tmpl->SetLazyDataProperty(str(iso, "now"), now_getter);
  r->ctx_template.Reset(iso, tmpl);
  r->db_ro.Reset(iso, make_db(iso, ctx, DbMode::kReadOnly));
  r->db_rw.Reset(iso, make_db(iso, ctx, DbMode::kReadWrite));
  r->context.Reset(iso, ctx);
  return r;
}

v8::MaybeLocal<v8::Module> resolve_import(v8::Local<v8::Context> ctx, v8::Local<v8::String> spec,
                                          v8::Local<v8::FixedArray>, v8::Local<v8::Module>) {
  v8::Isolate* iso = ctx->GetIsolate();
  std::string s = utf8(iso, spec);
  std::string msg = "plts: cannot resolve import \"" + s + "\": imports are not supported";
  iso->ThrowException(v8::Exception::Error(js_string(iso, msg)));
  return {};
}

}  // namespace

Realm& current_realm(v8::Isolate* iso) {
  if (realms == nullptr) realms = new std::unordered_map<Oid, Realm*>();
  Oid role = GetUserId();
  auto it = realms->find(role);
  if (it != realms->end()) return *it->second;
  Realm* r = create_realm(iso, role);
  (*realms)[role] = r;
  return *r;
}

int realm_count() { return realms ? static_cast<int>(realms->size()) : 0; }

void drop_realms() {
  if (realms == nullptr) return;
  for (auto& [role, r] : *realms) delete r;  // Globals reset while the isolate still lives
  realms->clear();
}

void drain_microtasks(v8::Isolate* iso) { iso->PerformMicrotaskCheckpoint(); }

void check_module_syntax(v8::Isolate* iso, v8::Local<v8::Context> ctx, const std::string& source,
                         const ErrorSite& site) {
  v8::TryCatch tc(iso);
  v8::ScriptOrigin origin(iso, js_string(iso, site.qualified_name), 0, 0, false, -1,
                          v8::Local<v8::Value>(), false, false, true);
  v8::ScriptCompiler::Source src(js_string(iso, source), origin);
  v8::Local<v8::Module> module;
  if (!v8::ScriptCompiler::CompileModule(iso, &src).ToLocal(&module)) {
    if (tc.HasTerminated()) throw JsException();
    ErrorSite compile_site{site.qualified_name, Stage::kCompile};
    throw js_to_pg_error(iso, ctx, tc, compile_site);
  }
}

v8::Local<v8::Object> load_module(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                  const std::string& source, const ErrorSite& site) {
  v8::EscapableHandleScope scope(iso);
  v8::TryCatch tc(iso);
  v8::ScriptOrigin origin(iso, js_string(iso, site.qualified_name), 0, 0, false, -1,
                          v8::Local<v8::Value>(), false, false, true);
  v8::ScriptCompiler::Source src(js_string(iso, source), origin);
  v8::Local<v8::Module> module;
  ErrorSite compile_site{site.qualified_name, Stage::kCompile};
  ErrorSite load_site{site.qualified_name, Stage::kLoad};
  if (!v8::ScriptCompiler::CompileModule(iso, &src).ToLocal(&module)) {
    if (tc.HasTerminated()) throw JsException();
    throw js_to_pg_error(iso, ctx, tc, compile_site);
  }
  if (!module->InstantiateModule(ctx, resolve_import).FromMaybe(false)) {
    if (tc.HasTerminated()) throw JsException();
    throw js_to_pg_error(iso, ctx, tc, load_site);
  }
  v8::Local<v8::Value> result;
  if (!module->Evaluate(ctx).ToLocal(&result)) {
    if (tc.HasTerminated()) throw JsException();
    throw js_to_pg_error(iso, ctx, tc, load_site);
  }
  drain_microtasks(iso);
  if (tc.HasTerminated()) throw JsException();
  if (module->GetStatus() == v8::Module::kErrored) {
    throw js_value_to_pg_error(iso, ctx, module->GetException(), v8::Local<v8::Message>(), load_site);
  }
  if (result->IsPromise() && result.As<v8::Promise>()->State() == v8::Promise::kPending)
    throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                  "plts function " + site.qualified_name +
                      ": module evaluation did not finish (top-level await on a promise that never settles)");
  return scope.Escape(module->GetModuleNamespace().As<v8::Object>());
}

v8::Local<v8::Function> function_in_realm(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                          Realm& realm, FunctionInfo& fi,
                                          v8::Local<v8::Object>* fn_meta) {
  unsigned gen = isolate_generation();
  for (auto& l : fi.loaded) {
    if (l->realm == &realm && l->isolate_gen == gen) {
      *fn_meta = l->fn_meta.Get(iso);
      return l->fn.Get(iso);
    }
  }
  ErrorSite site{fi.qualified, Stage::kLoad};
  v8::Local<v8::Object> ns = load_module(iso, ctx, fi.source, site);
  v8::Local<v8::Value> def;
  if (!ns->Get(ctx, str(iso, "default")).ToLocal(&def)) throw JsException();
  if (!def->IsFunction())
    throw PgError(ERRCODE_INVALID_FUNCTION_DEFINITION,
                  "plts function " + fi.qualified + " has no default export function", "",
                  "The body must be a module: export default (ctx) => { ... }");
  v8::Local<v8::Object> meta = v8::Object::New(iso);
  ignore_result(meta->CreateDataProperty(ctx, str(iso, "oid"), v8::Integer::NewFromUnsigned(iso, fi.oid)));
  ignore_result(meta->CreateDataProperty(ctx, str(iso, "schema"), js_string(iso, fi.schema)));
  ignore_result(meta->CreateDataProperty(ctx, str(iso, "name"), js_string(iso, fi.name)));
  ignore_result(meta->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen));
  auto l = std::make_unique<FunctionInfo::Loaded>();
  l->realm = &realm;
  l->isolate_gen = gen;
  l->fn.Reset(iso, def.As<v8::Function>());
  l->fn_meta.Reset(iso, meta);
  fi.loaded.push_back(std::move(l));
  *fn_meta = meta;
  return def.As<v8::Function>();
}

}  // namespace plts
