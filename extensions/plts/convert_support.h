// What the converters share (convert.cpp: scalars, arrays, the type dispatch; convert_jsonb.cpp:
// jsonb both ways): PostgreSQL-side text and allocation helpers that never longjmp, and the errors
// every converter reports. Internal to the converters.
#pragma once

#include <string>

#include <v8.h>

#include "common/pg.h"
#include "extensions/plts/convert.h"
#include "extensions/plts/js_exception.h"

extern "C" {
#include "utils/jsonb.h"
#include "utils/numeric.h"
}

namespace plts::conv {

// Milliseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
inline constexpr double kPgEpochMs = 946684800000.0;
inline constexpr double kMsPerDay = 86400000.0;

[[noreturn]] void mismatch(const TypeConv& tc, const char* what);
[[noreturn]] void too_deep();
[[noreturn]] void out_of_range(const TypeConv& tc, const std::string& shown);
// "a string", "a number", ... for messages.
const char* js_type_name(v8::Local<v8::Value> v);

// palloc that never longjmps: sizes PostgreSQL refuses become 54000, exhaustion bad_alloc.
void* alloc_guarded(size_t n, bool huge = false);

template <typename T>
v8::Local<T> checked(v8::MaybeLocal<T> m) {
  v8::Local<T> out;
  if (!m.ToLocal(&out)) throw JsException();
  return out;
}

// Text for PostgreSQL from a JS string (U+0000 refused, 22P05).
std::string pg_text(v8::Isolate* iso, v8::Local<v8::Value> value);
// Through tc's input function / a built-in input function (guarded).
Datum text_in(const TypeConv& tc, const std::string& s);
Datum input_via(PGFunction fn, const std::string& s);
// A value's ToString() / JSON.stringify text.
std::string number_text(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v);
std::string json_text(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v);
// A Date for ms since 1970 (22008 outside a Date's range).
v8::Local<v8::Value> js_date(v8::Isolate* iso, v8::Local<v8::Context> ctx, double ms);
// The bytes of a varlena Datum (detoasted), and a text-like one as a JS string.
void varlena_bytes(Datum value, const char** data, size_t* len);
v8::Local<v8::String> text_to_js(v8::Isolate* iso, Datum value);
Numeric numeric_from_text(const std::string& s);

// jsonb <-> JS (convert_jsonb.cpp).
v8::Local<v8::Value> jsonb_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, Jsonb* jb);
Datum js_to_jsonb(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> value);

}  // namespace plts::conv
