#include "extensions/plts/call.h"


#include "extensions/plts/artifacts.h"
#include "extensions/plts/compiler/compiler.h"
#include "extensions/plts/convert.h"
#include "extensions/plts/cycle_clock.h"
#include "extensions/plts/db_bridge.h"
#include "extensions/plts/log.h"
#include "extensions/plts/modules.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/gucs.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/metrics.h"
#include "extensions/plts/realm.h"
#include "extensions/plts/rows.h"
#include "extensions/plts/shapes.h"
#include "extensions/plts/watchdog.h"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "commands/proclang.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace plts {

using pgx::pg_guard;
using pgx::PgError;

CallFrame* current_frame = nullptr;

bool error_stops_call(const PgError& e) {
  return ERRCODE_TO_CATEGORY(e.sqlerrcode()) == ERRCODE_OPERATOR_INTERVENTION ||
         heap_limit_hit() || watchdog_stop_requested() ||
         (current_frame != nullptr && current_frame->uncatchable);
}

bool stop_call_for(v8::Isolate* iso, const PgError& e) {
  if (!error_stops_call(e)) return false;
  if (current_frame != nullptr && !current_frame->uncatchable)
    current_frame->uncatchable = std::make_unique<PgError>(e);
  iso->TerminateExecution();
  return true;
}

