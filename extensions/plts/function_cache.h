// Per-backend cache of plts functions, keyed by pg_proc oid and revalidated against the pg_proc
// row (xmin + tid) on every call, so CREATE OR REPLACE takes effect at the next call in every
// session. Converters are resolved here, once per function.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <v8.h>

#include "common/pg.h"
#include "extensions/plts/convert.h"

namespace plts {

struct Realm;

enum class DbMode { kReadOnly, kReadWrite };

struct RowConv;

// What a pg_proc entry is, for the call handler.
enum class FnKind { kFunction, kProcedure, kTrigger, kEventTrigger, kWindow };

// How one call's arguments and result convert. A function with only concrete types has one,
// resolved when its entry is built; a polymorphic one, one per set of actual types its call sites
// resolved (a VARIADIC "any" parameter, RETURNS record with a column definition list too).
struct CallShape {
  CallShape();
  ~CallShape();
  CallShape(const CallShape&) = delete;
  CallShape& operator=(const CallShape&) = delete;

  std::string key;  // the actual types it was resolved for (per-call shapes)
  // One per actual argument (for VARIADIC "any", one per value it collects).
  std::vector<std::unique_ptr<TypeConv>> arg_conv;
  // The result: a row (ret_row) or a scalar (ret_conv); neither for triggers.
  std::unique_ptr<TypeConv> ret_conv;
  std::unique_ptr<RowConv> ret_row;
  Oid ret_domain = InvalidOid;  // a domain over a composite result type
  mutable void* ret_domain_extra = nullptr;
};

struct FunctionInfo {
  FunctionInfo();
  ~FunctionInfo();
  FunctionInfo(const FunctionInfo&) = delete;
  FunctionInfo& operator=(const FunctionInfo&) = delete;

  Oid oid = InvalidOid;
  TransactionId xmin = InvalidTransactionId;
  ItemPointerData tid{};
  uint64 validated_generation = 0;  // pg_proc invalidation count when xmin/tid last matched
  std::string schema, name, qualified;  // qualified = schema.name, for messages
  FnKind kind = FnKind::kFunction;
  bool retset = false;  // RETURNS SETOF / TABLE: materialized into a tuplestore
  // Input parameters (IN, INOUT, VARIADIC): their names ("$n" for unnamed ones) and types.
  std::vector<std::string> arg_names;
  std::vector<Oid> arg_types;
  int variadic_any = -1;               // the VARIADIC "any" parameter's position, if any
  bool single_jsonb_args = false;      // fn(args jsonb): ctx.args is the decoded value
  // The name of the single OUT (or TABLE) parameter: a returned object with just that key gives
  // its value.
  std::string single_out_name;
  bool per_call = false;  // the shape depends on the call site's types
  CallShape shape;        // when !per_call
  std::vector<std::unique_ptr<CallShape>> shapes;  // when per_call, by key
  // A trigger function's converters for the rows of the tables it fired on, by row type.
  std::vector<std::unique_ptr<RowConv>> trigger_rows;
  DbMode mode = DbMode::kReadWrite;
  std::string source;  // prosrc: TypeScript, or a pointer stub
  // The module that runs: compiled JavaScript, its artifact hash, source map, the export to call
  // and the import map (from a stub or an inline comment).
  std::string module_key, js, source_map, export_name = "default";
  nlohmann::json import_map = nlohmann::json::object();
  int active_calls = 0;  // calls of this entry now on the stack
  bool transient = false;  // a DO block: its module is evaluated afresh, not cached
  bool is_stub = false;    // prosrc is a pointer stub (compiled elsewhere; nothing to typecheck)

  // The default export, per realm (role context) and isolate generation.
  struct Loaded {
    const Realm* realm;
    unsigned isolate_gen;
    v8::Global<v8::Function> fn;
    bool query = false;  // a @stopgap/runtime query(): ctx.db is read-only
    // (now, ...args) => fn(ctx): builds a fresh ctx (args, argv, frozen fn, db, now) in JS.
    v8::Global<v8::Function> invoke;
  };
  std::vector<std::unique_ptr<Loaded>> loaded;
};

// The cached (and revalidated) entry for fn_oid; builds it on a miss. PostgreSQL side: may throw
// PgError; opens no V8 scope.
FunctionInfo* lookup_function(Oid fn_oid);

// The same for a call site: reuses the entry remembered in flinfo->fn_extra for as long as no
// pg_proc row has changed (a syscache invalidation callback counts changes), so repeated calls
// from one expression skip the catalog lookup.
FunctionInfo* lookup_function_for_call(FmgrInfo* flinfo);

// Checks a function definition the way CREATE FUNCTION must (supported argument and return types);
// fills `info` without caching it and without compiling its body.
std::unique_ptr<FunctionInfo> describe_function(Oid fn_oid);

// Resolves what fi runs: a pointer stub's artifact, or the body compiled from TypeScript (taken
// from plts.artifact when stored; compiled and stored when `store`, else compiled on the spot).
void prepare_module(FunctionInfo& fi, bool store);

// Parses a pointer stub; returns false when prosrc is not one. Throws PgError when it claims to be
// one ({"plts":1,...}) but is malformed.
bool parse_pointer_stub(const std::string& prosrc, std::string* hash, std::string* export_name,
                        nlohmann::json* import_map, const std::string& fn);

// The shape of a call of fi from fcinfo's call site (fi.shape unless fi is polymorphic); PostgreSQL
// side, may throw PgError.
CallShape& shape_for_call(FunctionInfo& fi, FunctionCallInfo fcinfo);

// Forgets every loaded default export (before the isolate is disposed).
void drop_loaded_functions();

// Forgets the loaded exports of one realm (before it is dropped).
void drop_loaded_for_realm(const Realm* realm);

// Cache counters for plts.metrics().
struct CacheStats {
  uint64_t hits, misses;
};
CacheStats function_cache_stats();

}  // namespace plts
