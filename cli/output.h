// What the CLI prints. Human output is short text; JSON output (--output json) is the server's
// document as one line. The human formatters read the documents the stopgap SQL functions return
// and throw DecodeError (exit 7) when one does not have the expected shape.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/api.h"

namespace stopgap::cli {

// One line of JSON (invalid UTF-8 replaced, never thrown on).
std::string json_line(const nlohmann::json& doc);

std::string format_deploy_report(const nlohmann::json& report);  // stopgap.deploy_project
std::string format_diff(const nlohmann::json& diff);             // stopgap.diff
std::string format_status(const nlohmann::json& status);         // stopgap.status
std::string format_deployments(const nlohmann::json& list);      // stopgap.deployments: a table
std::string format_call_result(const nlohmann::json& result);    // indented JSON

// A server error: "error: <message>" (with the SQLSTATE), the DETAIL lines as they are (type-check
// diagnostics arrive there, one per line), then "hint: ...".
std::string format_api_error(const ApiError& e);
// The same for --output json: {"error": {"sqlstate", "message", "detail", "hint"}}.
nlohmann::json api_error_document(const ApiError& e);

}  // namespace stopgap::cli
