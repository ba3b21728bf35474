// TextEncoder, TextDecoder (UTF-8 only, as the Encoding Standard's encoder is), atob and btoa
// (the HTML Standard's forgiving-base64).
#include <cstring>
#include <string>
#include <vector>

#include "extensions/plts/convert.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/parse/base64.h"
#include "extensions/plts/web/web_support.h"

namespace plts::web {

namespace {

bool is_construct(const v8::FunctionCallbackInfo<v8::Value>& info, const char* cls) {
  if (info.IsConstructCall()) return true;
  throw_type_error(info.GetIsolate(), std::string("Class constructor ") + cls +
                                          " cannot be invoked without 'new'");
  return false;
}

// ---- TextEncoder ----

void encoder_new(const v8::FunctionCallbackInfo<v8::Value>& info) {
  if (is_construct(info, "TextEncoder")) info.GetReturnValue().Set(info.This());
}

void encoder_encoding(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set(js_name(info.GetIsolate(), "utf-8"));
}

// Lone surrogates become U+FFFD (EF BF BD): V8's own UTF-8 writer does that with
// REPLACE_INVALID_UTF8, and counts them as three bytes in Utf8Length.
constexpr int kUtf8Flags = v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8;

void encoder_encode(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::String> s;
  if (info[0]->IsUndefined())
    s = v8::String::Empty(iso);
  else if (!info[0]->ToString(ctx).ToLocal(&s))
    return;
  size_t len = static_cast<size_t>(s->Utf8Length(iso));
  uint8_t* out = nullptr;
  v8::Local<v8::Uint8Array> bytes;
  if (!new_bytes(iso, len, &out).ToLocal(&bytes)) return;
  if (len) s->WriteUtf8(iso, reinterpret_cast<char*>(out), static_cast<int>(len), nullptr, kUtf8Flags);
  info.GetReturnValue().Set(bytes);
}

void encoder_encode_into(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::String> s;
  if (!info[0]->ToString(ctx).ToLocal(&s)) return;
  if (!info[1]->IsUint8Array()) {
    throw_type_error(iso, "TextEncoder.encodeInto: the destination must be a Uint8Array");
    return;
  }
  v8::Local<v8::Uint8Array> dest = info[1].As<v8::Uint8Array>();
  size_t cap = dest->ByteLength();
  int read = 0, written = 0;
  if (cap > 0 && s->Length() > 0) {
    v8::Local<v8::ArrayBuffer> buf = dest->Buffer();
    char* out = static_cast<char*>(buf->GetBackingStore()->Data()) + dest->ByteOffset();
    // Stops before a character that does not fit whole; `read` counts UTF-16 code units.
    written = s->WriteUtf8(iso, out, static_cast<int>(std::min<size_t>(cap, INT32_MAX)), &read,
                           kUtf8Flags);
  }
  v8::Local<v8::Object> r = v8::Object::New(iso);
  if (r->CreateDataProperty(ctx, js_name(iso, "read"), v8::Integer::New(iso, read)).IsNothing() ||
      r->CreateDataProperty(ctx, js_name(iso, "written"), v8::Integer::New(iso, written)).IsNothing())
    return;
  info.GetReturnValue().Set(r);
}

// ---- TextDecoder ----
// A decoder's state is one number in its internal field: flags, and the bytes of a character a
// streaming decode() left incomplete (at most three).
constexpr uint32_t kFatal = 1, kIgnoreBom = 2, kBomSeen = 4;
constexpr int kPendingShift = 3;  // 2 bits: how many bytes pending; then the bytes from bit 8

uint32_t decoder_state(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Local<v8::Value> v = info.This()->GetInternalField(0);
  return v->IsNumber() ? static_cast<uint32_t>(v.As<v8::Number>()->Value()) : 0;
}

void set_decoder_state(const v8::FunctionCallbackInfo<v8::Value>& info, uint32_t st) {
  info.This()->SetInternalField(0, v8::Number::New(info.GetIsolate(), st));
}

// The Encoding Standard's labels of UTF-8.
bool is_utf8_label(std::string label) {
  size_t b = label.find_first_not_of("\t\n\f\r ");
  size_t e = label.find_last_not_of("\t\n\f\r ");
  label = b == std::string::npos ? "" : label.substr(b, e - b + 1);
  for (char& c : label)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (const char* l : {"utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8",
                        "x-unicode20utf8"})
    if (label == l) return true;
  return false;
}

bool bool_option(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> options,
                 const char* name, bool* out) {
  *out = false;
  if (options->IsNullOrUndefined()) return true;
  if (!options->IsObject()) {
    throw_type_error(iso, "TextDecoder: options must be an object");
    return false;
  }
  v8::Local<v8::Value> v;
  if (!options.As<v8::Object>()->Get(ctx, js_name(iso, name)).ToLocal(&v)) return false;
  *out = v->BooleanValue(iso);
  return true;
}

void decoder_new(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  if (!is_construct(info, "TextDecoder")) return;
  if (!info[0]->IsUndefined()) {
    v8::Local<v8::String> label;
    if (!info[0]->ToString(ctx).ToLocal(&label)) return;
    std::string l = utf8(iso, label);
    if (!is_utf8_label(l)) {
      throw_range_error(iso, "TextDecoder: the encoding \"" + l +
                                 "\" is not supported (plts decodes UTF-8 only)");
      return;
    }
  }
  bool fatal = false, ignore_bom = false;
  if (!bool_option(iso, ctx, info[1], "fatal", &fatal) ||
      !bool_option(iso, ctx, info[1], "ignoreBOM", &ignore_bom))
    return;
  set_decoder_state(info, (fatal ? kFatal : 0) | (ignore_bom ? kIgnoreBom : 0));
  info.GetReturnValue().Set(info.This());
}

void decoder_encoding(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set(js_name(info.GetIsolate(), "utf-8"));
}
void decoder_fatal(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set((decoder_state(info) & kFatal) != 0);
}
void decoder_ignore_bom(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set((decoder_state(info) & kIgnoreBom) != 0);
}

// The Encoding Standard's UTF-8 decoder over `in`: appends UTF-16 to `out`. Returns false on the
// first error when fatal (otherwise an error is U+FFFD, one per maximal invalid subpart). With
// `stream`, an incomplete character at the end is left in *pending (its byte count in *npending).
bool utf8_decode(v8::Isolate* iso, const uint8_t* in, size_t n, bool fatal, bool stream,
                 std::u16string* out, uint8_t pending[3], int* npending) {
  uint32_t cp = 0;
  int needed = 0, seen = 0;
  uint8_t lower = 0x80, upper = 0xBF;
  size_t start = 0;  // where the character being read began
  StopPoll poll(iso);
  for (size_t i = 0; i < n; i++) {
    poll.check();
    uint8_t b = in[i];
    if (needed == 0) {
      start = i;
      if (b < 0x80) {
        out->push_back(b);
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
        cp = b & 0x1F;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2;
        cp = b & 0xF;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3;
        cp = b & 0x7;
      } else {
        if (fatal) return false;
        out->push_back(0xFFFD);
      }
      continue;
    }
    if (b < lower || b > upper) {
      // The bytes so far are an error; this byte starts over.
      cp = 0;
      needed = seen = 0;
      lower = 0x80;
      upper = 0xBF;
      if (fatal) return false;
      out->push_back(0xFFFD);
      i--;
      continue;
    }
    lower = 0x80;
    upper = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
    if (++seen < needed) continue;
    if (cp >= 0x10000) {
      out->push_back(static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10)));
      out->push_back(static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF)));
    } else {
      out->push_back(static_cast<char16_t>(cp));
    }
    cp = 0;
    needed = seen = 0;
  }
  *npending = 0;
  if (needed != 0) {
    if (stream) {
      *npending = static_cast<int>(n - start);
      memcpy(pending, in + start, n - start);
    } else {
      if (fatal) return false;
      out->push_back(0xFFFD);
    }
  }
  return true;
}

