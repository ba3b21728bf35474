#include "extensions/plts/realm.h"

#include <unordered_map>

#include "extensions/plts/convert.h"
#include "extensions/plts/db_bridge.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/modules.h"

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

std::string export_kind(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v) {
  if (!v->IsFunction()) return "value";
  v8::TryCatch tc(iso);
  v8::Local<v8::Value> kind;
  if (v.As<v8::Object>()->Get(ctx, str(iso, "__stopgap_kind")).ToLocal(&kind) && kind->IsString()) {
    std::string k = utf8(iso, kind);
    if (k == "query" || k == "mutation") return k;
  }
  return "function";
}

v8::Local<v8::Function> function_in_realm(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                          Realm& realm, FunctionInfo& fi,
                                          v8::Local<v8::Object>* fn_meta, bool* is_query) {
  unsigned gen = isolate_generation();
  for (auto& l : fi.loaded) {
    if (l->realm == &realm && l->isolate_gen == gen) {
      *fn_meta = l->fn_meta.Get(iso);
      *is_query = l->query;
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
  ignore_result(meta->CreateDataProperty(ctx, str(iso, "oid"), v8::Integer::NewFromUnsigned(iso, fi.oid)));
  ignore_result(meta->CreateDataProperty(ctx, str(iso, "schema"), js_string(iso, fi.schema)));
  ignore_result(meta->CreateDataProperty(ctx, str(iso, "name"), js_string(iso, fi.name)));
  ignore_result(meta->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen));
  auto l = std::make_unique<FunctionInfo::Loaded>();
  l->realm = &realm;
  l->isolate_gen = gen;
  l->fn.Reset(iso, def.As<v8::Function>());
  l->fn_meta.Reset(iso, meta);
  l->query = export_kind(iso, ctx, def) == "query";
  *is_query = l->query;
  fi.loaded.push_back(std::move(l));
  *fn_meta = meta;
  return def.As<v8::Function>();
}

}  // namespace plts
