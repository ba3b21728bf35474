#include "extensions/plts/inspect.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <vector>

#include "extensions/plts/convert.h"
#include "extensions/plts/inspect_text.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/modules.h"

namespace plts {

namespace {

// Thrown when the text has grown past its limit: carries what was formatted so far.
struct Full {
  std::string partial;
};

std::string regexp_text(v8::Isolate* iso, v8::Local<v8::RegExp> re) {
  std::string out = "/" + utf8(iso, re->GetSource()) + "/";
  int f = re->GetFlags();
  static const std::pair<int, char> kFlags[] = {
      {v8::RegExp::kHasIndices, 'd'}, {v8::RegExp::kGlobal, 'g'},    {v8::RegExp::kIgnoreCase, 'i'},
      {v8::RegExp::kLinear, 'l'},     {v8::RegExp::kMultiline, 'm'}, {v8::RegExp::kDotAll, 's'},
      {v8::RegExp::kUnicode, 'u'},    {v8::RegExp::kSticky, 'y'}};
  for (const auto& [bit, c] : kFlags)
    if (f & bit) out += c;
  return out;
}

// Keeps "    at ..." frames that are the user's (not plts's invoker or the built-in runtime),
// mapped to TypeScript.
std::string user_frames(const std::string& frames, int max_frames) {
  std::istringstream in(frames);
  std::string line, kept;
  int n = 0;
  while (std::getline(in, line) && n < max_frames) {
    if (line.find("plts:invoke") != std::string::npos ||
        line.find("@stopgap/runtime:") != std::string::npos)
      continue;
    kept += (kept.empty() ? "" : "\n") + line;
    n++;
  }
  return kept.empty() ? kept : map_stack_to_source(kept);
}

class Inspector {
 public:
  Inspector(v8::Isolate* iso, v8::Local<v8::Context> ctx, const InspectLimits& limits)
      : iso_(iso), ctx_(ctx), limits_(limits), poll_(iso) {}

  std::string value(v8::Local<v8::Value> v, int depth, bool top) {
    if (v->IsString()) {
      std::string s =
          string_text(v.As<v8::String>(), top ? limits_.max_bytes + 1 : limits_.max_string);
      return top ? s : js_quote(s) + more_chars_;
    }
    if (v->IsUndefined()) return charged("undefined");
    if (v->IsNull()) return charged("null");
    if (v->IsTrue()) return charged("true");
    if (v->IsFalse()) return charged("false");
    if (v->IsNumber()) return charged(number_text(v));
    if (v->IsBigInt()) return charged(primitive_text(v) + "n");
    if (v->IsSymbol()) return charged(symbol_text(v.As<v8::Symbol>()));
    if (!v->IsObject()) return charged(primitive_text(v));
    return object(v.As<v8::Object>(), depth, top);
  }

 private:
  std::string charged(std::string s) {
    produced_ += s.size();
    if (produced_ > limits_.max_bytes) throw Full{s};
    return s;
  }

  // Checks the caller's V8 operation: a failure while the call must stop ends formatting (the
  // termination then takes effect); any other is shown as a placeholder.
  template <typename T>
  bool got(v8::MaybeLocal<T> m, v8::Local<T>* out) {
    if (m.ToLocal(out)) return true;
    if (call_must_stop(iso_)) throw JsException();
    return false;
  }

  std::string string_text(v8::Local<v8::String> s, size_t max_chars) {
    more_chars_.clear();
    size_t len = static_cast<size_t>(s->Length());
    size_t take = std::min(len, max_chars);
    std::string out;
    if (take == len) {
      out = utf8(iso_, s);
    } else {
      // Only the part shown is copied out of V8.
      v8::Local<v8::String> head = s;
      std::vector<uint16_t> buf(take);
      s->Write(iso_, buf.data(), 0, static_cast<int>(take), v8::String::NO_NULL_TERMINATION);
      if (take > 0 && buf[take - 1] >= 0xD800 && buf[take - 1] < 0xDC00) take--;  // half a pair
      if (v8::String::NewFromTwoByte(iso_, buf.data(), v8::NewStringType::kNormal,
                                     static_cast<int>(take))
              .ToLocal(&head))
        out = utf8(iso_, head);
      more_chars_ = "... " + std::to_string(len - take) + " more characters";
    }
    produced_ += out.size();
    if (produced_ > limits_.max_bytes) throw Full{out};
    return out;
  }

