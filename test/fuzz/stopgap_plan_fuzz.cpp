// stopgap's pure deploy planning (extensions/stopgap/plan_logic.cpp) over the untrusted text it
// reads: a function's TypeScript (its own `// plts-import-map:` line), pg_get_functiondef output,
// compiler diagnostics and import lists. The input is split at \x1e (ASCII record separator) into
//   0 source | 1 import map, a "name=target" per line | 2 artifact hash | 3 definition |
//   4 qualified name | 5 argument list | 6 diagnostics, a "code message" per line |
//   7 deployed-import prefix, then one import specifier per line | 8 bytes of a small import graph
// Each function keeps its stated contract; stopgap::Problem (22023) is the only exception any of
// them throws, never a nlohmann one (which would surface as XX000 with nlohmann's own message).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "extensions/plts/parse/artifact_ref.h"
#include "extensions/plts/parse/import_map.h"
#include "extensions/plts/parse/parse_error.h"
#include "extensions/plts/parse/pointer_stub.h"
#include "extensions/stopgap/plan_logic.h"
#include "test/fuzz/fuzz_check.h"

namespace {

using StrMap = std::map<std::string, std::string>;

// What this target found in plan_logic, fixed there since (its seeds are named known_gap_*): a
// marker that did not start its line was "no map" to stopgap but the map to plts, which reads the
// first marker anywhere; an own map with a NUL (\u0000) in a name or target was baked, and plts
// refused the module; a Problem held a name's NUL, so ereport cut its message short.

const std::string kMarker = "// plts-import-map:";
const std::string kWhat = "s.f";

using fuzz::split;

size_t count_newlines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF), the text
// nlohmann (and PostgreSQL in a UTF8 database) accepts in a JSON string.
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned c = b(i);
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    if (b(i + 1) < lo || b(i + 1) > hi) return false;
    for (size_t k = 2; k <= n; k++)
      if (b(i + k) < 0x80 || b(i + k) > 0xBF) return false;
    i += n + 1;
  }
  return true;
}

bool map_utf8(const StrMap& m) {
  for (const auto& [k, v] : m)
    if (!valid_utf8(k) || !valid_utf8(v)) return false;
  return true;
}

bool map_has_nul(const StrMap& m) {
  for (const auto& [k, v] : m)
    if (fuzz::has_nul(k) || fuzz::has_nul(v)) return true;
  return false;
}

// A JSON string as PostgreSQL's escape_json writes it (the reference for jsonb_text).
std::string json_string(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\b') {
      out += "\\b";
    } else if (c == '\f') {
      out += "\\f";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      out += std::string("\\u00") + hex[c >> 4] + hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// jsonb's key order: shorter first, then by unsigned bytes.
bool jsonb_before(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size();
  return std::memcmp(a.data(), b.data(), a.size()) < 0;
}

void check_jsonb_text(const StrMap& m) {
  std::string text = stopgap::jsonb_text(m);
  std::vector<std::string> keys;
  for (const auto& kv : m) keys.push_back(kv.first);
  std::sort(keys.begin(), keys.end(), jsonb_before);
  std::string expected = "{";
  for (size_t i = 0; i < keys.size(); i++)
    expected += (i ? ", " : "") + json_string(keys[i]) + ": " + json_string(m.at(keys[i]));
  FUZZ_CHECK(text == expected + "}");
  // One line, whatever the strings hold: it ends a baked module's last line.
  for (unsigned char c : text) FUZZ_CHECK(c >= 0x20);
  if (!map_utf8(m)) return;  // no JSON text holds those bytes verbatim
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, false);
  FUZZ_CHECK(!j.is_discarded() && j.is_object() && j.size() == m.size());
  std::vector<std::string> order;
  for (auto& [k, v] : j.items()) {
    FUZZ_CHECK(v.is_string());
    auto it = m.find(k);
    FUZZ_CHECK(it != m.end() && it->second == v.get_ref<const std::string&>());
    order.push_back(k);
  }
  FUZZ_CHECK(order == keys);
}

// The markers of a source as plts's loader sees them: wherever they stand (it reads the first).
// Returns their offsets.
std::vector<size_t> own_map_markers(const std::string& source) {
  std::vector<size_t> out;
  for (size_t at = source.find(kMarker); at != std::string::npos; at = source.find(kMarker, at + 1))
    out.push_back(at);
  return out;
}

