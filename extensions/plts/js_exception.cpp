#include "extensions/plts/js_exception.h"

#include <cstring>
#include <sstream>

#include "extensions/plts/convert.h"
#include "extensions/plts/modules.h"

namespace plts {

namespace {

std::string get_string_prop(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Object> o,
                            const char* name) {
  v8::Local<v8::Value> v;
  v8::TryCatch inner(iso);
  if (!o->Get(ctx, js_string(iso, name, static_cast<int>(strlen(name)))).ToLocal(&v)) return {};
  if (v->IsNullOrUndefined()) return {};
  v8::Local<v8::String> s;
  if (!v->ToString(ctx).ToLocal(&s)) return {};
  return utf8(iso, s);
}

}  // namespace

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::kCompile:
      return "compile";
    case Stage::kLoad:
      return "load";
    case Stage::kExecute:
      return "execute";
  }
  return "?";
}

std::string sqlstate_text(int code) { return unpack_sql_state(code); }

int sqlstate_code(const std::string& s) {
  if (s.size() != 5) return 0;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return 0;
  return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
}

pgx::PgError js_to_pg_error(v8::Isolate* iso, v8::Local<v8::Context> ctx, const v8::TryCatch& tc,
                            const ErrorSite& site) {
  return js_value_to_pg_error(iso, ctx, tc.Exception(), tc.Message(), site);
}

pgx::PgError js_value_to_pg_error(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                  v8::Local<v8::Value> exc, v8::Local<v8::Message> msg,
                                  const ErrorSite& site) {
  v8::HandleScope scope(iso);
  std::string message, detail, hint, stack, sqlstate;
  if (msg.IsEmpty() && !exc.IsEmpty()) msg = v8::Exception::CreateMessage(iso, exc);
  if (!exc.IsEmpty() && exc->IsObject()) {
    v8::Local<v8::Object> o = exc.As<v8::Object>();
    sqlstate = get_string_prop(iso, ctx, o, "sqlstate");
    detail = get_string_prop(iso, ctx, o, "detail");
    hint = get_string_prop(iso, ctx, o, "hint");
    stack = get_string_prop(iso, ctx, o, "stack");
  }
  if (!exc.IsEmpty() && exc->IsNativeError()) {
    // Error objects: their message, prefixed by the kind unless it is a plain Error.
    v8::Local<v8::Object> o = exc.As<v8::Object>();
    std::string name = get_string_prop(iso, ctx, o, "name");
    message = get_string_prop(iso, ctx, o, "message");
    if (!name.empty() && name != "Error") message = name + ": " + message;
  } else if (!exc.IsEmpty() && exc->IsObject() && !exc->IsFunction()) {
    // A thrown plain object: its `message`, else its JSON text (never "[object Object]").
    v8::Local<v8::Object> o = exc.As<v8::Object>();
    message = get_string_prop(iso, ctx, o, "message");
    if (message.empty()) {
      v8::TryCatch inner(iso);
      v8::Local<v8::String> s;
      if (v8::JSON::Stringify(ctx, o).ToLocal(&s) && s->IsString() && s->Length() > 2)
        message = utf8(iso, s);
      if (message.size() > 1000) message = message.substr(0, 997) + "...";
    }
    if (message.empty()) message = "a JavaScript object was thrown";
  }
  if (message.empty()) {
    // At the stack limit ToString() itself fails: the message object still has the text.
    v8::TryCatch inner(iso);
    v8::Local<v8::String> s;
    if (!exc.IsEmpty() && exc->ToString(ctx).ToLocal(&s)) {
      message = utf8(iso, s);
    } else if (!msg.IsEmpty()) {
      message = utf8(iso, msg->Get());
    } else {
      message = "unknown JavaScript exception";
    }
  }
  if (sqlstate.empty() && message.rfind("RangeError: Maximum call stack size exceeded", 0) == 0) {
    sqlstate = "54001";
    if (hint.empty()) hint = "JavaScript recursion is too deep; the limit follows max_stack_depth.";
  }
  int code = sqlstate_code(sqlstate);
  if (code == 0)
    code = site.stage == Stage::kCompile ? ERRCODE_SYNTAX_ERROR : ERRCODE_RAISE_EXCEPTION;
  std::string context =
      "plts function " + site.qualified_name + " (" + stage_name(site.stage) + ")";
  if (site.stage == Stage::kCompile && !msg.IsEmpty()) {
    v8::Local<v8::Message> m = msg;
    int line = m->GetLineNumber(ctx).FromMaybe(0);
    int col = m->GetStartColumn(ctx).FromMaybe(-1) + 1;
    if (line > 0)
      context += "\nat line " + std::to_string(line) + ", column " + std::to_string(col) +
                 " of the function body";
    stack.clear();
  } else if (stack.empty() && !msg.IsEmpty()) {
    v8::Local<v8::Message> m = msg;
    int line = m->GetLineNumber(ctx).FromMaybe(0);
    int col = m->GetStartColumn(ctx).FromMaybe(-1) + 1;
    if (line > 0) stack = "at line " + std::to_string(line) + ", column " + std::to_string(col);
  }
  if (!stack.empty()) {
    // The first stack line repeats the message.
    size_t nl = stack.find('\n');
    std::string frames =
        nl != std::string::npos && stack.rfind("    at ", 0) != 0 ? stack.substr(nl + 1) : stack;
    if (nl == std::string::npos && stack.rfind("at ", 0) != 0) frames.clear();
    // Frames inside the built-in @stopgap/runtime and plts's call trampoline are plumbing, not
    // the user's code.
    std::string kept, line;
    std::istringstream lines(frames);
    while (std::getline(lines, line))
      if (line.find("@stopgap/runtime:") == std::string::npos &&
          line.find("plts:invoke:") == std::string::npos)
        kept += (kept.empty() ? "" : "\n") + line;
    frames = kept;
    if (!frames.empty() && frames != message)
      context += "\nJS stack:\n" + map_stack_to_source(frames);
  }
  return pgx::PgError(code, message, detail, hint, context);
}

v8::Local<v8::Value> pg_to_js_error(v8::Isolate* iso, v8::Local<v8::Context> ctx,
                                    const pgx::PgError& err) {
  v8::EscapableHandleScope scope(iso);
  v8::Local<v8::Object> obj = v8::Exception::Error(js_string(iso, err.message())).As<v8::Object>();
  auto set = [&](const char* key, const char* value) {
    if (value == nullptr || *value == '\0') return;
    ignore_result(obj->CreateDataProperty(ctx, js_string(iso, key, static_cast<int>(strlen(key))),
                                          js_string(iso, value, static_cast<int>(strlen(value)))));
  };
  set("sqlstate", sqlstate_text(err.sqlerrcode()).c_str());
  set("detail", err.detail().c_str());
  set("hint", err.hint().c_str());
  if (err.from_postgres()) set("context", err.context().c_str());
  return scope.Escape(obj);
}

}  // namespace plts
