#include "extensions/plts/web_globals.h"

#include <time.h>

#include <cstdlib>
#include <memory>

#include "extensions/plts/convert.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/web/web_support.h"

namespace plts {

namespace web {

v8::Local<v8::Value> named_error(v8::Isolate* iso, const char* name, v8::Local<v8::String> message) {
  v8::Local<v8::Value> e = v8::Exception::Error(message);
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  // Own, non-enumerable, like a DOMException's inherited name reads.
  ignore_result(e.As<v8::Object>()->DefineOwnProperty(ctx, js_name(iso, "name"), js_name(iso, name),
                                                      v8::DontEnum));
  return e;
}

v8::Local<v8::Value> named_error(v8::Isolate* iso, const char* name, const std::string& message) {
  return named_error(iso, name, js_string(iso, message));
}

void throw_named(v8::Isolate* iso, const char* name, const std::string& message) {
  iso->ThrowException(named_error(iso, name, message));
}

void throw_type_error(v8::Isolate* iso, const std::string& message) {
  iso->ThrowException(v8::Exception::TypeError(js_string(iso, message)));
}

void throw_range_error(v8::Isolate* iso, const std::string& message) {
  iso->ThrowException(v8::Exception::RangeError(js_string(iso, message)));
}

bool freeze(v8::Local<v8::Context> ctx, v8::Local<v8::Object> o) {
  return o->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen).FromMaybe(false);
}

bool freeze_class(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Function> cls) {
  v8::Local<v8::Value> proto;
  return cls->Get(ctx, js_name(iso, "prototype")).ToLocal(&proto) && proto->IsObject() &&
         freeze(ctx, proto.As<v8::Object>()) && freeze(ctx, cls);
}

v8::Local<v8::Function> native_function(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                        v8::FunctionCallback cb, const char* name, int length,
                                        v8::Local<v8::Value> data) {
  v8::Local<v8::Function> f =
      v8::Function::New(ctx, cb, data, length, v8::ConstructorBehavior::kThrow).ToLocalChecked();
  f->SetName(js_name(iso, name));
  return f;
}

bool ByteSource::init(v8::Local<v8::Value> v) {
  if (v->IsArrayBuffer()) {
    keep_ = v.As<v8::ArrayBuffer>();
    size_ = keep_->ByteLength();
    data_ = size_ ? static_cast<const uint8_t*>(keep_->GetBackingStore()->Data()) : small_;
    return true;
  }
  if (!v->IsArrayBufferView()) return false;
  v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
  size_ = view->ByteLength();
  if (!view->HasBuffer() && size_ <= sizeof small_) {
    view->CopyContents(small_, size_);
    data_ = small_;
    return true;
  }
  keep_ = view->Buffer();
  data_ = size_ ? static_cast<const uint8_t*>(keep_->GetBackingStore()->Data()) + view->ByteOffset()
                : small_;
  return true;
}

v8::MaybeLocal<v8::Uint8Array> new_bytes(v8::Isolate* iso, size_t len, uint8_t** data) {
  if (!arraybuffer_budget_allows(len)) {
    throw_range_error(iso, "the result (" + std::to_string(len) +
                               " bytes) exceeds plts.max_arraybuffer_mb");
    return {};
  }
  v8::Local<v8::ArrayBuffer> buf = v8::ArrayBuffer::New(iso, len);
  *data = static_cast<uint8_t*>(buf->GetBackingStore()->Data());
  return v8::Uint8Array::New(buf, 0, len);
}

}  // namespace web

namespace {

using namespace web;

double monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double wall_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec / 1000) / 1e3;
}

v8::Local<v8::Array> state_of(const v8::PropertyCallbackInfo<v8::Value>& info) {
  return info.Data().As<v8::Array>();
}

// queueMicrotask(callback): the callback runs as a promise job of the realm, so a throw in it is an
// unhandled rejection that fails the call (not an exception reported to nobody).
void microtask_trampoline(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Value> r;
  ignore_result(info.Data().As<v8::Function>()->Call(iso->GetCurrentContext(), v8::Undefined(iso),
                                                     0, nullptr).ToLocal(&r));
}

void queue_microtask(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  if (!info[0]->IsFunction()) {
    throw_type_error(iso, "queueMicrotask: the argument must be a function");
    return;
  }
  v8::Local<v8::Promise::Resolver> resolver;
  v8::Local<v8::Function> job;
  v8::Local<v8::Promise> derived;
  if (!v8::Promise::Resolver::New(ctx).ToLocal(&resolver) ||
      resolver->Resolve(ctx, v8::Undefined(iso)).IsNothing() ||
      !v8::Function::New(ctx, microtask_trampoline, info[0], 0, v8::ConstructorBehavior::kThrow)
           .ToLocal(&job))
    return;
  ignore_result(resolver->GetPromise()->Then(ctx, job).ToLocal(&derived));
}

