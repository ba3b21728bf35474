#include "cli/project.h"

#include <deque>
#include <map>
#include <set>

#include "cli/import_scan.h"
#include "cli/resolve.h"
#include "extensions/stopgap/project_logic.h"

namespace stopgap::cli {
namespace {

// Module files under dir, keyed relative to stopgap/ (see project_module_keys).
void collect_modules(const FileSystem& fs, const std::string& dir, const std::string& rel,
                     std::vector<std::string>* out) {
  for (const auto& name : fs.list(dir)) {
    if (name.empty() || name[0] == '.' || name == "node_modules") continue;
    if (rel.empty() && name == "_generated") continue;
    std::string path = path_join(dir, name);
    std::string key = rel.empty() ? name : rel + "/" + name;
    if (fs.is_dir(path)) {
      collect_modules(fs, path, key, out);
    } else if (is_module_file(name)) {
      out->push_back(key);
    }
  }
}

const char* const kRuntime = "@stopgap/runtime";

// The directory key of the package an npm file belongs to: "node_modules/zod" for
// "node_modules/zod/v4/index.js", "node_modules/a/node_modules/@s/b" for a nested scoped one.
std::string package_key(const std::string& key) {
  auto at = key.rfind("node_modules/");
  auto name_end = key.find('/', at + 13);
  if (name_end != std::string::npos && key[at + 13] == '@') name_end = key.find('/', name_end + 1);
  return key.substr(0, name_end);
}

// Keys of the module files of a package (its nested node_modules left out), for the server's
// relative resolution rules.
void collect_package_files(const FileSystem& fs, const std::string& dir, const std::string& key,
                           std::set<std::string>* out) {
  for (const auto& name : fs.list(dir)) {
    if (name == "node_modules") continue;
    std::string path = path_join(dir, name), child = key + "/" + name;
    if (fs.is_dir(path))
      collect_package_files(fs, path, child, out);
    else if (!project::key_problem(child))
      out->insert(child);
  }
}

class PayloadBuilder {
 public:
  PayloadBuilder(const FileSystem& fs, const std::string& root) : fs_(fs), root_(root) {}

  nlohmann::json run() {
    const std::string src = path_join(root_, "stopgap");
    for (const auto& key : project_module_keys(fs_, root_)) {
      if (auto problem = project::key_problem(key))
        throw ProjectError("stopgap/" + key + ": the server refuses this module path: " + *problem);
      enqueue(key, path_join(src, key));
    }
    while (!queue_.empty()) {
      auto [key, path] = queue_.front();
      queue_.pop_front();
      visit(key, path);
    }
    return payload_;
  }

 private:
  void enqueue(const std::string& key, const std::string& path) {
    if (seen_.insert(key).second) queue_.emplace_back(key, path);
  }

  void visit(const std::string& key, const std::string& path) {
    auto text = fs_.read(path);
    if (!text) throw ProjectError("cannot read " + path);
    payload_["modules"][key] = *text;
    const bool npm_file = project::is_package_file(key);
    for (const auto& spec : scan_imports(*text)) {
      if (spec == kRuntime) continue;
      if (is_bare_specifier(spec)) {
        std::string target = resolve_bare(fs_, root_, path, spec);
        std::string target_key = *path_relative(root_, target);
        if (auto problem = project::key_problem(target_key))
          throw ResolveError(display(key) + ": cannot import \"" + spec + "\": " + target_key +
                             " cannot be deployed: " + *problem);
        payload_["resolve"][key][spec] = target_key;
        enqueue(target_key, target);
      } else if (npm_file && project::is_relative(spec)) {
        // Modules are all sent anyway; an npm file's relative imports bring in package files.
        const std::string pkg = package_key(key);
        auto& files = package_files_[pkg];
        if (files.empty()) collect_package_files(fs_, path_join(root_, pkg), pkg, &files);
        auto target_key = project::resolve_relative(key, spec, files);
        if (!target_key || !path_relative(pkg, *target_key))
          throw ResolveError(key + ": cannot import \"" + spec +
                             "\": no module file of its package (" + pkg + ") by that name");
        enqueue(*target_key, path_join(root_, *target_key));
      }
    }
  }

  std::string display(const std::string& key) const {
    return project::is_package_file(key) ? key : "stopgap/" + key;
  }

  const FileSystem& fs_;
  const std::string& root_;
  nlohmann::json payload_ = {{"modules", nlohmann::json::object()},
                             {"resolve", nlohmann::json::object()}};
  std::deque<std::pair<std::string, std::string>> queue_;  // (key, absolute path)
  std::set<std::string> seen_;
  std::map<std::string, std::set<std::string>> package_files_;  // package key -> its file keys
};

}  // namespace

std::string find_project_root(const FileSystem& fs, const std::string& cwd) {
  if (!fs.is_dir(path_join(cwd, "stopgap")))
    throw ProjectError("not a stopgap project (no stopgap/ directory): run stopgap init");
  return cwd;
}

bool is_module_file(const std::string& name) {
  if (ends_with(name, ".d.ts") || ends_with(name, ".d.mts")) return false;
  return ends_with(name, ".ts") || ends_with(name, ".mts") || ends_with(name, ".js") ||
         ends_with(name, ".mjs");
}

std::vector<std::string> project_module_keys(const FileSystem& fs, const std::string& root) {
  std::vector<std::string> keys;
  collect_modules(fs, path_join(root, "stopgap"), "", &keys);
  return keys;
}

nlohmann::json build_project_payload(const FileSystem& fs, const std::string& root) {
  return PayloadBuilder(fs, root).run();
}

}  // namespace stopgap::cli
