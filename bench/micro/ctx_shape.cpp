// Micro-benchmark: what building plts's per-call `ctx` object costs in V8, by object shape.
// It reproduces, outside PostgreSQL, the map churn perf shows in case 1 (see docs/PERFORMANCE.md):
// an ObjectTemplate with a lazy data property ("now") gives every instance fresh hidden classes
// when properties are then added with CreateDataProperty.
//
// Build and run against the same libnode plts uses (header path: .deps/libnode if bootstrap unpacked
// it, /usr/include/node if libnode-dev is installed system-wide):
//   LIBNODE=$(pg_config --pkglibdir)/plts-libnode
//   g++ -O2 -std=c++17 -fno-rtti -I.deps/libnode/usr/include/node bench/micro/ctx_shape.cpp \
//     -o /tmp/ctx_shape -L$LIBNODE -l:libnode.so.108 -Wl,-rpath,$LIBNODE && /tmp/ctx_shape
#include <libplatform/libplatform.h>
#include <v8.h>

#include <chrono>
#include <cstdio>

using namespace v8;

static void now_getter(Local<Name>, const PropertyCallbackInfo<Value>& info) { info.GetReturnValue().Set(1); }

int main() {
  std::unique_ptr<Platform> platform = platform::NewDefaultPlatform();
  V8::InitializePlatform(platform.get());
  V8::Initialize();
  Isolate::CreateParams params;
  params.array_buffer_allocator = ArrayBuffer::Allocator::NewDefaultAllocator();
  Isolate* iso = Isolate::New(params);
  {
    Isolate::Scope isolate_scope(iso);
    HandleScope hs(iso);
    Local<Context> ctx = Context::New(iso);
    Context::Scope context_scope(ctx);
    auto key = [&](const char* s) {
      return String::NewFromUtf8(iso, s, NewStringType::kInternalized).ToLocalChecked();
    };
    Local<Function> fn = Script::Compile(ctx, key("(ctx) => ctx.args.x + 1"))
                             .ToLocalChecked()->Run(ctx).ToLocalChecked().As<Function>();

    Local<ObjectTemplate> lazy = ObjectTemplate::New(iso);  // what plts does today (realm.cpp)
    lazy->SetLazyDataProperty(key("now"), now_getter);
    Local<ObjectTemplate> plain = ObjectTemplate::New(iso);
    Local<ObjectTemplate> slots = ObjectTemplate::New(iso);  // the same, with the fields declared
    for (const char* k : {"args", "argv", "fn", "db"}) slots->Set(key(k), Undefined(iso));
    slots->SetLazyDataProperty(key("now"), now_getter);

    struct Mode { const char* name; int kind; bool cached_keys; };
    const Mode modes[] = {
        {"template + lazy 'now' (as plts today)", 0, false},
        {"template, no lazy property", 1, false},
        {"Object::New", 2, false},
        {"template with declared fields + lazy 'now'", 3, false},
        {"declared fields + lazy 'now', keys made once", 3, true},
    };
    Local<String> kx = key("x"), ka = key("args"), kv = key("argv"), kf = key("fn"), kd = key("db");
    const int n = 200000;
    for (const Mode& m : modes) {
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n; i++) {
        HandleScope h(iso);
        Local<Object> c = m.kind == 0 ? lazy->NewInstance(ctx).ToLocalChecked()
                        : m.kind == 1 ? plain->NewInstance(ctx).ToLocalChecked()
                        : m.kind == 2 ? Object::New(iso)
                                      : slots->NewInstance(ctx).ToLocalChecked();
        Local<Object> named = Object::New(iso);
        named->CreateDataProperty(ctx, m.cached_keys ? kx : key("x"), Integer::New(iso, i)).Check();
        Local<Array> argv = Array::New(iso, 1);
        argv->CreateDataProperty(ctx, 0, Integer::New(iso, i)).Check();
        c->CreateDataProperty(ctx, m.cached_keys ? ka : key("args"), named).Check();
        c->CreateDataProperty(ctx, m.cached_keys ? kv : key("argv"), argv).Check();
        c->CreateDataProperty(ctx, m.cached_keys ? kf : key("fn"), named).Check();
        c->CreateDataProperty(ctx, m.cached_keys ? kd : key("db"), named).Check();
        Local<Value> call_args[1] = {c};
        fn->Call(ctx, Undefined(iso), 1, call_args).ToLocalChecked();
      }
      double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
      std::printf("%-48s %6.2f us/call\n", m.name, us);
    }
  }
  iso->Dispose();
  V8::Dispose();
  V8::DisposePlatform();
  delete params.array_buffer_allocator;
  return 0;
}
