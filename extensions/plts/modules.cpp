#include "extensions/plts/modules.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "common/error_boundary.h"
#include "extensions/plts/artifacts.h"
#include "extensions/plts/compiler/compiler.h"
#include "extensions/plts/convert.h"
#include "extensions/plts/function_cache.h"
#include "extensions/plts/parse/data_url.h"
#include "extensions/plts/parse/import_map.h"
#include "extensions/plts/parse/parse_error.h"
#include "extensions/plts/parse/stack_trace.h"
#include "extensions/plts/realm.h"
#include "extensions/plts/source_map.h"

namespace plts {

using pgx::PgError;

namespace {

// resource name -> source map; never destroyed.
std::unordered_map<std::string, SourceMap>* source_maps = nullptr;

void register_source_map(const std::string& name, const std::string& map) {
  if (map.empty()) return;
  if (source_maps == nullptr) source_maps = new std::unordered_map<std::string, SourceMap>();
  auto it = source_maps->find(name);
  if (it == source_maps->end() || it->second.text() != map) (*source_maps)[name] = SourceMap(map);
}

// ---- specifiers ----------------------------------------------------------------------------

std::string* runtime_source = nullptr;

const std::string& builtin_runtime() {
  if (runtime_source == nullptr) {
    std::string path = asset_dir() + "/stopgap-runtime.js";
    std::ifstream in(path, std::ios::binary);
    if (!in)
      throw PgError(ERRCODE_UNDEFINED_FILE,
                    "plts: the built-in @stopgap/runtime is missing (" + path + ")");
    std::ostringstream ss;
    ss << in.rdbuf();
    runtime_source = new std::string(ss.str());
  }
  return *runtime_source;
}

ModuleSpec data_module(const std::string& url) {
  std::string code;
  try {
    code = data_url_code(url);
  } catch (const ParseError& e) {
    throw PgError(ERRCODE_INVALID_PARAMETER_VALUE, e.message());
  }
  ModuleSpec s;
  s.key = "data:" + sha256_hex(url);
  s.name = "data:" + s.key.substr(5, 12);
  s.js = code;
  return s;
}

ModuleSpec artifact_module(const std::string& hash, const std::string& specifier) {
  std::optional<Artifact> a = find_artifact(hash);
  if (!a)
    throw PgError(ERRCODE_UNDEFINED_OBJECT,
                  "plts: artifact " + hash + " not found (imported as \"" + specifier + "\")");
  ModuleSpec s;
  s.key = hash;
  s.name = "plts+artifact:" + hash;
  s.js = a->compiled_js;
  s.source_map = a->source_map;
  s.import_map = artifact_import_map(*a, s.name);
  return s;
}

// The artifact a module instance was made from ("" for data: URLs, the runtime, DO blocks' code).
std::string artifact_of_key(const std::string& key) {
  std::string base = key.substr(0, key.find('#'));
  return base.rfind("sha256:", 0) == 0 ? base : std::string();
}

ModuleSpec resolve_specifier(const std::string& spec, const nlohmann::json& import_map,
                             const std::string& referrer, const std::string& referrer_key) {
  std::string target = spec;
  bool mapped = false;
  if (spec != "@stopgap/runtime" && spec.rfind("data:", 0) != 0 &&
      normalize_artifact_ref(spec).empty()) {
    // A key "<artifact hash> <specifier>" applies to imports of that artifact only (a scope, as
    // in the browser's import maps): stopgap maps a project's relative imports so, where the same
    // "./util" means another file in each directory.
    auto it = import_map.end();
    if (std::string scope = artifact_of_key(referrer_key); !scope.empty())
      it = import_map.find(scope + " " + spec);
    if (it == import_map.end()) it = import_map.find(spec);
    if (it == import_map.end() || !it->is_string())
      throw PgError(
          ERRCODE_UNDEFINED_OBJECT, "plts: cannot resolve import \"" + spec + "\" in " + referrer,
          "",
          "plts imports @stopgap/runtime, data: URLs, plts+artifact:sha256:... and names mapped "
          "by an import map; there is no filesystem or network resolution.");
    target = it->get<std::string>();
    mapped = true;
  }
  ModuleSpec s;
  if (target == "@stopgap/runtime") {
    s.key = "builtin:@stopgap/runtime";
    s.name = "@stopgap/runtime";
    s.js = builtin_runtime();
  } else if (target.rfind("data:", 0) == 0) {
    s = data_module(target);
  } else if (std::string h = normalize_artifact_ref(target); !h.empty()) {
    s = artifact_module(h, spec);
  } else {
    throw PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                  "plts: import map entry \"" + spec + "\" -> \"" + target +
                      "\" is not a plts+artifact:, sha256:, data: or @stopgap/runtime target");
  }
  (void)mapped;
  // Children see the import map they were reached through, overlaid with their own.
  nlohmann::json merged = import_map;
  for (auto& [k, v] : s.import_map.items()) merged[k] = v;
  s.import_map = merged;
  s.key = instance_key(s.key, s.js, s.import_map);
  return s;
}

// ---- the graph ----

}  // namespace

