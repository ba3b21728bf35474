#include "extensions/plts/compiler/compiler.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>

#include <fstream>
#include <list>
#include <sstream>
#include <vector>

#include "common/error_boundary.h"
#include "common/sha256.h"
#include "extensions/plts/compiler/snapshot_file.h"
#include "extensions/plts/convert.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/gucs.h"
#include "extensions/plts/log.h"
#include "extensions/plts/watchdog.h"
#include "runtime_dts_hash.h"

#ifndef PLTS_TYPESCRIPT_VERSION
#error "PLTS_TYPESCRIPT_VERSION must be defined by the build"
#endif

namespace plts {

using pgx::pg_guard;
using pgx::PgError;

namespace {

// Never destroyed.
v8::Isolate* ciso = nullptr;
v8::Global<v8::Context>* cctx = nullptr;
// The mapped snapshot file the compiler isolate was made from (unmapped after the isolate is
// disposed: V8 may read it while the isolate lives).
const char* snapshot_map = nullptr;
size_t snapshot_map_size = 0;
v8::StartupData snapshot_blob{nullptr, 0};
const char* origin = "";
bool compiler_heap_hit = false;
// Whether the compiler isolate holds the parsed lib files (made from the typecheck snapshot, or
// it typechecked once), and whether it was made from the transpile snapshot (which has none).
bool libs_parsed = false;
bool from_transpile_snapshot = false;

bool read_file(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok = fstat(fd, &st) == 0;
  if (ok) {
    out->resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (ok && done < out->size()) {
      ssize_t n = read(fd, out->data() + done, out->size() - done);
      if (n <= 0) ok = n == 0 ? done == out->size() : errno == EINTR;
      if (n > 0) done += static_cast<size_t>(n);
    }
  }
  close(fd);
  return ok;
}

size_t compiler_near_heap_limit(void*, size_t current, size_t) {
  ciso->TerminateExecution();
  if (compiler_heap_hit) return current;  // as near_heap_limit in engine.cpp: no second grant
  compiler_heap_hit = true;
  return heap_headroom(current);
}

// After a heap exhaustion (or to start again from the typecheck snapshot) the compiler isolate is
// disposed; the next compile makes a new one.
void discard_compiler() {
  delete cctx;
  cctx = nullptr;
  ciso->Dispose();
  ciso = nullptr;
  compiler_heap_hit = false;
  libs_parsed = from_transpile_snapshot = false;
  if (snapshot_map != nullptr) munmap(const_cast<char*>(snapshot_map), snapshot_map_size);
  snapshot_map = nullptr;
  snapshot_blob = v8::StartupData{nullptr, 0};
}

// Maps and checks a snapshot file; on success it becomes the blob the next isolate is made from.
// Returns why it cannot be used ("" when it can).
std::string map_snapshot(const std::string& path) {
  std::string why;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
    why = "cannot read " + path;
  } else {
    size_t size = static_cast<size_t>(st.st_size);
    void* m = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (m == MAP_FAILED) {
      why = "cannot map " + path;
    } else {
      const char* blob = nullptr;
      size_t len = 0;
      why = check_snapshot_file(static_cast<const char*>(m), size, v8_version(), &blob, &len);
      if (why.empty()) {
        snapshot_blob.data = blob;
        snapshot_blob.raw_size = static_cast<int>(len);
        snapshot_map = static_cast<const char*>(m);
        snapshot_map_size = size;
      } else {
        munmap(m, size);
      }
    }
  }
  if (fd >= 0) close(fd);
  return why;
}

v8::Local<v8::String> str(v8::Isolate* iso, const std::string& s) { return js_string(iso, s); }

// Runs a script, consuming `cache` (a V8 code cache made at build time) when given; V8 itself
// rejects a cache that does not match this build or source.
void run_script(v8::Local<v8::Context> ctx, const std::string& source, const char* name,
                const std::string* cache = nullptr) {
  v8::TryCatch tc(ciso);
  v8::ScriptOrigin so(ciso, str(ciso, name));
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> result;
  v8::ScriptCompiler::Source src(
      str(ciso, source), so,
      cache != nullptr && !cache->empty()
          ? new v8::ScriptCompiler::CachedData(reinterpret_cast<const uint8_t*>(cache->data()),
                                               static_cast<int>(cache->size()))
          : nullptr);
  auto options = src.GetCachedData() != nullptr ? v8::ScriptCompiler::kConsumeCodeCache
                                                : v8::ScriptCompiler::kNoCompileOptions;
  bool compiled = v8::ScriptCompiler::Compile(ctx, &src, options).ToLocal(&script);
  if (src.GetCachedData() != nullptr) {
    origin = src.GetCachedData()->rejected ? "source" : "code cache";
    if (src.GetCachedData()->rejected)
      plts_log(LOG, std::string("plts: code cache for ") + name + " rejected by V8");
  }
  if (!compiled || !script->Run(ctx).ToLocal(&result)) {
    std::string msg =
        tc.HasCaught() ? utf8(ciso, tc.Exception()->ToString(ctx).ToLocalChecked()) : "terminated";
    throw PgError(ERRCODE_INTERNAL_ERROR, std::string("plts: loading ") + name + " failed: " + msg);
  }
}

// Slow path: evaluate typescript.js and the compiler service from the installed sources.
void load_from_source(v8::Local<v8::Context> ctx) {
  std::string dir = asset_dir() + "/compiler";
  std::string ts_src, glue, dts, cache;
  if (!read_file(dir + "/typescript.js", &ts_src) || !read_file(dir + "/plts-compiler.js", &glue))
    throw PgError(ERRCODE_UNDEFINED_FILE, "plts: TypeScript compiler files are missing in " + dir);
  read_file(asset_dir() + "/stopgap-runtime.d.ts", &dts);
  read_file(dir + "/typescript.codecache", &cache);
  origin = "source";
  run_script(ctx, ts_src, "typescript.js", &cache);
  run_script(ctx, glue, "plts-compiler.js");
  v8::Local<v8::Object> libs = v8::Object::New(ciso);
  if (DIR* d = opendir((dir + "/lib").c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name, text;
      if (is_compiler_lib(name) && read_file(dir + "/lib/" + name, &text))
        (void)libs->Set(ctx, str(ciso, name), str(ciso, text)).FromMaybe(false);
    }
    closedir(d);
  }
  v8::Local<v8::Object> api =
      ctx->Global()->Get(ctx, str(ciso, "__pltsCompiler")).ToLocalChecked().As<v8::Object>();
  v8::Local<v8::Function> init =
      api->Get(ctx, str(ciso, "init")).ToLocalChecked().As<v8::Function>();
  v8::Local<v8::Value> args[2] = {libs, str(ciso, dts)};
  v8::TryCatch tc(ciso);
  if (init->Call(ctx, api, 2, args).IsEmpty())
    throw PgError(ERRCODE_INTERNAL_ERROR, "plts: initializing the TypeScript compiler failed");
}

// Starts the compiler isolate for a transpile or (for_typecheck) a typecheck. A backend's compiler
// comes from the transpile snapshot (small: the first compile is fastest) or, for a first
// typecheck, from the typecheck snapshot, which holds the parsed lib files (parsing them is most
// of a first typecheck); a compiler from the transpile snapshot is replaced by one from the
// typecheck snapshot at its first typecheck. plts.compiler_snapshot names one file for both.
void start_compiler(bool for_typecheck) {
  if (ciso != nullptr) {
    if (!for_typecheck || libs_parsed || !from_transpile_snapshot) return;
    discard_compiler();
  }
  ensure_v8_started();
  bool chosen = settings.compiler_snapshot != nullptr && settings.compiler_snapshot[0] != '\0';
  // Each can stand in for the other (the typecheck snapshot compiles too, only starts slower).
  std::string transpile_path = asset_dir() + "/compiler/compiler.snapshot";
  std::string typecheck_path = asset_dir() + "/compiler/compiler-typecheck.snapshot";
  std::vector<std::string> paths;
  if (chosen) paths.push_back(settings.compiler_snapshot);
  else if (for_typecheck) paths = {typecheck_path, transpile_path};
  else paths = {transpile_path, typecheck_path};
  std::string used;
  for (const std::string& path : paths) {
    std::string why = map_snapshot(path);
    if (why.empty()) {
      used = path;
      break;
    }
    plts_log(LOG, "plts: compiler snapshot not used (" + why + ")" +
                      (&path == &paths.back() ? "; loading TypeScript from its code cache or sources"
                                              : ""));
  }
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator_shared = std::shared_ptr<v8::ArrayBuffer::Allocator>(
      v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  params.constraints.ConfigureDefaultsFromHeapSize(0, size_t{1024} * 1024 * 1024);
  if (snapshot_map != nullptr) params.snapshot_blob = &snapshot_blob;
  v8::Isolate* iso = new_isolate_signals_blocked(params);
  iso->AddNearHeapLimitCallback(compiler_near_heap_limit, nullptr);
  install_fatal_handlers(iso);
  ciso = iso;
  v8::Isolate::Scope iscope(ciso);
  v8::HandleScope hs(ciso);
  v8::Local<v8::Context> ctx = v8::Context::New(ciso);
  v8::Context::Scope cs(ctx);
  try {
    if (snapshot_map == nullptr) load_from_source(ctx);
  } catch (...) {
    // Leave no half-made compiler behind: the next use tries again.
    ciso = nullptr;
    throw;
  }
  cctx = new v8::Global<v8::Context>(ciso, ctx);
  libs_parsed = !chosen && used == typecheck_path;
  // Replaced at its first typecheck only when made for compiling from the transpile snapshot (made
  // for a typecheck, the typecheck snapshot was unusable: starting again would not help).
  from_transpile_snapshot = !chosen && !for_typecheck && used == transpile_path;
  if (snapshot_map != nullptr) origin = libs_parsed ? "typecheck snapshot" : "snapshot";
}

// Calls __pltsCompiler[method](source, opts) and returns its JSON text.
std::string call_compiler(const char* method, const std::string& source, const std::string& opts) {
  bool typecheck = strncmp(method, "typecheck", 9) == 0;
  start_compiler(typecheck);
  bool outermost = v8_call_depth == 0;
  v8::Isolate* watched = nullptr;
  if (outermost) {
    apply_stack_limit(ciso);
    watchdog_arm(ciso, 0);
  } else {
    // Inside a call (CREATE FUNCTION through ctx.db): the call's limits stop the compile too.
    watched = watchdog_retarget(ciso);
  }
  std::string out, error;
  bool terminated = false;
  {
    struct Depth {
      v8::Isolate* watched;
      Depth(v8::Isolate* w) : watched(w) { v8_call_depth++; }
      ~Depth() {
        v8_call_depth--;
        if (watched != nullptr) watchdog_retarget(watched);
      }
    } depth(watched);
    v8::Isolate::Scope iscope(ciso);
    v8::HandleScope hs(ciso);
    v8::Local<v8::Context> ctx = cctx->Get(ciso);
    v8::Context::Scope cs(ctx);
    v8::TryCatch tc(ciso);
    v8::Local<v8::Value> api_v, fn_v, result;
    v8::Local<v8::Value> args[2] = {str(ciso, source), str(ciso, opts)};
    if (ctx->Global()->Get(ctx, str(ciso, "__pltsCompiler")).ToLocal(&api_v) && api_v->IsObject() &&
        api_v.As<v8::Object>()->Get(ctx, str(ciso, method)).ToLocal(&fn_v) && fn_v->IsFunction() &&
        fn_v.As<v8::Function>()->Call(ctx, api_v, 2, args).ToLocal(&result)) {
      out = utf8(ciso, result);
    } else if (tc.HasTerminated()) {
      terminated = true;
    } else {
      v8::Local<v8::String> s;
      error = tc.HasCaught() && tc.Exception()->ToString(ctx).ToLocal(&s) ? utf8(ciso, s)
                                                                          : "unknown error";
    }
  }
  StopReason reason = StopReason::kNone;
  if (outermost) reason = watchdog_disarm();
  if (terminated || reason != StopReason::kNone || compiler_heap_hit) {
    ciso->CancelTerminateExecution();
    if (compiler_heap_hit) {
      discard_compiler();
      throw PgError(ERRCODE_OUT_OF_MEMORY, "plts: the TypeScript compiler ran out of memory",
                    "The compiler's isolate is discarded; the next compile starts a fresh one.");
    }
    pg_guard([] { CHECK_FOR_INTERRUPTS(); });
    throw PgError(ERRCODE_QUERY_CANCELED, "plts: TypeScript compilation was terminated");
  }
  if (!error.empty())
    throw PgError(ERRCODE_INTERNAL_ERROR, "plts: TypeScript compiler failed: " + error);
  if (typecheck) libs_parsed = true;
  return out;
}

}  // namespace

std::string asset_dir() { return std::string(pkglib_path) + "/plts"; }

const char* compiler_origin() { return origin; }

std::string sha256_hex(const std::string& data) { return pgx::sha256_hex(data); }

nlohmann::json effective_options(const nlohmann::json& opts) {
  if (!opts.is_object())
    throw PgError(ERRCODE_INVALID_PARAMETER_VALUE, "compiler_opts must be a JSON object");
  nlohmann::json eff = {{"source_map", false}};
  for (auto& [key, value] : opts.items()) {
    if (key == "source_map") {
      if (!value.is_boolean())
        throw PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                      "compiler_opts.source_map must be a boolean");
      eff["source_map"] = value;
    } else {
      throw PgError(ERRCODE_INVALID_PARAMETER_VALUE, "unknown compiler option \"" + key + "\"", "",
                    "Supported options: source_map (boolean).");
    }
  }
  return eff;
}

