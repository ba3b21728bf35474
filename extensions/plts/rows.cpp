#include "extensions/plts/rows.h"

#include <cstring>

#include "common/error_boundary.h"
#include "extensions/plts/convert_support.h"
#include "extensions/plts/realm.h"

#include <nlohmann/json.hpp>

extern "C" {
#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/typcache.h"
#include "utils/fmgroids.h"
}

namespace plts {

using pgx::pg_guard;
using pgx::PgError;
using namespace conv;

namespace {
std::vector<std::unique_ptr<RowConv>>* retired_rows = nullptr;
}  // namespace

void retire_row_conv(std::unique_ptr<RowConv> rc) {
  if (rc == nullptr) return;
  if (retired_rows == nullptr) retired_rows = new std::vector<std::unique_ptr<RowConv>>();
  retired_rows->push_back(std::move(rc));
}

void free_retired_row_convs() {
  if (retired_rows != nullptr) retired_rows->clear();
}

RowConv::~RowConv() {
  cols.clear();
  if (mcxt != nullptr) MemoryContextDelete(mcxt);
}

namespace {

uint64 type_identifier(Oid typid) {
  if (typid == RECORDOID) return 0;  // a registered record type never changes
  uint64 id = 0;
  pg_guard([&] { id = lookup_type_cache(typid, TYPECACHE_TUPDESC)->tupDesc_identifier; });
  return id;
}

void fill_columns(RowConv& rc) {
  for (int i = 0; i < rc.desc->natts; i++) {
    Form_pg_attribute att = TupleDescAttr(rc.desc, i);
    rc.names.emplace_back(NameStr(att->attname));
    rc.cols.push_back(att->attisdropped ? nullptr : resolve_type(att->atttypid, att->atttypmod));
    // A dropped column is "" (no column is named so): names end at NUL, so keys are unambiguous.
    rc.shape_key += (att->attisdropped ? std::string() : rc.names.back()) + '\0';
  }
}

std::string column_list(const RowConv& rc) {
  std::string out;
  for (int i = 0; i < rc.natts(); i++) {
    if (rc.cols[i] == nullptr) continue;
    out += (out.empty() ? "" : ", ") + rc.names[i];
  }
  return out;
}

}  // namespace

namespace {

std::unique_ptr<RowConv> row_conv_of(TupleDesc desc, const std::string& what, bool bless) {
  auto rc = std::make_unique<RowConv>();
  rc->what = what;
  pg_guard([&] {
    rc->mcxt = AllocSetContextCreate(TopMemoryContext, "plts row converter", ALLOCSET_SMALL_SIZES);
    MemoryContext old = MemoryContextSwitchTo(rc->mcxt);
    rc->desc = CreateTupleDescCopy(desc);
    if (bless && rc->desc->tdtypeid == RECORDOID && rc->desc->tdtypmod < 0) {
      // A descriptor blessed in a short-lived context would not outlive it: bless our copy.
      rc->desc = BlessTupleDesc(rc->desc);
    }
    MemoryContextSwitchTo(old);
  });
  rc->typid = rc->desc->tdtypeid;
  rc->typmod = rc->desc->tdtypmod;
  rc->identifier = rc->typid == RECORDOID ? 0 : type_identifier(rc->typid);
  fill_columns(*rc);
  return rc;
}

}  // namespace

std::unique_ptr<RowConv> row_conv_for_desc(TupleDesc desc, const std::string& what) {
  return row_conv_of(desc, what, true);
}

std::unique_ptr<RowConv> row_conv_for_result(TupleDesc desc, const std::string& what) {
  return row_conv_of(desc, what, false);
}

std::unique_ptr<RowConv> row_conv_for_type(Oid typid, int32 typmod) {
  uint64 id = typid == RECORDOID ? 0 : type_identifier(typid);
  TupleDesc desc = nullptr;
  std::string what;
  pg_guard([&] {
    desc = lookup_rowtype_tupdesc(typid, typmod);
    what = typid == RECORDOID ? "record" : std::string("composite type ") + format_type_be(typid);
  });
  std::unique_ptr<RowConv> rc;
  try {
    rc = row_conv_for_desc(desc, what);
  } catch (...) {
    pg_guard([&] { ReleaseTupleDesc(desc); });
    throw;
  }
  pg_guard([&] { ReleaseTupleDesc(desc); });
  rc->typid = typid;
  rc->typmod = typmod;
  rc->identifier = id;
  return rc;
}

bool row_conv_current(const RowConv& rc, Oid typid, int32 typmod) {
  if (rc.typid != typid) return false;
  if (typid == RECORDOID) return rc.typmod == typmod;
  return rc.identifier == type_identifier(typid);
}

std::vector<v8::Local<v8::String>> row_names(v8::Isolate* iso, const RowConv& rc) {
  std::vector<v8::Local<v8::String>> names(rc.names.size());
  for (size_t i = 0; i < rc.names.size(); i++) {
    if (!v8::String::NewFromUtf8(iso, rc.names[i].data(), v8::NewStringType::kInternalized,
                                 static_cast<int>(rc.names[i].size()))
             .ToLocal(&names[i]))
      throw JsException();
  }
  return names;
}

v8::Local<v8::Object> row_values_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                       const RowConv& rc,
                                       const std::vector<v8::Local<v8::String>>& names,
                                       const Datum* values, const bool* nulls) {
  v8::Local<v8::Object> row = v8::Object::New(iso);
  for (int i = 0; i < rc.natts(); i++) {
    if (rc.cols[i] == nullptr) continue;
    if (row->CreateDataProperty(ctx, names[i], to_js(iso, ctx, *rc.cols[i], values[i], nulls[i]))
            .IsNothing())
      throw JsException();
  }
  return row;
}

