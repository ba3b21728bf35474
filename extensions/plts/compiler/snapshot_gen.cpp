// Build-time tool: evaluates typescript.js and the plts compiler service in a fresh V8 (same
// libnode, same flags as the backend), loads the lib files and runtime declarations, runs a
// transpile and a typecheck once, and writes the resulting startup snapshot.
//
//   plts_snapshot_gen <typescript.js> <plts-compiler.js> <lib dir> <runtime .d.ts> <out file> <code
//   cache | -> [--keep-libs]
//
// It also writes a V8 code cache of typescript.js (made after the warm-up): the fallback when the
// snapshot cannot be used. --keep-libs keeps the parsed lib files in the snapshot (the typecheck
// snapshot; see plts-compiler.js's warmup).
#include <dirent.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <libplatform/libplatform.h>
#include <v8.h>

#include "extensions/plts/compiler/snapshot_file.h"
#include "extensions/plts/v8_flags.h"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "plts_snapshot_gen: cannot read " << path << "\n";
    exit(1);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

v8::Local<v8::String> str(v8::Isolate* iso, const std::string& s) {
  return v8::String::NewFromUtf8(iso, s.data(), v8::NewStringType::kNormal,
                                 static_cast<int>(s.size()))
      .ToLocalChecked();
}

v8::Local<v8::Script> run(v8::Isolate* iso, v8::Local<v8::Context> ctx, const std::string& source,
                          const std::string& name) {
  v8::TryCatch tc(iso);
  v8::ScriptOrigin origin(iso, str(iso, name));
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> result;
  if (!v8::Script::Compile(ctx, str(iso, source), &origin).ToLocal(&script) ||
      !script->Run(ctx).ToLocal(&result)) {
    v8::String::Utf8Value msg(iso, tc.Exception());
    std::cerr << "plts_snapshot_gen: " << name << ": " << (*msg ? *msg : "error") << "\n";
    exit(1);
  }
  return script;
}

void write_file(const std::string& path, const char* data, size_t len) {
  std::ofstream out(path, std::ios::binary);
  out.write(data, static_cast<std::streamsize>(len));
  if (!out) {
    std::cerr << "plts_snapshot_gen: cannot write " << path << "\n";
    exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool keep_libs = argc == 8 && std::string(argv[7]) == "--keep-libs";
  if (argc != 7 && !keep_libs) {
    std::cerr << "usage: plts_snapshot_gen <typescript.js> <plts-compiler.js> <lib dir> "
                 "<runtime.d.ts> <out> <code cache | -> [--keep-libs]\n";
    return 2;
  }
  v8::V8::SetFlagsFromString(plts::kV8Flags, sizeof(plts::kV8Flags) - 1);
  std::unique_ptr<v8::Platform> platform = v8::platform::NewDefaultPlatform();
  v8::V8::InitializePlatform(platform.get());
  v8::V8::Initialize();

  std::string blob_text;
  {
    v8::SnapshotCreator creator;
    v8::Isolate* iso = creator.GetIsolate();
    {
      v8::HandleScope scope(iso);
      v8::Local<v8::Context> ctx = v8::Context::New(iso);
      v8::Context::Scope context_scope(ctx);
      v8::Local<v8::Script> ts_script = run(iso, ctx, read_file(argv[1]), "typescript.js");
      run(iso, ctx, read_file(argv[2]), "plts-compiler.js");

      v8::Local<v8::Object> libs = v8::Object::New(iso);
      DIR* dir = opendir(argv[3]);
      if (dir == nullptr) {
        std::cerr << "plts_snapshot_gen: cannot open " << argv[3] << "\n";
        return 1;
      }
      int n = 0;
      while (dirent* e = readdir(dir)) {
        std::string name = e->d_name;
        if (!plts::is_compiler_lib(name)) continue;
        (void)libs->Set(ctx, str(iso, name),
                        str(iso, read_file(std::string(argv[3]) + "/" + name)));
        n++;
      }
      closedir(dir);
      v8::Local<v8::Object> api =
          ctx->Global()->Get(ctx, str(iso, "__pltsCompiler")).ToLocalChecked().As<v8::Object>();
      v8::TryCatch tc(iso);
      v8::Local<v8::Value> init_args[2] = {libs, str(iso, read_file(argv[4]))};
      v8::Local<v8::Function> init =
          api->Get(ctx, str(iso, "init")).ToLocalChecked().As<v8::Function>();
      v8::Local<v8::Function> warmup =
          api->Get(ctx, str(iso, "warmup")).ToLocalChecked().As<v8::Function>();
      v8::Local<v8::Value> warmup_args[1] = {v8::Boolean::New(iso, keep_libs)};
      if (init->Call(ctx, api, 2, init_args).IsEmpty() ||
          warmup->Call(ctx, api, 1, warmup_args).IsEmpty()) {
        v8::String::Utf8Value msg(iso, tc.Exception());
        std::cerr << "plts_snapshot_gen: warm-up failed: " << (*msg ? *msg : "error") << "\n";
        return 1;
      }
      std::cerr << "plts_snapshot_gen: " << n << " lib files" << (keep_libs ? ", kept parsed" : "")
                << "\n";
      if (std::string(argv[6]) != "-") {
        std::unique_ptr<v8::ScriptCompiler::CachedData> cache(
            v8::ScriptCompiler::CreateCodeCache(ts_script->GetUnboundScript()));
        if (!cache) {
          std::cerr << "plts_snapshot_gen: CreateCodeCache failed\n";
          return 1;
        }
        write_file(argv[6], reinterpret_cast<const char*>(cache->data),
                   static_cast<size_t>(cache->length));
      }
      creator.SetDefaultContext(ctx);
    }
    v8::StartupData blob = creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
    if (blob.data == nullptr || blob.raw_size == 0) {
      std::cerr << "plts_snapshot_gen: CreateBlob failed\n";
      return 1;
    }
    blob_text = plts::snapshot_file_contents(v8::V8::GetVersion(), blob.data, blob.raw_size);
    delete[] blob.data;
  }
  write_file(argv[5], blob_text.data(), blob_text.size());
  std::cerr << "plts_snapshot_gen: wrote " << blob_text.size() << " bytes\n";
  return 0;
}