namespace {

uint64_t call_serial = 0;

// The error a rejected promise carries, as a PostgreSQL error.
PgError rejection_error(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> reason,
                        const ErrorSite& site) {
  return js_value_to_pg_error(iso, ctx, reason, v8::Local<v8::Message>(), site);
}

// Records promises rejected with no handler in the running call; forgets them when a handler
// arrives later (an await after the rejection, say).
void on_promise_reject(v8::PromiseRejectMessage msg) {
  CallFrame* frame = current_frame;
  if (frame == nullptr) return;
  v8::Local<v8::Promise> p = msg.GetPromise();
  v8::Isolate* iso = p->GetIsolate();
  if (msg.GetEvent() == v8::kPromiseRejectWithNoHandler) {
    if (frame->unhandled.size() < 1000) frame->unhandled.emplace_back(iso, p);
  } else if (msg.GetEvent() == v8::kPromiseHandlerAddedAfterReject) {
    for (CallFrame* f = frame; f != nullptr; f = f->outer) {
      auto& u = f->unhandled;
      for (auto it = u.begin(); it != u.end(); ++it)
        if (*it == p) {
          u.erase(it);
          return;
        }
    }
  }
}

void install_reject_callback(v8::Isolate* iso) {
  static v8::Isolate* installed = nullptr;
  static unsigned installed_gen = 0;
  if (installed == iso && installed_gen == isolate_generation()) return;
  iso->SetPromiseRejectCallback(on_promise_reject);
  installed = iso;
  installed_gen = isolate_generation();
}

// Fails the call when a promise it rejected was never handled (an un-awaited failing ctx.db call,
// say): the reason's SQLSTATE and message, said to be unhandled.
void check_unhandled(v8::Isolate* iso, v8::Local<v8::Context> ctx, CallFrame& frame,
                     v8::Local<v8::Value> returned, const ErrorSite& site) {
  for (auto& g : frame.unhandled) {
    v8::Local<v8::Promise> p = g.Get(iso);
    if (!returned.IsEmpty() && returned == p) continue;  // reported as the call's own rejection
    if (p->State() != v8::Promise::kRejected) continue;
    PgError e = rejection_error(iso, ctx, p->Result(), site);
    throw e.with_prefix("unhandled promise rejection in plts function " + site.qualified_name +
                        ": ");
  }
}

// Phase 2. Returns the result Datum; sets *terminated when V8 execution was terminated (the reason
// is decided in phase 3). Throws PgError for JS exceptions and conversion failures.
Datum run_in_v8(v8::Isolate* iso, Realm& realm, FunctionInfo& fi, FunctionCallInfo fcinfo,
                CallFrame& frame, bool* isnull, bool* terminated) {
  v8::HandleScope handles(iso);
  v8::Local<v8::Context> ctx = realm.context.Get(iso);
  v8::Context::Scope context_scope(ctx);
  v8::TryCatch tc(iso);
  auto site = [&] { return ErrorSite{fi.qualified, Stage::kExecute}; };  // error paths only
  auto stopped = [&] { return tc.HasTerminated() || call_must_stop(iso); };
  try {
    bool is_query = false;
    const FunctionInfo::Loaded* loaded = nullptr;
    function_in_realm(iso, ctx, realm, fi, &is_query, &loaded);
    if (loaded == nullptr) {
      // A DO block without a default export: its module's code was all there was to run.
      drain_microtasks(iso, realm);
      if (stopped()) throw JsException();
      check_unhandled(iso, ctx, frame, v8::Local<v8::Value>(), site());
      *isnull = true;
      return 0;
    }
    // A @stopgap/runtime query() reads only, whatever the function's volatility.
    if (is_query) frame.mode = DbMode::kReadOnly;

    const CallShape& shape = frame.shape != nullptr ? *frame.shape : fi.shape;
    constexpr int kInline = 8;
    std::vector<v8::Local<v8::Value>> heap_args;
    v8::Local<v8::Value> inline_args[kInline];
    v8::Local<v8::Value>* call_args = inline_args;
    RowOrigin trigger_new;  // what a trigger's new row was made from
    int ninputs = static_cast<int>(fi.arg_names.size());
    int nextra = fi.kind == FnKind::kWindow         ? 2
                 : fi.kind == FnKind::kTrigger      ? kTriggerArgs
                 : fi.kind == FnKind::kEventTrigger ? 1
                                                    : 0;
    int ncall = fcinfo ? nextra + ninputs : 0;
    if (ncall > kInline) {
      heap_args.resize(ncall);
      call_args = heap_args.data();
    }
    *realm.clock = transaction_start_ms();
    *realm.token = static_cast<double>(frame.token);
    if (fcinfo != nullptr) {
      v8::Local<v8::Value>* a = call_args + nextra;
      if (fi.kind == FnKind::kTrigger) {
        trigger_call_args(iso, ctx, realm, fi, frame.trigdata, call_args, &trigger_new);
      } else if (fi.kind == FnKind::kEventTrigger) {
        call_args[0] = event_to_js(iso, ctx, reinterpret_cast<EventTriggerData*>(fcinfo->context));
      } else if (fi.kind == FnKind::kWindow) {
        // A window function's arguments are the current row's, read through its window object.
        int64 pos = 0;
        pg_guard([&] { pos = WinGetCurrentPosition(frame.winobj); });
        call_args[0] = v8::Number::New(iso, static_cast<double>(pos));
        call_args[1] = window_memory(iso, ctx, &realm, frame.winobj);
        for (int i = 0; i < ninputs; i++) {
          bool isnull = false;
          Datum d = 0;
          pg_guard([&] { d = WinGetFuncArgCurrent(frame.winobj, i, &isnull); });
          a[i] = to_js(iso, ctx, *shape.arg_conv[i], d, isnull);
        }
      } else {
        int fixed = fi.variadic_any >= 0 && !frame.variadic_array ? fi.variadic_any : ninputs;
        for (int i = 0; i < fixed; i++)
          a[i] = to_js(iso, ctx, *shape.arg_conv[i], fcinfo->args[i].value, fcinfo->args[i].isnull);
        if (fixed < ninputs) {
          // VARIADIC "any": the values it collected, each converted as its own type.
          int n = fcinfo->nargs - fixed;
          v8::Local<v8::Array> rest = v8::Array::New(iso, std::max(n, 0));
          for (int i = 0; i < n; i++) {
            const NullableDatum& arg = fcinfo->args[fixed + i];
            if (rest->CreateDataProperty(ctx, i, to_js(iso, ctx, *shape.arg_conv[fixed + i],
                                                       arg.value, arg.isnull))
                    .IsNothing())
              throw JsException();
          }
          a[fixed] = rest;
        }
      }
    }
    v8::Local<v8::Value> result;
    if (!loaded->invoke.Get(iso)
             ->Call(ctx, v8::Undefined(iso), ncall, call_args)
             .ToLocal(&result))
      throw JsException();
    // What a jsonb function's invoker says it returned (see Realm::kit), read before any other
    // call of the realm (a microtask's nested call) can overwrite it.
    uint8_t jsonb_form = invoker_stringifies_jsonb(fi) ? *realm.result_flag : 0;
    // Every job the call queued runs now, inside the call and its limits: none is left for the
    // next call (of this role or, through a shared queue, another one).
    drain_microtasks(iso, realm);
    if (tc.HasCaught() || stopped()) throw JsException();
    v8::Local<v8::Value> returned = result;
    if (result->IsPromise()) {
      jsonb_form = 0;  // the settled value was never seen by the invoker
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
    check_unhandled(iso, ctx, frame, returned, site());
    MemoryContextSwitchTo(frame.call_mcxt);
    if (fi.kind == FnKind::kTrigger) {
      *isnull = false;
      return trigger_result(iso, ctx, realm, fi, frame.trigdata, result, &trigger_new);
    }
    if (fi.kind == FnKind::kEventTrigger) {
      *isnull = false;
      return 0;
    }
    if (fi.retset) {
      materialize_set(iso, ctx, realm, fi, shape, fcinfo, frame.call_mcxt, result);
      // Rows produced by the set's iterator may have queued jobs and left rejections.
      check_unhandled(iso, ctx, frame, returned, site());
      *isnull = true;
      return 0;
    }
    try {
      if (jsonb_form == 1 && result->IsString()) {
        *isnull = false;
        return jsonb_from_json_string(iso, result.As<v8::String>());
      }
      if (jsonb_form == 2) {
        *isnull = false;
        return jsonb_by_walker(iso, ctx, result);
      }
      return result_datum(iso, ctx, realm, fi, shape, result, isnull);
    } catch (const PgError& e) {
      throw e.with_prefix("plts function " + fi.qualified +
                          " returned a value that does not fit its return type: ");
    }
  } catch (const JsException&) {
    if (stopped()) {
      *terminated = true;
      return 0;
    }
    if (!tc.HasCaught())
      throw PgError(ERRCODE_INTERNAL_ERROR, "plts: V8 failed without an exception");
    PgError e = js_to_pg_error(iso, ctx, tc, site());
    // Converting the error runs user code (getters, proxy traps): it may have been stopped.
    if (stopped()) {
      *terminated = true;
      return 0;
    }
    throw e;
  } catch (const PgError&) {
    if (stopped()) {
      *terminated = true;
      return 0;
    }
    throw;
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

// Everything a call sets, restored on every exit (C++ exception, termination, normal return):
// the frame chain, call depths, the realm's and function's active counts, the memory context and
// the watchdog's arming.
class CallScope {
 public:
  CallScope(v8::Isolate* iso, FunctionInfo& fi, Realm& realm, CallFrame& frame, bool outermost)
      : fi_(fi), realm_(realm), frame_(frame), outermost_(outermost) {
    frame.outer = current_frame;
    frame.mode = fi.mode;
    frame.call_mcxt = CurrentMemoryContext;
    frame.token = ++call_serial;
    realm.last_used = call_serial;
    if (outermost) {
      apply_stack_limit(iso);
      watchdog_arm(iso, settings.max_runtime_ms);
      armed_ = true;
    }
    current_frame = &frame;
    v8_call_depth++;
    fi.active_calls++;
    realm.active++;
  }
  // Disarms the watchdog (outermost call) and says why it stopped the call, if it did.
  StopReason disarm() {
    if (!armed_) return StopReason::kNone;
    armed_ = false;
    return watchdog_disarm();
  }
  ~CallScope() {
    if (armed_) watchdog_disarm();
    realm_.active--;
    fi_.active_calls--;
    v8_call_depth--;
    current_frame = frame_.outer;
    MemoryContextSwitchTo(frame_.call_mcxt);
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  FunctionInfo& fi_;
  Realm& realm_;
  CallFrame& frame_;
  bool outermost_;
  bool armed_ = false;
};

// Runs f, which must not throw: a PostgreSQL error that escapes into it (a bug: every PostgreSQL
// call on the V8 side is guarded) cannot be unwound through V8's frames, so it ends this session
// (FATAL: exit code 1, the rest of the cluster is untouched) rather than corrupt the isolate.
template <typename F>
void fatal_on_escaped_error(F&& f) {
  PG_TRY();
  { f(); }
  PG_CATCH();
  {
    EmitErrorReport();
    FlushErrorState();
    ereport(FATAL, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("plts: a PostgreSQL error escaped into JavaScript frames"),
                    errdetail("The session ends to keep the server safe.")));
  }
  PG_END_TRY();
}

// The realm of the calling role, made before the call's limits start (a fresh backend's first
// call pays for V8's start and the realm there, not against plts.max_runtime_ms).
Realm& realm_for_call(v8::Isolate* iso) {
  v8::HandleScope handles(iso);
  try {
    return realm_for_new_call(iso);
  } catch (const JsException&) {
    throw PgError(ERRCODE_INTERNAL_ERROR, "plts: could not create a JavaScript context");
  }
}

// plts.start_proc, once per realm before its first call: a call of its own (its own limits), made
// as the realm's role. An error fails the call that needed it, with the setting named in the
// context, and leaves the realm to try again at its next call.
void run_start_proc(Realm& realm) {
  std::string name = settings.start_proc != nullptr ? settings.start_proc : "";
  realm.started = true;  // the start_proc's own call runs in this realm
  if (name.empty()) return;
  try {
    Oid oid = InvalidOid;
    pg_guard([&] {
      oid = DatumGetObjectId(DirectFunctionCall1(
          name.find('(') != std::string::npos ? regprocedurein : regprocin,
          CStringGetDatum(name.c_str())));
      HeapTuple tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(oid));
      if (!HeapTupleIsValid(tup)) elog(ERROR, "cache lookup failed for function %u", oid);
      auto* p = reinterpret_cast<Form_pg_proc>(GETSTRUCT(tup));
      bool ours = p->prolang == get_language_oid("plts", false);
      bool usable = p->prokind == PROKIND_FUNCTION && p->pronargs == 0 && !p->prosecdef;
      ReleaseSysCache(tup);
      if (!ours || !usable)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("plts.start_proc must name a LANGUAGE plts function without "
                               "arguments that is not SECURITY DEFINER"),
                        errdetail("It runs in the context of the role whose first call it "
                                  "precedes, as that role.")));
      AclResult acl = pg_proc_aclcheck(oid, GetUserId(), ACL_EXECUTE);
      if (acl != ACLCHECK_OK) aclcheck_error(acl, OBJECT_FUNCTION, get_func_name(oid));
      LOCAL_FCINFO(fcinfo, 0);
      FmgrInfo flinfo;
      fmgr_info(oid, &flinfo);
      InitFunctionCallInfoData(*fcinfo, &flinfo, 0, InvalidOid, nullptr, nullptr);
      (void)FunctionCallInvoke(fcinfo);
    });
  } catch (const PgError& e) {
    realm.started = false;
    throw e.with_context("plts.start_proc (" + name + ")");
  }
}

// Runs phase 2 (`body(iso, realm, frame, isnull, terminated)`) for fi under the call's limits,
// then phase 3.
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
  install_reject_callback(iso);
  Realm& realm = realm_for_call(iso);
  if (!realm.started) run_start_proc(realm);
  CallFrame frame;
  metrics.calls++;

