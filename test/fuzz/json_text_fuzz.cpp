// The JSON text -> JsonbValue parser (jsonb results of plts functions), linked against a palloc
// shim instead of a backend. Differential against nlohmann::json: every text nlohmann accepts is
// accepted (unless it holds \u0000, which jsonb cannot store) and gives the same tree, with object
// keys in jsonb order (by length, then bytes) and duplicates resolved to the last. The parser never
// hands make_number anything but a JSON number.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "extensions/plts/json_text.h"
#include "test/fuzz/fuzz_check.h"
#include "test/fuzz/palloc_shim.h"

namespace {

// RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') i++;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') i++;
  if (i < s.size() && s[i] == '0') {
    i++;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.' && (++i, !digits())) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) i++;
    if (!digits()) return false;
  }
  return i == s.size();
}

// Stands in for numeric_in: a number is its own text, NUL-terminated, in a palloc'd block.
Numeric fake_number(const char* text, size_t len) {
  FUZZ_CHECK(is_json_number(std::string_view(text, len)));
  char* copy = static_cast<char*>(palloc_extended(len + 1, 0));
  memcpy(copy, text, len);
  copy[len] = '\0';
  return reinterpret_cast<Numeric>(copy);
}

std::string str(const JsonbValue& v) { return std::string(v.val.string.val, v.val.string.len); }

// Iterative: inputs nest up to the parser's limit, deeper than the harness's stack allows to
// recurse.
bool has_nul_string(const nlohmann::json& root) {
  std::vector<const nlohmann::json*> todo{&root};
  while (!todo.empty()) {
    const nlohmann::json& j = *todo.back();
    todo.pop_back();
    if (j.is_string() && fuzz::has_nul(j.get_ref<const std::string&>())) return true;
    if (j.is_array())
      for (const auto& e : j) todo.push_back(&e);
    if (j.is_object())
      for (const auto& [k, v] : j.items()) {
        if (fuzz::has_nul(k)) return true;
        todo.push_back(&v);
      }
  }
  return false;
}

// The tree walks below stop at this depth (ASan frames are large; the parser goes to 10000).
constexpr int kMaxCheckDepth = 1000;

// Structure alone (our parser accepts more than nlohmann: raw control characters, invalid UTF-8).
void check_tree(const JsonbValue& v, int depth = 0) {
  if (depth > kMaxCheckDepth) return;
  switch (v.type) {
    case jbvArray:
      FUZZ_CHECK(v.val.array.nElems >= 0 && !v.val.array.rawScalar);
      for (int i = 0; i < v.val.array.nElems; i++) check_tree(v.val.array.elems[i], depth + 1);
      break;
    case jbvObject:
      for (int i = 0; i < v.val.object.nPairs; i++) {
        const JsonbPair& p = v.val.object.pairs[i];
        FUZZ_CHECK(p.key.type == jbvString);
        if (i > 0) {
          const JsonbValue& prev = v.val.object.pairs[i - 1].key;
          // jsonb order, strictly: sorted by length, then bytes, without duplicates.
          FUZZ_CHECK(prev.val.string.len < p.key.val.string.len ||
                     (prev.val.string.len == p.key.val.string.len &&
                      memcmp(prev.val.string.val, p.key.val.string.val, p.key.val.string.len) < 0));
        }
        check_tree(p.value, depth + 1);
      }
      break;
    case jbvString:
      FUZZ_CHECK(v.val.string.len >= 0);
      break;
    case jbvNull:
    case jbvBool:
    case jbvNumeric:
      break;
    default:
      FUZZ_FAIL("unexpected JsonbValue type " + std::to_string(v.type));
  }
}

void check_same(const JsonbValue& v, const nlohmann::json& j, int depth = 0) {
  if (depth > kMaxCheckDepth) return;
  switch (v.type) {
    case jbvNull:
      FUZZ_CHECK(j.is_null());
      break;
    case jbvBool:
      FUZZ_CHECK(j.is_boolean() && j.get<bool>() == v.val.boolean);
      break;
    case jbvNumeric:
      FUZZ_CHECK(j.is_number());
      FUZZ_CHECK(nlohmann::json::parse(reinterpret_cast<const char*>(v.val.numeric)) == j);
      break;
    case jbvString:
      FUZZ_CHECK(j.is_string() && j.get_ref<const std::string&>() == str(v));
      break;
    case jbvArray:
      FUZZ_CHECK(j.is_array() && j.size() == static_cast<size_t>(v.val.array.nElems));
      for (int i = 0; i < v.val.array.nElems; i++)
        check_same(v.val.array.elems[i], j[i], depth + 1);
      break;
    case jbvObject:
      FUZZ_CHECK(j.is_object() && j.size() == static_cast<size_t>(v.val.object.nPairs));
      for (int i = 0; i < v.val.object.nPairs; i++) {
        auto it = j.find(str(v.val.object.pairs[i].key));
        FUZZ_CHECK(it != j.end());
        check_same(v.val.object.pairs[i].value, *it, depth + 1);
      }
      break;
    default:
      FUZZ_FAIL("unexpected JsonbValue type " + std::to_string(v.type));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  JsonbValue root;
  std::string error = plts::json_text_to_jsonb_value(text, size, &root, fake_number);
  if (error.empty()) check_tree(root);

  // nlohmann takes a NUL byte for the end of its input: no reference for such texts.
  bool nul_byte = memchr(text, 0, size) != nullptr;
  nlohmann::json j = nlohmann::json::parse(text, text + size, nullptr, false);
  if (!nul_byte && !j.is_discarded()) {
    if (error == "nested too deeply") {
      // nlohmann has no depth limit; ours refuses more than 10000 levels.
    } else if (has_nul_string(j)) {
      FUZZ_CHECK(error == "\\u0000 cannot be stored in jsonb");
    } else {
      if (!error.empty()) FUZZ_FAIL("rejected valid JSON: " + error);
      check_same(root, j);
    }
  }
  fuzz::reset_palloc_shim();
  return 0;
}