  std::string primitive_text(v8::Local<v8::Value> v) {
    v8::Local<v8::String> s;
    return got(v->ToString(ctx_), &s) ? utf8(iso_, s) : "<?>";
  }

  std::string number_text(v8::Local<v8::Value> v) {
    double d = v.As<v8::Number>()->Value();
    if (d == 0 && std::signbit(d)) return "-0";
    return primitive_text(v);
  }

  std::string symbol_text(v8::Local<v8::Symbol> sym) {
    v8::Local<v8::Value> d = sym->Description(iso_);
    return "Symbol(" + (d->IsString() ? utf8(iso_, d) : std::string()) + ")";
  }

  std::string key_text(v8::Local<v8::Value> key) {
    if (key->IsSymbol()) return charged("[" + symbol_text(key.As<v8::Symbol>()) + "]");
    std::string k = key->IsString() ? utf8(iso_, key) : primitive_text(key);
    return charged(is_js_identifier(k) ? k : js_quote(k));
  }

  // An own property without running user code: false when there is none; *accessor when it is a
  // getter/setter pair (whose functions are left uncalled).
  bool own(v8::Local<v8::Object> o, v8::Local<v8::Name> key, v8::Local<v8::Value>* value,
           std::string* accessor) {
    v8::TryCatch tc(iso_);  // a module namespace's binding before its initialization throws
    v8::Local<v8::Value> d;
    if (!o->GetOwnPropertyDescriptor(ctx_, key).ToLocal(&d)) {
      if (tc.HasTerminated() || call_must_stop(iso_)) throw JsException();
      *accessor = "<uninitialized>";
      return true;
    }
    if (!d->IsObject()) return false;
    v8::Local<v8::Object> desc = d.As<v8::Object>();
    accessor->clear();
    if (desc->HasOwnProperty(ctx_, js_name(iso_, "get")).FromMaybe(false)) {
      v8::Local<v8::Value> g, s;
      bool has_get = desc->Get(ctx_, js_name(iso_, "get")).ToLocal(&g) && g->IsFunction();
      bool has_set = desc->Get(ctx_, js_name(iso_, "set")).ToLocal(&s) && s->IsFunction();
      *accessor = has_get && has_set ? "[Getter/Setter]" : has_get ? "[Getter]" : "[Setter]";
      return true;
    }
    return desc->Get(ctx_, js_name(iso_, "value")).ToLocal(value);
  }

  // A data property found along the prototype chain (Error's name and message); empty when it
  // is missing, an accessor, or behind a Proxy.
  v8::Local<v8::Value> data_property(v8::Local<v8::Object> o, const char* name) {
    v8::Local<v8::Value> cur = o;
    for (int i = 0; i < 32 && cur->IsObject() && !cur->IsProxy(); i++) {
      v8::Local<v8::Value> v;
      std::string accessor;
      if (own(cur.As<v8::Object>(), js_name(iso_, name), &v, &accessor))
        return accessor.empty() ? v : v8::Local<v8::Value>();
      cur = cur.As<v8::Object>()->GetPrototype();
    }
    return v8::Local<v8::Value>();
  }

  // Formats child `v` into parts; on Full, rethrows with this list's partial text.
  void add(std::vector<std::string>& parts, const std::string& prefix, v8::Local<v8::Value> v,
           int depth, const std::string& open) {
    poll_.check();
    try {
      parts.push_back(prefix + value(v, depth + 1, false));
    } catch (Full& f) {
      parts.push_back(prefix + f.partial);
      throw Full{(open.empty() ? "" : open + " ") + "{ " + join(parts, ", ")};
    }
  }
  void add_text(std::vector<std::string>& parts, std::string text, const std::string& open) {
    produced_ += text.size();
    parts.push_back(std::move(text));
    if (produced_ > limits_.max_bytes) throw Full{open + " { " + join(parts, ", ")};
  }

