#include "extensions/plts/console.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "extensions/plts/call.h"
#include "extensions/plts/convert.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/gucs.h"
#include "extensions/plts/inspect.h"
#include "extensions/plts/inspect_text.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/modules.h"
#include "extensions/plts/realm.h"
#include "extensions/plts/watchdog.h"

namespace plts {

using pgx::pg_guard;
using pgx::PgError;

namespace {

enum Method {
  kConsoleLog,
  kConsoleInfo,
  kConsoleDebug,
  kConsoleWarn,
  kConsoleError,
  kConsoleTrace,
  kConsoleDir,
  kConsoleTable,
  kConsoleAssert,
  kLogDebug,
  kLogLog,
  kLogInfo,
  kLogNotice,
  kLogWarning,
  kLogError,
  kMethodCount
};

struct MethodDef {
  const char* name;   // the property name
  const char* where;  // how the CONTEXT line names it
  int elevel;         // 0: ctx.log.error (throws)
};

// console follows what a PL/pgSQL user expects of RAISE: log/info show like RAISE NOTICE (and obey
// client_min_messages; INFO would reach every client whatever its setting); warn and error are
// WARNINGs (shown to the client and written to the server log by default: an ERROR would end the
// call). ctx.log's methods are PostgreSQL's levels by name.
const MethodDef kMethods[kMethodCount] = {
    {"log", "console.log", NOTICE},        {"info", "console.info", NOTICE},
    {"debug", "console.debug", DEBUG1},    {"warn", "console.warn", WARNING},
    {"error", "console.error", WARNING},   {"trace", "console.trace", NOTICE},
    {"dir", "console.dir", NOTICE},        {"table", "console.table", NOTICE},
    {"assert", "console.assert", WARNING}, {"debug", "ctx.log.debug", DEBUG1},
    {"log", "ctx.log.log", LOG},           {"info", "ctx.log.info", INFO},
    {"notice", "ctx.log.notice", NOTICE},  {"warning", "ctx.log.warning", WARNING},
    {"error", "ctx.log.error", 0},
};

constexpr size_t kMaxMessageBytes = 16 * 1024;

// Bytes logged by the outermost call now running (nested plts calls share its budget).
struct LogBudget {
  uint64_t owner = 0;  // the outermost call's token; tokens are never reused
  size_t used = 0;
  bool exhausted = false;
} budget;

uint64_t outermost_token() {
  CallFrame* f = current_frame;
  if (f == nullptr) return 0;
  while (f->outer != nullptr) f = f->outer;
  return f->token;
}

// The text of `args` as console.log writes them: format specifiers (%s %d %i %f %o %O %j %c %%)
// in a leading string, then the rest joined with spaces, strings as they are at the top level.
// Sets *truncated when the text was cut at limits.max_bytes (it is then at most that long, cut at
// a character boundary).
std::string format_log_args(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                            const v8::FunctionCallbackInfo<v8::Value>& args, int first,
                            const InspectLimits& limits, bool* truncated) {
  v8::HandleScope handles(iso);
  std::string out;
  int n = args.Length(), next = first;
  auto room = [&] {
    InspectLimits l = limits;
    l.max_bytes = out.size() >= limits.max_bytes ? 0 : limits.max_bytes - out.size();
    return l;
  };
  if (n > first && args[first]->IsString()) {
    // Format specifiers in a leading string, as console.log reads them.
    bool fmt_cut = false;
    std::string fmt = inspect_value(iso, ctx, args[first], true, limits, &fmt_cut);
    next = first + 1;
    for (size_t i = 0; i < fmt.size() && out.size() < limits.max_bytes; i++) {
      char c = fmt[i];
      if (c != '%' || i + 1 == fmt.size()) {
        out += c;
        continue;
      }
      char s = fmt[i + 1];
      if (s == '%') {
        out += '%';
        i++;
        continue;
      }
      if (std::strchr("sdifjoOc", s) == nullptr || next >= n) {
        out += c;
        continue;
      }
      i++;
      v8::Local<v8::Value> a = args[next++];
      if (s == 'c') continue;  // CSS: nothing to style in a log line
      if (s == 'd' || s == 'i' || s == 'f') {
        if (a->IsBigInt()) {
          out += inspect_value(iso, ctx, a, true, room(), truncated);
        } else if (!a->IsNumber()) {
          out += "NaN";
        } else {
          double d = a.As<v8::Number>()->Value();
          if (s != 'f' && std::isfinite(d)) d = std::trunc(d);
          out += inspect_value(iso, ctx, v8::Number::New(iso, d), true, room(), truncated);
        }
      } else {
        // %s of a string is its text; everything else is shown as util.inspect shows it.
        out += inspect_value(iso, ctx, a, s == 's', room(), truncated);
      }
    }
    if (fmt_cut) *truncated = true;
  }
  for (int i = next; i < n && !*truncated; i++) {
    if (!out.empty() || i > first) out += ' ';
    out += inspect_value(iso, ctx, args[i], true, room(), truncated);
  }
  if (out.size() > limits.max_bytes) {
    cut_utf8(out, limits.max_bytes);
    *truncated = true;
  }
  return out;
}

// The natives, one template per method, made once per isolate. The previous isolate's handles
// are abandoned, not reset (it is gone).
v8::Local<v8::Function> method(v8::Isolate* iso, v8::Local<v8::Context> ctx, Method m);

// The running function, and where its code called: "plts function s.f line 3 at console.log".
std::string context_line(v8::Isolate* iso, const char* where) {
  CallFrame* f = current_frame;
  if (f == nullptr || f->fi == nullptr) return {};
  std::string out = "plts function " + f->fi->qualified, elsewhere;
  v8::HandleScope handles(iso);
  v8::Local<v8::StackTrace> st = v8::StackTrace::CurrentStackTrace(
      iso, 1,
      static_cast<v8::StackTrace::StackTraceOptions>(v8::StackTrace::kLineNumber |
                                                     v8::StackTrace::kColumnOffset |
                                                     v8::StackTrace::kScriptName));
  if (st->GetFrameCount() > 0) {
    v8::Local<v8::StackFrame> fr = st->GetFrame(iso, 0);
    v8::Local<v8::String> script = fr->GetScriptName();
    std::string name = script.IsEmpty() ? std::string() : utf8(iso, script);
    int line = fr->GetLineNumber(), src_line = 0, src_col = 0;
    if (map_source_position(name, line, fr->GetColumn(), &src_line, &src_col)) line = src_line;
    if (line > 0 && name == f->fi->qualified)
      out += " line " + std::to_string(line);
    else if (line > 0 && !name.empty())
      elsewhere = " (" + name + " line " + std::to_string(line) + ")";
  }
  return out + " at " + where + elsewhere;
}

void emit(int elevel, const std::string& message, const std::string& detail,
          const std::string& hint, int code, const std::string& context) {
  pg_guard([&] {
    ereport(elevel, (code != 0 ? errcode(code) : 0, errmsg_internal("%s", message.c_str()),
                     detail.empty() ? 0 : errdetail_internal("%s", detail.c_str()),
                     hint.empty() ? 0 : errhint("%s", hint.c_str()),
                     context.empty() ? 0 : errcontext("%s", context.c_str())));
  });
}

std::string with_marker(std::string text, bool truncated, size_t cap) {
  if (truncated) text += "... [truncated at " + std::to_string(cap) + " bytes]";
  return text;
}

// A ctx.log option: text as given, anything else formatted; "" when absent.
std::string option_text(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Object> opts,
                        const char* name, const InspectLimits& limits) {
  v8::Local<v8::Value> v;
  if (!opts->Get(ctx, js_name(iso, name)).ToLocal(&v)) throw JsException();
  if (v->IsNullOrUndefined()) return {};
  bool truncated = false;
  std::string s = inspect_value(iso, ctx, v, true, limits, &truncated);
  return with_marker(std::move(s), truncated, limits.max_bytes);
}

struct Options {
  std::string detail, hint;
  int code = 0;
};

// ctx.log's options; with texts = false only the code is read (and checked: a bad code is an
// error whether or not the message is shown).
Options read_options(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v,
                     const char* where, const InspectLimits& limits, bool texts = true) {
  Options o;
  if (v->IsNullOrUndefined()) return o;
  if (!v->IsObject())
    throw PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                  std::string(where) + ": options must be an object { detail, hint, code }");
  v8::Local<v8::Object> opts = v.As<v8::Object>();
  if (texts) {
    o.detail = option_text(iso, ctx, opts, "detail", limits);
    o.hint = option_text(iso, ctx, opts, "hint", limits);
  }
  v8::Local<v8::Value> code;
  if (!opts->Get(ctx, js_name(iso, "code")).ToLocal(&code)) throw JsException();
  if (!code->IsNullOrUndefined()) {
    std::string text = code->IsString() ? utf8(iso, code) : std::string();
    o.code = sqlstate_code(text);
    if (o.code == 0 && text != "00000") {
      InspectLimits short_text = limits;
      short_text.max_bytes = 60;
      bool cut = false;
      throw PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                    std::string(where) + ": code must be a SQLSTATE of five digits or upper-case " +
                        "letters, not " + inspect_value(iso, ctx, code, false, short_text, &cut),
                    "", "For example \"P0001\" (raise_exception) or \"22023\".");
    }
  }
  return o;
}

