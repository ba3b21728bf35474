#include "extensions/plts/convert_support.h"

#include <cstring>
#include <new>

#include "common/error_boundary.h"
#include "extensions/plts/json_text.h"

namespace plts::conv {

using pgx::pg_guard;
using pgx::PgError;


[[noreturn]] void mismatch(const TypeConv& tc, const char* what) {
  const char* tname = nullptr;
  pg_guard([&] { tname = format_type_be(tc.type); });
  throw PgError(ERRCODE_DATATYPE_MISMATCH, std::string("cannot convert ") + what + " to " + tname);
}

[[noreturn]] void too_deep() {
  throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                "value is nested too deeply for jsonb (more than " + std::to_string(kMaxJsonbDepth) +
                    " levels)");
}

[[noreturn]] void out_of_range(const TypeConv& tc, const std::string& shown) {
  const char* tname = nullptr;
  pg_guard([&] { tname = format_type_be(tc.type); });
  throw PgError(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                "value " + shown + " is out of range for type " + tname);
}

const char* js_type_name(v8::Local<v8::Value> v) {
  if (v->IsString()) return "a string";
  if (v->IsNumber()) return "a number";
  if (v->IsBigInt()) return "a bigint";
  if (v->IsBoolean()) return "a boolean";
  if (v->IsArray()) return "an array";
  if (v->IsDate()) return "a Date";
  if (v->IsFunction()) return "a function";
  if (v->IsSymbol()) return "a symbol";
  if (v->IsArrayBufferView() || v->IsArrayBuffer()) return "binary data";
  return "an object";
}

void* alloc_guarded(size_t n, bool huge) {
  if (huge ? !AllocHugeSizeIsValid(n) : !AllocSizeIsValid(n))
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                  "value too large to convert (" + std::to_string(n) + " bytes)");
  void* p = nullptr;
  pg_guard([&] {
    p = palloc_extended(n ? n : 1, MCXT_ALLOC_NO_OOM | (huge ? MCXT_ALLOC_HUGE : 0));
  });
  if (p == nullptr) throw std::bad_alloc();
  return p;
}


// Text for PostgreSQL from a JS string: PostgreSQL text cannot hold U+0000 (as PL/Python, plts
// refuses it rather than cut the string there).
std::string pg_text(v8::Isolate* iso, v8::Local<v8::Value> value) {
  std::string s = utf8(iso, value);
  if (memchr(s.data(), '\0', s.size()) != nullptr)
    throw PgError(ERRCODE_UNTRANSLATABLE_CHARACTER,
                  "a string with a NUL character (U+0000) cannot be converted to PostgreSQL text");
  return s;
}

Datum text_in(const TypeConv& tc, const std::string& s) {
  Datum d = 0;
  pg_guard([&] {
    d = InputFunctionCall(const_cast<FmgrInfo*>(&tc.in_fn), const_cast<char*>(s.c_str()),
                          tc.ioparam, tc.typmod);
  });
  return d;
}

Datum input_via(PGFunction fn, const std::string& s) {
  Datum d = 0;
  pg_guard([&] { d = DirectFunctionCall1(fn, CStringGetDatum(s.c_str())); });
  return d;
}

std::string number_text(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v) {
  return utf8(iso, checked(v->ToString(ctx)));
}

std::string json_text(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v) {
  v8::Local<v8::String> s;
  if (!v8::JSON::Stringify(ctx, v).ToLocal(&s)) throw JsException();
  // An object whose toJSON() gives undefined has no JSON text: the API hands back "undefined".
  if (!s->IsString()) throw PgError(ERRCODE_DATATYPE_MISMATCH, "the value has no JSON form");
  return utf8(iso, s);
}

// A Date for ms since 1970; PostgreSQL's range is wider than a Date's (±8.64e15 ms), and an
// Invalid Date would pass for a value.
v8::Local<v8::Value> js_date(v8::Isolate* iso, v8::Local<v8::Context> ctx, double ms) {
  if (!(ms >= -8.64e15 && ms <= 8.64e15))
    throw PgError(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE,
                  "date/time value is out of a JavaScript Date's range (years -271821 to 275760)");
  return checked(v8::Date::New(ctx, ms));
}

// The bytes of a varlena Datum (text, json, bytea), detoasted.
void varlena_bytes(Datum value, const char** data, size_t* len) {
  pg_guard([&] {
    struct varlena* v = PG_DETOAST_DATUM_PACKED(value);
    *data = VARDATA_ANY(v);
    *len = VARSIZE_ANY_EXHDR(v);
  });
}

// A text-like Datum (text, varchar, json) as a JS string.
v8::Local<v8::String> text_to_js(v8::Isolate* iso, Datum value) {
  const char* data = nullptr;
  size_t len = 0;
  varlena_bytes(value, &data, &len);
  return js_string(iso, data, static_cast<int>(len));
}

Numeric numeric_from_text(const std::string& s) {
  Numeric n = nullptr;
  pg_guard([&] {
    n = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s.c_str()),
                                            ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
  });
  return n;
}

}  // namespace plts::conv
