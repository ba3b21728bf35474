// jsonb <-> JavaScript values: jsonb to JS (numbers exact or 22003), JS to jsonb through
// JSON.stringify's text and a direct parser, or by walking the value (BigInt, cycles).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include "common/error_boundary.h"
#include "extensions/plts/convert_support.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/gucs.h"
#include "extensions/plts/json_text.h"

namespace plts {

using pgx::pg_guard;
using pgx::PgError;
using namespace conv;

namespace {

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

namespace conv {

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

Datum js_to_jsonb(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> value) {
  JsonbValue root;
  if (jsonb_via_text(iso, ctx, value, &root)) return jsonb_datum(&root);
  return jsonb_by_walker(iso, ctx, value);
}

}  // namespace conv

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

}  // namespace plts
