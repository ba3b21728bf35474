// crypto: getRandomValues and randomUUID from PostgreSQL's pg_strong_random, subtle.digest from
// PostgreSQL's own cryptohash (SHA-1 and SHA-2, the OpenSSL the server was built with).
#include <cstring>
#include <memory>
#include <string>

#include "extensions/plts/convert.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/call.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/web/web_support.h"

#include "common/pg.h"

extern "C" {
#include "common/cryptohash.h"
#include "common/sha1.h"
#include "common/sha2.h"
}

namespace plts::web {

namespace {

using pgx::pg_guard;
using pgx::PgError;

void random_bytes(uint8_t* dest, size_t len) {
  bool ok = false;
  pg_guard([&] { ok = pg_strong_random(dest, len); });
  if (!ok) throw PgError(ERRCODE_INTERNAL_ERROR, "crypto: could not generate random bytes");
}

void get_random_values(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Value> a = info[0];
  if (!a->IsTypedArray()) {
    throw_type_error(iso, "crypto.getRandomValues: the argument must be an integer typed array");
    return;
  }
  if (!(a->IsInt8Array() || a->IsUint8Array() || a->IsUint8ClampedArray() || a->IsInt16Array() ||
        a->IsUint16Array() || a->IsInt32Array() || a->IsUint32Array() || a->IsBigInt64Array() ||
        a->IsBigUint64Array())) {
    throw_named(iso, "TypeMismatchError",
                "crypto.getRandomValues: the argument must be an integer typed array");
    return;
  }
  v8::Local<v8::TypedArray> view = a.As<v8::TypedArray>();
  size_t len = view->ByteLength();
  if (len > 65536) {
    throw_named(iso, "QuotaExceededError",
                "crypto.getRandomValues: the array's byte length (" + std::to_string(len) +
                    ") exceeds 65536");
    return;
  }
  native_guard(iso, ctx, [&] {
    if (len > 0) {
      v8::Local<v8::ArrayBuffer> buf = view->Buffer();
      random_bytes(static_cast<uint8_t*>(buf->GetBackingStore()->Data()) + view->ByteOffset(), len);
    }
    info.GetReturnValue().Set(a);
  });
}

void random_uuid(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  native_guard(iso, iso->GetCurrentContext(), [&] {
    uint8_t b[16];
    random_bytes(b, sizeof b);
    b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);  // version 4
    b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);  // variant 10
    static const char hex[] = "0123456789abcdef";
    char s[36];
    int o = 0;
    for (int i = 0; i < 16; i++) {
      if (i == 4 || i == 6 || i == 8 || i == 10) s[o++] = '-';
      s[o++] = hex[b[i] >> 4];
      s[o++] = hex[b[i] & 15];
    }
    info.GetReturnValue().Set(
        v8::String::NewFromOneByte(iso, reinterpret_cast<const uint8_t*>(s),
                                   v8::NewStringType::kNormal, 36)
            .ToLocalChecked());
  });
}

struct Algorithm {
  const char* name;
  pg_cryptohash_type type;
  size_t length;
};
constexpr Algorithm kDigests[] = {
    {"SHA-1", PG_SHA1, SHA1_DIGEST_LENGTH},
    {"SHA-256", PG_SHA256, PG_SHA256_DIGEST_LENGTH},
    {"SHA-384", PG_SHA384, PG_SHA384_DIGEST_LENGTH},
    {"SHA-512", PG_SHA512, PG_SHA512_DIGEST_LENGTH},
};

// Frees a cryptohash context on every exit path (pg_cryptohash_free never raises).
struct HashContext {
  pg_cryptohash_ctx* ctx = nullptr;
  ~HashContext() {
    if (ctx != nullptr) pg_cryptohash_free(ctx);
  }
};

void hash_error(pg_cryptohash_ctx* ctx) {
  const char* why = pg_cryptohash_error(ctx);
  throw PgError(ERRCODE_INTERNAL_ERROR,
                std::string("crypto.subtle.digest: ") + (why != nullptr ? why : "hashing failed"));
}