// The first own map line's JSON text (the rest of its line).
std::string own_map_text(const std::string& source, size_t marker) {
  size_t from = marker + kMarker.size();
  size_t end = source.find('\n', from);
  return source.substr(from, end == std::string::npos ? std::string::npos : end - from);
}

void check_bake(const std::string& source, const StrMap& map) {
  std::vector<size_t> markers = own_map_markers(source);
  // What the contract says: a malformed own map (not an object of strings) is refused when
  // there is something to bake; the rest of the map lines are disarmed.
  bool refuse = false;
  StrMap merged;
  std::set<std::string> own_names;
  if (!markers.empty()) {
    nlohmann::json own = nlohmann::json::parse(own_map_text(source, markers[0]), nullptr, false);
    if (own.is_discarded() || !own.is_object()) {
      refuse = true;
    } else {
      for (auto& [k, v] : own.items()) {
        if (v.is_string() && !fuzz::has_nul(k) && !fuzz::has_nul(v.get_ref<const std::string&>()))
          merged[k] = v.get<std::string>();
        else
          refuse = true;
      }
      if (!refuse)
        for (const auto& kv : merged) own_names.insert(kv.first);
    }
  }
  FUZZ_CHECK(stopgap::own_import_map_names(source) == own_names);
  for (const auto& [k, v] : map) merged[k] = v;

  std::string disarmed = source;
  for (auto it = markers.rbegin(); it != markers.rend(); ++it)
    disarmed.replace(*it, kMarker.size(),
                     "// plts-import-map (merged into the one at the end by stopgap):");

  std::string baked;
  try {
    baked = stopgap::bake_import_map(source, map, kWhat);
  } catch (const stopgap::Problem& p) {
    FUZZ_CHECK(!map.empty() && refuse);
    FUZZ_CHECK(p.sqlstate == "22023");
    FUZZ_CHECK(p.message.find(kWhat) != std::string::npos);
    FUZZ_CHECK(p.function.empty());                              // the caller names the function
    FUZZ_CHECK(!fuzz::has_nul(p.message));  // ereport would cut it short
    return;
  }
  if (map.empty()) {
    FUZZ_CHECK(baked == source);
    return;
  }
  FUZZ_CHECK(!refuse);
  std::string tail = "\n// plts-import-map: " + stopgap::jsonb_text(merged) + "\n";
  FUZZ_CHECK(baked == disarmed + tail);
  // The body keeps its line numbers: the disarmed lines hold no line break of their own, and the
  // appended comment is one line after them.
  FUZZ_CHECK(count_newlines(baked) == count_newlines(source) + 2);
  // The first marker, the one plts reads, starts the appended line (a name or target of the map
  // may hold the marker's text after it).
  std::vector<size_t> baked_markers = own_map_markers(baked);
  FUZZ_CHECK(!baked_markers.empty() && baked_markers.front() == disarmed.size() + 1);
  check_jsonb_text(merged);

  // plts loads the baked module with the merged map (the caller's names and targets, catalog
  // names and artifact references, hold no NUL; text that is no UTF-8 is no JSON).
  FUZZ_CHECK(disarmed.find(kMarker) == std::string::npos);
  if (map_utf8(merged) && !map_has_nul(map)) {
    nlohmann::json loaded;
    try {
      loaded = plts::import_map_comment(baked, kWhat);
    } catch (const plts::ParseError& e) {
      FUZZ_FAIL("plts refused the baked import map: " + e.message());
    }
    FUZZ_CHECK(loaded == nlohmann::json(merged));
  }
}

void check_pointer_stub(const std::string& hash, const StrMap& map) {
  std::string stub = stopgap::pointer_stub(hash, map);
  FUZZ_CHECK(stub ==
             "{\"plts\":1,\"kind\":\"artifact_ptr\",\"artifact_hash\":" + json_string(hash) +
                 ",\"export\":\"default\",\"import_map\":" + stopgap::jsonb_text(map) + "}");
  if (!valid_utf8(hash) || !map_utf8(map)) return;
  nlohmann::json j = nlohmann::json::parse(stub, nullptr, false);
  FUZZ_CHECK(!j.is_discarded() && j.is_object() && j.size() == 5);
  FUZZ_CHECK(j["plts"] == 1 && j["kind"] == "artifact_ptr" && j["export"] == "default");
  FUZZ_CHECK(j["artifact_hash"] == hash && j["import_map"] == nlohmann::json(map));

  // What plts's loader reads back (extensions/plts/parse/pointer_stub.cpp).
  std::string normalized = plts::normalize_artifact_ref(hash);
  std::optional<plts::PointerStub> got;
  try {
    got = plts::pointer_stub_of(stub, kWhat);
  } catch (const plts::ParseError& e) {
    // Only for what stopgap never passes: a hash that is none, names or targets with NUL
    // (catalog names cannot hold one).
    FUZZ_CHECK(normalized.empty() || map_has_nul(map));
    return;
  }
  FUZZ_CHECK(got.has_value());
  FUZZ_CHECK(!normalized.empty() && !map_has_nul(map));
  FUZZ_CHECK(got->artifact_hash == normalized);
  FUZZ_CHECK(got->export_name == "default");
  FUZZ_CHECK(got->import_map == nlohmann::json(map));
}

