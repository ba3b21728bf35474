// Api over libpq: one statement per call, every value bound as a text parameter.
#pragma once

#include <string>

#include "cli/api.h"

struct pg_conn;

namespace stopgap::cli {

class PgApi : public Api {
 public:
  // conninfo: a URL or key=value string; "" uses libpq's PG* environment variables and defaults.
  // The connection is opened by the first call (ConnectError when that fails).
  explicit PgApi(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  ~PgApi() override;
  PgApi(const PgApi&) = delete;
  PgApi& operator=(const PgApi&) = delete;

  nlohmann::json deploy_project(const Opt& env, const nlohmann::json& project, const Opt& label,
                                const nlohmann::json& options) override;
  std::int64_t deploy(const Opt& env, const std::string& from_schema, const Opt& label,
                      bool force) override;
  nlohmann::json diff(const Opt& env, const std::string& from_schema) override;
  std::int64_t rollback(const Opt& env, std::optional<int> steps,
                        std::optional<std::int64_t> to_id) override;
  nlohmann::json status(const Opt& env) override;
  nlohmann::json deployments(const Opt& env) override;
  nlohmann::json call_fn(const std::string& path, const nlohmann::json& args,
                         const Opt& env) override;

 private:
  pg_conn* connection();
  // Runs sql with params (nullopt = NULL) and returns the single value of its single row
  // (nullopt when NULL); ApiError on a server error, DecodeError on another shape.
  std::optional<std::string> scalar(const char* sql, const std::vector<Opt>& params);
  nlohmann::json json_scalar(const char* sql, const std::vector<Opt>& params);
  std::int64_t bigint_scalar(const char* sql, const std::vector<Opt>& params);

  std::string conninfo_;
  pg_conn* conn_ = nullptr;
};

}  // namespace stopgap::cli
