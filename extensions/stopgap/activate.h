// The state machine of an environment: deploy (plan, record, materialize, activate) and rollback
// (re-activate an earlier deployment), each in the caller's transaction under the environment's
// lock, so a failure leaves nothing behind.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "extensions/stopgap/spi.h"

namespace stopgap {

// Returns the id of the deployment that is active afterwards: a new one, or (nothing changed and
// not force) the active one, with nothing recorded.
long long deploy(const std::string& caller, const Value& env, const std::string& from_schema,
                 const Value& label, bool force);
long long rollback(const std::string& caller, const Value& env, std::optional<int> steps,
                   std::optional<long long> to_id);

// The steps of a deploy, shared by deploy and deploy_project (project.cpp).
struct Plan;
void progress(const std::string& env, const std::string& what);
std::string plural(size_t n, const char* one, const char* many);
// Whether the live schema holds exactly what deployment `id` wrote.
bool live_schema_current(const std::string& live, long long id);
// A new deployment row (schema NULL: a project's).
long long insert_deployment(const std::string& env, const Value& label, const Value& schema, const std::string& caller);
// The fn_version rows of the plan's functions.
void record_versions(long long id, const Plan& plan);
nlohmann::json manifest(const std::string& env, const std::string& live, const Plan& plan, const nlohmann::json& pruned);
// Makes deployment `to` the active one of env (from `from`, if any), and logs the activation.
void activate(const std::string& env, std::optional<long long> from, long long to, const char* action,
              const std::string& caller, const nlohmann::json& detail);
long long elapsed_ms(std::chrono::steady_clock::time_point since);

}  // namespace stopgap
