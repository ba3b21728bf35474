#include "extensions/plts/call.h"


#include "extensions/plts/artifacts.h"
#include "extensions/plts/compiler/compiler.h"
#include "extensions/plts/convert.h"
#include "extensions/plts/cycle_clock.h"
#include "extensions/plts/log.h"
#include "extensions/plts/modules.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/gucs.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/metrics.h"
#include "extensions/plts/realm.h"
#include "extensions/plts/watchdog.h"

extern "C" {
#include "executor/spi.h"
#include "utils/jsonb.h"
}

namespace plts {

using pgx::pg_guard;
using pgx::PgError;

CallFrame* current_frame = nullptr;

namespace {

// The error a rejected promise carries, as a PostgreSQL error.
PgError rejection_error(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> reason,
                        const ErrorSite& site) {
  return js_value_to_pg_error(iso, ctx, reason, v8::Local<v8::Message>(), site);
}

// Phase 2. Returns the result Datum; sets *terminated when V8 execution was terminated (the reason
// is decided in phase 3). Throws PgError for JS exceptions and conversion failures.
Datum run_in_v8(v8::Isolate* iso, FunctionInfo& fi, FunctionCallInfo fcinfo, CallFrame& frame,
                bool* isnull, bool* terminated) {
  v8::HandleScope handles(iso);
  Realm& realm = current_realm(iso);
  v8::Local<v8::Context> ctx = realm.context.Get(iso);
  v8::Context::Scope context_scope(ctx);
  v8::TryCatch tc(iso);
  auto site = [&] { return ErrorSite{fi.qualified, Stage::kExecute}; };  // error paths only
  try {
    bool is_query = false;
    const FunctionInfo::Loaded* loaded = nullptr;
    function_in_realm(iso, ctx, realm, fi, &is_query, &loaded);
    // A @stopgap/runtime query() reads only, whatever the function's volatility.
    if (is_query) frame.mode = DbMode::kReadOnly;

    constexpr int kInline = 8;
    int nargs = fcinfo ? fcinfo->nargs : 0;
    v8::Local<v8::Value> inline_args[kInline];
    std::vector<v8::Local<v8::Value>> heap_args;
    v8::Local<v8::Value>* call_args = inline_args;
    if (nargs > kInline) {
      heap_args.resize(nargs);
      call_args = heap_args.data();
    }
    *realm.clock = transaction_start_ms();
    for (int i = 0; i < nargs; i++)
      call_args[i] =
          to_js(iso, ctx, *fi.arg_conv[i], fcinfo->args[i].value, fcinfo->args[i].isnull);
    v8::Local<v8::Value> result;
    if (!loaded->invoke.Get(iso)
             ->Call(ctx, v8::Undefined(iso), nargs, call_args)
             .ToLocal(&result))
      throw JsException();
    bool settled_promise = false;
    if (result->IsPromise()) {
      settled_promise = true;
      drain_microtasks(iso);
      if (tc.HasCaught() || iso->IsExecutionTerminating()) throw JsException();
      v8::Local<v8::Promise> p = result.As<v8::Promise>();
      switch (p->State()) {
        case v8::Promise::kFulfilled:
          result = p->Result();
          break;
        case v8::Promise::kRejected:
          throw rejection_error(iso, ctx, p->Result(), site());
        case v8::Promise::kPending:
          throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                        "plts function " + fi.qualified + " returned a promise that never settled",
                        "", "Await only ctx.db calls and promises that settle within the call.");
      }
    }
    // What a jsonb function's invoker says it returned (see Realm::kit); a promise's
    // settled value was never seen by it.
    uint8_t jsonb_form = 0;
    if (fi.ret_conv->kind == TypeKind::kJsonb && !settled_promise) jsonb_form = *realm.result_flag;
    MemoryContextSwitchTo(frame.call_mcxt);
    try {
      if (jsonb_form == 1 && result->IsString()) {
        *isnull = false;
        return jsonb_from_json_string(iso, result.As<v8::String>());
      }
      if (jsonb_form == 2) {
        *isnull = false;
        return jsonb_by_walker(iso, ctx, result);
      }
      return from_js(iso, ctx, *fi.ret_conv, result, isnull);
    } catch (const PgError& e) {
      throw e.with_prefix("plts function " + fi.qualified +
                          " returned a value that does not fit its return type: ");
    }
  } catch (const JsException&) {
    if (tc.HasTerminated() || iso->IsExecutionTerminating()) {
      *terminated = true;
      return 0;
    }
    if (!tc.HasCaught())
      throw PgError(ERRCODE_INTERNAL_ERROR, "plts: V8 failed without an exception");
    throw js_to_pg_error(iso, ctx, tc, site());
  }
}

void classify(const PgError& e) {
  metrics.errors++;
  int code = e.sqlerrcode();
  if (code == ERRCODE_QUERY_CANCELED) {
    std::string m = e.what();
    if (m.find("timeout") != std::string::npos || m.find("max_runtime_ms") != std::string::npos)
      metrics.timeout++;
    else
      metrics.cancel++;
  } else if (code == ERRCODE_OUT_OF_MEMORY) {
    metrics.heap++;
  } else if (code == ERRCODE_STATEMENT_TOO_COMPLEX) {
    metrics.stack++;
  } else if (code == ERRCODE_RAISE_EXCEPTION) {
    metrics.js_exception++;
  } else {
    metrics.sql_error++;
  }
}

// Runs phase 2 (`body(iso, frame, isnull, terminated)`) for fi under the call's limits, then
// phase 3.
template <typename Phase2>
Datum execute(FunctionInfo& fi, const Phase2& body, bool* isnull) {
  uint64_t started = cycle_now();
  bool outermost = v8_call_depth == 0;
  if (outermost && heap_limit_hit()) {
    // The isolate that hit its heap limit is discarded: forget every handle into it first.
    drop_loaded_functions();
    drop_realms();
    if (recycle_isolate_if_exhausted()) metrics.isolate_recycles++;
  }
  v8::Isolate* iso = user_isolate();
  if (outermost) {
    apply_stack_limit(iso);
    watchdog_arm(iso, settings.max_runtime_ms);
  }
  CallFrame frame;
  frame.outer = current_frame;
  frame.mode = fi.mode;
  frame.call_mcxt = CurrentMemoryContext;
  current_frame = &frame;
  v8_call_depth++;
  fi.active_calls++;
  metrics.calls++;

  bool terminated = false;
  Datum result = 0;
  std::unique_ptr<PgError> error;
  try {
    result = body(iso, frame, isnull, &terminated);
  } catch (const PgError& e) {
    error = std::make_unique<PgError>(e);
  } catch (const std::bad_alloc&) {
    error = std::make_unique<PgError>(ERRCODE_OUT_OF_MEMORY,
                                      "out of memory in plts function " + fi.qualified);
  } catch (const std::exception& e) {
    error = std::make_unique<PgError>(ERRCODE_INTERNAL_ERROR, e.what());
  }
  fi.active_calls--;
  v8_call_depth--;
  current_frame = frame.outer;
  MemoryContextSwitchTo(frame.call_mcxt);
  StopReason reason = StopReason::kNone;
  if (outermost) {
    reason = watchdog_disarm();
    if (terminated || reason != StopReason::kNone || frame.uncatchable || heap_limit_hit())
      iso->CancelTerminateExecution();
  }
  if (frame.spi_connected) {
    pg_guard([] { SPI_finish(); });
    MemoryContextSwitchTo(frame.call_mcxt);
  }

  uint64_t ticks = cycle_now() - started;
  metrics.latency_total_ticks += ticks;
  metrics.latency_last_ticks = ticks;
  if (ticks > metrics.latency_max_ticks) metrics.latency_max_ticks = ticks;

  // Phase 3: every V8 scope is closed.
  try {
    if (heap_limit_hit()) {
      throw PgError(ERRCODE_OUT_OF_MEMORY,
                    "plts function " + fi.qualified +
                        " exceeded the JavaScript heap limit (plts.max_heap_mb = " +
                        std::to_string(settings.max_heap_mb) + ")",
                    "The isolate is discarded; the next call starts with a fresh one.",
                    "Use less memory, or raise plts.max_heap_mb.");
    }
    if (frame.uncatchable) throw PgError(*frame.uncatchable);
    if (terminated || reason != StopReason::kNone) {
      if (reason == StopReason::kDeadline) {
        throw PgError(ERRCODE_QUERY_CANCELED, "canceling statement due to plts.max_runtime_ms (" +
                                                  std::to_string(settings.max_runtime_ms) +
                                                  " ms) in plts function " + fi.qualified);
      }
      // Cancel, statement_timeout or terminate: PostgreSQL raises its own error.
      pg_guard([] { CHECK_FOR_INTERRUPTS(); });
      throw PgError(ERRCODE_QUERY_CANCELED,
                    "JavaScript execution of plts function " + fi.qualified + " was terminated");
    }
    if (error) throw PgError(*error);
  } catch (const PgError& e) {
    classify(e);
    throw;
  }
  return result;
}

}  // namespace

