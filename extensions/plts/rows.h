// Rows both ways: a composite value, a function's row result (named composite, OUT parameters,
// RETURNS TABLE, RETURNS record with a column definition list) and a trigger's table row are all
// converted by a RowConv: one TypeConv per column, resolved once per row type.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <v8.h>

#include "common/pg.h"
#include "extensions/plts/convert.h"

namespace plts {

struct RowConv {
  RowConv() = default;
  ~RowConv();
  RowConv(const RowConv&) = delete;
  RowConv& operator=(const RowConv&) = delete;

  // A copy of the row type's descriptor (blessed when it is an anonymous record), in mcxt.
  TupleDesc desc = nullptr;
  MemoryContext mcxt = nullptr;
  Oid typid = InvalidOid;
  int32 typmod = -1;
  uint64 identifier = 0;  // the type cache's tupDesc_identifier when it was resolved
  std::vector<std::unique_ptr<TypeConv>> cols;  // null for dropped columns
  std::vector<std::string> names;
  // What a row is called in messages: "composite type t", "the result of plts function f",
  // "table public.t".
  std::string what;
  // The column names joined (the key of the realm's RowShape), and the shape last used, by realm.
  std::string shape_key;
  mutable uint64_t shape_realm = 0;
  mutable const struct RowShape* shape = nullptr;
  // For a trigger's table: its schema's name, by namespace oid (a trigger call reads it each time),
  // and the statement it was last found current in (a row type cannot change within a statement:
  // the table is locked), so that a trigger checks the type cache once per statement, not per row.
  Oid rel_nsp = InvalidOid;
  std::string rel_schema;
  LocalTransactionId valid_lxid = 0;  // (InvalidLocalTransactionId)
  CommandId valid_cid = InvalidCommandId;

  int natts() const { return desc->natts; }
};

struct Realm;

// rc's RowShape in realm (made on first use).
const RowShape& row_shape(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                          const RowConv& rc);

// A row as an object made by the realm's row maker.
// `js`, when given, gets the column values made (by column; empty for dropped columns).
v8::Local<v8::Value> row_to_js_in_realm(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                        Realm& realm, const RowConv& rc, const Datum* values,
                                        const bool* nulls,
                                        std::vector<v8::Local<v8::Value>>* js = nullptr);

// A RowConv replaced because its type changed is kept until no call is on the stack (a call
// below may still be converting with it: user code in a getter can ALTER the type and call
// again), then freed by free_retired_row_convs().
void retire_row_conv(std::unique_ptr<RowConv> rc);
void free_retired_row_convs();

// A RowConv for a descriptor (copied; blessed if it is RECORD without a registered typmod).
std::unique_ptr<RowConv> row_conv_for_desc(TupleDesc desc, const std::string& what);

// A RowConv for a query result's columns, made into JS rows only: its copy of desc is not
// blessed (no record type is registered per result shape).
std::unique_ptr<RowConv> row_conv_for_result(TupleDesc desc, const std::string& what);

// A RowConv for a named composite type or a registered record type.
std::unique_ptr<RowConv> row_conv_for_type(Oid typid, int32 typmod);

// Whether rc still describes typid/typmod (ALTER TYPE, ALTER TABLE change a row type).
bool row_conv_current(const RowConv& rc, Oid typid, int32 typmod);

// The column names as internalized JS strings (made once per batch of rows).
std::vector<v8::Local<v8::String>> row_names(v8::Isolate* iso, const RowConv& rc);

// A row (deformed values) as an object: column name -> value.
v8::Local<v8::Object> row_values_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                       const RowConv& rc,
                                       const std::vector<v8::Local<v8::String>>& names,
                                       const Datum* values, const bool* nulls);

// A heap tuple of rc's descriptor as an object.
v8::Local<v8::Object> tuple_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const RowConv& rc,
                                  const std::vector<v8::Local<v8::String>>& names, HeapTuple tup);

// What a row was made from, when JS got it from PostgreSQL (a trigger's new row): a column whose
// value is still the very object JS was given (a Date, untouched) keeps its original Datum, so
// that microseconds a Date cannot hold are not lost.
// Only Dates qualify, and only with the time value they had (`date_ms`, NaN for other columns):
// an array or object may have been changed in place.
struct RowOrigin {
  std::vector<v8::Local<v8::Value>> js;  // by column
  std::vector<double> date_ms;
  const Datum* values = nullptr;
  const bool* nulls = nullptr;
};

// An object's properties as the row's values (allocated in CurrentMemoryContext): a missing key
// (or undefined) is NULL, a key that is no column is an error (42703) naming it. A string is the
// row's text form, as the type's input function reads it; null or undefined is a row of NULLs.
// values/nulls have rc.natts() slots.
void row_values_from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const RowConv& rc,
                        const std::vector<v8::Local<v8::String>>& names,
                        v8::Local<v8::Value> value, Datum* values, bool* nulls,
                        const RowOrigin* origin = nullptr);

// row_values_from_js through the realm's row reader (one call into V8 per row, not one per
// column and key); the same results and errors.
void row_values_from_js_in_realm(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                                 const RowConv& rc, v8::Local<v8::Value> value, Datum* values,
                                 bool* nulls, const RowOrigin* origin = nullptr);

// The same, formed into a tuple of rc's descriptor.
HeapTuple tuple_from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const RowConv& rc,
                        const std::vector<v8::Local<v8::String>>& names,
                        v8::Local<v8::Value> value);

// Composite Datum <-> JS for TypeKind::kComposite (convert.cpp dispatches here).
v8::Local<v8::Value> composite_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                     const TypeConv& tc, Datum value);
Datum composite_from_js(v8::Isolate* iso, v8::Local<v8::Context> ctx, const TypeConv& tc,
                        v8::Local<v8::Value> value);

}  // namespace plts
