// Environments and who may change them: the environment name, the calling role's checks, the
// per-environment lock, the environment row and its live schema.
#pragma once

#include <optional>
#include <string>

#include "extensions/stopgap/spi.h"

namespace stopgap {

struct Environment {
  std::string env, live_schema;
  std::optional<long long> active_deployment_id;
};

// The role stopgap authorizes: the SET ROLE role, else the session user (SECURITY DEFINER does not
// change PostgreSQL's "outer" user).
std::string calling_role();
// env, or stopgap.default_env when it is NULL; validated (22023).
std::string env_name(const Value& env);
// Refuses a change where nothing can be written: a standby, a read-only transaction (25006).
void require_writable(const char* action);
// Checks the calling role: a member of stopgap_deployer; with from_schema, USAGE on it, EXECUTE on
// the compiler, and not a live schema. Returns the source schema's name as the catalog has it.
void authorize(const std::string& caller, const char* action, const std::optional<std::string>& from_schema);
// Serializes everything that changes one environment until the transaction ends.
void lock_environment(const std::string& env);
// The environment's row (locked FOR UPDATE when lock is set), if it exists.
std::optional<Environment> find_environment(const std::string& env, bool lock);
// The environment's row, locked; created with its live schema (stopgap.live_schema, or `live`)
// when missing and create is set (42704 otherwise). Its live schema exists afterwards.
Environment environment(const std::string& env, bool create, const std::string& caller,
                        const std::optional<std::string>& live = std::nullopt);
// The fault tests' pause: with stopgap.pause_at = phase, waits for the advisory lock they hold.
void pause_point(const char* phase);

}  // namespace stopgap