Datum call_function(FunctionCallInfo fcinfo) {
  pg_guard([] { check_stack_depth(); });
  FunctionInfo* fi = lookup_function_for_call(fcinfo->flinfo);
  bool isnull = false;
  Datum d = execute(
      *fi,
      [&](v8::Isolate* iso, CallFrame& frame, bool* null, bool* terminated) {
        return run_in_v8(iso, *fi, fcinfo, frame, null, terminated);
      },
      &isnull);
  fcinfo->isnull = isnull;
  return d;
}

void run_inline(const char* source) {
  pg_guard([] { check_stack_depth(); });
  FunctionInfo fi;
  fi.name = "inline code block";
  fi.qualified = "inline code block";
  fi.transient = true;
  fi.source = source;
  fi.mode = DbMode::kReadWrite;
  fi.ret_conv = resolve_type(VOIDOID);
  prepare_module(fi, false);
  bool isnull = false;
  execute(
      fi,
      [&](v8::Isolate* iso, CallFrame& frame, bool* null, bool* terminated) {
        return run_in_v8(iso, fi, nullptr, frame, null, terminated);
      },
      &isnull);
}

nlohmann::json artifact_exports(const std::string& hash) {
  std::optional<Artifact> a = find_artifact(hash);
  if (!a) throw PgError(ERRCODE_UNDEFINED_OBJECT, "plts: artifact " + hash + " not found");
  FunctionInfo fi;
  fi.name = fi.qualified = "plts+artifact:" + hash;
  fi.module_key = hash;
  fi.js = a->compiled_js;
  fi.source_map = a->source_map;
  fi.import_map = artifact_import_map(*a, fi.qualified);
  fi.mode = DbMode::kReadOnly;
  fi.ret_conv = resolve_type(VOIDOID);
  nlohmann::json out = nlohmann::json::object();
  bool isnull = false;
  execute(
      fi,
      [&](v8::Isolate* iso, CallFrame&, bool*, bool* terminated) -> Datum {
        v8::HandleScope handles(iso);
        Realm& realm = current_realm(iso);
        v8::Local<v8::Context> ctx = realm.context.Get(iso);
        v8::Context::Scope context_scope(ctx);
        v8::TryCatch tc(iso);
        try {
          v8::Local<v8::Object> ns = load_module_graph(iso, ctx, realm, module_spec_of(fi));
          v8::Local<v8::Array> names;
          if (!ns->GetOwnPropertyNames(ctx).ToLocal(&names)) throw JsException();
          for (uint32_t i = 0; i < names->Length(); i++) {
            v8::Local<v8::Value> name, value;
            if (!names->Get(ctx, i).ToLocal(&name) || !ns->Get(ctx, name).ToLocal(&value))
              throw JsException();
            out[utf8(iso, name)] = export_kind(iso, ctx, value);
          }
        } catch (const JsException&) {
          if (tc.HasTerminated() || iso->IsExecutionTerminating()) {
            *terminated = true;
            return 0;
          }
          throw js_to_pg_error(iso, ctx, tc, ErrorSite{fi.qualified, Stage::kLoad});
        }
        return 0;
      },
      &isnull);
  return out;
}

