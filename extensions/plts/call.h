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

// fmgr call of a plts function.
Datum call_function(FunctionCallInfo fcinfo);

// DO $$ ... $$ LANGUAGE plts (atomic: inside a transaction block or a function).
void run_inline(const char* source, bool atomic);

// The exports of an artifact's module and their kinds ("query", "mutation", "function", "value"),
// loading the module in the caller's realm under the usual limits.
nlohmann::json artifact_exports(const std::string& hash);

// CREATE FUNCTION ... LANGUAGE plts: checks the definition (and the body when
// check_function_bodies is on).
void validate_function(Oid fn_oid);

}  // namespace plts
