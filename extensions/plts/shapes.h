// The V8 side of the function shapes beyond "arguments in, one value out": set-returning functions
// (materialized into a tuplestore), row results, triggers (ctx.trigger and the row a BEFORE
// trigger returns), event triggers (ctx.event) and window functions (ctx.window).
#pragma once

#include <v8.h>

#include "common/pg.h"
#include "extensions/plts/call.h"
#include "extensions/plts/function_cache.h"
#include "extensions/plts/rows.h"

extern "C" {
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "windowapi.h"
}

namespace plts {

struct Realm;

// Phase 1 checks that a set-returning call can be materialized (0A000 otherwise).
void check_set_context(const FunctionInfo& fi, FunctionCallInfo fcinfo);

// Materializes `result` (an array, iterable, async iterable, null) into the call's tuplestore,
// consuming iterators lazily, and hands it to the executor. Throws PgError / JsException.
void materialize_set(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                     const FunctionInfo& fi, const CallShape& shape, FunctionCallInfo fcinfo,
                     MemoryContext call_mcxt, v8::Local<v8::Value> result);

// The Datum of a single (non-set) result: a row or a scalar.
Datum result_datum(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                   const FunctionInfo& fi,
                   const CallShape& shape, v8::Local<v8::Value> result, bool* isnull);

// What a trigger call's invoker builds ctx.trigger from (see make_invoker): new, old,
// op/when/level code, name, table, schema, relid, args.
constexpr int kTriggerArgs = 8;
// new_origin gets what the new row was made from (see RowOrigin).
void trigger_call_args(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm,
                       FunctionInfo& fi, TriggerData* td, v8::Local<v8::Value>* out,
                       RowOrigin* new_origin);
// What a trigger call returns to the executor (the row to store, NULL to skip).
Datum trigger_result(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm, FunctionInfo& fi,
                     TriggerData* td, v8::Local<v8::Value> result, RowOrigin* new_origin);

// ctx.event for an event trigger call.
v8::Local<v8::Value> event_to_js(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                 EventTriggerData* ev);

// ctx.window's per-partition memory object for a window call.
v8::Local<v8::Value> window_memory(v8::Isolate* iso, v8::Local<v8::Context> ctx, const Realm* realm,
                                   WindowObject winobj);
// Forgets the window memory objects of a realm (nullptr: of every realm).
void forget_window_memory(const Realm* realm);

// ctx.window's natives: rowCount(token), value(token, inFrame, arg, offset, seek),
// peers(token, a, b), setMark(token, pos).
void window_row_count_callback(const v8::FunctionCallbackInfo<v8::Value>& info);
void window_value_callback(const v8::FunctionCallbackInfo<v8::Value>& info);
void window_peers_callback(const v8::FunctionCallbackInfo<v8::Value>& info);
void window_mark_callback(const v8::FunctionCallbackInfo<v8::Value>& info);

}  // namespace plts