// structuredClone(value, options): V8's own serializer, as postMessage uses it.
class CloneDelegate final : public v8::ValueSerializer::Delegate {
 public:
  explicit CloneDelegate(v8::Isolate* iso) : iso_(iso) {}
  void ThrowDataCloneError(v8::Local<v8::String> message) override {
    iso_->ThrowException(named_error(iso_, "DataCloneError", message));
  }

 private:
  v8::Isolate* iso_;
};

void structured_clone(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  if (info.Length() == 0) {
    throw_type_error(iso, "structuredClone: 1 argument required, but only 0 present");
    return;
  }
  if (info[1]->IsObject()) {
    v8::Local<v8::Value> transfer, len;
    if (!info[1].As<v8::Object>()->Get(ctx, js_name(iso, "transfer")).ToLocal(&transfer)) return;
    if (!transfer->IsUndefined()) {
      double n = 0;
      if (!transfer->IsObject() ||
          !transfer.As<v8::Object>()->Get(ctx, js_name(iso, "length")).ToLocal(&len) ||
          !len->NumberValue(ctx).To(&n)) {
        if (!iso->IsExecutionTerminating() && !transfer->IsObject())
          throw_type_error(iso, "structuredClone: options.transfer must be a sequence");
        return;
      }
      if (n > 0) {
        throw_named(iso, "DataCloneError",
                    "structuredClone: the transfer option is not supported in plts");
        return;
      }
    }
  } else if (!info[1]->IsNullOrUndefined()) {
    throw_type_error(iso, "structuredClone: options must be an object");
    return;
  }
  CloneDelegate delegate(iso);
  v8::ValueSerializer serializer(iso, &delegate);
  serializer.WriteHeader();
  if (serializer.WriteValue(ctx, info[0]).IsNothing()) return;
  std::pair<uint8_t*, size_t> bytes = serializer.Release();
  std::unique_ptr<uint8_t, decltype(&free)> owned(bytes.first, &free);
  v8::ValueDeserializer deserializer(iso, bytes.first, bytes.second);
  v8::Local<v8::Value> copy;
  if (deserializer.ReadHeader(ctx).IsNothing() || !deserializer.ReadValue(ctx).ToLocal(&copy)) return;
  info.GetReturnValue().Set(copy);
}

void performance_now(const v8::FunctionCallbackInfo<v8::Value>& info) {
  double origin = info.Data().As<v8::Number>()->Value();
  // Microseconds: what browsers give cross-origin-isolated pages.
  double ms = static_cast<double>(static_cast<int64_t>((monotonic_ms() - origin) * 1000.0)) / 1000.0;
  info.GetReturnValue().Set(ms);
}

// The lazy globals' getters: each makes its value on the first read of that global in the realm
// (V8 then keeps it as a plain data property).

template <typename Make>
void lazy(const v8::PropertyCallbackInfo<v8::Value>& info, Make&& make) {
  v8::Isolate* iso = info.GetIsolate();
  v8::HandleScope scope(iso);
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Value> v;
  if (make(iso, ctx, state_of(info)).ToLocal(&v)) info.GetReturnValue().Set(v);
}

v8::MaybeLocal<v8::Value> as_value(v8::MaybeLocal<v8::Function> f) {
  v8::Local<v8::Function> l;
  if (!f.ToLocal(&l)) return {};
  return l;
}

void get_text_encoder(v8::Local<v8::Name>, const v8::PropertyCallbackInfo<v8::Value>& info) {
  lazy(info, [](v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Array> st) {
    return as_value(text_encoder_class(iso, ctx, st));
  });
}

void get_text_decoder(v8::Local<v8::Name>, const v8::PropertyCallbackInfo<v8::Value>& info) {
  lazy(info, [](v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Array> st) {
    return as_value(text_decoder_class(iso, ctx, st));
  });
}

template <const char* kName>
void get_url_export(v8::Local<v8::Name>, const v8::PropertyCallbackInfo<v8::Value>& info) {
  lazy(info, [](v8::Isolate* iso, v8::Local<v8::Context> ctx,
                v8::Local<v8::Array> st) -> v8::MaybeLocal<v8::Value> {
    v8::Local<v8::Object> exports;
    if (!url_exports(iso, ctx, st).ToLocal(&exports)) return {};
    return exports->Get(ctx, js_name(iso, kName));
  });
}
constexpr char kUrlName[] = "URL";
constexpr char kSearchParamsName[] = "URLSearchParams";

