#include "extensions/plts/convert.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <new>
#include <vector>

#include "common/error_boundary.h"
#include "extensions/plts/convert_support.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/rows.h"
#include "extensions/plts/gucs.h"

extern "C" {
#include "utils/array.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
}

namespace plts {

using pgx::pg_guard;
using pgx::PgError;

using namespace conv;

Datum from_js_base(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                   v8::Local<v8::Value> value, bool* isnull);

namespace {

// ---- scalars -------------------------------------------------------------------------------

[[noreturn]] void not_an_integer(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                                 v8::Local<v8::Value> value) {
  const char* tname = nullptr;
  pg_guard([&] { tname = format_type_be(tc.type); });
  throw PgError(ERRCODE_INVALID_TEXT_REPRESENTATION,
                "invalid input syntax for type " + std::string(tname) + ": \"" +
                    number_text(iso, ctx, value) + "\"",
                "", "Only integral JavaScript numbers convert to integer types.");
}

double js_integral(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                   v8::Local<v8::Value> value, double lo, double hi, bool* from_string,
                   std::string* text) {
  *from_string = false;
  if (value->IsNumber()) {
    double d = value.As<v8::Number>()->Value();
    if (!std::isfinite(d) || d != std::trunc(d)) not_an_integer(iso, ctx, tc, value);
    if (d < lo || d > hi) out_of_range(tc, number_text(iso, ctx, value));
    return d;
  }
  if (value->IsBigInt()) {
    bool lossless = true;
    int64_t i = value.As<v8::BigInt>()->Int64Value(&lossless);
    if (!lossless || static_cast<double>(i) < lo || static_cast<double>(i) > hi)
      out_of_range(tc, number_text(iso, ctx, value));
    return static_cast<double>(i);
  }
  if (value->IsString()) {
    *from_string = true;
    *text = pg_text(iso, value);
    return 0;
  }
  mismatch(tc, js_type_name(value));
}

Datum int8_from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                   v8::Local<v8::Value> value) {
  if (value->IsBigInt()) {
    bool lossless = true;
    int64_t i = value.As<v8::BigInt>()->Int64Value(&lossless);
    if (!lossless) out_of_range(tc, number_text(iso, ctx, value));
    return Int64GetDatum(i);
  }
  if (value->IsNumber()) {
    double d = value.As<v8::Number>()->Value();
    if (!std::isfinite(d) || d != std::trunc(d)) not_an_integer(iso, ctx, tc, value);
    if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
      out_of_range(tc, number_text(iso, ctx, value));
    return Int64GetDatum(static_cast<int64>(d));
  }
  if (value->IsString()) return input_via(int8in, pg_text(iso, value));
  mismatch(tc, js_type_name(value));
}

[[noreturn]] void datetime_out_of_range(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                        const TypeConv& tc, v8::Local<v8::Value> value) {
  const char* tname = nullptr;
  pg_guard([&] { tname = format_type_be(tc.type); });
  std::string shown = value->IsDate() ? "Date " + number_text(iso, ctx, v8::Number::New(
                                                     iso, value.As<v8::Date>()->ValueOf()))
                                      : number_text(iso, ctx, value);
  throw PgError(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE,
                std::string(tname) + " out of range: " + shown + " ms since 1970",
                "PostgreSQL's " + std::string(tname) + " spans 4713 BC to " +
                    (tc.kind == TypeKind::kDate ? "5874897 AD." : "294276 AD."));
}

double date_ms(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
               v8::Local<v8::Value> value, bool* have) {
  *have = true;
  if (value->IsDate()) return value.As<v8::Date>()->ValueOf();
  if (value->IsNumber()) return value.As<v8::Number>()->Value();
  *have = false;
  if (value->IsString()) return 0;
  mismatch(tc, js_type_name(value));
}

Datum bytes_to_bytea(const char* data, size_t len) {
  if (len > MaxAllocSize - VARHDRSZ)
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                  "binary value of " + std::to_string(len) + " bytes is too large for bytea");
  bytea* b = static_cast<bytea*>(alloc_guarded(len + VARHDRSZ));
  SET_VARSIZE(b, len + VARHDRSZ);
  if (len) memcpy(VARDATA(b), data, len);
  return PointerGetDatum(b);
}

