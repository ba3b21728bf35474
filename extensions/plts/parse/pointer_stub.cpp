#include "extensions/plts/parse/pointer_stub.h"

#include "extensions/plts/parse/artifact_ref.h"
#include "extensions/plts/parse/parse_error.h"

namespace plts {

const char* const kPointerStubHint =
    "Expected {\"plts\":1,\"kind\":\"artifact_ptr\",\"artifact_hash\":\"sha256:...\","
    "\"export\":\"default\",\"import_map\":{}}";

namespace {

// Names reach error messages as C strings, where a NUL would cut them short.
bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

}  // namespace

std::optional<PointerStub> pointer_stub_of(const std::string& prosrc, const std::string& fn) {
  size_t first = prosrc.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || prosrc[first] != '{') return std::nullopt;
  const nlohmann::json stub = nlohmann::json::parse(prosrc, nullptr, false);
  if (stub.is_discarded() || !stub.is_object() || !stub.contains("plts")) return std::nullopt;
  auto bad = [&](const std::string& why) {
    return ParseError("malformed plts pointer stub in " + fn + ": " + why, kPointerStubHint);
  };
  // Fields are looked up with find() and their types checked before any get<>(): a field of the
  // wrong JSON type must name the field, not surface as nlohmann's type_error.
  auto field = [&](const char* key) -> const nlohmann::json* {
    auto it = stub.find(key);
    return it == stub.end() ? nullptr : &*it;
  };
  if (*field("plts") != 1) throw bad("unsupported \"plts\" version");
  const nlohmann::json* kind = field("kind");
  if (kind == nullptr || !kind->is_string() ||
      kind->get_ref<const std::string&>() != "artifact_ptr")
    throw bad("\"kind\" must be \"artifact_ptr\"");
  PointerStub out;
  const nlohmann::json* hash = field("artifact_hash");
  if (hash == nullptr) throw bad("\"artifact_hash\" is missing");
  if (hash->is_string())
    out.artifact_hash = normalize_artifact_ref(hash->get_ref<const std::string&>());
  if (out.artifact_hash.empty()) throw bad("\"artifact_hash\" must be sha256:<64 hex digits>");
  if (const nlohmann::json* exp = field("export")) {
    if (!exp->is_string() || exp->get_ref<const std::string&>().empty() ||
        has_nul(exp->get_ref<const std::string&>()))
      throw bad("\"export\" must be a name");
    out.export_name = exp->get_ref<const std::string&>();
  }
  if (const nlohmann::json* map = field("import_map")) {
    if (!map->is_object()) throw bad("\"import_map\" must be an object");
    for (auto& [k, v] : map->items()) {
      if (has_nul(k)) throw bad("an import_map name contains a NUL character");
      if (!v.is_string()) throw bad("import_map entry \"" + k + "\" must map to a string");
      if (has_nul(v.get_ref<const std::string&>()))
        throw bad("import_map entry \"" + k + "\" maps to a string with a NUL character");
    }
    out.import_map = *map;
  }
  return out;
}

}  // namespace plts