void decoder_decode(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  uint32_t st = decoder_state(info);
  ByteSource src;
  if (!info[0]->IsUndefined() && !src.init(info[0])) {
    throw_type_error(iso, "TextDecoder.decode: the input must be an ArrayBuffer or a view of one");
    return;
  }
  bool stream = false;
  if (!info[1]->IsNullOrUndefined()) {
    v8::Local<v8::Value> v;
    if (!info[1]->IsObject()) {
      throw_type_error(iso, "TextDecoder.decode: options must be an object");
      return;
    }
    if (!info[1].As<v8::Object>()->Get(ctx, js_name(iso, "stream")).ToLocal(&v)) return;
    stream = v->BooleanValue(iso);
  }
  int had = static_cast<int>((st >> kPendingShift) & 3);
  const uint8_t* in = src.data();
  size_t n = src.size();
  std::vector<uint8_t> joined;
  if (had > 0) {
    joined.reserve(had + n);
    for (int i = 0; i < had; i++) joined.push_back(static_cast<uint8_t>(st >> (8 + 8 * i)));
    joined.insert(joined.end(), in, in + n);
    in = joined.data();
    n = joined.size();
  }
  bool fatal = (st & kFatal) != 0;
  std::u16string out;
  uint8_t pending[3] = {0, 0, 0};
  int npending = 0;
  v8::Local<v8::String> result;
  bool ok = true;
  try {
    size_t ascii = 0;
    while (ascii < n && in[ascii] < 0x80) ascii++;
    if (ascii == n) {
      // All ASCII (the common case): no UTF-16 copy.
      if (n > static_cast<size_t>(v8::String::kMaxLength)) {
        throw_range_error(iso, "TextDecoder.decode: the text is longer than a string may be");
        return;
      }
      result = v8::String::NewFromOneByte(iso, in, v8::NewStringType::kNormal, static_cast<int>(n))
                   .ToLocalChecked();
    } else {
      out.reserve(n);
      ok = utf8_decode(iso, in, n, fatal, stream, &out, pending, &npending);
    }
  } catch (const JsException&) {
    return;  // the call must stop
  } catch (const std::bad_alloc&) {
    throw_range_error(iso, "TextDecoder.decode: out of memory");
    return;
  }
  if (!ok) {
    // A fatal decoder forgets what it had (the stream is over).
    set_decoder_state(info, st & (kFatal | kIgnoreBom));
    throw_type_error(iso, "TextDecoder.decode: the data is not valid UTF-8");
    return;
  }
  // A BOM is dropped once, at the start of a stream, unless ignoreBOM (an ASCII result has none).
  size_t skip = 0;
  if (result.IsEmpty()) {
    if (!(st & (kIgnoreBom | kBomSeen)) && !out.empty() && out[0] == 0xFEFF) skip = 1;
    if (out.size() - skip > static_cast<size_t>(v8::String::kMaxLength)) {
      throw_range_error(iso, "TextDecoder.decode: the text is longer than a string may be");
      return;
    }
    result = v8::String::NewFromTwoByte(iso, reinterpret_cast<const uint16_t*>(out.data() + skip),
                                        v8::NewStringType::kNormal,
                                        static_cast<int>(out.size() - skip))
                 .ToLocalChecked();
  }
  if (skip > 0 || result->Length() > 0) st |= kBomSeen;
  uint32_t next = st & (kFatal | kIgnoreBom);
  if (stream) {
    next |= (st & kBomSeen) | (static_cast<uint32_t>(npending) << kPendingShift);
    for (int i = 0; i < npending; i++) next |= static_cast<uint32_t>(pending[i]) << (8 + 8 * i);
  }
  set_decoder_state(info, next);
  info.GetReturnValue().Set(result);
}

