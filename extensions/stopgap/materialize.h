// The live schema: one pointer routine per function of a deployment, and pruning what it lacks.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace stopgap {

// Creates or replaces the live pointer of every fn_version of deployment `deployment_id` in schema
// `live`, as the routine kind it records, owned by stopgap_owner, EXECUTE for app_user only, with
// its comment. A pointer already exactly so is left alone. `action` ("deploy", "roll back") names
// the operation in errors. Returns fn_name -> pg_get_functiondef of the live routine.
std::map<std::string, std::string> materialize(const std::string& live, long long deployment_id,
                                               const char* action, int* replaced);

// With stopgap.prune on, drops the live routines deployment `deployment_id` lacks, except those
// other objects depend on. Returns {enabled, dropped: [signature], skipped: [{function, dependents}]}.
nlohmann::json prune(const std::string& live, long long deployment_id);

}  // namespace stopgap
