// The state machine of an environment: deploy (plan, record, materialize, activate) and rollback
// (re-activate an earlier deployment), each in the caller's transaction under the environment's
// lock, so a failure leaves nothing behind.
#pragma once

#include <optional>
#include <string>

#include "extensions/stopgap/spi.h"

namespace stopgap {

// Returns the id of the deployment that is active afterwards: a new one, or (nothing changed and
// not force) the active one, with nothing recorded.
long long deploy(const std::string& caller, const Value& env, const std::string& from_schema,
                 const Value& label, bool force);
long long rollback(const std::string& caller, const Value& env, std::optional<int> steps,
                   std::optional<long long> to_id);

}  // namespace stopgap