  std::string object(v8::Local<v8::Object> o, int depth, bool top) {
    // A Proxy shows its target (a chain of them, the innermost), read without any trap.
    while (o->IsProxy()) {
      poll_.check();
      v8::Local<v8::Value> target = o.As<v8::Proxy>()->GetTarget();
      if (!target->IsObject()) return charged("<Revoked Proxy>");
      o = target.As<v8::Object>();
    }
    if (o->IsFunction()) return charged(function_text(o.As<v8::Function>()));
    if (o->IsDate()) return charged(iso_date_text(o.As<v8::Date>()->ValueOf()));
    if (o->IsRegExp()) return charged(regexp_text(iso_, o.As<v8::RegExp>()));
    if (o->IsNumberObject() || o->IsStringObject() || o->IsBooleanObject() || o->IsBigIntObject() ||
        o->IsSymbolObject())
      return boxed(o, depth);
    for (const auto& seen : path_)
      if (seen == o) return charged("[Circular]");
    if (o->IsNativeError()) return error(o, depth, top);
    std::string name = constructor_name(o);
    if (depth > limits_.depth) return charged("[" + (name.empty() ? "Object" : name) + "]");
    path_.push_back(o);
    std::string out = o->IsArray()               ? array(o.As<v8::Array>(), depth)
                      : o->IsTypedArray()        ? typed_array(o.As<v8::TypedArray>(), name, depth)
                      : o->IsMap() || o->IsSet() ? collection(o, name, depth)
                      : o->IsPromise()           ? promise(o.As<v8::Promise>(), depth)
                                                 : plain(o, name, depth);
    path_.pop_back();
    return out;
  }

  std::string constructor_name(v8::Local<v8::Object> o) {
    if (o->IsModuleNamespaceObject()) return "[Module: null prototype]";
    if (o->GetPrototype()->IsNull()) return "[Object: null prototype]";
    std::string name = utf8(iso_, o->GetConstructorName());
    return name == "Object" ? "" : name;
  }

  std::string function_text(v8::Local<v8::Function> f) {
    v8::Local<v8::Value> n = f->GetName();
    std::string name = n->IsString() ? utf8(iso_, n) : "";
    // A class is a function whose source starts with `class` (the builtin toString, not the
    // function's own: no user code).
    v8::Local<v8::String> src;
    char head[8] = {0};
    if (!f->IsAsyncFunction() && !f->IsGeneratorFunction() &&
        f->FunctionProtoToString(ctx_).ToLocal(&src))
      src->WriteUtf8(iso_, head, 6, nullptr, v8::String::NO_NULL_TERMINATION);
    bool is_class = std::strncmp(head, "class", 5) == 0 && (head[5] == ' ' || head[5] == '{');
    if (is_class) return "[class " + (name.empty() ? std::string("(anonymous)") : name) + "]";
    const char* kind = f->IsAsyncFunction()       ? "AsyncFunction"
                       : f->IsGeneratorFunction() ? "GeneratorFunction"
                                                  : "Function";
    return std::string("[") + kind + (name.empty() ? " (anonymous)" : ": " + name) + "]";
  }

  std::string boxed(v8::Local<v8::Object> o, int depth) {
    if (o->IsNumberObject())
      return charged("[Number: " +
                     number_text(v8::Number::New(iso_, o.As<v8::NumberObject>()->ValueOf())) + "]");
    if (o->IsBooleanObject())
      return charged(std::string("[Boolean: ") +
                     (o.As<v8::BooleanObject>()->ValueOf() ? "true" : "false") + "]");
    if (o->IsStringObject())
      return "[String: " + value(o.As<v8::StringObject>()->ValueOf(), depth, false) + "]";
    if (o->IsBigIntObject())
      return "[BigInt: " + value(o.As<v8::BigIntObject>()->ValueOf(), depth, false) + "]";
    return "[Symbol: " + value(o.As<v8::SymbolObject>()->ValueOf(), depth, false) + "]";
  }

  // Own enumerable properties (strings and symbols) as "key: value" entries.
  void properties(v8::Local<v8::Object> o, int depth, std::vector<std::string>& parts,
                  const std::string& open, bool skip_indices) {
    v8::Local<v8::Array> keys;
    auto filter = static_cast<v8::PropertyFilter>(v8::ONLY_ENUMERABLE);
    if (!got(o->GetPropertyNames(
                 ctx_, v8::KeyCollectionMode::kOwnOnly, filter,
                 skip_indices ? v8::IndexFilter::kSkipIndices : v8::IndexFilter::kIncludeIndices,
                 v8::KeyConversionMode::kConvertToString),
             &keys))
      return;
    uint32_t n = keys->Length(), shown = 0;
    for (uint32_t i = 0; i < n; i++) {
      if (shown == limits_.max_items) {
        add_text(parts, "... " + std::to_string(n - shown) + " more properties", open);
        break;
      }
      v8::Local<v8::Value> key, v;
      if (!got(keys->Get(ctx_, i), &key) || !key->IsName()) continue;
      std::string accessor;
      if (!own(o, key.As<v8::Name>(), &v, &accessor)) continue;
      shown++;
      std::string k = key_text(key);
      if (!accessor.empty())
        add_text(parts, k + ": " + accessor, open);
      else
        add(parts, k + ": ", v, depth, open);
    }
  }

