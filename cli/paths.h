// How a module file and one of its exports are named: the function path apps call through
// stopgap.call_fn ("api.users.profile.get") and the live function's name ("users_profile_get").
#pragma once

#include <string>

namespace stopgap::cli {

// "users/profile.ts" -> "users/profile" (drops .ts, .mts or .js).
std::string module_stem(const std::string& module_path);
// "users/profile.ts", "get" -> "api.users.profile.get"
std::string function_path(const std::string& module_path, const std::string& export_name);
// "users/profile.ts", "get" -> "users_profile_get"
std::string live_function_name(const std::string& module_path, const std::string& export_name);

}  // namespace stopgap::cli
