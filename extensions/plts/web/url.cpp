// URL and URLSearchParams: whatwg-url, bundled at build time (web/bundle_url.mjs) into one function
// of the realm's TextEncoder, TextDecoder and the intrinsics captured when the realm was made.
// Compiled on the first use of URL or URLSearchParams in a realm, never before.
#include <vector>

#include "extensions/plts/convert.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/web/web_support.h"
#include "url_bundle_js.h"

namespace plts::web {

size_t url_intrinsic_count() { return kUrlIntrinsicCount; }
const char* url_intrinsic_name(size_t i) { return kUrlIntrinsics[i]; }

v8::MaybeLocal<v8::Object> url_exports(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                       v8::Local<v8::Array> state) {
  v8::Local<v8::Value> cached, intrinsics;
  if (!state->Get(ctx, kUrlExports).ToLocal(&cached)) return {};
  if (cached->IsObject()) return cached.As<v8::Object>();
  v8::Local<v8::Function> encoder, decoder;
  if (!text_encoder_class(iso, ctx, state).ToLocal(&encoder) ||
      !text_decoder_class(iso, ctx, state).ToLocal(&decoder) ||
      !state->Get(ctx, kIntrinsics).ToLocal(&intrinsics))
    return {};
  // The bundle's source is static: an external string over the embedded text, no copy.
  class Source final : public v8::String::ExternalOneByteStringResource {
   public:
    const char* data() const override { return kUrlBundleJs; }
    size_t length() const override { return sizeof(kUrlBundleJs) - 1; }
  };
  v8::Local<v8::String> src;
  if (!v8::String::NewExternalOneByte(iso, new Source()).ToLocal(&src)) return {};
  v8::ScriptOrigin origin(iso, js_name(iso, "plts:url"));
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> factory, exports;
  if (!v8::Script::Compile(ctx, src, &origin).ToLocal(&script) ||
      !script->Run(ctx).ToLocal(&factory) || !factory->IsFunction())
    return {};
  v8::Local<v8::Array> list = intrinsics.As<v8::Array>();
  std::vector<v8::Local<v8::Value>> args{encoder, decoder};
  for (uint32_t i = 0; i < list->Length(); i++) {
    v8::Local<v8::Value> v;
    if (!list->Get(ctx, i).ToLocal(&v)) return {};
    args.push_back(v);
  }
  if (!factory.As<v8::Function>()
           ->Call(ctx, v8::Undefined(iso), static_cast<int>(args.size()), args.data())
           .ToLocal(&exports) ||
      !exports->IsObject())
    return {};
  // Freeze the classes, their prototypes and URLSearchParams' iterator prototype: one function
  // must not change what URL means for the others.
  v8::Local<v8::Object> ex = exports.As<v8::Object>();
  v8::Local<v8::Value> url, params, instance, iter;
  if (!ex->Get(ctx, js_name(iso, "URL")).ToLocal(&url) || !url->IsFunction() ||
      !ex->Get(ctx, js_name(iso, "URLSearchParams")).ToLocal(&params) || !params->IsFunction() ||
      !freeze_class(iso, ctx, url.As<v8::Function>()) ||
      !freeze_class(iso, ctx, params.As<v8::Function>()) ||
      !params.As<v8::Function>()->NewInstance(ctx, 0, nullptr).ToLocal(&instance))
    return {};
  v8::Local<v8::Value> entries;
  if (!instance.As<v8::Object>()->Get(ctx, js_name(iso, "entries")).ToLocal(&entries) ||
      !entries->IsFunction() ||
      !entries.As<v8::Function>()->Call(ctx, instance, 0, nullptr).ToLocal(&iter) ||
      !iter->IsObject())
    return {};
  v8::Local<v8::Value> iter_proto = iter.As<v8::Object>()->GetPrototype();
  if ((iter_proto->IsObject() && !freeze(ctx, iter_proto.As<v8::Object>())) || !freeze(ctx, ex) ||
      state->Set(ctx, kUrlExports, ex).IsNothing())
    return {};
  return ex;
}

}  // namespace plts::web
