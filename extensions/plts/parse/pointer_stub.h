// Pointer stubs: the prosrc of a function that runs a stored artifact,
// {"plts":1,"kind":"artifact_ptr","artifact_hash":"sha256:...","export":"default","import_map":{}}.
// PostgreSQL-free.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace plts {

struct PointerStub {
  std::string artifact_hash;  // "sha256:<64 hex digits>"
  std::string export_name = "default";
  nlohmann::json import_map = nlohmann::json::object();  // name -> target, both without NUL
};

// The hint of every malformed-stub error: the expected shape.
extern const char* const kPointerStubHint;

// Parses prosrc as a pointer stub; nullopt when it is not one (not a JSON object with a "plts"
// key). Throws ParseError naming fn and the offending field when it claims to be a stub but is
// malformed; no nlohmann exception escapes.
std::optional<PointerStub> pointer_stub_of(const std::string& prosrc, const std::string& fn);

}  // namespace plts
