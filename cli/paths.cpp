#include "cli/paths.h"

#include <algorithm>

#include "cli/fs.h"

namespace stopgap::cli {

std::string module_stem(const std::string& module_path) {
  for (const char* ext : {".mts", ".ts", ".js"})
    if (ends_with(module_path, ext))
      return module_path.substr(0, module_path.size() - std::char_traits<char>::length(ext));
  return module_path;
}

std::string function_path(const std::string& module_path, const std::string& export_name) {
  std::string stem = module_stem(module_path);
  std::replace(stem.begin(), stem.end(), '/', '.');
  return "api." + stem + "." + export_name;
}

std::string live_function_name(const std::string& module_path, const std::string& export_name) {
  std::string stem = module_stem(module_path);
  std::replace(stem.begin(), stem.end(), '/', '_');
  return stem + "_" + export_name;
}

}  // namespace stopgap::cli
