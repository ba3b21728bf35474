#include "extensions/stopgap/plan_logic.h"

#include <algorithm>

#include "extensions/plts/parse/import_map.h"
#include "extensions/plts/parse/parse_error.h"

namespace stopgap {

nlohmann::json Problem::to_json() const {
  nlohmann::json j = {{"function", function.empty() ? nlohmann::json() : nlohmann::json(function)},
                      {"message", message},
                      {"sqlstate", sqlstate}};
  if (!detail.empty()) j["detail"] = detail;
  if (!hint.empty()) j["hint"] = hint;
  if (line) j["position"] = {{"line", *line}, {"column", column ? nlohmann::json(*column) : nlohmann::json()}};
  return j;
}

std::vector<std::string> deployed_imports(const std::vector<std::string>& imports,
                                          const std::string& prefix,
                                          std::vector<std::string>* foreign) {
  std::set<std::string> refs, others;
  for (const std::string& spec : imports) {
    if (spec.compare(0, prefix.size(), prefix) == 0) {
      refs.insert(spec.substr(prefix.size()));
    } else if (spec.rfind("@stopgap/", 0) == 0 && spec != "@stopgap/runtime") {
      others.insert(spec);
    }
  }
  if (foreign != nullptr) foreign->assign(others.begin(), others.end());
  return {refs.begin(), refs.end()};
}

std::vector<std::string> dependency_order(const std::map<std::string, std::vector<std::string>>& imports,
                                          std::vector<std::string>* cyclic) {
  // Rounds over the pending names in byte order, as 0.1.0's engine did: the order (and with it
  // nothing else) is the same, so logs and tests read alike.
  std::vector<std::string> order, pending;
  std::set<std::string> done;
  for (const auto& [name, refs] : imports) pending.push_back(name);
  bool progressed = true;
  while (!pending.empty() && progressed) {
    progressed = false;
    std::vector<std::string> still;
    for (const std::string& name : pending) {
      const auto& refs = imports.at(name);
      bool ready = std::all_of(refs.begin(), refs.end(),
                               [&](const std::string& r) { return done.count(r) > 0; });
      if (ready) {
        order.push_back(name);
        done.insert(name);
        progressed = true;
      } else {
        still.push_back(name);
      }
    }
    pending.swap(still);
  }
  if (cyclic != nullptr) *cyclic = pending;
  return order;
}

namespace {

void append_json_string(std::string& out, const std::string& s) {
  // As PostgreSQL's escape_json: quotes, backslashes and control characters; the rest verbatim.
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

bool jsonb_key_less(const std::string* a, const std::string* b) {
  if (a->size() != b->size()) return a->size() < b->size();
  return *a < *b;  // std::string compares as unsigned bytes (char_traits<char>::compare: memcmp)
}

const std::string kMarker = "// plts-import-map:";

// Every place the marker occurs, wherever it stands: plts's loader reads the first of them
// (extensions/plts/parse/import_map.cpp), so a baked module must hold no other before its own.
std::vector<size_t> markers(const std::string& source) {
  std::vector<size_t> out;
  for (size_t at = source.find(kMarker); at != std::string::npos; at = source.find(kMarker, at + 1)) out.push_back(at);
  return out;
}

}  // namespace

std::string jsonb_text(const std::map<std::string, std::string>& object) {
  std::vector<const std::string*> keys;
  keys.reserve(object.size());
  for (const auto& kv : object) keys.push_back(&kv.first);
  std::sort(keys.begin(), keys.end(), jsonb_key_less);
  std::string out = "{";
  for (size_t i = 0; i < keys.size(); i++) {
    if (i > 0) out += ", ";
    append_json_string(out, *keys[i]);
    out += ": ";
    append_json_string(out, object.at(*keys[i]));
  }
  return out + "}";
}

std::string bake_import_map(const std::string& source, const std::map<std::string, std::string>& map,
                            const std::string& what) {
  if (map.empty()) return source;
  std::map<std::string, std::string> merged;
  nlohmann::json own;
  try {
    own = plts::import_map_comment(source, what);  // the map plts would read, checked as plts does
  } catch (const plts::ParseError& e) {
    throw Problem{"", e.message(), "", "The comment must hold one JSON object of strings on its line.", "22023"};
  }
  for (auto& [k, v] : own.items()) merged[k] = v.get<std::string>();
  std::string baked = source;
  std::vector<size_t> at = markers(source);
  // Disarm every marker, last first so that earlier offsets stay valid: the appended map must be
  // the first (and only) one the loader finds.
  for (auto it = at.rbegin(); it != at.rend(); ++it)
    baked.replace(*it, kMarker.size(), "// plts-import-map (merged into the one at the end by stopgap):");
  for (const auto& [k, v] : map) merged[k] = v;
  return baked + "\n// plts-import-map: " + jsonb_text(merged) + "\n";
}

std::set<std::string> own_import_map_names(const std::string& source) {
  std::set<std::string> names;
  try {
    nlohmann::json own = plts::import_map_comment(source, "");
    for (auto& [k, v] : own.items()) names.insert(k);
  } catch (const plts::ParseError&) {
  }
  return names;
}

bool unresolvable_import_diagnostic(int code, const std::string& message, const std::set<std::string>& own_map) {
  // TS2307 "Cannot find module 'x' or its corresponding type declarations."; TS2792 the same with
  // a hint about moduleResolution.
  if (code != 2307 && code != 2792) return false;
  size_t a = message.find('\'');
  size_t b = a == std::string::npos ? a : message.find('\'', a + 1);
  if (b == std::string::npos) return false;
  std::string spec = message.substr(a + 1, b - a - 1);
  return spec.rfind("data:", 0) == 0 || spec.rfind("plts+artifact:", 0) == 0 || own_map.count(spec) > 0;
}

std::optional<std::string> definition_clauses(const std::string& def, const std::string& head,
                                              const std::string& body) {
  if (def.compare(0, head.size(), head) != 0) return std::nullopt;
  // The body ends the definition as "\nAS $tag$<body>$tag$\n"; the body and the SET clauses may
  // hold "\nAS " themselves, so find the one the body follows, from the end.
  for (size_t at = def.rfind("\nAS "); at != std::string::npos && at >= head.size();
       at = at == 0 ? std::string::npos : def.rfind("\nAS ", at - 1)) {
    size_t tag_start = at + 4;
    size_t tag_end = def.find('$', tag_start + 1);
    if (tag_start >= def.size() || def[tag_start] != '$' || tag_end == std::string::npos) continue;
    std::string tag = def.substr(tag_start, tag_end + 1 - tag_start);
    std::string rest = def.substr(tag_start);
    if (rest == tag + body + tag + "\n" || rest == tag + body + tag) return def.substr(head.size(), at - head.size());
  }
  return std::nullopt;
}

std::string definition_head(const char* keyword, const std::string& qualified_name, const std::string& arguments) {
  return std::string("CREATE OR REPLACE ") + keyword + " " + qualified_name + "(" + arguments + ")\n";
}

std::string pointer_stub(const std::string& artifact_hash,
                         const std::map<std::string, std::string>& import_map,
                         const std::string& export_name) {
  std::string out = "{\"plts\":1,\"kind\":\"artifact_ptr\",\"artifact_hash\":";
  append_json_string(out, artifact_hash);
  out += ",\"export\":";
  append_json_string(out, export_name);
  return out + ",\"import_map\":" + jsonb_text(import_map) + "}";
}

std::vector<std::string> change_reasons(const FnShape& planned, const FnShape& active) {
  std::vector<std::string> reasons;
  if (planned.source_sha256 != active.source_sha256) reasons.push_back("body");
  if (planned.import_map != active.import_map) reasons.push_back("imports");
  if (planned.routine != active.routine || planned.arguments != active.arguments ||
      planned.result != active.result) {
    reasons.push_back("signature");
  } else if (planned.clauses != active.clauses) {
    reasons.push_back("attributes");
  }
  if (reasons.empty() && planned.artifact_hash != active.artifact_hash) reasons.push_back("compiler");
  return reasons;
}

bool same_deployment(const std::vector<FnShape>& planned, const std::vector<FnShape>& active) {
  if (planned.size() != active.size()) return false;
  std::map<std::string, const FnShape*> by_name;
  for (const FnShape& a : active) by_name[a.fn_name] = &a;
  for (const FnShape& p : planned) {
    auto it = by_name.find(p.fn_name);
    if (it == by_name.end()) return false;
    const FnShape& a = *it->second;
    if (!change_reasons(p, a).empty() || p.identity_types != a.identity_types || p.comment != a.comment)
      return false;
  }
  return true;
}

long long rollback_target(const std::vector<DeploymentState>& deployments, long long active,
                          std::optional<int> steps, std::optional<long long> to_id,
                          const std::string& env) {
  const std::string ids = std::to_string(active);
  if (to_id) {
    const DeploymentState* t = nullptr;
    for (const auto& d : deployments)
      if (d.id == *to_id) t = &d;
    std::string target = std::to_string(*to_id);
    if (t == nullptr)
      throw Problem{"", "deployment " + target + " is not a deployment of environment \"" + env + "\"",
                    "", "", "42704"};
    if (t->id == active)
      throw Problem{"", "deployment " + target + " is already active in environment \"" + env + "\"",
                    "", "", "55000"};
    if (t->id > active || t->status != "superseded")
      throw Problem{"",
                    "cannot roll environment \"" + env + "\" back to deployment " + target + ": it is " +
                        t->status + " and not earlier than the active deployment " + ids,
                    "", "Roll back only to a deployment that was superseded; deploy again to go forward.",
                    "55000"};
    return t->id;
  }
  if (!steps || *steps < 1)
    throw Problem{"", "steps must be at least 1, not " + (steps ? std::to_string(*steps) : "NULL"), "",
                  "", "22023"};
  std::vector<long long> earlier;
  for (const auto& d : deployments)
    if (d.id < active && d.status == "superseded") earlier.push_back(d.id);
  std::sort(earlier.rbegin(), earlier.rend());
  if (static_cast<size_t>(*steps) > earlier.size())
    throw Problem{"",
                  "cannot roll environment \"" + env + "\" back " + std::to_string(*steps) +
                      " step(s): that is past its first deployment",
                  "Deployment " + ids + " is active; " + std::to_string(earlier.size()) +
                      " earlier deployment(s) can be rolled back to.",
                  "", "55000"};
  return earlier[*steps - 1];
}

bool transition_allowed(const std::string& from, const std::string& to) {
  static const std::set<std::pair<std::string, std::string>> allowed = {
      {"open", "sealed"},        {"sealed", "active"},          {"active", "superseded"},
      {"active", "rolled_back"}, {"superseded", "active"},      {"superseded", "rolled_back"}};
  return from == to || allowed.count({from, to}) > 0;
}

}  // namespace stopgap
