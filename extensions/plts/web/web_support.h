// What the web globals' translation units share (see web_globals.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <v8.h>

namespace plts::web {

// A realm's web-globals state: one array, the data of every lazy global of that realm.
enum StateSlot : uint32_t {
  kIntrinsics,   // Array: the URL bundle's intrinsics (kUrlIntrinsics), captured at install
  kClockOrigin,  // Number: CLOCK_MONOTONIC at install, ms
  kTimeOrigin,   // Number: wall clock at install, ms since 1970
  kTextEncoder,  // the realm's classes, made on first use (undefined until then)
  kTextDecoder,
  kUrlExports,  // Object {URL, URLSearchParams}
  kStateSlots
};

// An Error whose name is `name` (DOMException-like: "InvalidCharacterError", "DataCloneError").
v8::Local<v8::Value> named_error(v8::Isolate* iso, const char* name, v8::Local<v8::String> message);
v8::Local<v8::Value> named_error(v8::Isolate* iso, const char* name, const std::string& message);
void throw_named(v8::Isolate* iso, const char* name, const std::string& message);
void throw_type_error(v8::Isolate* iso, const std::string& message);
void throw_range_error(v8::Isolate* iso, const std::string& message);

// Freezes o (its own properties become read-only, no property can be added); false with an
// exception pending when V8 refused.
bool freeze(v8::Local<v8::Context> ctx, v8::Local<v8::Object> o);
// Freezes a constructor and its prototype.
bool freeze_class(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Function> cls);

// A plain native function (no `new`).
v8::Local<v8::Function> native_function(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                        v8::FunctionCallback cb, const char* name, int length,
                                        v8::Local<v8::Value> data = v8::Local<v8::Value>());

// The bytes of a BufferSource (an ArrayBuffer or a view of one), read-only. Small typed arrays
// whose bytes live in the V8 heap are copied (asking for their buffer would allocate one).
class ByteSource {
 public:
  // False when v is no BufferSource.
  bool init(v8::Local<v8::Value> v);
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  v8::Local<v8::ArrayBuffer> keep_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint8_t small_[64];
};

// A new Uint8Array of `len` zeroed bytes, within plts.max_arraybuffer_mb (a RangeError is pending
// when it is not: V8 would end the process on a failed allocation).
v8::MaybeLocal<v8::Uint8Array> new_bytes(v8::Isolate* iso, size_t len, uint8_t** data);

// The realm's TextEncoder / TextDecoder classes, made on first use and kept in `state`.
v8::MaybeLocal<v8::Function> text_encoder_class(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                                v8::Local<v8::Array> state);
v8::MaybeLocal<v8::Function> text_decoder_class(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                                v8::Local<v8::Array> state);
void atob_callback(const v8::FunctionCallbackInfo<v8::Value>& info);
void btoa_callback(const v8::FunctionCallbackInfo<v8::Value>& info);

// The frozen crypto object: getRandomValues, randomUUID, subtle.digest.
v8::MaybeLocal<v8::Object> make_crypto(v8::Isolate* iso, v8::Local<v8::Context> ctx);

// {URL, URLSearchParams} of the realm, made on first use from the bundled whatwg-url.
v8::MaybeLocal<v8::Object> url_exports(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                       v8::Local<v8::Array> state);
// The names of the intrinsics url_exports needs (captured into kIntrinsics at install).
size_t url_intrinsic_count();
const char* url_intrinsic_name(size_t i);

}  // namespace plts::web
