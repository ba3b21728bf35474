#include "cli/paths.h"

#include "extensions/stopgap/project_logic.h"

namespace stopgap::cli {

std::string function_path(const std::string& module_path, const std::string& export_name) {
  return project::function_path(module_path, export_name);
}

std::string live_function_name(const std::string& module_path, const std::string& export_name) {
  return project::live_function_name(module_path, export_name);
}

}  // namespace stopgap::cli
