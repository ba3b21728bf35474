// Running one plts call, in three phases: (1) PostgreSQL side: look up and revalidate the
// function; (2) V8 side: convert arguments, build ctx, call the default export, await it, convert
// the result — every PostgreSQL call guarded; (3) PostgreSQL side again, with every V8 scope
// closed: re-raise stored errors (cancel, terminate, timeout, heap) and return the Datum.
#pragma once

#include <memory>
#include <vector>

#include <v8.h>

#include "common/error_boundary.h"
#include "common/pg.h"
#include "extensions/plts/function_cache.h"
#include "extensions/plts/js_exception.h"

struct TriggerData;
struct WindowObjectData;

namespace plts {

struct DbState;  // a call's open ctx.db transactions, cursors and prepared statements

// The state of one call on the stack; ctx.db reaches the innermost one.
struct CallFrame {
  CallFrame* outer = nullptr;
  DbMode mode = DbMode::kReadWrite;
  bool spi_connected = false;
  MemoryContext call_mcxt = nullptr;
  // Names this call to the ctx.db it hands out (see realm.cpp's invoker): a ctx.db whose call
  // is no longer on the stack is dead.
  uint64_t token = 0;
  // An error that JS must not be able to catch (cancel, terminate, timeout, heap): ctx.db stores
  // it, terminates JS, and phase 3 re-raises it.
  std::unique_ptr<pgx::PgError> uncatchable;
  // Promises rejected during the call with no handler (yet): the call fails if any is left.
  std::vector<v8::Global<v8::Promise>> unhandled;
  // What the call is: its function, the shape its arguments converted with, and what the
  // executor handed it (a trigger's data, a window function's window object).
  const FunctionInfo* fi = nullptr;
  const CallShape* shape = nullptr;
  int nargs = 0;
  ::TriggerData* trigdata = nullptr;
  ::WindowObjectData* winobj = nullptr;
  // A procedure called by CALL (or a DO block) outside a transaction block: ctx.db.commit() and
  // rollback() may end the transaction (SPI connects non-atomic).
  bool nonatomic = false;
  bool variadic_array = false;  // VARIADIC "any" given as an explicit VARIADIC array
  // Made by the first ctx.db.transaction/cursor/prepare of the call; ended (rolled back, closed,
  // freed) by db_frame_end before the call's SPI connection finishes.
  DbState* db = nullptr;
};

// The live call that made the ctx.db (or ctx.window) the token names, or null when that call
// has ended.
CallFrame* frame_of_token(double token);

extern CallFrame* current_frame;

// Whether a PostgreSQL error met in a native callback must stop the running call rather than
// reach JavaScript as an exception: cancel, terminate, shutdown (57xxx), the heap limit, a
// watchdog stop, or any error once the call holds such an error.
bool error_stops_call(const pgx::PgError& e);

// When error_stops_call(e): keeps e on the running call (CallFrame::uncatchable, re-raised in
// phase 3), terminates JavaScript and returns true. Otherwise returns false.
bool stop_call_for(v8::Isolate* iso, const pgx::PgError& e);

// Runs a native callback's body: a PgError becomes the JS exception the native throws (or stops
// the call, see stop_call_for), bad_alloc an out-of-memory error, any other C++ exception an
// internal error (none may cross V8's frames); a pending JS exception
// (JsException) propagates as it is.
template <typename F>
void native_guard(v8::Isolate* iso, v8::Local<v8::Context> ctx, F&& body) {
  MemoryContext cxt = CurrentMemoryContext;
  try {
    body();
  } catch (const JsException&) {
  } catch (const pgx::PgError& e) {
    MemoryContextSwitchTo(cxt);
    if (!stop_call_for(iso, e)) iso->ThrowException(pg_to_js_error(iso, ctx, e));
  } catch (const std::bad_alloc&) {
    iso->ThrowException(
        pg_to_js_error(iso, ctx, pgx::PgError(ERRCODE_OUT_OF_MEMORY, "out of memory")));
  } catch (const std::exception& e) {
    iso->ThrowException(pg_to_js_error(iso, ctx, pgx::PgError(ERRCODE_INTERNAL_ERROR, e.what())));
  }
}

// fmgr call of a plts function.
Datum call_function(FunctionCallInfo fcinfo);

// DO $$ ... $$ LANGUAGE plts (atomic: inside a transaction block or a function).
void run_inline(const char* source, bool atomic);

// The exports of an artifact's module and their kinds ("query", "mutation", "function", "value"),
// loading the module in the caller's realm under the usual limits.
nlohmann::json artifact_exports(const std::string& hash,
                                 const nlohmann::json& import_map = nlohmann::json::object());

// CREATE FUNCTION ... LANGUAGE plts: checks the definition (and the body when
// check_function_bodies is on).
void validate_function(Oid fn_oid);

}  // namespace plts