Datum text_datum(const std::string& s) {
  if (s.size() > MaxAllocSize - VARHDRSZ)
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                  "string of " + std::to_string(s.size()) + " bytes is too large for text");
  text* t = static_cast<text*>(alloc_guarded(s.size() + VARHDRSZ));
  SET_VARSIZE(t, s.size() + VARHDRSZ);
  memcpy(VARDATA(t), s.data(), s.size());
  return PointerGetDatum(t);
}

std::string text_of_value(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                          v8::Local<v8::Value> value) {
  if (value->IsString()) return pg_text(iso, value);
  if (value->IsDate()) {
    v8::Local<v8::Object> d = value.As<v8::Object>();
    v8::Local<v8::Value> fn = checked(d->Get(ctx, js_string(iso, "toISOString", 11)));
    if (fn->IsFunction()) {
      v8::Local<v8::Value> iso_text = checked(fn.As<v8::Function>()->Call(ctx, d, 0, nullptr));
      if (iso_text->IsString()) return pg_text(iso, iso_text);
    }
  }
  if (value->IsSymbol()) throw PgError(ERRCODE_DATATYPE_MISMATCH, "cannot convert a symbol to text");
  if (value->IsObject() && !value->IsFunction()) {
    std::string t = json_text(iso, ctx, value);
    if (memchr(t.data(), '\0', t.size()) != nullptr)
      throw PgError(ERRCODE_UNTRANSLATABLE_CHARACTER,
                    "a string with a NUL character (U+0000) cannot be converted to PostgreSQL text");
    return t;
  }
  return pg_text(iso, checked(value->ToString(ctx)));
}

Datum array_from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                    v8::Local<v8::Value> value) {
  if (!value->IsArray()) {
    if (value->IsString()) return text_in(tc, pg_text(iso, value));
    mismatch(tc, js_type_name(value));
  }
  v8::Local<v8::Array> arr = value.As<v8::Array>();
  uint32_t n = arr->Length();
  if (n > MaxArraySize)
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                  "array of " + std::to_string(n) + " elements exceeds the maximum allowed (" +
                      std::to_string(MaxArraySize) + ")");
  std::vector<Datum> values(n);
  bool* nulls = static_cast<bool*>(alloc_guarded(std::max<uint32_t>(n, 1)));
  StopPoll poll(iso);
  for (uint32_t i = 0; i < n; i++) {
    poll.check();
    v8::Local<v8::Value> e = checked(arr->Get(ctx, i));
    if (e->IsArray() && tc.elem->kind != TypeKind::kJson && tc.elem->kind != TypeKind::kJsonb)
      throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                    "multidimensional arrays are not supported when converting from JavaScript");
    bool isnull = false;
    values[i] = from_js(iso, ctx, *tc.elem, e, &isnull);
    nulls[i] = isnull;
  }
  Datum d = 0;
  pg_guard([&] {
    int dims[1] = {static_cast<int>(n)};
    int lbs[1] = {1};
    d = PointerGetDatum(construct_md_array(values.data(), nulls, n ? 1 : 0, dims, lbs,
                                           tc.elem_type, tc.elmlen, tc.elmbyval, tc.elmalign));
  });
  return d;
}