v8::MaybeLocal<v8::Function> make_class(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                        v8::Local<v8::Array> state, uint32_t slot, const char* name,
                                        v8::FunctionCallback ctor, int fields,
                                        void (*fill)(v8::Isolate*, v8::Local<v8::FunctionTemplate>)) {
  v8::Local<v8::Value> cached;
  if (!state->Get(ctx, slot).ToLocal(&cached)) return {};
  if (cached->IsFunction()) return cached.As<v8::Function>();
  v8::Local<v8::FunctionTemplate> t = v8::FunctionTemplate::New(iso, ctor);
  t->SetClassName(js_name(iso, name));
  t->InstanceTemplate()->SetInternalFieldCount(fields);
  t->PrototypeTemplate()->Set(v8::Symbol::GetToStringTag(iso), js_name(iso, name),
                              static_cast<v8::PropertyAttribute>(v8::ReadOnly | v8::DontEnum));
  fill(iso, t);
  v8::Local<v8::Function> cls;
  if (!t->GetFunction(ctx).ToLocal(&cls) || !freeze_class(iso, ctx, cls) ||
      state->Set(ctx, slot, cls).IsNothing())
    return {};
  return cls;
}

// Methods and getters check their receiver through the template's signature ("Illegal
// invocation" on anything else).
void add_method(v8::Isolate* iso, v8::Local<v8::FunctionTemplate> t, const char* name,
                v8::FunctionCallback cb, int length) {
  t->PrototypeTemplate()->Set(
      js_name(iso, name),
      v8::FunctionTemplate::New(iso, cb, v8::Local<v8::Value>(), v8::Signature::New(iso, t), length,
                                v8::ConstructorBehavior::kThrow));
}

