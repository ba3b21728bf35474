// Datum <-> JavaScript conversions, following node-postgres conventions. A TypeConv is resolved
// once per type (per function argument, result, or query column), not per value.
#pragma once

#include <memory>
#include <string>

#include <v8.h>

#include "common/pg.h"

namespace plts {

struct RowConv;

enum class TypeKind {
  kBool,
  kInt2,
  kInt4,
  kInt8,
  kFloat4,
  kFloat8,
  kOid,
  kNumeric,
  kText,  // text, varchar, bpchar: bytes are the string
  kName,
  kJson,
  kJsonb,
  kDate,
  kTimestamp,
  kTimestamptz,
  kBytea,
  kVoid,
  kArray,      // arrays of any supported element type
  kComposite,  // row types (named composite types, registered records): objects
  kOther,  // via the type's text input/output functions (uuid, interval, ...)
};

struct TypeConv {
  TypeConv() = default;
  ~TypeConv();
  TypeConv(const TypeConv&) = delete;
  TypeConv& operator=(const TypeConv&) = delete;

  Oid type = InvalidOid;
  TypeKind kind = TypeKind::kOther;
  // A domain converts as its base type (`type`); values going to PostgreSQL are then checked
  // against the domain's constraints.
  Oid domain = InvalidOid;
  mutable void* domain_extra = nullptr;
  // What the I/O functions cache lives here, and goes with the converter (with the function or
  // plan that resolved it), not with the backend.
  MemoryContext mcxt = nullptr;
  // For kOther (and array elements): text I/O.
  FmgrInfo out_fn{}, in_fn{};
  Oid ioparam = InvalidOid;
  int32 typmod = -1;
  // For arrays: the element's storage and converter.
  int16 elmlen = 0;
  bool elmbyval = false;
  char elmalign = 'i';
  Oid elem_type = InvalidOid;
  std::unique_ptr<TypeConv> elem;
  // For composites: the row type's converter, resolved on first use and again when the type
  // changes (ALTER TYPE) or a record value carries another registered type.
  mutable std::unique_ptr<RowConv> row;
};

// Resolves how values of `type` convert (may ereport: PostgreSQL side, guarded by the caller).
std::unique_ptr<TypeConv> resolve_type(Oid type, int32 typmod = -1);

// Datum -> JS. Calls PostgreSQL only through pg_guard; may throw pgx::PgError.
v8::Local<v8::Value> to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                           Datum value, bool isnull);

// JS -> Datum of tc.type, allocated in CurrentMemoryContext. Throws pgx::PgError (22P02, 22003 or
// 42804) with a message saying what did not fit; callers add which function or parameter it was.
Datum from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
              v8::Local<v8::Value> value, bool* isnull);

// A ctx.db parameter: as from_js, except that a string given for json/jsonb is JSON text (as
// node-postgres sends it), not a JSON string.
Datum param_from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                    v8::Local<v8::Value> value, bool* isnull);

// jsonb from JSON text that JSON.stringify wrote (a call's invoker stringifies plain objects and
// arrays itself: see realm.cpp). Throws pgx::PgError.
Datum jsonb_from_json_string(v8::Isolate* iso, v8::Local<v8::String> text);

// jsonb by walking the value property by property: for values JSON.stringify refuses (BigInt,
// cycles), with the errors saying why. Throws pgx::PgError or JsException.
Datum jsonb_by_walker(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> value);

// An internalized JS string for a property name known in advance (short ASCII literals).
inline v8::Local<v8::String> js_name(v8::Isolate* iso, const char* name) {
  return v8::String::NewFromUtf8(iso, name, v8::NewStringType::kInternalized).ToLocalChecked();
}

// UTF-8 text of a JS string.
std::string utf8(v8::Isolate* iso, v8::Local<v8::Value> value);

// A JS string from UTF-8 bytes (throws std::bad_alloc when V8 refuses the length).
v8::Local<v8::String> js_string(v8::Isolate* iso, const char* data, int length);
inline v8::Local<v8::String> js_string(v8::Isolate* iso, const std::string& s) {
  return js_string(iso, s.data(), static_cast<int>(s.size()));
}

}  // namespace plts