v8::Local<v8::Value> array_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                                 Datum value) {
  ArrayType* a = nullptr;
  Datum* elems = nullptr;
  bool* nulls = nullptr;
  int n = 0;
  pg_guard([&] {
    a = DatumGetArrayTypeP(value);
    deconstruct_array(a, tc.elem_type, tc.elmlen, tc.elmbyval, tc.elmalign, &elems, &nulls, &n);
  });
  int ndim = ARR_NDIM(a);
  StopPoll poll(iso);
  if (ndim <= 1) {
    v8::Local<v8::Array> out = v8::Array::New(iso, n);
    for (int i = 0; i < n; i++) {
      poll.check();
      if (out->CreateDataProperty(ctx, i, to_js(iso, ctx, *tc.elem, elems[i], nulls[i]))
              .IsNothing())
        throw JsException();
    }
    return out;
  }
  // Multidimensional arrays become nested arrays.
  int* dims = ARR_DIMS(a);
  int pos = 0;
  std::function<v8::Local<v8::Value>(int)> level = [&](int d) -> v8::Local<v8::Value> {
    v8::Local<v8::Array> out = v8::Array::New(iso, dims[d]);
    for (int i = 0; i < dims[d]; i++) {
      poll.check();
      v8::Local<v8::Value> v;
      if (d + 1 == ndim) {
        v = to_js(iso, ctx, *tc.elem, elems[pos], nulls[pos]);
        pos++;
      } else {
        v = level(d + 1);
      }
      if (out->CreateDataProperty(ctx, i, v).IsNothing()) throw JsException();
    }
    return out;
  };
  return level(0);
}

}  // namespace

std::string utf8(v8::Isolate* iso, v8::Local<v8::Value> value) {
  if (value.IsEmpty() || !value->IsString())
    throw PgError(ERRCODE_INTERNAL_ERROR, "plts: expected a JavaScript string");
  v8::Local<v8::String> s = value.As<v8::String>();
  int len = s->Utf8Length(iso);
  std::string out(len, '\0');
  s->WriteUtf8(iso, out.data(), len, nullptr,
               v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
  return out;
}

v8::Local<v8::String> js_string(v8::Isolate* iso, const char* data, int length) {
  v8::Local<v8::String> s;
  if (!v8::String::NewFromUtf8(iso, data, v8::NewStringType::kNormal, length).ToLocal(&s))
    throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "string too long for JavaScript");
  return s;
}

TypeConv::~TypeConv() {
  row.reset();
  elem.reset();
  if (mcxt != nullptr) MemoryContextDelete(mcxt);
}

std::unique_ptr<TypeConv> resolve_type(Oid type, int32 typmod) {
  Oid base = type;
  int32 base_typmod = typmod;
  pg_guard([&] { base = getBaseTypeAndTypmod(type, &base_typmod); });
  if (base != type) {
    std::unique_ptr<TypeConv> tc = resolve_type(base, base_typmod);
    tc->domain = type;
    return tc;
  }
  auto tc = std::make_unique<TypeConv>();
  tc->type = type;
  tc->typmod = typmod;
  pg_guard([&] {
    tc->mcxt = AllocSetContextCreate(TopMemoryContext, "plts type converter",
                                     ALLOCSET_SMALL_SIZES);
  });
  switch (type) {
    case BOOLOID:
      tc->kind = TypeKind::kBool;
      break;
    case INT2OID:
      tc->kind = TypeKind::kInt2;
      break;
    case INT4OID:
      tc->kind = TypeKind::kInt4;
      break;
    case INT8OID:
      tc->kind = TypeKind::kInt8;
      break;
    case FLOAT4OID:
      tc->kind = TypeKind::kFloat4;
      break;
    case FLOAT8OID:
      tc->kind = TypeKind::kFloat8;
      break;
    case OIDOID:
      tc->kind = TypeKind::kOid;
      break;
    case NUMERICOID:
      tc->kind = TypeKind::kNumeric;
      break;
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID:
      tc->kind = TypeKind::kText;
      break;
    case NAMEOID:
      tc->kind = TypeKind::kName;
      break;
    case JSONOID:
      tc->kind = TypeKind::kJson;
      break;
    case JSONBOID:
      tc->kind = TypeKind::kJsonb;
      break;
    case DATEOID:
      tc->kind = TypeKind::kDate;
      break;
    case TIMESTAMPOID:
      tc->kind = TypeKind::kTimestamp;
      break;
    case TIMESTAMPTZOID:
      tc->kind = TypeKind::kTimestamptz;
      break;
    case BYTEAOID:
      tc->kind = TypeKind::kBytea;
      break;
    case VOIDOID:
      tc->kind = TypeKind::kVoid;
      break;
    default:
      tc->kind = TypeKind::kOther;
      break;
  }
  // Length-limited text types go through their input function so typmods are enforced.
  if ((type == VARCHAROID || type == BPCHAROID) && typmod >= 0) tc->kind = TypeKind::kOther;
  Oid elem = InvalidOid;
  pg_guard([&] {
    elem = get_element_type(type);
    if (OidIsValid(elem) && type != NAMEOID && type != OIDVECTOROID && type != INT2VECTOROID) {
      tc->kind = TypeKind::kArray;
      get_typlenbyvalalign(elem, &tc->elmlen, &tc->elmbyval, &tc->elmalign);
    }
    Oid in_fn, out_fn;
    bool varlena;
    getTypeInputInfo(type, &in_fn, &tc->ioparam);
    fmgr_info_cxt(in_fn, &tc->in_fn, tc->mcxt);
    getTypeOutputInfo(type, &out_fn, &varlena);
    fmgr_info_cxt(out_fn, &tc->out_fn, tc->mcxt);
  });
  if (tc->kind == TypeKind::kOther) {
    bool composite = false;
    pg_guard([&] { composite = type == RECORDOID || get_typtype(type) == TYPTYPE_COMPOSITE; });
    if (composite) tc->kind = TypeKind::kComposite;
  }
  if (tc->kind == TypeKind::kArray) {
    tc->elem_type = elem;  // as declared: a domain's array holds the domain, not its base type
    tc->elem = resolve_type(elem);
  }
  return tc;
}