std::string compiler_fingerprint(const nlohmann::json& eff) {
  // The installed stopgap-runtime.d.ts is the file this hash was taken of at build time.
  std::string material = "plts-compiler 1\ntypescript " PLTS_TYPESCRIPT_VERSION
                         "\nlib es2022\nruntime " PLTS_RUNTIME_DTS_SHA256 "\noptions " +
                         eff.dump();
  return "ts" PLTS_TYPESCRIPT_VERSION ":" + sha256_hex(material).substr(0, 16);
}

std::string artifact_hash(const std::string& fingerprint, const nlohmann::json& eff,
                          const std::string& source) {
  return "sha256:" + sha256_hex(fingerprint + "\n" + eff.dump() + "\n" + source);
}

namespace {

// The last transpile results of this backend, most recent first. The compiler is deterministic
// for a given source and options, and stopgap.deploy transpiles a whole schema to learn the
// artifact hashes before it stores the artifacts in hash order (see stopgap._plan).
struct TranspileCacheEntry {
  std::string key;  // options, NUL, source
  TranspileResult result;
  size_t bytes;
};
std::list<TranspileCacheEntry>* transpile_cache = nullptr;
size_t transpile_cache_bytes = 0;
constexpr size_t kTranspileCacheMaxBytes = size_t{8} << 20;
constexpr size_t kTranspileCacheMaxEntries = 512;

}  // namespace

