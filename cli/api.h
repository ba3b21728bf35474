// The boundary between the CLI and the server: one method per stopgap SQL function it calls.
// PgApi (pg_api.h) implements it over libpq; tests implement it with canned answers.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace stopgap::cli {

using Opt = std::optional<std::string>;

// An error the server reported (the PG_DIAG_* fields of the failed statement).
struct ApiError : std::runtime_error {
  ApiError(std::string sqlstate_, std::string message_, std::string detail_ = "",
           std::string hint_ = "")
      : std::runtime_error(message_),
        sqlstate(std::move(sqlstate_)),
        message(std::move(message_)),
        detail(std::move(detail_)),
        hint(std::move(hint_)) {}
  std::string sqlstate, message, detail, hint;
};

// The server could not be reached, or refused the connection.
struct ConnectError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The server answered, but not with what this CLI expects.
struct DecodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Each method is one statement; env std::nullopt is SQL NULL (the server then uses
// stopgap.default_env).
struct Api {
  virtual ~Api() = default;
  // stopgap.deploy_project(env, project, label, options) -> the deploy report.
  // options: {"force": bool, "prune": bool, "dry_run": bool}.
  virtual nlohmann::json deploy_project(const Opt& env, const nlohmann::json& project,
                                        const Opt& label, const nlohmann::json& options) = 0;
  // stopgap.deploy(env, from_schema, label, force) -> the deployment id.
  virtual std::int64_t deploy(const Opt& env, const std::string& from_schema, const Opt& label,
                              bool force) = 0;
  // stopgap.diff(env, from_schema) -> {summary, functions, errors}.
  virtual nlohmann::json diff(const Opt& env, const std::string& from_schema) = 0;
  // stopgap.rollback(env, steps, to_id) -> the deployment now active.
  virtual std::int64_t rollback(const Opt& env, std::optional<int> steps,
                                std::optional<std::int64_t> to_id) = 0;
  virtual nlohmann::json status(const Opt& env) = 0;
  virtual nlohmann::json deployments(const Opt& env) = 0;
  // stopgap.call_fn(path, args, env) -> the function's result.
  virtual nlohmann::json call_fn(const std::string& path, const nlohmann::json& args,
                                 const Opt& env) = 0;
};

}  // namespace stopgap::cli
