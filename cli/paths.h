// How a module file and one of its exports are named: the function path apps call through
// stopgap.call_fn ("api.users.profile.get") and the live function's name ("users_profile_get").
// The rules are the server's (extensions/stopgap/project_logic.h): the CLI must name functions as
// the deploy does.
#pragma once

#include <string>

namespace stopgap::cli {

// "users/profile.ts", "get" -> "api.users.profile.get"
std::string function_path(const std::string& module_path, const std::string& export_name);
// "users/profile.ts", "get" -> "users_profile_get" ('/', '-' and '.' become '_')
std::string live_function_name(const std::string& module_path, const std::string& export_name);

}  // namespace stopgap::cli