  std::string plain(v8::Local<v8::Object> o, const std::string& name, int depth) {
    std::vector<std::string> parts;
    if (o->IsWeakMap() || o->IsWeakSet()) {
      parts.push_back("<items unknown>");
    } else if (o->IsArrayBuffer()) {
      add_text(parts, "byteLength: " + std::to_string(o.As<v8::ArrayBuffer>()->ByteLength()), name);
    } else if (o->IsDataView()) {
      add_text(parts, "byteLength: " + std::to_string(o.As<v8::DataView>()->ByteLength()), name);
      add_text(parts, "byteOffset: " + std::to_string(o.As<v8::DataView>()->ByteOffset()), name);
    } else {
      properties(o, depth, parts, name, false);
    }
    return layout_list(name, parts, false, depth);
  }

  std::string array(v8::Local<v8::Array> a, int depth) {
    std::vector<std::string> parts;
    uint32_t n = a->Length(), holes = 0, i = 0;
    auto flush_holes = [&] {
      if (holes == 0) return;
      add_text(parts, "<" + std::to_string(holes) + " empty item" + (holes > 1 ? "s>" : ">"), "[");
      holes = 0;
    };
    // Indices visited are bounded too: a sparse `new Array(1e9)` is mostly holes.
    for (; i < n && parts.size() < limits_.max_items && i < 10 * limits_.max_items; i++) {
      poll_.check();
      v8::Local<v8::Value> v;
      std::string accessor;
      if (!own(a, js_string(iso_, std::to_string(i)), &v, &accessor)) {
        holes++;
        continue;
      }
      flush_holes();
      if (!accessor.empty()) {
        add_text(parts, accessor, "[");
        continue;
      }
      try {
        parts.push_back(value(v, depth + 1, false));
      } catch (Full& f) {
        parts.push_back(f.partial);
        throw Full{"[ " + join(parts, ", ")};
      }
    }
    flush_holes();
    if (i < n)
      add_text(parts, "... " + std::to_string(n - i) + " more item" + (n - i > 1 ? "s" : ""), "[");
    return layout_list("", parts, true, depth);
  }

  std::string typed_array(v8::Local<v8::TypedArray> a, const std::string& name, int depth) {
    std::vector<std::string> parts;
    size_t n = a->Length();
    std::string open = name + "(" + std::to_string(n) + ")";
    for (size_t i = 0; i < n && i < limits_.max_items; i++) {
      v8::Local<v8::Value> v;
      if (!got(a->Get(ctx_, static_cast<uint32_t>(i)), &v)) break;
      add_text(parts, v->IsBigInt() ? primitive_text(v) + "n" : number_text(v), open);
    }
    if (n > limits_.max_items)
      add_text(parts, "... " + std::to_string(n - limits_.max_items) + " more items", open);
    return layout_list(open, parts, true, depth);
  }

  std::string collection(v8::Local<v8::Object> o, const std::string& name, int depth) {
    bool is_map = o->IsMap();
    v8::Local<v8::Array> flat = is_map ? o.As<v8::Map>()->AsArray() : o.As<v8::Set>()->AsArray();
    uint32_t step = is_map ? 2 : 1, n = flat->Length() / step;
    std::string open = name + "(" + std::to_string(n) + ")";
    std::vector<std::string> parts;
    uint32_t i = 0;
    for (; i < n && i < limits_.max_items; i++) {
      v8::Local<v8::Value> k, v;
      if (!got(flat->Get(ctx_, i * step), &k)) break;
      if (!is_map) {
        add(parts, "", k, depth, open);
        continue;
      }
      if (!got(flat->Get(ctx_, i * 2 + 1), &v)) break;
      std::string key;
      try {
        key = value(k, depth + 1, false);
      } catch (Full& f) {
        parts.push_back(f.partial);
        throw Full{open + " { " + join(parts, ", ")};
      }
      add(parts, key + " => ", v, depth, open);
    }
    if (i < n) add_text(parts, "... " + std::to_string(n - i) + " more items", open);
    return layout_list(open, parts, false, depth);
  }

