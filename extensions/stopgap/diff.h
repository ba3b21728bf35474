// stopgap.diff: a dry run of deploy.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "extensions/stopgap/spi.h"

namespace stopgap {

// {env, from_schema, active_deployment_id, summary {added, changed, removed, unchanged, errors},
//  functions [{fn_name, change, signature, artifact_hash, active_artifact_hash, reasons, error}],
//  errors [{function, message, sqlstate, detail, hint, position {line, column}}]}
nlohmann::json diff(const std::string& caller, const Value& env, const std::string& from_schema);

}  // namespace stopgap