void check_definition(const std::string& def, const std::string& name, const std::string& args,
                      const std::string& body) {
  for (const char* keyword : {"FUNCTION", "PROCEDURE"}) {
    std::string head = stopgap::definition_head(keyword, name, args);
    FUZZ_CHECK(head ==
               std::string("CREATE OR REPLACE ") + keyword + " " + name + "(" + args + ")\n");
    // Any text: when it answers, def is head + clauses + "\nAS $tag$" + body + "$tag$" (+ "\n").
    std::optional<std::string> clauses = stopgap::definition_clauses(def, head, body);
    if (clauses) {
      FUZZ_CHECK(def.compare(0, head.size() + clauses->size() + 5, head + *clauses + "\nAS $") == 0);
      std::string rest = def.substr(head.size() + clauses->size() + 4);
      size_t tag_end = rest.find('$', 1);
      FUZZ_CHECK(tag_end != std::string::npos);
      std::string tag = rest.substr(0, tag_end + 1);
      FUZZ_CHECK(rest == tag + body + tag + "\n" || rest == tag + body + tag);
    }
    // As pg_get_functiondef prints it: the clauses come back exactly, whatever they and the body
    // hold ("\nAS " in a SET value or in the body included).
    std::string printed = head + def + "\nAS $function$" + body + "$function$\n";
    FUZZ_CHECK(stopgap::definition_clauses(printed, head, body) == std::optional<std::string>(def));
  }
}

void check_diagnostics(const std::string& text, const std::string& source) {
  std::set<std::string> own = stopgap::own_import_map_names(source);
  for (const std::string& line : split(text, '\n')) {
    size_t sp = line.find(' ');
    std::string digits = line.substr(0, std::min<size_t>(sp, 6));
    int code = 0;
    for (char c : digits) code = c >= '0' && c <= '9' ? code * 10 + (c - '0') : code;
    std::string message = sp == std::string::npos ? "" : line.substr(sp + 1);
    bool excused = stopgap::unresolvable_import_diagnostic(code, message, own);
    // "Cannot find module 'x'": x is the text between the first two quotes.
    size_t a = message.find('\'');
    size_t b = a == std::string::npos ? a : message.find('\'', a + 1);
    std::string spec = b == std::string::npos ? "" : message.substr(a + 1, b - a - 1);
    bool expected =
        (code == 2307 || code == 2792) && b != std::string::npos &&
        (starts_with(spec, "data:") || starts_with(spec, "plts+artifact:") || own.count(spec) > 0);
    FUZZ_CHECK(excused == expected);
    // A code of another diagnostic is never excused, whatever its message.
    FUZZ_CHECK(!stopgap::unresolvable_import_diagnostic(2304, message, own));
  }
}

void check_deployed_imports(const std::string& text) {
  std::vector<std::string> lines = split(text, '\n');
  std::string prefix = lines[0];
  std::vector<std::string> imports(lines.begin() + 1, lines.end());
  std::vector<std::string> foreign;
  std::vector<std::string> refs = stopgap::deployed_imports(imports, prefix, &foreign);
  FUZZ_CHECK(stopgap::deployed_imports(imports, prefix, nullptr) == refs);
  FUZZ_CHECK(std::adjacent_find(refs.begin(), refs.end(), std::greater_equal<>()) == refs.end());
  FUZZ_CHECK(std::adjacent_find(foreign.begin(), foreign.end(), std::greater_equal<>()) ==
             foreign.end());
  std::set<std::string> want_refs, want_foreign;
  for (const std::string& spec : imports) {
    if (starts_with(spec, prefix))
      want_refs.insert(spec.substr(prefix.size()));
    else if (starts_with(spec, "@stopgap/") && spec != "@stopgap/runtime")
      want_foreign.insert(spec);
  }
  FUZZ_CHECK(std::set<std::string>(refs.begin(), refs.end()) == want_refs);
  FUZZ_CHECK(std::set<std::string>(foreign.begin(), foreign.end()) == want_foreign);
}