void add_getter(v8::Isolate* iso, v8::Local<v8::FunctionTemplate> t, const char* name,
                v8::FunctionCallback cb) {
  t->PrototypeTemplate()->SetAccessorProperty(
      js_name(iso, name),
      v8::FunctionTemplate::New(iso, cb, v8::Local<v8::Value>(), v8::Signature::New(iso, t), 0,
                                v8::ConstructorBehavior::kThrow));
}

// ---- forgiving-base64 ----

// Returns bytes as a one-byte string; a RangeError when no string can be that long (btoa of a
// string near V8's limit grows past it by a third).
void return_one_byte(const v8::FunctionCallbackInfo<v8::Value>& info, const std::string& out,
                     const char* what) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::String> s;
  if (out.size() > static_cast<size_t>(v8::String::kMaxLength) ||
      !v8::String::NewFromOneByte(iso, reinterpret_cast<const uint8_t*>(out.data()),
                                  v8::NewStringType::kNormal, static_cast<int>(out.size()))
           .ToLocal(&s)) {
    throw_range_error(iso, std::string(what) + ": the result is longer than a string may be");
    return;
  }
  info.GetReturnValue().Set(s);
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The string's characters as Latin-1 bytes; false (no exception) when one is above U+00FF.
bool latin1(v8::Isolate* iso, v8::Local<v8::String> s, std::string* out) {
  if (!s->ContainsOnlyOneByte()) return false;
  out->resize(static_cast<size_t>(s->Length()));
  if (!out->empty())
    s->WriteOneByte(iso, reinterpret_cast<uint8_t*>(&(*out)[0]), 0, s->Length(),
                    v8::String::NO_NULL_TERMINATION);
  return true;
}

}  // namespace

v8::MaybeLocal<v8::Function> text_encoder_class(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                                v8::Local<v8::Array> state) {
  return make_class(iso, ctx, state, kTextEncoder, "TextEncoder", encoder_new, 0,
                    [](v8::Isolate* iso, v8::Local<v8::FunctionTemplate> t) {
                      add_getter(iso, t, "encoding", encoder_encoding);
                      add_method(iso, t, "encode", encoder_encode, 0);
                      add_method(iso, t, "encodeInto", encoder_encode_into, 2);
                    });
}