// The bytes the running call may still log: at most kMaxMessageBytes, less when its
// plts.max_log_bytes is nearly spent; 0 when the call's messages are suppressed. Past the budget,
// the first message that would have been sent is replaced by one warning saying so.
size_t room_to_log(v8::Isolate* iso, const char* where) {
  uint64_t owner = outermost_token();
  if (owner != budget.owner) budget = LogBudget{owner, 0, false};
  size_t limit = static_cast<size_t>(settings.max_log_bytes);
  if (owner == 0 || limit == 0) return kMaxMessageBytes;
  if (budget.exhausted) return 0;
  if (budget.used < limit) return std::min(kMaxMessageBytes, limit - budget.used);
  budget.exhausted = true;
  std::string who = current_frame != nullptr && current_frame->fi != nullptr
                        ? "plts function " + current_frame->fi->qualified
                        : std::string("plts");
  emit(WARNING,
       who + " logged more than plts.max_log_bytes (" + std::to_string(limit) +
           " bytes): its further log messages are suppressed",
       "", "Log less, or raise plts.max_log_bytes (0 = no limit).", 0, context_line(iso, where));
  return 0;
}

void run(const v8::FunctionCallbackInfo<v8::Value>& info, Method m) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  const MethodDef& def = kMethods[m];
  if (call_must_stop(iso)) return;
  InspectLimits limits;
  limits.max_bytes = kMaxMessageBytes;
  bool truncated = false;
  if (m == kLogError) {
    // Not a log line: an error, thrown like `throw` with RAISE's USING fields.
    std::string message = with_marker(inspect_value(iso, ctx, info[0], true, limits, &truncated),
                                      truncated, limits.max_bytes);
    Options o = read_options(iso, ctx, info[1], def.where, limits);
    PgError e(o.code != 0 ? o.code : ERRCODE_RAISE_EXCEPTION, message, o.detail, o.hint);
    iso->ThrowException(pg_to_js_error(iso, ctx, e));
    return;
  }
  if (m == kConsoleAssert && info[0]->BooleanValue(iso)) return;
  bool interesting = false;
  pg_guard([&] { interesting = message_level_is_interesting(def.elevel); });
  if (!interesting) {
    // Nothing is formatted for a message nobody will see.
    if (m >= kLogDebug) read_options(iso, ctx, info[1], def.where, limits, false);
    return;
  }
  limits.max_bytes = room_to_log(iso, def.where);
  if (limits.max_bytes == 0) return;
  std::string message;
  Options o;
  if (m >= kLogDebug) {
    message = inspect_value(iso, ctx, info[0], true, limits, &truncated);
    o = read_options(iso, ctx, info[1], def.where, limits);
  } else if (m == kConsoleDir) {
    message = inspect_value(iso, ctx, info[0], false, limits, &truncated);
  } else if (m == kConsoleAssert) {
    message = format_log_args(iso, ctx, info, 1, limits, &truncated);
    message = "Assertion failed" + (message.empty() ? "" : ": " + message);
  } else {
    message = format_log_args(iso, ctx, info, 0, limits, &truncated);
  }
  message = with_marker(std::move(message), truncated, limits.max_bytes);
  if (m == kConsoleTrace) {
    std::string stack = current_stack_lines(iso, 10);
    message =
        "Trace" + (message.empty() ? "" : ": " + message) + (stack.empty() ? "" : "\n" + stack);
  }
  if (budget.owner != 0) budget.used += message.size() + o.detail.size() + o.hint.size();
  emit(def.elevel, message, o.detail, o.hint, o.code, context_line(iso, def.where));
}