v8::Local<v8::Object> tuple_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const RowConv& rc,
                                  const std::vector<v8::Local<v8::String>>& names, HeapTuple tup) {
  int n = rc.natts();
  std::vector<Datum> values(n);
  std::vector<char> nulls(n);
  pg_guard([&] { heap_deform_tuple(tup, rc.desc, values.data(), reinterpret_cast<bool*>(nulls.data())); });
  return row_values_to_js(iso, ctx, rc, names, values.data(), reinterpret_cast<bool*>(nulls.data()));
}

namespace {

// Column `col`'s Datum from its JS value: the original Datum when the value is the origin's
// untouched Date (see RowOrigin), else converted by the column's type.
void column_from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const RowConv& rc, int col,
                    v8::Local<v8::Value> v, const RowOrigin* origin, Datum* values, bool* nulls) {
  if (origin != nullptr && v->IsDate() && col < static_cast<int>(origin->js.size()) &&
      !origin->js[col].IsEmpty() && origin->js[col] == v &&
      v.As<v8::Date>()->ValueOf() == origin->date_ms[col]) {
    values[col] = origin->values[col];
    nulls[col] = origin->nulls[col];
    return;
  }
  bool isnull = false;
  try {
    values[col] = from_js(iso, ctx, *rc.cols[col], v, &isnull);
  } catch (const PgError& e) {
    throw e.with_prefix("column \"" + rc.names[col] + "\" of " + rc.what + ": ");
  }
  nulls[col] = isnull;
}

}  // namespace

