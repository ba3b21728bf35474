// Artifact references: "plts+artifact:sha256:<hex>" or "sha256:<hex>". PostgreSQL-free.
#pragma once

#include <string>

namespace plts {

// Normalizes "plts+artifact:sha256:..", "sha256:.." to "sha256:<hex>"; "" when not a hash.
std::string normalize_artifact_ref(const std::string& ref);

}  // namespace plts
