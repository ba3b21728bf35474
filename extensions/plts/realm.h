// A realm is the V8 context of one effective role: code run as different roles never shares
// globals. It holds what every call in that context reuses (the ctx template, the frozen ctx.db
// objects) and loads function modules.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include <v8.h>

#include "common/pg.h"
#include "extensions/plts/function_cache.h"
#include "extensions/plts/js_exception.h"

namespace plts {

// A row type's column names as JS strings and a function that makes a row object from the column
// values in JIT code ((a0, a1, ...) => ({ name0: a0, ... }): a fast-mode object with a stable map,
// where adding properties one by one from C++ costs a map transition each). Per realm.
struct RowShape {
  std::vector<v8::Global<v8::String>> names;  // by column; empty for dropped columns
  v8::Global<v8::Function> make;
  // (o, out) => bool: out[k] = o[name k] for the live columns, in JIT code; false (nothing read)
  // when o has an enumerable key that is no column, for the exact check in C++ to report.
  v8::Global<v8::Function> read;  // compiled on first use (see rows.cpp ensure_reader)
  v8::Global<v8::Array> read_buf;
};

struct Realm {
  Oid role = InvalidOid;
  uint64_t id = 0;  // never reused: caches elsewhere (RowConv) name a realm by it
  unsigned isolate_gen = 0;
  // The realm's own microtask queue: promise jobs of one role never run in another role's call.
  // Drained at the end of every call of the realm (declared before `context`, which points to
  // it, so that it is destroyed after).
  std::unique_ptr<v8::MicrotaskQueue> microtasks;
  v8::Global<v8::Context> context;
  // ctx.db's natives, (token, input, params) => Promise, read-only and read-write; every call's
  // invoker wraps them in a fresh ctx.db bound to the call's token.
  v8::Global<v8::Function> query_ro, exec_ro, query_rw, exec_rw;
  // A procedure's ctx.db.commit()/rollback() native, (token, rollback) => Promise, and ctx.window's
  // natives [rowCount, value, peers, setMark] (see shapes.h).
  v8::Global<v8::Function> txn;
  v8::Global<v8::Array> window_fns;
  // ctx.db's other methods, shared by every ctx.db of the realm: [prepare, cursor, transaction,
  // fn, notify, ident, literal] (natives; the first five call into the realm's db kit, compiled
  // from db_kit.js on first use), and the symbols under which a ctx.db keeps its call's token and
  // a transaction's db its level.
  v8::Global<v8::Array> db_methods;
  v8::Global<v8::Array> db_kit;
  v8::Global<v8::Symbol> db_call_key, db_level_key;
  // ctx.log, frozen, shared by every call of the realm (see console.h).
  v8::Global<v8::Object> log;
  // (iterator, next, buffer) => n: fills the buffer from a set-returning function's iterator in
  // JIT code (see materialize_set); made on first use.
  v8::Global<v8::Function> pull;
  // What every invoker of this realm closes over (see invoker_prelude.js), read before any user
  // code ran: [JSON.stringify, Object.getPrototypeOf, Object.prototype, Array.prototype, flag,
  // clock, Date.prototype.toISOString, Reflect.apply, Date, Math.floor, token].
  // `flag`, `clock` and `token` are views of `cell`, which C++ reads and writes directly:
  //   clock[0]: the transaction's start in ms since 1970, written before every call; the
  //             invoker's nowOf turns it into ctx.now's ISO text when the millisecond changes
  //             (made in C++ with a global handle, that text cost a single-statement call ~2 us);
  //   token[0]: the running call's token (CallFrame::token), written before every call;
  //   flag[0]:  set by the invoker of a function returning jsonb as it returns: 1 = JSON text of a
  //             plain object or array, 2 = JSON.stringify threw (use the walker), 0 = the value.
  v8::Global<v8::Array> kit;
  std::shared_ptr<v8::BackingStore> cell;
  double* clock = nullptr;
  double* token = nullptr;
  const uint8_t* result_flag = nullptr;
  // The same role's realm for calls made while this realm runs its microtasks (a nested plts call
  // after an await, a trigger fired by a statement awaited after an await): V8 does not run a
  // microtask checkpoint inside another one, so such a call could never settle its own promises
  // here. Owned: deleted with this realm.
  Realm* nested = nullptr;
  ~Realm();
  uint64_t last_used = 0;  // call serial of its last call, to collect realms unused for long
  bool started = false;    // plts.start_proc ran (or there was none) before its first call
  int active = 0;          // calls of this realm now on the stack
  // Module instances of this realm (see modules.h): by key, by identity hash, and import links
  // ("<referrer key>\n<specifier>" -> key).
  std::unordered_map<std::string, v8::Global<v8::Module>> modules;
  std::unordered_multimap<int, std::string> module_ids;
  // Row shapes by column-name key (see RowConv::shape_key).
  std::unordered_map<std::string, std::unique_ptr<RowShape>> row_shapes;
  std::unordered_map<std::string, std::string> module_links;
};

// Zeroed memory for an ArrayBuffer that plts itself needs (the realm's cell, a set's batch
// buffers), outside the plts.max_arraybuffer_mb budget. Throws std::bad_alloc.
std::shared_ptr<v8::BackingStore> own_backing_store(size_t size);

// A realm id never used before.
uint64_t next_realm_id();

// The realm of the current effective role (GetUserId()), created on first use. Requires an
// entered isolate and an open HandleScope.
Realm& current_realm(v8::Isolate* iso);

// The realm whose context ctx is (looked up among the current role's realms first), or null when
// ctx is no realm's (then nothing of a realm may be used in it).
Realm* realm_of_context(v8::Isolate* iso, v8::Local<v8::Context> ctx);

// The realm a call of the current role runs in: current_realm(), or, while that realm is running
// its microtasks, its nested realm (see Realm::nested).
Realm& realm_for_new_call(v8::Isolate* iso);

// Forgets every realm (before the isolate is disposed).
void drop_realms();

// Number of live realms, for plts.metrics().
int realm_count();

// Whether fi's invoker stringifies a jsonb result itself (and says so in the realm's result flag).
bool invoker_stringifies_jsonb(const FunctionInfo& fi);

// The current transaction's start time in ms since 1970 (what ctx.now formats).
double transaction_start_ms();

// The cached export (default or named) of fi in realm, loading it on first use; `loaded` gets its
// cache entry (with the invoker that builds ctx and calls it).
v8::Local<v8::Function> function_in_realm(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                          Realm& realm, FunctionInfo& fi, bool* is_query,
                                          const FunctionInfo::Loaded** loaded);

// What kind of thing an export is: "query" / "mutation" (@stopgap/runtime wrappers), "function",
// or "value".
std::string export_kind(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v);

// Runs the realm's queued microtasks; a termination inside them surfaces through the caller's
// TryCatch.
void drain_microtasks(v8::Isolate* iso, Realm& realm);

// Drops realms not used by the last `keep_calls` calls and not on the stack (their roles'
// globals and module instances go with them).
void collect_idle_realms(uint64_t now_serial, uint64_t keep_calls);

// Forgets the module instance of `key` in every realm (a function version that is gone).
void forget_module_everywhere(v8::Isolate* iso, const std::string& key);

}  // namespace plts