void row_values_from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const RowConv& rc,
                        const std::vector<v8::Local<v8::String>>& names,
                        v8::Local<v8::Value> value, Datum* values, bool* nulls,
                        const RowOrigin* origin) {
  int n = rc.natts();
  for (int i = 0; i < n; i++) {
    values[i] = 0;
    nulls[i] = true;
  }
  if (value->IsNullOrUndefined()) return;
  if (value->IsString()) {
    // The row's text form, read by record_in for the row type.
    std::string text = pg_text(iso, value);
    pg_guard([&] {
      Datum d = OidInputFunctionCall(F_RECORD_IN, const_cast<char*>(text.c_str()),
                                     rc.desc->tdtypeid, rc.desc->tdtypmod);
      HeapTupleHeader th = DatumGetHeapTupleHeader(d);
      HeapTupleData tmp;
      tmp.t_len = HeapTupleHeaderGetDatumLength(th);
      ItemPointerSetInvalid(&tmp.t_self);
      tmp.t_tableOid = InvalidOid;
      tmp.t_data = th;
      heap_deform_tuple(&tmp, rc.desc, values, nulls);
    });
    return;
  }
  if (!value->IsObject() || value->IsArray() || value->IsFunction() || value->IsDate() ||
      value->IsArrayBufferView() || value->IsArrayBuffer())
    throw PgError(ERRCODE_DATATYPE_MISMATCH,
                  std::string("cannot convert ") + js_type_name(value) + " to " + rc.what, "",
                  "Give an object whose keys are the column names (" + column_list(rc) + ").");
  v8::Local<v8::Object> obj = value.As<v8::Object>();
  v8::Local<v8::Array> keys;
  if (!obj->GetOwnPropertyNames(ctx, v8::ONLY_ENUMERABLE,
                                v8::KeyConversionMode::kConvertToString)
           .ToLocal(&keys))
    throw JsException();
  uint32_t nkeys = keys->Length();
  std::string unknown;
  int unknown_count = 0;
  for (uint32_t k = 0; k < nkeys; k++) {
    v8::Local<v8::Value> key;
    if (!keys->Get(ctx, k).ToLocal(&key)) throw JsException();
    if (!key->IsString()) continue;
    v8::Local<v8::String> ks = key.As<v8::String>();
    // Objects are usually built in column order: try the same position first.
    int col = -1;
    if (k < static_cast<uint32_t>(n) && rc.cols[k] != nullptr && names[k]->StringEquals(ks)) {
      col = static_cast<int>(k);
    } else {
      for (int i = 0; i < n; i++)
        if (rc.cols[i] != nullptr && names[i]->StringEquals(ks)) {
          col = i;
          break;
        }
    }
    if (col < 0) {
      if (unknown_count++ < 5) unknown += (unknown.empty() ? "\"" : ", \"") + utf8(iso, ks) + "\"";
      continue;
    }
    v8::Local<v8::Value> v;
    if (!obj->Get(ctx, ks).ToLocal(&v)) throw JsException();
    column_from_js(iso, ctx, rc, col, v, origin, values, nulls);
  }
  if (unknown_count > 0)
    throw PgError(ERRCODE_UNDEFINED_COLUMN,
                  std::string(unknown_count == 1 ? "key " : "keys ") + unknown +
                      (unknown_count > 5 ? " (and " + std::to_string(unknown_count - 5) + " more)"
                                         : "") +
                      (unknown_count == 1 ? " is not a column of " : " are not columns of ") +
                      rc.what,
                  "The columns are: " + column_list(rc) + ".");
}

HeapTuple tuple_from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const RowConv& rc,
                        const std::vector<v8::Local<v8::String>>& names,
                        v8::Local<v8::Value> value) {
  int n = rc.natts();
  std::vector<Datum> values(n);
  std::vector<char> nulls(n);
  bool* nb = reinterpret_cast<bool*>(nulls.data());
  row_values_from_js(iso, ctx, rc, names, value, values.data(), nb);
  HeapTuple tup = nullptr;
  pg_guard([&] { tup = heap_form_tuple(rc.desc, values.data(), nb); });
  return tup;
}

const RowShape& row_shape(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                          const RowConv& rc) {
  if (rc.shape != nullptr && rc.shape_realm == realm.id) return *rc.shape;
  auto it = realm.row_shapes.find(rc.shape_key);
  if (it == realm.row_shapes.end()) {
    if (realm.row_shapes.size() >= 1024) {
      // Bounded: start over, under a new realm id so that no RowConv uses a pointer it cached.
      // Callers use a shape's handles only before user code can run (which may run ctx.db
      // queries that make shapes): the reader's caller takes them as local handles first.
      realm.row_shapes.clear();
      realm.id = next_realm_id();
    }
    auto shape = std::make_unique<RowShape>();
    std::string params, fields;
    int k = 0;
    for (int i = 0; i < rc.natts(); i++) {
      if (rc.cols[i] == nullptr) {
        shape->names.emplace_back();
        continue;
      }
      std::string a = "a" + std::to_string(k++);
      params += (params.empty() ? "" : ", ") + a;
      // A computed key defines an own property even for "__proto__".
      fields += (fields.empty() ? "" : ", ") + std::string("[") +
                nlohmann::json(rc.names[i]).dump() + "]: " + a;
      v8::Local<v8::String> n;
      if (!v8::String::NewFromUtf8(iso, rc.names[i].data(), v8::NewStringType::kInternalized,
                                   static_cast<int>(rc.names[i].size()))
               .ToLocal(&n))
        throw JsException();
      shape->names.emplace_back(iso, n);
    }
    std::string src = "(function (" + params + ") { return { " + fields + " }; })";
    v8::ScriptOrigin origin(iso, js_name(iso, "plts:row"));
    v8::Local<v8::Script> script = checked(v8::Script::Compile(ctx, js_string(iso, src), &origin));
    v8::Local<v8::Value> make = checked(script->Run(ctx));
    shape->make.Reset(iso, make.As<v8::Function>());
    it = realm.row_shapes.emplace(rc.shape_key, std::move(shape)).first;
  }
  rc.shape_realm = realm.id;
  rc.shape = it->second.get();
  return *rc.shape;
}

