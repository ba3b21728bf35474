// The artifact store: plts.artifact rows, content-addressed by sha256 over compiler fingerprint,
// options and source. Read through SPI as the caller (SELECT is public); written as the table's
// owner, because compiled output must only ever come from plts itself.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "extensions/plts/parse/artifact_ref.h"

namespace plts {

struct Artifact {
  std::string hash;
  std::string source_ts;
  std::string compiled_js;
  nlohmann::json compiler_opts;
  std::string fingerprint;
  std::string source_map;  // "" when none
  nlohmann::json diagnostics;
  bool fresh = false;  // compiled just now (not read from the store)
};

// The artifact with this hash ("sha256:<hex>"), if stored.
std::optional<Artifact> find_artifact(const std::string& hash);

// Inserts the artifact unless one with its hash exists. Runs as the owner of plts.artifact.
void store_artifact(const Artifact& a);

// Compiles TypeScript source with the given (effective) options and returns the artifact, taking
// it from the store when it exists and storing it when `store` is set. Throws PgError 42601 with
// the first error's line and column when the source does not compile.
Artifact compile_artifact(const std::string& source, const nlohmann::json& effective_opts,
                          const std::string& what, bool store);

}  // namespace plts