v8::MaybeLocal<v8::Function> text_decoder_class(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                                v8::Local<v8::Array> state) {
  return make_class(iso, ctx, state, kTextDecoder, "TextDecoder", decoder_new, 1,
                    [](v8::Isolate* iso, v8::Local<v8::FunctionTemplate> t) {
                      add_getter(iso, t, "encoding", decoder_encoding);
                      add_getter(iso, t, "fatal", decoder_fatal);
                      add_getter(iso, t, "ignoreBOM", decoder_ignore_bom);
                      add_method(iso, t, "decode", decoder_decode, 0);
                    });
}

void btoa_callback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  if (info.Length() == 0) {
    throw_type_error(iso, "btoa: 1 argument required, but only 0 present");
    return;
  }
  v8::Local<v8::String> s;
  if (!info[0]->ToString(ctx).ToLocal(&s)) return;
  std::string in, out;
  try {
    if (!latin1(iso, s, &in)) {
      throw_named(iso, "InvalidCharacterError",
                  "btoa: the string contains characters outside of the Latin-1 range");
      return;
    }
    size_t n = in.size();
    if ((n + 2) / 3 * 4 > static_cast<size_t>(v8::String::kMaxLength)) {
      throw_range_error(iso, "btoa: the result is longer than a string may be");
      return;
    }
    out.reserve((n + 2) / 3 * 4);
    StopPoll poll(iso);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(in.data());
    for (size_t i = 0; i < n; i += 3) {
      poll.check();
      uint32_t v = static_cast<uint32_t>(p[i]) << 16;
      if (i + 1 < n) v |= static_cast<uint32_t>(p[i + 1]) << 8;
      if (i + 2 < n) v |= p[i + 2];
      out += kBase64[(v >> 18) & 63];
      out += kBase64[(v >> 12) & 63];
      out += i + 1 < n ? kBase64[(v >> 6) & 63] : '=';
      out += i + 2 < n ? kBase64[v & 63] : '=';
    }
  } catch (const JsException&) {
    return;
  } catch (const std::bad_alloc&) {
    throw_range_error(iso, "btoa: out of memory");
    return;
  }
  return_one_byte(info, out, "btoa");
}

void atob_callback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  if (info.Length() == 0) {
    throw_type_error(iso, "atob: 1 argument required, but only 0 present");
    return;
  }
  v8::Local<v8::String> s;
  if (!info[0]->ToString(ctx).ToLocal(&s)) return;
  const char* bad = "atob: the string is not correctly encoded";
  std::string in, out;
  try {
    if (!latin1(iso, s, &in)) {
      throw_named(iso, "InvalidCharacterError", bad);
      return;
    }
    // Forgiving-base64 decode: drop ASCII whitespace; a length that is a multiple of four may end
    // in one or two '='; then a remainder of one character, or any other character, is an error.
    StopPoll poll(iso);
    size_t n = 0;
    for (char c : in) {
      poll.check();
      if (c != '\t' && c != '\n' && c != '\f' && c != '\r' && c != ' ') in[n++] = c;
    }
    in.resize(n);
    if (n % 4 == 0 && n > 0 && in[n - 1] == '=') {
      n--;
      if (in[n - 1] == '=') n--;
    }
    if (n % 4 == 1) {
      throw_named(iso, "InvalidCharacterError", bad);
      return;
    }
    out.reserve(n / 4 * 3 + 2);
    uint32_t buf = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
      poll.check();
      int v = base64_digit(static_cast<char>(in[i]));
      if (v < 0) {
        throw_named(iso, "InvalidCharacterError", bad);
        return;
      }
      buf = (buf << 6) | static_cast<uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out += static_cast<char>((buf >> bits) & 0xFF);
      }
    }
  } catch (const JsException&) {
    return;
  } catch (const std::bad_alloc&) {
    throw_range_error(iso, "atob: out of memory");
    return;
  }
  return_one_byte(info, out, "atob");
}

}  // namespace plts::web
