#include "extensions/plts/convert.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <new>
#include <vector>

#include "common/error_boundary.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/gucs.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/json_text.h"

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

Datum from_js_base(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                   v8::Local<v8::Value> value, bool* isnull);

namespace {

// Milliseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
constexpr double kPgEpochMs = 946684800000.0;
constexpr double kMsPerDay = 86400000.0;

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

// palloc that never longjmps: sizes PostgreSQL refuses become 54000, exhaustion bad_alloc.
void* alloc_guarded(size_t n, bool huge = false) {
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

template <typename T>
v8::Local<T> checked(v8::MaybeLocal<T> m) {
  v8::Local<T> out;
  if (!m.ToLocal(&out)) throw JsException();
  return out;
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

// ---- jsonb -> JS ---------------------------------------------------------------------------

// The shortest decimal text that reads back as d (what JavaScript prints).
std::string shortest_text(double d) {
  char buf[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (strtod(buf, nullptr) == d) break;
  }
  return buf;
}

// A jsonb number as a JavaScript number: exactly, or 22003 (nothing loses precision silently,
// unless plts.lossy_jsonb_numbers is on). "Exactly" means the number's shortest JavaScript text is
// the same number: 0.1 converts, 9007199254740993 does not.
double exact_double(Numeric n) {
  std::string text;
  pg_guard([&] {
    char* t = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
    text = t;
    pfree(t);
  });
  if (text == "NaN")
    throw PgError(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "jsonb number NaN has no JSON form");
  double d = strtod(text.c_str(), nullptr);
  // At most 15 significant digits always read back exactly (DBL_DIG), within the normal range.
  int sig = 0;
  bool leading = true;
  size_t last_nonzero = 0, count = 0;
  for (char c : text) {
    if (c < '0' || c > '9') continue;
    if (leading && c == '0') continue;
    leading = false;
    count++;
    if (c != '0') last_nonzero = count;
  }
  sig = static_cast<int>(last_nonzero);
  bool exact = std::isfinite(d) && (d == 0 ? sig == 0 : true) &&
               (sig <= 15 && (d == 0 || std::fabs(d) >= 2.2250738585072014e-308));
  if (!exact && std::isfinite(d) && !(d == 0 && sig > 0)) {
    std::string back = shortest_text(d);
    int cmp = 1;
    pg_guard([&] {
      Datum a = DirectFunctionCall3(numeric_in, CStringGetDatum(back.c_str()),
                                    ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
      cmp = DatumGetInt32(DirectFunctionCall2(numeric_cmp, a, NumericGetDatum(n)));
    });
    exact = cmp == 0;
  }
  if (!exact && !settings.lossy_jsonb_numbers) {
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    throw PgError(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
                  "jsonb number " + text + " cannot be represented exactly as a JavaScript number",
                  "", "Store it as a string, or SET plts.lossy_jsonb_numbers = on to accept the "
                  "nearest double.");
  }
  return d;
}

v8::Local<v8::Value> jsonb_scalar_to_js(v8::Isolate* iso, const JsonbValue& v) {
  switch (v.type) {
    case jbvNull:
      return v8::Null(iso);
    case jbvBool:
      return v8::Boolean::New(iso, v.val.boolean);
    case jbvString:
      return js_string(iso, v.val.string.val, v.val.string.len);
    case jbvNumeric:
      return v8::Number::New(iso, exact_double(v.val.numeric));
    default:
      throw PgError(ERRCODE_INTERNAL_ERROR, "unexpected jsonb value type");
  }
}

v8::Local<v8::Value> jsonb_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, Jsonb* jb) {
  struct Level {
    v8::Local<v8::Object> container;
    bool is_array;
    uint32_t index;
    v8::Local<v8::String> key;
  };
  std::vector<Level> stack;
  v8::Local<v8::Value> result = v8::Null(iso);
  bool raw_scalar = false;
  JsonbIterator* it = nullptr;
  pg_guard([&] { it = JsonbIteratorInit(&jb->root); });
  JsonbValue v;
  JsonbIteratorToken tok;
  StopPoll poll(iso);
  auto attach = [&](v8::Local<v8::Value> value) {
    if (stack.empty()) {
      result = value;
      return;
    }
    Level& top = stack.back();
    if (top.is_array) {
      if (top.container->CreateDataProperty(ctx, top.index++, value).IsNothing())
        throw JsException();
    } else if (top.container->CreateDataProperty(ctx, top.key, value).IsNothing()) {
      throw JsException();
    }
  };
  for (;;) {
    poll.check();
    pg_guard([&] { tok = JsonbIteratorNext(&it, &v, false); });
    if (tok == WJB_DONE) break;
    switch (tok) {
      case WJB_BEGIN_ARRAY:
        if (v.val.array.rawScalar) {
          raw_scalar = true;
        } else {
          stack.push_back({v8::Array::New(iso, v.val.array.nElems), true, 0, {}});
        }
        break;
      case WJB_BEGIN_OBJECT:
        stack.push_back({v8::Object::New(iso), false, 0, {}});
        break;
      case WJB_KEY:
        stack.back().key = js_string(iso, v.val.string.val, v.val.string.len);
        break;
      case WJB_VALUE:
      case WJB_ELEM:
        attach(jsonb_scalar_to_js(iso, v));
        break;
      case WJB_END_ARRAY:
        if (raw_scalar && (stack.empty() || !stack.back().is_array)) {
          raw_scalar = false;
          break;
        }
        [[fallthrough]];
      case WJB_END_OBJECT: {
        v8::Local<v8::Object> done = stack.back().container;
        stack.pop_back();
        attach(done);
        break;
      }
      default:
        break;
    }
  }
  return result;
}

// ---- JS -> jsonb ---------------------------------------------------------------------------

// Builds JsonbValue trees from V8 values. Allocation never ereports (MCXT_ALLOC_NO_OOM); the few
// PostgreSQL calls (numerics) are guarded.
class JsonbBuilder {
 public:
  JsonbBuilder(v8::Isolate* iso, v8::Local<v8::Context> ctx) : iso_(iso), ctx_(ctx), poll_(iso) {}

  void build(v8::Local<v8::Value> value, JsonbValue* out, int depth) {
    if (depth > kMaxJsonbDepth) too_deep();
    if (value->IsNullOrUndefined() || value->IsFunction() || value->IsSymbol()) {
      out->type = jbvNull;
    } else if (value->IsString()) {
      set_string(out, value.As<v8::String>());
    } else if (value->IsNumber()) {
      set_number(out, value.As<v8::Number>()->Value());
    } else if (value->IsBoolean()) {
      out->type = jbvBool;
      out->val.boolean = value->IsTrue();
    } else if (value->IsBigInt()) {
      std::string s = number_text(iso_, ctx_, value);
      out->type = jbvNumeric;
      out->val.numeric = numeric_from_text(s);
    } else if (value->IsArray()) {
      enter(value.As<v8::Object>());
      build_array(value.As<v8::Array>(), out, depth);
      path_.pop_back();
    } else if (value->IsObject()) {
      v8::Local<v8::Object> obj = value.As<v8::Object>();
      v8::Local<v8::Value> to_json = checked(obj->Get(ctx_, to_json_name()));
      if (to_json->IsFunction()) {
        v8::Local<v8::Value> replaced =
            checked(to_json.As<v8::Function>()->Call(ctx_, obj, 0, nullptr));
        build(replaced, out, depth + 1);
        return;
      }
      if (value->IsStringObject()) {
        build(value.As<v8::StringObject>()->ValueOf(), out, depth + 1);
        return;
      }
      if (value->IsNumberObject()) {
        build(v8::Number::New(iso_, value.As<v8::NumberObject>()->ValueOf()), out, depth + 1);
        return;
      }
      if (value->IsBooleanObject()) {
        build(v8::Boolean::New(iso_, value.As<v8::BooleanObject>()->ValueOf()), out, depth + 1);
        return;
      }
      enter(obj);
      build_object(obj, out, depth);
      path_.pop_back();
    } else {
      out->type = jbvNull;
    }
  }

 private:
  // "toJSON", internalized once per isolate (a fresh string per value costs a string-table lookup).
  v8::Local<v8::String> to_json_name() {
    static v8::Global<v8::String>* key = nullptr;
    static unsigned key_gen = 0;
    if (key == nullptr || key_gen != isolate_generation()) {
      key = new v8::Global<v8::String>(  // the previous isolate's handle is abandoned, not reset
          iso_, v8::String::NewFromUtf8Literal(iso_, "toJSON", v8::NewStringType::kInternalized));
      key_gen = isolate_generation();
    }
    return key->Get(iso_);
  }

  // Objects on the path from the root: meeting one again means a cycle.
  void enter(v8::Local<v8::Object> obj) {
    for (const auto& o : path_)
      if (o == obj)
        throw PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                      "cannot convert a cyclic structure to jsonb");
    path_.push_back(obj);
  }

  void* alloc(size_t n) { return alloc_guarded(n); }

  void set_string(JsonbValue* out, v8::Local<v8::String> s) {
    int len = s->Utf8Length(iso_);
    if (len > static_cast<int>(JENTRY_OFFLENMASK))
      throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "string too long to represent as jsonb string");
    char* buf = static_cast<char*>(alloc(len + 1));
    s->WriteUtf8(iso_, buf, len, nullptr,
                 v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
    if (memchr(buf, '\0', len) != nullptr)
      throw PgError(ERRCODE_UNTRANSLATABLE_CHARACTER, "\\u0000 cannot be stored in jsonb",
                    "The string holds a NUL character (U+0000).");
    out->type = jbvString;
    out->val.string.val = buf;
    out->val.string.len = len;
  }

  void set_number(JsonbValue* out, double d) {
    if (!std::isfinite(d)) {
      out->type = jbvNull;  // as JSON.stringify does
      return;
    }
    Numeric n = nullptr;
    if (d == std::trunc(d) && std::fabs(d) < 9.0e15) {
      int64 i = static_cast<int64>(d);
      pg_guard([&] { n = int64_to_numeric(i); });
    } else {
      // The shortest text that round-trips, as JavaScript prints it.
      n = numeric_from_text(number_text(iso_, ctx_, v8::Number::New(iso_, d)));
    }
    out->type = jbvNumeric;
    out->val.numeric = n;
  }

  void build_array(v8::Local<v8::Array> arr, JsonbValue* out, int depth) {
    uint32_t n = arr->Length();
    if (n > JENTRY_OFFLENMASK)
      throw PgError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                    "array of " + std::to_string(n) + " elements is too long for jsonb");
    out->type = jbvArray;
    out->val.array.rawScalar = false;
    out->val.array.nElems = static_cast<int>(n);
    out->val.array.elems =
        static_cast<JsonbValue*>(alloc(sizeof(JsonbValue) * std::max<uint32_t>(n, 1)));
    for (uint32_t i = 0; i < n; i++) {
      poll_.check();
      v8::Local<v8::Value> e = checked(arr->Get(ctx_, i));
      build(e, &out->val.array.elems[i], depth + 1);
    }
  }

  void build_object(v8::Local<v8::Object> obj, JsonbValue* out, int depth) {
    v8::Local<v8::Array> keys = checked(
        obj->GetOwnPropertyNames(ctx_, v8::PropertyFilter(v8::ONLY_ENUMERABLE | v8::SKIP_SYMBOLS),
                                 v8::KeyConversionMode::kConvertToString));
    uint32_t n = keys->Length();
    JsonbPair* pairs = static_cast<JsonbPair*>(alloc(sizeof(JsonbPair) * std::max<uint32_t>(n, 1)));
    int count = 0;
    for (uint32_t i = 0; i < n; i++) {
      poll_.check();
      v8::Local<v8::Value> key = checked(keys->Get(ctx_, i));
      v8::Local<v8::Value> value = checked(obj->Get(ctx_, key));
      // JSON.stringify drops undefined, functions and symbols in objects.
      if (value->IsUndefined() || value->IsFunction() || value->IsSymbol()) continue;
      JsonbPair* p = &pairs[count];
      set_string(&p->key, checked(key->ToString(ctx_)));
      build(value, &p->value, depth + 1);
      p->order = static_cast<uint32>(count);
      count++;
    }
    // jsonb keeps object keys sorted by length, then bytes; JS objects have no duplicate keys.
    std::sort(pairs, pairs + count, [](const JsonbPair& a, const JsonbPair& b) {
      if (a.key.val.string.len != b.key.val.string.len)
        return a.key.val.string.len < b.key.val.string.len;
      return memcmp(a.key.val.string.val, b.key.val.string.val, a.key.val.string.len) < 0;
    });
    out->type = jbvObject;
    out->val.object.nPairs = count;
    out->val.object.pairs = pairs;
  }

  v8::Isolate* iso_;
  v8::Local<v8::Context> ctx_;
  StopPoll poll_;
  std::vector<v8::Local<v8::Object>> path_;
};

// A JSON number (as JSON.stringify writes it) as a Numeric.
Numeric numeric_from_json(const char* text, size_t len) {
  if (len > 0 && len < 16 && memchr(text, '.', len) == nullptr &&
      memchr(text, 'e', len) == nullptr && memchr(text, 'E', len) == nullptr) {
    int64 v = 0;
    bool neg = text[0] == '-';
    for (size_t i = neg ? 1 : 0; i < len; i++) v = v * 10 + (text[i] - '0');
    Numeric n = nullptr;
    pg_guard([&] { n = int64_to_numeric(neg ? -v : v); });
    return n;
  }
  return numeric_from_text(std::string(text, len));
}

// JSON text (as JSON.stringify writes it) -> JsonbValue, without a V8 call per property.
void json_string_to_root(v8::Isolate* iso, v8::Local<v8::String> text, JsonbValue* root) {
  // One pass: room for the worst case (3 bytes per UTF-16 unit) instead of measuring first.
  size_t cap = static_cast<size_t>(text->Length()) * 3 + 1;
  char stack_buf[512];
  char* buf = cap <= sizeof stack_buf ? stack_buf : static_cast<char*>(alloc_guarded(cap, true));
  int len = text->WriteUtf8(iso, buf, static_cast<int>(cap), nullptr,
                            v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
  std::string error =
      json_text_to_jsonb_value(buf, static_cast<size_t>(len), root, numeric_from_json);
  if (buf != stack_buf) pfree(buf);
  if (error == "nested too deeply") too_deep();
  if (!error.empty())
    throw PgError(ERRCODE_UNTRANSLATABLE_CHARACTER, "cannot convert the value to jsonb: " + error);
}

// Fast path: V8's native JSON.stringify, then a direct text -> JsonbValue parse. Returns false when
// the value needs the walker instead (BigInt, cycles: JSON.stringify throws for those).
bool jsonb_via_text(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> value,
                    JsonbValue* root) {
  if (!value->IsObject() || value->IsFunction()) return false;
  v8::Local<v8::String> text;
  {
    v8::TryCatch tc(iso);
    if (!v8::JSON::Stringify(ctx, value).ToLocal(&text)) {
      if (tc.HasTerminated() || iso->IsExecutionTerminating()) throw JsException();
      return false;
    }
  }
  // An object whose toJSON() returns undefined (or a function) has no JSON text; the API hands
  // back the string "undefined", which no JSON text can be. jsonb null, as the walker gives.
  if (text->Length() == 9 && text->StringEquals(js_name(iso, "undefined"))) {
    root->type = jbvNull;
    return true;
  }
  json_string_to_root(iso, text, root);
  return true;
}

Datum jsonb_datum(JsonbValue* root) {
  Datum d = 0;
  pg_guard([&] {
    if (root->type == jbvArray || root->type == jbvObject) {
      d = JsonbPGetDatum(JsonbValueToJsonb(root));
    } else {
      // A scalar is stored as a one-element raw-scalar array.
      JsonbValue arr;
      arr.type = jbvArray;
      arr.val.array.rawScalar = true;
      arr.val.array.nElems = 1;
      arr.val.array.elems = root;
      d = JsonbPGetDatum(JsonbValueToJsonb(&arr));
    }
  });
  return d;
}

}  // namespace

Datum jsonb_from_json_string(v8::Isolate* iso, v8::Local<v8::String> text) {
  JsonbValue root;
  json_string_to_root(iso, text, &root);
  return jsonb_datum(&root);
}

Datum jsonb_by_walker(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> value) {
  JsonbValue root;
  JsonbBuilder b(iso, ctx);
  b.build(value, &root, 0);
  return jsonb_datum(&root);
}

namespace {

Datum js_to_jsonb(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> value) {
  JsonbValue root;
  if (jsonb_via_text(iso, ctx, value, &root)) return jsonb_datum(&root);
  return jsonb_by_walker(iso, ctx, value);
}

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
                                           tc.elem->type, tc.elmlen, tc.elmbyval, tc.elmalign));
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
    deconstruct_array(a, tc.elem->type, tc.elmlen, tc.elmbyval, tc.elmalign, &elems, &nulls, &n);
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
  if (tc->kind == TypeKind::kArray) tc->elem = resolve_type(elem);
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
      if (std::isinf(ms) && value->IsNumber()) {
        DateADT d;
        if (ms < 0)
          DATE_NOBEGIN(d);
        else
          DATE_NOEND(d);
        return DateADTGetDatum(d);
      }
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
      if (std::isinf(ms) && value->IsNumber()) {
        Timestamp t;
        if (ms < 0)
          TIMESTAMP_NOBEGIN(t);
        else
          TIMESTAMP_NOEND(t);
        return TimestampGetDatum(t);
      }
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