namespace {

// The shape's reader, compiled on first use (a shape made for ctx.db results never needs one).
void ensure_reader(v8::Isolate* iso, v8::Local<v8::Context> ctx, const RowShape& cshape,
                   const RowConv& rc) {
  RowShape* shape = const_cast<RowShape*>(&cshape);
  if (!shape->read.IsEmpty()) return;
  v8::ScriptOrigin origin(iso, js_name(iso, "plts:row"));
  int k = 0;
  // The reader: a for-in over the object's enumerable keys (inherited ones too: any key that is
  // no column sends the row to the exact check), then one read per live column.
  std::string cols, reads;
  for (int i = 0; i < rc.natts(); i++) {
    if (rc.cols[i] == nullptr) continue;
    std::string key = nlohmann::json(rc.names[i]).dump();
    cols += (cols.empty() ? "" : ", ") + std::string("[") + key + "]: 1";
    reads += "  out[" + std::to_string(k++) + "] = o[" + key + "];\n";
  }
  std::string read_src = "(function () { 'use strict'; const C = { __proto__: null" +
                         (cols.empty() ? "" : ", " + cols) +
                         " };\n return function (o, out) {\n  for (const key in o) if (C[key] "
                         "!== 1) return false;\n" +
                         reads + "  return true;\n }; })()";
  v8::Local<v8::Script> read_script =
      checked(v8::Script::Compile(ctx, js_string(iso, read_src), &origin));
  v8::Local<v8::Value> read = checked(read_script->Run(ctx));
  shape->read.Reset(iso, read.As<v8::Function>());
  shape->read_buf.Reset(iso, v8::Array::New(iso, k));
}

// Readers running now: a nested one (a getter of the row being read reads another row) gets a
// fresh output array, not its shape's shared one, which the outer read is still filling.
int readers_running = 0;

}  // namespace

v8::Local<v8::Value> row_to_js_in_realm(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                        Realm& realm, const RowConv& rc, const Datum* values,
                                        const bool* nulls, std::vector<v8::Local<v8::Value>>* js) {
  const RowShape& shape = row_shape(iso, ctx, realm, rc);
  constexpr int kInline = 16;
  v8::Local<v8::Value> inline_args[kInline];
  std::vector<v8::Local<v8::Value>> heap_args;
  v8::Local<v8::Value>* args = inline_args;
  if (rc.natts() > kInline) {
    heap_args.resize(rc.natts());
    args = heap_args.data();
  }
  int k = 0;
  if (js != nullptr) js->assign(rc.natts(), v8::Local<v8::Value>());
  for (int i = 0; i < rc.natts(); i++)
    if (rc.cols[i] != nullptr) {
      args[k] = to_js(iso, ctx, *rc.cols[i], values[i], nulls[i]);
      if (js != nullptr) (*js)[i] = args[k];
      k++;
    }
  return checked(shape.make.Get(iso)->Call(ctx, v8::Undefined(iso), k, args));
}