TranspileResult transpile_ts(const std::string& source, const nlohmann::json& eff) {
  if (transpile_cache == nullptr) transpile_cache = new std::list<TranspileCacheEntry>();
  std::string opts = eff.dump();
  std::string key = opts;
  key.push_back('\0');
  key += source;
  for (auto it = transpile_cache->begin(); it != transpile_cache->end(); ++it) {
    if (it->key == key) {
      transpile_cache->splice(transpile_cache->begin(), *transpile_cache, it);
      return it->result;
    }
  }
  nlohmann::json r = nlohmann::json::parse(call_compiler("transpile", source, opts));
  TranspileResult out;
  out.js = r.value("js", "");
  if (r.contains("source_map") && r["source_map"].is_string()) out.source_map = r["source_map"];
  out.diagnostics = r.value("diagnostics", nlohmann::json::array());
  out.imports = r.value("imports", nlohmann::json::array());
  out.type_imports = r.value("type_imports", nlohmann::json::array());
  for (const auto& d : out.diagnostics)
    if (d.value("category", "") == "error") out.has_errors = true;
  size_t bytes = key.size() + out.js.size() + out.source_map.size() + out.imports.dump().size() +
                 out.type_imports.dump().size() + 256;
  if (bytes <= kTranspileCacheMaxBytes / 4) {
    transpile_cache->push_front({std::move(key), out, bytes});
    transpile_cache_bytes += bytes;
    while (transpile_cache_bytes > kTranspileCacheMaxBytes ||
           transpile_cache->size() > kTranspileCacheMaxEntries) {
      transpile_cache_bytes -= transpile_cache->back().bytes;
      transpile_cache->pop_back();
    }
  }
  return out;
}

nlohmann::json typecheck_ts(const std::string& source, const nlohmann::json& eff) {
  nlohmann::json r = nlohmann::json::parse(call_compiler("typecheck", source, eff.dump()));
  return r.value("diagnostics", nlohmann::json::array());
}

nlohmann::json typecheck_modules(const nlohmann::json& modules, const nlohmann::json& check,
                                 const nlohmann::json& eff) {
  nlohmann::json request = {{"modules", modules}, {"check", check}};
  return nlohmann::json::parse(call_compiler("typecheckModules", request.dump(), eff.dump()));
}

}  // namespace plts