  bool terminated = false;
  Datum result = 0;
  std::unique_ptr<PgError> error;
  StopReason reason = StopReason::kNone;
  int deadline_ms = 0;
  {
    CallScope scope(iso, fi, realm, frame, outermost);
    fatal_on_escaped_error([&] {
      try {
        result = body(iso, realm, frame, isnull, &terminated);
      } catch (const PgError& e) {
        error = std::make_unique<PgError>(e);
      } catch (const std::bad_alloc&) {
        error = std::make_unique<PgError>(ERRCODE_OUT_OF_MEMORY,
                                          "out of memory in plts function " + fi.qualified);
      } catch (const std::exception& e) {
        error = std::make_unique<PgError>(ERRCODE_INTERNAL_ERROR, e.what());
      } catch (const JsException&) {
        terminated = true;
      }
    });
    deadline_ms = watchdog_deadline_ms();
    reason = scope.disarm();
  }
  frame.unhandled.clear();
  if (outermost &&
      (terminated || reason != StopReason::kNone || frame.uncatchable || heap_limit_hit()))
    iso->CancelTerminateExecution();
  try {
    db_frame_end(frame);
  } catch (const PgError& e) {
    if (!error) error = std::make_unique<PgError>(e);
  }
  if (frame.spi_connected) {
    try {
      pg_guard([] { SPI_finish(); });
    } catch (const PgError& e) {
      if (!error) error = std::make_unique<PgError>(e);
    }
    MemoryContextSwitchTo(frame.call_mcxt);
  }
  if (outermost && (call_serial & 1023) == 0) collect_idle_realms(call_serial, 100000);
  if (outermost) free_retired_row_convs();

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
    if (reason == StopReason::kDeadline) {
      // Also when the deadline passed inside SQL (the watchdog's SIGINT canceled it there).
      throw PgError(ERRCODE_QUERY_CANCELED,
                    "canceling statement due to plts.max_runtime_ms (" +
                        std::to_string(deadline_ms) + " ms) in plts function " + fi.qualified);
    }
    if (frame.uncatchable) throw PgError(*frame.uncatchable);
    if (terminated || reason != StopReason::kNone) {
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
  bool as_trigger = CALLED_AS_TRIGGER(fcinfo), as_event = CALLED_AS_EVENT_TRIGGER(fcinfo);
  if (fi->kind == FnKind::kTrigger && !as_trigger)
    throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                  "trigger function " + fi->qualified + " can only be called as a trigger");
  if (fi->kind == FnKind::kEventTrigger && !as_event)
    throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                  "event trigger function " + fi->qualified +
                      " can only be called as an event trigger");
  CallShape& shape = shape_for_call(*fi, fcinfo);
  if (fi->retset) check_set_context(*fi, fcinfo);
  bool variadic_array = false;
  if (fi->variadic_any >= 0)
    pg_guard([&] { variadic_array = get_fn_expr_variadic(fcinfo->flinfo); });
  bool nonatomic = fi->kind == FnKind::kProcedure && fcinfo->context != nullptr &&
                   IsA(fcinfo->context, CallContext) &&
                   !reinterpret_cast<CallContext*>(fcinfo->context)->atomic;
  bool isnull = false;
  Datum d = execute(
      *fi,
      [&](v8::Isolate* iso, Realm& realm, CallFrame& frame, bool* null, bool* terminated) {
        frame.fi = fi;
        frame.shape = &shape;
        frame.nargs = fcinfo->nargs;
        frame.nonatomic = nonatomic;
        frame.variadic_array = variadic_array;
        if (as_trigger) frame.trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
        if (fi->kind == FnKind::kWindow) frame.winobj = PG_WINDOW_OBJECT();
        return run_in_v8(iso, realm, *fi, fcinfo, frame, null, terminated);
      },
      &isnull);
  fcinfo->isnull = isnull;
  return d;
}