void validate_function(Oid fn_oid) {
  std::unique_ptr<FunctionInfo> fi = describe_function(fn_oid);
  if (!check_function_bodies) return;
  prepare_module(*fi, true);
  if (settings.typecheck != kTypecheckOff && fi->export_name == "default" && fi->js != fi->source) {
    nlohmann::json diags = typecheck_ts(fi->source, effective_options({{"source_map", true}}));
    std::string first;
    int errors = 0;
    for (const auto& d : diags) {
      if (d.value("category", "") != "error") continue;
      if (errors++ == 0)
        first =
            (d["line"].is_number() ? "line " + std::to_string(d["line"].get<int>()) + ", column " +
                                         std::to_string(d["column"].get<int>()) + ": "
                                   : std::string()) +
            d.value("message", "");
    }
    if (errors > 0) {
      std::string msg = "TypeScript type error in plts function " + fi->qualified + " at " + first;
      if (settings.typecheck == kTypecheckError)
        throw PgError(ERRCODE_DATATYPE_MISMATCH, msg, "diagnostics: " + diags.dump(),
                      "plts.typecheck = error");
      plts_log(WARNING, msg + (errors > 1 ? " (and " + std::to_string(errors - 1) + " more)" : ""));
    }
  }
  v8::Isolate* iso = user_isolate();
  v8::HandleScope handles(iso);
  Realm& realm = current_realm(iso);
  v8::Local<v8::Context> ctx = realm.context.Get(iso);
  v8::Context::Scope context_scope(ctx);
  try {
    check_module_syntax(iso, ctx, fi->js, fi->qualified);
  } catch (const JsException&) {
    throw PgError(ERRCODE_QUERY_CANCELED,
                  "compilation of plts function " + fi->qualified + " was terminated");
  }
}

}  // namespace plts
