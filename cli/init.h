// `stopgap init`: the project skeleton, created without overwriting anything.
#pragma once

#include <string>
#include <vector>

#include "cli/fs.h"

namespace stopgap::cli {

struct InitResult {
  std::vector<std::string> created;  // paths relative to the project root, in creation order
  // "added" (devDependency written), "present" (already there) or "missing" (no package.json).
  std::string package_json;
  bool changed() const { return !created.empty() || package_json == "added"; }
};

// What init adds to package.json's devDependencies for @stopgap/runtime: "file:<the copy installed
// beside the extension>" (it is not on the npm registry).
std::string runtime_dependency();

// Throws ProjectError when package.json is not a JSON object or a file cannot be written.
InitResult init_project(FileSystem& fs, const std::string& root);

}  // namespace stopgap::cli