// A small import graph from bytes: byte 0 gives the number of functions (1-8), byte 1+i the
// functions function i imports (bit j: function j), byte 1+n+i extras (bit 0: a name that is no
// function, which the caller refuses before but must still never be ordered; bit 1: an import
// listed twice).
void check_dependency_order(const std::string& bytes) {
  static const char* const kNames[] = {"a", "b", "B", "aa", "f_1", "g", "\xc3\xa9t\xc3\xa9", "z"};
  auto byte = [&](size_t i) {
    return i < bytes.size() ? static_cast<unsigned char>(bytes[i]) : 0u;
  };
  size_t n = 1 + byte(0) % 8;
  std::map<std::string, std::vector<std::string>> graph;
  for (size_t i = 0; i < n; i++) {
    std::vector<std::string>& refs = graph[kNames[i]];
    for (size_t j = 0; j < n; j++)
      if (byte(1 + i) >> j & 1) refs.push_back(kNames[j]);
    if (byte(1 + n + i) & 1) refs.push_back("absent");
    if ((byte(1 + n + i) & 2) && !refs.empty()) refs.push_back(refs.front());
  }
  std::vector<std::string> cyclic;
  std::vector<std::string> order = stopgap::dependency_order(graph, &cyclic);
  FUZZ_CHECK(std::is_sorted(cyclic.begin(), cyclic.end()));
  // order and cyclic partition the names.
  std::set<std::string> seen;
  for (const auto& v : {order, cyclic})
    for (const std::string& name : v) {
      FUZZ_CHECK(graph.count(name) == 1);
      FUZZ_CHECK(seen.insert(name).second);
    }
  FUZZ_CHECK(seen.size() == graph.size());
  // Every function after the functions it imports.
  std::map<std::string, size_t> at;
  for (size_t i = 0; i < order.size(); i++) at[order[i]] = i;
  for (const std::string& name : order)
    for (const std::string& r : graph.at(name)) FUZZ_CHECK(at.count(r) && at[r] < at[name]);
  // Left out only what cannot be ordered: each left-out function imports a left-out or absent one.
  for (const std::string& name : cyclic) {
    const auto& refs = graph.at(name);
    FUZZ_CHECK(
        std::any_of(refs.begin(), refs.end(), [&](const std::string& r) { return !at.count(r); }));
  }
}

StrMap map_of(const std::string& text) {
  StrMap m;
  for (const std::string& line : split(text, '\n')) {
    if (line.empty()) continue;
    size_t eq = line.find('=');
    m[line.substr(0, eq)] = eq == std::string::npos ? "" : line.substr(eq + 1);
  }
  return m;
}

// A well-formed hash from any text, so every input also round-trips a stub plts accepts.
std::string hash_of(const std::string& text) {
  static const char* hex = "0123456789abcdef";
  std::string h = "sha256:";
  for (size_t i = 0; i < 64; i++) {
    unsigned char c = i / 2 < text.size() ? static_cast<unsigned char>(text[i / 2]) : 0;
    h += hex[(i & 1) ? (c & 15) : (c >> 4)];
  }
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> parts =
      split(std::string(reinterpret_cast<const char*>(data), size), '\x1e');
  parts.resize(std::max<size_t>(parts.size(), 9));
  const std::string& source = parts[0];
  StrMap map = map_of(parts[1]);
  try {
    check_jsonb_text(map);
    check_bake(source, map);
    check_bake(source, {});
    check_pointer_stub(parts[2], map);
    check_pointer_stub(hash_of(parts[2]), map);
    check_definition(parts[3], parts[4], parts[5], parts[2]);
    check_diagnostics(parts[6], source);
    check_deployed_imports(parts[7]);
    check_dependency_order(parts[8]);
  } catch (const stopgap::Problem& p) {
    FUZZ_FAIL("a Problem escaped where none is documented: " + p.message);
  } catch (const nlohmann::json::exception& e) {
    FUZZ_FAIL(std::string("a nlohmann exception escaped stopgap's planning: ") + e.what());
  } catch (const std::exception& e) {
    FUZZ_FAIL(std::string("an exception escaped stopgap's planning: ") + e.what());
  }
  return 0;
}