template <v8::FunctionCallback kCallback, const char* kName, int kLength>
void get_function(v8::Local<v8::Name>, const v8::PropertyCallbackInfo<v8::Value>& info) {
  lazy(info, [](v8::Isolate* iso, v8::Local<v8::Context> ctx,
                v8::Local<v8::Array>) -> v8::MaybeLocal<v8::Value> {
    return native_function(iso, ctx, kCallback, kName, kLength);
  });
}
constexpr char kAtob[] = "atob";
constexpr char kBtoa[] = "btoa";
constexpr char kStructuredClone[] = "structuredClone";
constexpr char kQueueMicrotask[] = "queueMicrotask";

void get_crypto(v8::Local<v8::Name>, const v8::PropertyCallbackInfo<v8::Value>& info) {
  lazy(info, [](v8::Isolate* iso, v8::Local<v8::Context> ctx,
                v8::Local<v8::Array>) -> v8::MaybeLocal<v8::Value> {
    v8::Local<v8::Object> c;
    if (!make_crypto(iso, ctx).ToLocal(&c)) return {};
    return c;
  });
}

void get_performance(v8::Local<v8::Name>, const v8::PropertyCallbackInfo<v8::Value>& info) {
  lazy(info, [](v8::Isolate* iso, v8::Local<v8::Context> ctx,
                v8::Local<v8::Array> st) -> v8::MaybeLocal<v8::Value> {
    v8::Local<v8::Value> clock_origin, time_origin;
    if (!st->Get(ctx, kClockOrigin).ToLocal(&clock_origin) ||
        !st->Get(ctx, kTimeOrigin).ToLocal(&time_origin))
      return {};
    v8::Local<v8::Object> perf = v8::Object::New(iso);
    if (perf->CreateDataProperty(ctx, js_name(iso, "now"),
                                 native_function(iso, ctx, performance_now, "now", 0, clock_origin))
            .IsNothing() ||
        perf->CreateDataProperty(ctx, js_name(iso, "timeOrigin"), time_origin).IsNothing() ||
        perf->DefineOwnProperty(ctx, v8::Symbol::GetToStringTag(iso), js_name(iso, "Performance"),
                                v8::DontEnum)
            .IsNothing() ||
        !freeze(ctx, perf))
      return {};
    return perf;
  });
}

}  // namespace

void install_web_globals(v8::Isolate* iso, v8::Local<v8::Context> ctx) {
  v8::HandleScope scope(iso);
  v8::Local<v8::Object> global = ctx->Global();
  // What the URL bundle names, read before any user code ran (a few property reads: the bundle
  // itself is compiled on the first use of URL).
  size_t n = url_intrinsic_count();
  std::unique_ptr<v8::Local<v8::Value>[]> intrinsics(new v8::Local<v8::Value>[n]);
  for (size_t i = 0; i < n; i++)
    if (!global->Get(ctx, js_name(iso, url_intrinsic_name(i))).ToLocal(&intrinsics[i]))
      throw JsException();
  v8::Local<v8::Value> slots[kStateSlots] = {
      v8::Array::New(iso, intrinsics.get(), n), v8::Number::New(iso, monotonic_ms()),
      v8::Number::New(iso, wall_ms()),          v8::Undefined(iso),
      v8::Undefined(iso),                       v8::Undefined(iso)};
  v8::Local<v8::Array> state = v8::Array::New(iso, slots, kStateSlots);
  // Writable, configurable and not enumerable, as in browsers: a role's code may replace a
  // binding for itself; what the bindings hold is frozen.
  struct Lazy {
    const char* name;
    v8::AccessorNameGetterCallback getter;
  };
  const Lazy globals[] = {
      {"TextEncoder", get_text_encoder},
      {"TextDecoder", get_text_decoder},
      {"atob", get_function<atob_callback, kAtob, 1>},
      {"btoa", get_function<btoa_callback, kBtoa, 1>},
      {"structuredClone", get_function<structured_clone, kStructuredClone, 1>},
      {"queueMicrotask", get_function<queue_microtask, kQueueMicrotask, 1>},
      {"crypto", get_crypto},
      {"performance", get_performance},
      {"URL", get_url_export<kUrlName>},
      {"URLSearchParams", get_url_export<kSearchParamsName>},
  };
  for (const Lazy& g : globals)
    must(global->SetLazyDataProperty(ctx, js_name(iso, g.name), g.getter, state, v8::DontEnum));
}

}  // namespace plts