void run_inline(const char* source, bool atomic) {
  pg_guard([] { check_stack_depth(); });
  FunctionInfo fi;
  fi.name = "inline code block";
  fi.qualified = "inline code block";
  fi.transient = true;
  fi.source = source;
  fi.mode = DbMode::kReadWrite;
  fi.shape.ret_conv = resolve_type(VOIDOID);
  prepare_module(fi, false);
  bool isnull = false;
  execute(
      fi,
      [&](v8::Isolate* iso, Realm& realm, CallFrame& frame, bool* null, bool* terminated) {
        frame.fi = &fi;
        frame.nonatomic = !atomic;
        return run_in_v8(iso, realm, fi, nullptr, frame, null, terminated);
      },
      &isnull);
}

nlohmann::json artifact_exports(const std::string& hash, const nlohmann::json& import_map) {
  std::optional<Artifact> a = find_artifact(hash);
  if (!a) throw PgError(ERRCODE_UNDEFINED_OBJECT, "plts: artifact " + hash + " not found");
  FunctionInfo fi;
  fi.name = fi.qualified = "plts+artifact:" + hash;
  fi.module_key = hash;
  fi.js = a->compiled_js;
  fi.source_map = a->source_map;
  fi.import_map = artifact_import_map(*a, fi.qualified);
  for (auto& [k, v] : import_map.items()) fi.import_map[k] = v;  // as a pointer stub's map
  fi.mode = DbMode::kReadOnly;
  fi.shape.ret_conv = resolve_type(VOIDOID);
  nlohmann::json out = nlohmann::json::object();
  bool isnull = false;
  execute(
      fi,
      [&](v8::Isolate* iso, Realm& realm, CallFrame&, bool*, bool* terminated) -> Datum {
        v8::HandleScope handles(iso);
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
          if (tc.HasTerminated() || call_must_stop(iso)) {
            *terminated = true;
            return 0;
          }
          PgError e = js_to_pg_error(iso, ctx, tc, ErrorSite{fi.qualified, Stage::kLoad});
          if (call_must_stop(iso)) {
            *terminated = true;
            return 0;
          }
          throw e;
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
  if (settings.typecheck != kTypecheckOff && !fi->is_stub && fi->js != fi->source) {
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
