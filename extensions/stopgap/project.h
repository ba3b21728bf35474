// A project deployed as files (issue 16): stopgap.deploy_project takes every module of a project
// (the `stopgap` CLI reads them from stopgap/ and node_modules/) and deploys each named export made
// with query(...) or mutation(...) as a live function called by path; stopgap.call_fn calls one.
// The pure rules (file keys, resolution, paths, live names) are project_logic.h.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "extensions/stopgap/spi.h"

namespace stopgap {

// project: {"modules": {file key: source}, "resolve": {file key: {bare specifier: file key}}};
// options: {"force", "prune", "dry_run"} (booleans). Returns the deploy report (docs/CLI.md).
nlohmann::json deploy_project(const std::string& caller, const Value& env, const nlohmann::json& project,
                              const Value& label, const nlohmann::json& options);

// The result of the function at `path` of env's active deployment, called as the current user.
// args: a JSON document's text. Returns the result's text (nullopt: SQL NULL).
Value call_fn(const std::string& path, const std::string& args, const Value& env);

}  // namespace stopgap