  std::string promise(v8::Local<v8::Promise> p, int depth) {
    std::vector<std::string> parts;
    switch (p->State()) {
      case v8::Promise::kPending:
        parts.push_back("<pending>");
        break;
      case v8::Promise::kFulfilled:
        add(parts, "", p->Result(), depth, "Promise");
        break;
      case v8::Promise::kRejected:
        add(parts, "<rejected> ", p->Result(), depth, "Promise");
        break;
    }
    return layout_list("Promise", parts, false, depth);
  }

  std::string error(v8::Local<v8::Object> e, int depth, bool top) {
    v8::Local<v8::Value> name = data_property(e, "name"), message = data_property(e, "message");
    std::string head = !name.IsEmpty() && name->IsString() ? utf8(iso_, name) : "Error";
    if (!message.IsEmpty() && message->IsString() && message.As<v8::String>()->Length() > 0)
      head += ": " + utf8(iso_, message);
    charged(head);
    if (!top || depth > limits_.depth) return "[" + head + "]";
    // The stack V8 captured (formatted once, when first read); its first line repeats the head.
    std::string out = head;
    v8::Local<v8::Value> stack;
    std::string accessor;
    if (own(e, js_name(iso_, "stack"), &stack, &accessor) && accessor.empty() && !stack.IsEmpty() &&
        stack->IsString()) {
      std::string s = utf8(iso_, stack);
      size_t at = s.find("\n    at ");
      if (at != std::string::npos) {
        std::string frames = user_frames(s.substr(at + 1), 10);
        if (!frames.empty()) out += "\n" + charged(frames);
      }
    }
    // Other own properties (a ctx.db error's sqlstate, detail, hint).
    path_.push_back(e);
    std::vector<std::string> parts;
    try {
      properties(e, depth, parts, "", true);
    } catch (Full& f) {
      path_.pop_back();
      throw Full{out + " " + f.partial};
    }
    path_.pop_back();
    std::vector<std::string> kept;
    for (auto& p : parts)
      if (p.rfind("stack: ", 0) != 0 && p.rfind("message: ", 0) != 0) kept.push_back(p);
    if (!kept.empty()) out += " " + layout_list("", kept, false, depth);
    return out;
  }

  v8::Isolate* iso_;
  v8::Local<v8::Context> ctx_;
  const InspectLimits& limits_;
  StopPoll poll_;
  size_t produced_ = 0;
  std::string more_chars_;
  std::vector<v8::Local<v8::Object>> path_;  // objects being formatted: meeting one is a cycle
};

}  // namespace

std::string inspect_value(v8::Isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> v,
                          bool top, const InspectLimits& limits, bool* truncated) {
  v8::HandleScope handles(iso);
  Inspector in(iso, ctx, limits);
  std::string out;
  try {
    out = in.value(v, 0, top);
  } catch (Full& f) {
    out = std::move(f.partial);
    *truncated = true;
  }
  if (out.size() > limits.max_bytes) {
    cut_utf8(out, limits.max_bytes);
    *truncated = true;
  }
  return out;
}

std::string current_stack_lines(v8::Isolate* iso, int max_frames) {
  v8::HandleScope handles(iso);
  v8::Local<v8::StackTrace> st = v8::StackTrace::CurrentStackTrace(iso, max_frames + 4);
  std::string frames;
  for (int i = 0; i < st->GetFrameCount(); i++) {
    v8::Local<v8::StackFrame> f = st->GetFrame(iso, i);
    v8::Local<v8::String> fn = f->GetFunctionName(), script = f->GetScriptName();
    std::string where = (script.IsEmpty() ? std::string("<anonymous>") : utf8(iso, script)) + ":" +
                        std::to_string(f->GetLineNumber()) + ":" + std::to_string(f->GetColumn());
    std::string name = fn.IsEmpty() || fn->Length() == 0 ? "" : utf8(iso, fn);
    frames += (frames.empty() ? "" : "\n") +
              (name.empty() ? "    at " + where : "    at " + name + " (" + where + ")");
  }
  return user_frames(frames, max_frames);
}

}  // namespace plts