v8::Local<v8::Value> to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                           Datum value, bool isnull) {
  if (isnull) return v8::Null(iso);
  switch (tc.kind) {
    case TypeKind::kBool:
      return v8::Boolean::New(iso, DatumGetBool(value));
    case TypeKind::kInt2:
      return v8::Integer::New(iso, DatumGetInt16(value));
    case TypeKind::kInt4:
      return v8::Integer::New(iso, DatumGetInt32(value));
    case TypeKind::kOid:
      return v8::Integer::NewFromUnsigned(iso, DatumGetObjectId(value));
    case TypeKind::kFloat4:
      return v8::Number::New(iso, DatumGetFloat4(value));
    case TypeKind::kFloat8:
      return v8::Number::New(iso, DatumGetFloat8(value));
    case TypeKind::kInt8: {
      if (settings.int8_bigint) return v8::BigInt::New(iso, DatumGetInt64(value));
      char buf[24];
      int len = snprintf(buf, sizeof buf, "%lld", static_cast<long long>(DatumGetInt64(value)));
      return js_string(iso, buf, len);
    }
    case TypeKind::kText:
      return text_to_js(iso, value);
    case TypeKind::kName:
      return js_string(iso, NameStr(*DatumGetName(value)), strlen(NameStr(*DatumGetName(value))));
    case TypeKind::kJsonb: {
      Jsonb* jb = nullptr;
      pg_guard([&] { jb = DatumGetJsonbP(value); });
      return jsonb_to_js(iso, ctx, jb);
    }
    case TypeKind::kJson: {
      v8::Local<v8::Value> out;
      if (!v8::JSON::Parse(ctx, text_to_js(iso, value)).ToLocal(&out)) throw JsException();
      return out;
    }
    case TypeKind::kDate: {
      // ±infinity become ±Infinity (numbers: no Date holds them), as node-postgres does.
      DateADT d = DatumGetDateADT(value);
      if (DATE_IS_NOBEGIN(d)) return v8::Number::New(iso, -INFINITY);
      if (DATE_IS_NOEND(d)) return v8::Number::New(iso, INFINITY);
      return js_date(iso, ctx, d * kMsPerDay + kPgEpochMs);
    }
    case TypeKind::kTimestamp:
    case TypeKind::kTimestamptz: {
      int64 us = DatumGetInt64(value);
      if (TIMESTAMP_IS_NOBEGIN(us)) return v8::Number::New(iso, -INFINITY);
      if (TIMESTAMP_IS_NOEND(us)) return v8::Number::New(iso, INFINITY);
      // Whole milliseconds, rounded down (a Date's time value truncates toward zero, which
      // would move times before 1970 forward).
      int64 ms = us / 1000 - (us % 1000 < 0 ? 1 : 0);
      return js_date(iso, ctx, static_cast<double>(ms) + kPgEpochMs);
    }
    case TypeKind::kBytea: {
      const char* data = nullptr;
      size_t len = 0;
      varlena_bytes(value, &data, &len);
      if (!arraybuffer_budget_allows(len))
        throw PgError(ERRCODE_OUT_OF_MEMORY, "bytea value exceeds plts.max_arraybuffer_mb");
      v8::Local<v8::ArrayBuffer> buf = v8::ArrayBuffer::New(iso, len);
      if (len) memcpy(buf->GetBackingStore()->Data(), data, len);
      return v8::Uint8Array::New(buf, 0, len);
    }
    case TypeKind::kArray:
      return array_to_js(iso, ctx, tc, value);
    case TypeKind::kComposite:
      return composite_to_js(iso, ctx, tc, value);
    case TypeKind::kVoid:
      return v8::Undefined(iso);
    case TypeKind::kNumeric:
    case TypeKind::kOther: {
      const char* s = nullptr;
      pg_guard([&] { s = OutputFunctionCall(const_cast<FmgrInfo*>(&tc.out_fn), value); });
      return js_string(iso, s, strlen(s));
    }
  }
  return v8::Undefined(iso);
}