// crypto.subtle.digest(algorithm, data) -> Promise<ArrayBuffer>; every error is a rejection.
void digest(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(ctx).ToLocal(&resolver)) return;
  info.GetReturnValue().Set(resolver->GetPromise());
  v8::TryCatch tc(iso);
  v8::Local<v8::Value> result;
  [&] {
    v8::Local<v8::Value> alg = info[0];
    if (alg->IsObject() && !alg.As<v8::Object>()->Get(ctx, js_name(iso, "name")).ToLocal(&alg))
      return;
    v8::Local<v8::String> name_s;
    if (!alg->ToString(ctx).ToLocal(&name_s)) return;
    std::string name = utf8(iso, name_s);
    const Algorithm* a = nullptr;
    for (const Algorithm& d : kDigests)
      if (strcasecmp(d.name, name.c_str()) == 0) a = &d;
    if (a == nullptr) {
      throw_named(iso, "NotSupportedError",
                  "crypto.subtle.digest: the algorithm \"" + name +
                      "\" is not supported (SHA-1, SHA-256, SHA-384, SHA-512)");
      return;
    }
    ByteSource data;
    if (!data.init(info[1])) {
      throw_type_error(iso, "crypto.subtle.digest: the data must be an ArrayBuffer or a view of one");
      return;
    }
    uint8_t out[PG_SHA512_DIGEST_LENGTH];
    native_guard(iso, ctx, [&] {
      HashContext h;
      pg_guard([&] { h.ctx = pg_cryptohash_create(a->type); });
      if (h.ctx == nullptr) throw PgError(ERRCODE_OUT_OF_MEMORY, "out of memory");
      int rc = 0;
      pg_guard([&] { rc = pg_cryptohash_init(h.ctx); });
      if (rc < 0) hash_error(h.ctx);
      // In slices, so that a call past its deadline stops within one slice of a large input.
      constexpr size_t kSlice = 1 << 20;
      for (size_t off = 0; off < data.size(); off += kSlice) {
        if (off > 0 && call_must_stop(iso)) throw JsException();
        size_t len = std::min(kSlice, data.size() - off);
        pg_guard([&] { rc = pg_cryptohash_update(h.ctx, data.data() + off, len); });
        if (rc < 0) hash_error(h.ctx);
      }
      pg_guard([&] { rc = pg_cryptohash_final(h.ctx, out, a->length); });
      if (rc < 0) hash_error(h.ctx);
      v8::Local<v8::ArrayBuffer> buf = v8::ArrayBuffer::New(iso, a->length);
      memcpy(buf->GetBackingStore()->Data(), out, a->length);
      result = buf;
    });
  }();
  if (tc.HasTerminated() || iso->IsExecutionTerminating()) {
    tc.ReThrow();
    return;
  }
  if (tc.HasCaught()) {
    v8::Local<v8::Value> exc = tc.Exception();
    tc.Reset();
    ignore_result(resolver->Reject(ctx, exc));
    return;
  }
  if (!result.IsEmpty()) ignore_result(resolver->Resolve(ctx, result));
}

}  // namespace

v8::MaybeLocal<v8::Object> make_crypto(v8::Isolate* iso, v8::Local<v8::Context> ctx) {
  v8::Local<v8::Object> subtle = v8::Object::New(iso);
  v8::Local<v8::Object> crypto = v8::Object::New(iso);
  if (subtle->CreateDataProperty(ctx, js_name(iso, "digest"),
                                 native_function(iso, ctx, digest, "digest", 2))
          .IsNothing() ||
      subtle->DefineOwnProperty(ctx, v8::Symbol::GetToStringTag(iso), js_name(iso, "SubtleCrypto"),
                                v8::DontEnum)
          .IsNothing() ||
      !freeze(ctx, subtle) ||
      crypto->CreateDataProperty(ctx, js_name(iso, "getRandomValues"),
                                 native_function(iso, ctx, get_random_values, "getRandomValues", 1))
          .IsNothing() ||
      crypto->CreateDataProperty(ctx, js_name(iso, "randomUUID"),
                                 native_function(iso, ctx, random_uuid, "randomUUID", 0))
          .IsNothing() ||
      crypto->CreateDataProperty(ctx, js_name(iso, "subtle"), subtle).IsNothing() ||
      crypto->DefineOwnProperty(ctx, v8::Symbol::GetToStringTag(iso), js_name(iso, "Crypto"),
                                v8::DontEnum)
          .IsNothing() ||
      !freeze(ctx, crypto))
    return {};
  return crypto;
}

}  // namespace plts::web