// Cancel, terminate, a timeout or heap exhaustion noticed while reporting (errfinish checks for
// interrupts) stop the call rather than reach JS (see native_guard).
void log_callback(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::HandleScope scope(iso);
  int m = info.Data().As<v8::Integer>()->Value();
  native_guard(iso, iso->GetCurrentContext(), [&] { run(info, static_cast<Method>(m)); });
}

v8::Local<v8::Function> method(v8::Isolate* iso, v8::Local<v8::Context> ctx, Method m) {
  static std::vector<v8::Global<v8::FunctionTemplate>>* templates = nullptr;
  static unsigned templates_gen = 0;
  if (templates == nullptr || templates_gen != isolate_generation()) {
    templates = new std::vector<v8::Global<v8::FunctionTemplate>>(kMethodCount);
    templates_gen = isolate_generation();
  }
  v8::Global<v8::FunctionTemplate>& t = (*templates)[m];
  if (t.IsEmpty()) {
    v8::Local<v8::FunctionTemplate> ft =
        v8::FunctionTemplate::New(iso, log_callback, v8::Integer::New(iso, m),
                                  v8::Local<v8::Signature>(), 0, v8::ConstructorBehavior::kThrow);
    ft->SetClassName(js_name(iso, kMethods[m].name));
    t.Reset(iso, ft);
  }
  v8::Local<v8::Function> f;
  if (!t.Get(iso)->GetFunction(ctx).ToLocal(&f)) throw JsException();
  return f;
}