Datum from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
              v8::Local<v8::Value> value, bool* isnull) {
  Datum d = from_js_base(iso, ctx, tc, value, isnull);
  if (OidIsValid(tc.domain)) {
    bool null = *isnull;
    pg_guard([&] { domain_check(d, null, tc.domain, &tc.domain_extra, tc.mcxt); });
  }
  return d;
}

Datum from_js_base(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                   v8::Local<v8::Value> value, bool* isnull) {
  *isnull = false;
  if (value->IsNullOrUndefined()) {
    *isnull = true;
    return 0;
  }
  bool from_string = false;
  std::string text;
  switch (tc.kind) {
    case TypeKind::kBool:
      if (value->IsBoolean()) return BoolGetDatum(value->IsTrue());
      if (value->IsString()) return input_via(boolin, pg_text(iso, value));
      mismatch(tc, js_type_name(value));
    case TypeKind::kInt2: {
      double d = js_integral(iso, ctx, tc, value, -32768, 32767, &from_string, &text);
      return from_string ? input_via(int2in, text) : Int16GetDatum(static_cast<int16>(d));
    }
    case TypeKind::kInt4: {
      if (value->IsInt32()) return Int32GetDatum(value.As<v8::Int32>()->Value());
      double d = js_integral(iso, ctx, tc, value, -2147483648.0, 2147483647.0, &from_string, &text);
      return from_string ? input_via(int4in, text) : Int32GetDatum(static_cast<int32>(d));
    }
    case TypeKind::kOid: {
      double d = js_integral(iso, ctx, tc, value, 0, 4294967295.0, &from_string, &text);
      return from_string ? input_via(oidin, text) : ObjectIdGetDatum(static_cast<Oid>(d));
    }
    case TypeKind::kInt8:
      return int8_from_js(iso, ctx, tc, value);
    case TypeKind::kFloat4:
    case TypeKind::kFloat8: {
      double d;
      if (value->IsNumber()) {
        d = value.As<v8::Number>()->Value();
      } else if (value->IsBigInt() || value->IsString()) {
        // A BigInt through its decimal text: correctly rounded, 22003 beyond the type's range.
        std::string t = value->IsString() ? pg_text(iso, value) : number_text(iso, ctx, value);
        return input_via(tc.kind == TypeKind::kFloat4 ? float4in : float8in, t);
      } else {
        mismatch(tc, js_type_name(value));
      }
      if (tc.kind == TypeKind::kFloat4) {
        float f = static_cast<float>(d);
        if ((std::isinf(f) && !std::isinf(d)) || (f == 0.0f && d != 0.0))
          out_of_range(tc, number_text(iso, ctx, value));
        return Float4GetDatum(f);
      }
      return Float8GetDatum(d);
    }
    case TypeKind::kNumeric:
      if (value->IsNumber() || value->IsBigInt() || value->IsString()) {
        std::string s = value->IsString() ? pg_text(iso, value) : number_text(iso, ctx, value);
        return text_in(tc, s);
      }
      mismatch(tc, js_type_name(value));
    case TypeKind::kText:
      return text_datum(text_of_value(iso, ctx, value));
    case TypeKind::kName:
      return input_via(namein, text_of_value(iso, ctx, value));
    case TypeKind::kJsonb:
      return js_to_jsonb(iso, ctx, value);
    case TypeKind::kJson: {
      if (value->IsFunction() || value->IsSymbol()) {
        *isnull = true;
        return 0;
      }
      std::string s = json_text(iso, ctx, value);
      return text_in(tc, s);
    }
    case TypeKind::kDate: {
      bool have = false;
      double ms = date_ms(iso, ctx, tc, value, &have);
      if (!have) return text_in(tc, pg_text(iso, value));
      if (std::isinf(ms) && value->IsNumber())
        return DateADTGetDatum(ms < 0 ? DATEVAL_NOBEGIN : DATEVAL_NOEND);
      if (!std::isfinite(ms)) mismatch(tc, "an invalid Date");
      double days = std::floor((ms - kPgEpochMs) / kMsPerDay);
      if (!(days >= static_cast<double>(DATETIME_MIN_JULIAN - POSTGRES_EPOCH_JDATE) &&
            days < static_cast<double>(DATE_END_JULIAN - POSTGRES_EPOCH_JDATE)))
        datetime_out_of_range(iso, ctx, tc, value);
      return DateADTGetDatum(static_cast<DateADT>(days));
    }
    case TypeKind::kTimestamp:
    case TypeKind::kTimestamptz: {
      bool have = false;
      double ms = date_ms(iso, ctx, tc, value, &have);
      if (!have) return text_in(tc, pg_text(iso, value));
      if (std::isinf(ms) && value->IsNumber())
        return TimestampGetDatum(ms < 0 ? DT_NOBEGIN : DT_NOEND);
      if (!std::isfinite(ms)) mismatch(tc, "an invalid Date");
      double us = std::round((ms - kPgEpochMs) * 1000.0);
      if (!(us >= static_cast<double>(MIN_TIMESTAMP) && us < static_cast<double>(END_TIMESTAMP)))
        datetime_out_of_range(iso, ctx, tc, value);
      return Int64GetDatum(static_cast<int64>(us));
    }
    case TypeKind::kBytea: {
      if (value->IsArrayBufferView()) {
        v8::Local<v8::ArrayBufferView> view = value.As<v8::ArrayBufferView>();
        size_t len = view->ByteLength();
        std::string bytes(len, '\0');
        view->CopyContents(bytes.data(), len);
        return bytes_to_bytea(bytes.data(), len);
      }
      if (value->IsArrayBuffer()) {
        auto store = value.As<v8::ArrayBuffer>()->GetBackingStore();
        return bytes_to_bytea(static_cast<const char*>(store->Data()), store->ByteLength());
      }
      if (value->IsString()) return text_in(tc, pg_text(iso, value));
      mismatch(tc, js_type_name(value));
    }
    case TypeKind::kArray:
      return array_from_js(iso, ctx, tc, value);
    case TypeKind::kComposite:
      return composite_from_js(iso, ctx, tc, value);
    case TypeKind::kVoid:
      *isnull = true;
      return 0;
    case TypeKind::kOther:
      return text_in(tc, text_of_value(iso, ctx, value));
  }
  mismatch(tc, js_type_name(value));
}

Datum param_from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                    v8::Local<v8::Value> value, bool* isnull) {
  if ((tc.kind == TypeKind::kJsonb || tc.kind == TypeKind::kJson) && value->IsString()) {
    *isnull = false;
    return text_in(tc, pg_text(iso, value));
  }
  return from_js(iso, ctx, tc, value, isnull);
}

}  // namespace plts
