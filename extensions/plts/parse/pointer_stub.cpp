#include "extensions/plts/parse/pointer_stub.h"

#include "extensions/plts/parse/artifact_ref.h"
#include "extensions/plts/parse/parse_error.h"

namespace plts {

const char* const kPointerStubHint =
    "Expected {\"plts\":1,\"kind\":\"artifact_ptr\",\"artifact_hash\":\"sha256:...\","
    "\"export\":\"default\",\"import_map\":{}}";

std::optional<PointerStub> pointer_stub_of(const std::string& prosrc, const std::string& fn) {
  size_t first = prosrc.find_first_not_of(" \t\r\n");
  if (first == std::string::npos || prosrc[first] != '{') return std::nullopt;
  nlohmann::json stub = nlohmann::json::parse(prosrc, nullptr, false);
  if (stub.is_discarded() || !stub.is_object() || !stub.contains("plts")) return std::nullopt;
  auto bad = [&](const std::string& why) {
    return ParseError("malformed plts pointer stub in " + fn + ": " + why, kPointerStubHint);
  };
  if (stub["plts"] != 1) throw bad("unsupported \"plts\" version");
  if (stub.value("kind", "") != "artifact_ptr") throw bad("\"kind\" must be \"artifact_ptr\"");
  if (!stub.contains("artifact_hash") || !stub["artifact_hash"].is_string())
    throw bad("\"artifact_hash\" is missing");
  PointerStub out;
  out.artifact_hash = normalize_artifact_ref(stub["artifact_hash"].get<std::string>());
  if (out.artifact_hash.empty()) throw bad("\"artifact_hash\" must be sha256:<64 hex digits>");
  if (stub.contains("export")) {
    if (!stub["export"].is_string() || stub["export"].get<std::string>().empty())
      throw bad("\"export\" must be a name");
    out.export_name = stub["export"];
  }
  if (stub.contains("import_map")) {
    if (!stub["import_map"].is_object()) throw bad("\"import_map\" must be an object");
    for (auto& [k, v] : stub["import_map"].items())
      if (!v.is_string()) throw bad("import_map entry \"" + k + "\" must map to a string");
    out.import_map = stub["import_map"];
  }
  return out;
}

}  // namespace plts