nlohmann::json artifact_import_map(const Artifact& a, const std::string& name) {
  // The source keeps the comment even where TypeScript dropped it from the output (a comment
  // above an erased declaration); JavaScript-only artifacts have only their code.
  nlohmann::json map = inline_import_map(a.source_ts, name);
  if (map.empty()) map = inline_import_map(a.compiled_js, name);
  return map;
}

std::string instance_key(const std::string& base, const std::string& js,
                         const nlohmann::json& import_map) {
  // A module instance is shared by everyone who resolves its imports the same way: the same code
  // under a different import map is a different instance.
  if (import_map.empty() || js.find("import") == std::string::npos) return base;
  return base + "#" + sha256_hex(import_map.dump()).substr(0, 16);
}

namespace {

// ---- the graph (continued)
// -----------------------------------------------------------------------------

struct Loader {
  v8::Isolate* iso;
  v8::Local<v8::Context> ctx;
  Realm& realm;
  std::vector<std::string> added;  // keys added by this load (removed again on failure)
  std::vector<v8::Global<v8::Module>> uncached;
};

Loader* current_loader = nullptr;

v8::ScriptOrigin module_origin(v8::Isolate* iso, const std::string& name) {
  return v8::ScriptOrigin(iso, js_string(iso, name), 0, 0, false, -1, v8::Local<v8::Value>(), false,
                          false, true);
}

v8::Local<v8::Module> compile(Loader& L, const ModuleSpec& spec) {
  v8::TryCatch tc(L.iso);
  v8::ScriptOrigin origin = module_origin(L.iso, spec.name);
  v8::ScriptCompiler::Source src(js_string(L.iso, spec.js), origin);
  v8::Local<v8::Module> m;
  if (!v8::ScriptCompiler::CompileModule(L.iso, &src).ToLocal(&m)) {
    if (tc.HasTerminated()) throw JsException();
    throw js_to_pg_error(L.iso, L.ctx, tc, ErrorSite{spec.name, Stage::kCompile});
  }
  register_source_map(spec.name, spec.source_map);
  return m;
}

std::string key_of(v8::Isolate* iso, Realm& realm, v8::Local<v8::Module> m) {
  auto range = realm.module_ids.equal_range(m->GetIdentityHash());
  for (auto it = range.first; it != range.second; ++it) {
    auto found = realm.modules.find(it->second);
    if (found != realm.modules.end() && found->second.Get(iso) == m) return it->second;
  }
  return "";
}

v8::Local<v8::Module> get_or_compile(Loader& L, const ModuleSpec& spec) {
  if (spec.cache) {
    auto it = L.realm.modules.find(spec.key);
    if (it != L.realm.modules.end()) return it->second.Get(L.iso);
  }
  v8::Local<v8::Module> m = compile(L, spec);
  // Registered before its imports are resolved, so import cycles meet the same instance.
  std::string key = spec.cache ? spec.key : spec.key + "#" + std::to_string(L.uncached.size());
  L.realm.modules[key].Reset(L.iso, m);
  L.realm.module_ids.emplace(m->GetIdentityHash(), key);
  L.added.push_back(key);
  if (!spec.cache) L.uncached.emplace_back(L.iso, m);
  v8::Local<v8::FixedArray> requests = m->GetModuleRequests();
  for (int i = 0; i < requests->Length(); i++) {
    v8::Local<v8::ModuleRequest> req = requests->Get(L.ctx, i).As<v8::ModuleRequest>();
    std::string specifier = utf8(L.iso, req->GetSpecifier());
    ModuleSpec child = resolve_specifier(specifier, spec.import_map, spec.name, spec.key);
    get_or_compile(L, child);
    L.realm.module_links[key + "\n" + specifier] = child.key;
  }
  return m;
}

}  // namespace

void forget_module(v8::Isolate* iso, Realm& realm, const std::string& key) {
  // Import links from it ("<key>\n<specifier>") go with it.
  for (auto l = realm.module_links.begin(); l != realm.module_links.end();) {
    if (l->first.size() > key.size() && l->first.compare(0, key.size(), key) == 0 &&
        l->first[key.size()] == '\n')
      l = realm.module_links.erase(l);
    else
      ++l;
  }
  auto it = realm.modules.find(key);
  if (it == realm.modules.end()) return;
  auto range = realm.module_ids.equal_range(it->second.Get(iso)->GetIdentityHash());
  for (auto r = range.first; r != range.second; ++r)
    if (r->second == key) {
      realm.module_ids.erase(r);
      break;
    }
  realm.modules.erase(it);
}

namespace {

v8::MaybeLocal<v8::Module> resolve_callback(v8::Local<v8::Context> ctx,
                                            v8::Local<v8::String> specifier,
                                            v8::Local<v8::FixedArray>,
                                            v8::Local<v8::Module> referrer) {
  v8::Isolate* iso = ctx->GetIsolate();
  Realm& realm = current_loader->realm;
  std::string from = key_of(iso, realm, referrer);
  auto link = realm.module_links.find(from + "\n" + utf8(iso, specifier));
  if (link != realm.module_links.end()) {
    auto it = realm.modules.find(link->second);
    if (it != realm.modules.end()) return it->second.Get(iso);
  }
  iso->ThrowException(v8::Exception::Error(
      js_string(iso, "plts: cannot resolve import \"" + utf8(iso, specifier) + "\"")));
  return {};
}

}  // namespace