void row_values_from_js_in_realm(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                                 const RowConv& rc, v8::Local<v8::Value> value, Datum* values,
                                 bool* nulls, const RowOrigin* origin) {
  // Only plain objects take the reader (a Proxy, an array or a Date get the exact path and its
  // messages).
  if (!value->IsObject() || value->IsArray() || value->IsProxy() || value->IsDate() ||
      value->IsFunction() || value->IsArrayBufferView() || value->IsArrayBuffer()) {
    row_values_from_js(iso, ctx, rc, row_names(iso, rc), value, values, nulls, origin);
    return;
  }
  // The shape is not used once the reader runs: its user code (getters, a Proxy in the prototype
  // chain) may run ctx.db queries whose new shapes clear the realm's table.
  const RowShape& shape = row_shape(iso, ctx, realm, rc);
  ensure_reader(iso, ctx, shape, rc);
  v8::Local<v8::Function> reader = shape.read.Get(iso);
  v8::Local<v8::Array> out = readers_running > 0
                                 ? v8::Array::New(iso, shape.read_buf.Get(iso)->Length())
                                 : shape.read_buf.Get(iso);
  v8::Local<v8::Value> args[2] = {value, out};
  struct Running {
    Running() { readers_running++; }
    ~Running() { readers_running--; }
  };
  v8::Local<v8::Value> ok;
  {
    Running running;
    ok = checked(reader->Call(ctx, v8::Undefined(iso), 2, args));
  }
  if (!ok->IsTrue()) {
    row_values_from_js(iso, ctx, rc, row_names(iso, rc), value, values, nulls, origin);
    return;
  }
  // Taken out of the shared buffer before any conversion runs user code (toString, toJSON) that
  // may read another row of this shape.
  int live = static_cast<int>(out->Length());
  constexpr int kInline = 32;
  v8::Local<v8::Value> inline_read[kInline];
  std::vector<v8::Local<v8::Value>> heap_read;
  v8::Local<v8::Value>* read = inline_read;
  if (live > kInline) {
    heap_read.resize(live);
    read = heap_read.data();
  }
  for (int k = 0; k < live; k++) read[k] = checked(out->Get(ctx, static_cast<uint32_t>(k)));
  int k = 0;
  for (int col = 0; col < rc.natts(); col++) {
    values[col] = 0;
    nulls[col] = true;
    if (rc.cols[col] == nullptr) continue;
    v8::Local<v8::Value> v = read[k++];
    column_from_js(iso, ctx, rc, col, v, origin, values, nulls);
  }
}

namespace {

const RowConv& row_of(const TypeConv& tc, Oid typid, int32 typmod) {
  if (tc.row == nullptr || !row_conv_current(*tc.row, typid, typmod)) {
    std::unique_ptr<RowConv> fresh = row_conv_for_type(typid, typmod);
    retire_row_conv(std::move(tc.row));
    tc.row = std::move(fresh);
  }
  return *tc.row;
}

}  // namespace

v8::Local<v8::Value> composite_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                     const TypeConv& tc, Datum value) {
  HeapTupleHeader th = nullptr;
  pg_guard([&] { th = DatumGetHeapTupleHeader(value); });
  Oid typid = HeapTupleHeaderGetTypeId(th);
  int32 typmod = HeapTupleHeaderGetTypMod(th);
  const RowConv& rc = row_of(tc, typid, typmod);
  HeapTupleData tmp;
  tmp.t_len = HeapTupleHeaderGetDatumLength(th);
  ItemPointerSetInvalid(&tmp.t_self);
  tmp.t_tableOid = InvalidOid;
  tmp.t_data = th;
  return tuple_to_js(iso, ctx, rc, row_names(iso, rc), &tmp);
}

Datum composite_from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                        v8::Local<v8::Value> value) {
  if (value->IsString()) return text_in(tc, pg_text(iso, value));
  if (tc.type == RECORDOID && tc.typmod < 0)
    throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                  "cannot convert an object to an anonymous record type", "",
                  "Declare a composite type, or OUT parameters, for the value.");
  const RowConv& rc = row_of(tc, tc.type, tc.typmod);
  HeapTuple tup = tuple_from_js(iso, ctx, rc, row_names(iso, rc), value);
  Datum d = 0;
  pg_guard([&] { d = HeapTupleGetDatum(tup); });
  return d;
}

}  // namespace plts