v8::Local<v8::Object> methods_object(v8::Isolate* iso, v8::Local<v8::Context> ctx, Method from,
                                     Method to) {
  v8::Local<v8::Object> o = v8::Object::New(iso);
  for (int m = from; m <= to; m++)
    must(o->CreateDataProperty(ctx, js_name(iso, kMethods[m].name),
                               method(iso, ctx, static_cast<Method>(m))));
  return o;
}

// `console`, made when first read.
void console_getter(v8::Local<v8::Name>, const v8::PropertyCallbackInfo<v8::Value>& info) {
  v8::Isolate* iso = info.GetIsolate();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  try {
    info.GetReturnValue().Set(methods_object(iso, ctx, kConsoleLog, kConsoleAssert));
  } catch (const JsException&) {
  }
}

}  // namespace

void install_logging(v8::Isolate* iso, v8::Local<v8::Context> ctx, Realm& realm) {
  v8::Local<v8::Object> global = ctx->Global();
  v8::Local<v8::String> name = js_name(iso, "console");
  must(global->Delete(ctx, name));  // V8's own, whose output goes nowhere
  must(
      global->SetLazyDataProperty(ctx, name, console_getter, v8::Local<v8::Value>(), v8::DontEnum));
  v8::Local<v8::Object> log = methods_object(iso, ctx, kLogDebug, kLogError);
  must(log->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen));
  realm.log.Reset(iso, log);
}

}  // namespace plts