ModuleSpec module_spec_of(const FunctionInfo& fi) {
  ModuleSpec spec;
  spec.key = instance_key(fi.module_key, fi.js, fi.import_map);
  spec.name = fi.qualified;
  spec.js = fi.js;
  spec.source_map = fi.source_map;
  spec.import_map = fi.import_map;
  spec.cache = !fi.transient;
  return spec;
}

nlohmann::json inline_import_map(const std::string& code, const std::string& name) {
  try {
    return import_map_comment(code, name);
  } catch (const ParseError& e) {
    throw PgError(ERRCODE_INVALID_PARAMETER_VALUE, e.message());
  }
}

void check_module_syntax(v8::Isolate* iso, v8::Local<v8::Context> ctx, const std::string& js,
                         const std::string& name) {
  v8::TryCatch tc(iso);
  v8::ScriptOrigin origin = module_origin(iso, name);
  v8::ScriptCompiler::Source src(js_string(iso, js), origin);
  v8::Local<v8::Module> m;
  if (!v8::ScriptCompiler::CompileModule(iso, &src).ToLocal(&m)) {
    if (tc.HasTerminated()) throw JsException();
    throw js_to_pg_error(iso, ctx, tc, ErrorSite{name, Stage::kCompile});
  }
}

v8::Local<v8::Object> load_module_graph(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                                        const ModuleSpec& root) {
  v8::EscapableHandleScope scope(iso);
  Loader L{iso, ctx, realm, {}, {}};
  Loader* saved = current_loader;
  current_loader = &L;
  ErrorSite load_site{root.name, Stage::kLoad};
  auto forget_added = [&] {
    for (const auto& k : L.added) forget_module(iso, realm, k);
  };
  bool terminated = false;  // the load was stopped (a limit, a cancel): not the modules' fault
  try {
    v8::Local<v8::Module> m = get_or_compile(L, root);
    v8::TryCatch tc(iso);
    if (m->GetStatus() == v8::Module::kUninstantiated &&
        !m->InstantiateModule(ctx, resolve_callback).FromMaybe(false)) {
      if (tc.HasTerminated()) throw JsException();
      throw js_to_pg_error(iso, ctx, tc, load_site);
    }
    v8::Local<v8::Value> result;
    if (!m->Evaluate(ctx).ToLocal(&result)) {
      terminated = tc.HasTerminated();
      if (terminated) throw JsException();
      throw js_to_pg_error(iso, ctx, tc, load_site);
    }
    drain_microtasks(iso, realm);
    terminated = tc.HasTerminated() || iso->IsExecutionTerminating();
    if (terminated) throw JsException();
    if (m->GetStatus() == v8::Module::kErrored)
      throw js_value_to_pg_error(iso, ctx, m->GetException(), v8::Local<v8::Message>(), load_site);
    if (result->IsPromise() && result.As<v8::Promise>()->State() == v8::Promise::kPending)
      throw PgError(
          ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
          "plts: evaluating " + root.name + " did not finish (top-level await that never settles)");
    v8::Local<v8::Object> ns = m->GetModuleNamespace().As<v8::Object>();
    if (!root.cache) forget_added();  // a DO block's own module is not kept
    current_loader = saved;
    return scope.Escape(ns);
  } catch (...) {
    current_loader = saved;
    // Modules whose imports could not all be resolved are not kept half-linked. A module whose
    // evaluation was stopped (a time or memory limit, a cancel) is not kept either: V8 would
    // keep it errored with the termination's null as its exception, and every later load would
    // fail with "null" instead of running its code again. One that threw by itself stays errored,
    // as ES modules do.
    for (const auto& k : L.added) {
      auto it = realm.modules.find(k);
      if (it == realm.modules.end()) continue;
      v8::Module::Status st = it->second.Get(iso)->GetStatus();
      if (st == v8::Module::kUninstantiated || (terminated && st != v8::Module::kEvaluated))
        forget_module(iso, realm, k);
    }
    if (!root.cache) forget_added();
    throw;
  }
}

bool map_source_position(const std::string& name, int line, int column, int* src_line,
                         int* src_column) {
  if (source_maps == nullptr) return false;
  auto it = source_maps->find(name);
  return it != source_maps->end() && it->second.lookup(line, column, src_line, src_column);
}

std::string map_stack_to_source(const std::string& stack) {
  if (source_maps == nullptr || source_maps->empty()) return stack;
  return map_stack_frames(stack, [](const std::string& name, int line, int col, int* sl, int* sc) {
    auto it = source_maps->find(name);
    return it != source_maps->end() && it->second.lookup(line, col, sl, sc);
  });
}

}  // namespace plts
