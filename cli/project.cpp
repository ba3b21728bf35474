#include "cli/project.h"

#include <deque>
#include <set>

#include "cli/import_scan.h"
#include "cli/resolve.h"

namespace stopgap::cli {
namespace {

const char* const kRuntime = "@stopgap/runtime";

bool is_script(const std::string& path) {
  for (const char* ext : {".ts", ".mts", ".js", ".mjs"})
    if (ends_with(path, ext)) return true;
  return false;
}

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

}  // namespace

std::string find_project_root(const FileSystem& fs, const std::string& cwd) {
  if (!fs.is_dir(path_join(cwd, "stopgap")))
    throw ProjectError("not a stopgap project (no stopgap/ directory): run stopgap init");
  return cwd;
}

bool is_module_file(const std::string& name) {
  if (ends_with(name, ".d.ts") || ends_with(name, ".d.mts")) return false;
  return ends_with(name, ".ts") || ends_with(name, ".mts") || ends_with(name, ".js");
}

nlohmann::json build_project_payload(const FileSystem& fs, const std::string& root) {
  const std::string src = path_join(root, "stopgap");
  std::vector<std::string> modules;
  collect_modules(fs, src, "", &modules);

  nlohmann::json payload = {{"modules", nlohmann::json::object()},
                            {"resolve", nlohmann::json::object()}};
  auto& out_modules = payload["modules"];
  auto& out_resolve = payload["resolve"];

  // (key in the payload, absolute path): modules first, then npm files as they are reached.
  std::deque<std::pair<std::string, std::string>> queue;
  std::set<std::string> seen;
  for (const auto& key : modules) queue.emplace_back(key, path_join(src, key));
  for (const auto& [key, _] : queue) seen.insert(key);

  while (!queue.empty()) {
    auto [key, path] = queue.front();
    queue.pop_front();
    auto text = fs.read(path);
    if (!text) throw ProjectError("cannot read " + path);
    out_modules[key] = *text;
    if (!is_script(path)) continue;
    bool npm_file =
        starts_with(key, "node_modules/") || key.find("/node_modules/") != std::string::npos;
    for (const auto& spec : scan_imports(*text)) {
      std::string target;
      if (spec == kRuntime || starts_with(spec, std::string(kRuntime) + "/")) continue;
      if (is_bare_specifier(spec)) {
        target = resolve_bare(fs, root, path, spec);
        out_resolve[key][spec] = *path_relative(root, target);
      } else if (npm_file && starts_with(spec, ".")) {
        // Modules are all sent anyway; an npm file's relative imports bring in files.
        auto norm = path_normalize(path_join(path_dirname(path), spec));
        auto rel = norm ? path_relative(root, *norm) : std::nullopt;
        if (!rel) throw ResolveError(key + ": cannot import \"" + spec + "\": outside the project");
        if (!fs.is_file(*norm))
          throw ResolveError(key + ": cannot import \"" + spec + "\": " + *rel +
                             " does not exist (ES modules name files exactly, extension included)");
        target = *norm;
      } else {
        continue;
      }
      std::string target_key = *path_relative(root, target);
      if (seen.insert(target_key).second) queue.emplace_back(target_key, target);
    }
  }
  return payload;
}

}  // namespace stopgap::cli
