#include "cli/resolve.h"

#include <set>

#include <nlohmann/json.hpp>

#include "extensions/stopgap/project_logic.h"

namespace stopgap::cli {
namespace {

using ordered_json = nlohmann::ordered_json;

struct Package {
  std::string name;     // "zod", "@scope/pkg"
  std::string subpath;  // "." or "./mini"
  std::string dir;      // absolute directory of the package
  ordered_json manifest;
};

std::string display(const std::string& root, const std::string& path) {
  auto rel = path_relative(root, path);
  return rel ? *rel : path;
}

// Splits "@a/b/c/d" into ("@a/b", "./c/d") and "zod" into ("zod", ".").
void split_specifier(const std::string& spec, std::string* name, std::string* subpath) {
  std::size_t end = spec.find('/');
  if (!spec.empty() && spec[0] == '@' && end != std::string::npos) end = spec.find('/', end + 1);
  *name = spec.substr(0, end);
  *subpath = end == std::string::npos ? "." : "." + spec.substr(end);
}

bool valid_package_name(const std::string& name) {
  if (name.empty() || name[0] == '.' || name.find('\\') != std::string::npos ||
      name.find('%') != std::string::npos)
    return false;
  if (name[0] == '@') {
    auto slash = name.find('/');
    return slash != std::string::npos && slash > 1 && slash + 1 < name.size();
  }
  return true;
}

class Resolver {
 public:
  Resolver(const FileSystem& fs, const std::string& root, const std::string& importer,
           const std::string& spec)
      : fs_(fs), root_(root), importer_(importer), spec_(spec) {}

  std::string run() {
    Package pkg = find_package();
    std::string file;
    bool via_exports = pkg.manifest.is_object() && pkg.manifest.contains("exports");
    if (via_exports) {
      auto target = exports_target(pkg.manifest["exports"], pkg.subpath);
      if (!target)
        fail("package \"" + pkg.name + "\" does not export \"" + pkg.subpath +
             "\" for ES module imports (no \"import\" or \"default\" condition matches)");
      file = package_file(pkg, *target);
    } else if (pkg.subpath != ".") {
      file = package_file(pkg, pkg.subpath);
      if (fs_.is_dir(file)) file = path_join(file, "index.js");
    } else {
      file = main_file(pkg);
    }
    if (!fs_.is_file(file))
      fail("package \"" + pkg.name + "\" resolves \"" + pkg.subpath + "\" to " +
           display(root_, file) + ", which does not exist");
    require_es_module(pkg, file);
    return file;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw ResolveError(display(root_, importer_) + ": cannot import \"" + spec_ + "\": " + why);
  }

  Package find_package() {
    Package pkg;
    split_specifier(spec_, &pkg.name, &pkg.subpath);
    if (!valid_package_name(pkg.name)) fail("not a valid package name");
    // node_modules inside stopgap/ are not looked in: the server keys package files
    // "node_modules/..." relative to stopgap/'s parent, so a package there has no key.
    const std::string modules_dir = path_join(root_, "stopgap");
    for (std::string dir = path_dirname(importer_);; dir = path_dirname(dir)) {
      if (dir.empty() || !path_relative(root_, dir)) break;
      if (path_relative(modules_dir, dir)) continue;
      std::string candidate = path_join(path_join(dir, "node_modules"), pkg.name);
      if (fs_.is_dir(candidate)) {
        pkg.dir = candidate;
        break;
      }
      if (dir == root_) break;
    }
    if (pkg.dir.empty())
      fail("package \"" + pkg.name + "\" is not installed (no node_modules/" + pkg.name +
           " between the importing file and the project root, stopgap/ left out): run npm install");
    auto manifest_path = path_join(pkg.dir, "package.json");
    if (auto text = fs_.read(manifest_path)) {
      pkg.manifest = ordered_json::parse(*text, nullptr, false);
      if (pkg.manifest.is_discarded() || !pkg.manifest.is_object())
        fail(display(root_, manifest_path) + " is not a JSON object");
    }
    return pkg;
  }

  // A target inside the package ("./dist/x.js"): refuses targets that leave it.
  std::string package_file(const Package& pkg, const std::string& target) const {
    if (target.compare(0, 2, "./") != 0)
      fail("package \"" + pkg.name + "\" maps \"" + pkg.subpath + "\" to \"" + target +
           "\", which is not a \"./\" path inside the package");
    auto norm = path_normalize(target.substr(2));
    if (!norm || norm->empty() || norm->find("node_modules") != std::string::npos)
      fail("package \"" + pkg.name + "\" maps \"" + pkg.subpath + "\" to \"" + target +
           "\", which is outside the package");
    return path_join(pkg.dir, *norm);
  }

  std::string main_file(const Package& pkg) const {
    for (const char* field : {"module", "main"}) {
      if (!pkg.manifest.is_object() || !pkg.manifest.contains(field) ||
          !pkg.manifest[field].is_string())
        continue;
      std::string target = pkg.manifest[field].get<std::string>();
      if (target.compare(0, 2, "./") != 0) target = "./" + target;
      std::string file = package_file(pkg, target);
      // Legacy "main" values may leave out the extension or name a directory.
      for (const std::string& c : {file, file + ".js", path_join(file, "index.js")})
        if (fs_.is_file(c)) return c;
      return file;
    }
    return path_join(pkg.dir, "index.js");
  }

  // The exports target for subpath, or nullopt when it is not exported.
  std::optional<std::string> exports_target(const ordered_json& exports,
                                            const std::string& subpath) const {
    bool subpath_map = false;
    if (exports.is_object()) {
      bool first = true;
      for (auto& [key, _] : exports.items()) {
        bool dotted = !key.empty() && key[0] == '.';
        if (!first && dotted != subpath_map)
          fail("package.json \"exports\" mixes subpaths and conditions");
        subpath_map = dotted;
        first = false;
      }
    }
    if (!subpath_map) return subpath == "." ? conditional_target(exports, "") : std::nullopt;
    if (exports.contains(subpath) && subpath.find('*') == std::string::npos)
      return conditional_target(exports[subpath], "");
    // Patterns "./x/*": the longest prefix wins (Node's PATTERN_KEY_COMPARE).
    std::string best_key, best_match;
    for (auto& [key, _] : exports.items()) {
      auto star = key.find('*');
      if (star == std::string::npos || key.find('*', star + 1) != std::string::npos) continue;
      std::string prefix = key.substr(0, star), suffix = key.substr(star + 1);
      if (subpath.size() < prefix.size() + suffix.size() ||
          subpath.compare(0, prefix.size(), prefix) || !ends_with(subpath, suffix))
        continue;
      if (best_key.empty() || prefix.size() > best_key.find('*') ||
          (prefix.size() == best_key.find('*') && key.size() > best_key.size())) {
        best_key = key;
        best_match = subpath.substr(prefix.size(), subpath.size() - prefix.size() - suffix.size());
      }
    }
    if (best_key.empty()) return std::nullopt;
    return conditional_target(exports[best_key], best_match);
  }

  // A target value: a string (with '*' replaced by the pattern match), a conditions object, an
  // array of fallbacks, or null (explicitly not exported).
  std::optional<std::string> conditional_target(const ordered_json& v,
                                                const std::string& match) const {
    static const std::set<std::string> kConditions = {"import", "default"};
    if (v.is_string()) {
      std::string s = v.get<std::string>();
      for (auto at = s.find('*'); at != std::string::npos; at = s.find('*', at + match.size()))
        s.replace(at, 1, match);
      return s;
    }
    if (v.is_array()) {
      for (auto& alt : v)
        if (auto t = conditional_target(alt, match)) return t;
      return std::nullopt;
    }
    if (v.is_object()) {
      for (auto& [key, value] : v.items())
        if (kConditions.count(key)) {
          if (auto t = conditional_target(value, match)) return t;
        }
    }
    return std::nullopt;
  }

  // plts loads ES modules only: .mjs is one, .cjs is not, and a .js file is one when the nearest
  // package.json says "type": "module" or the package has a "module" field (the bundlers' mark).
  void require_es_module(const Package& pkg, const std::string& file) const {
    if (ends_with(file, ".mjs")) return;
    bool commonjs = ends_with(file, ".cjs");
    if (!commonjs && ends_with(file, ".js")) {
      std::string type;
      for (std::string dir = path_dirname(file);; dir = path_dirname(dir)) {
        auto text = fs_.read(path_join(dir, "package.json"));
        if (text) {
          auto m = ordered_json::parse(*text, nullptr, false);
          if (m.is_object() && m.contains("type") && m["type"].is_string())
            type = m["type"].get<std::string>();
          break;
        }
        if (dir == pkg.dir || dir.size() <= pkg.dir.size()) break;
      }
      bool has_module = pkg.manifest.is_object() && pkg.manifest.contains("module");
      commonjs = type != "module" && !has_module;
    }
    if (commonjs)
      fail("package \"" + pkg.name + "\" is CommonJS (" + display(root_, file) +
           "); plts loads only ES modules: use a version or build of \"" + pkg.name +
           "\" that ships ES modules");
  }

  const FileSystem& fs_;
  const std::string& root_;
  const std::string& importer_;
  const std::string& spec_;
};

}  // namespace

bool is_bare_specifier(const std::string& spec) {
  if (spec.empty() || spec[0] == '.' || spec[0] == '/') return false;
  if (spec.compare(0, 5, "node:") == 0) return true;  // Node's built-ins, refused by name
  auto colon = spec.find(':');
  return colon == std::string::npos || spec.find('/') < colon;
}

bool is_node_builtin(const std::string& spec) { return project::is_node_builtin(spec); }

std::string resolve_bare(const FileSystem& fs, const std::string& root, const std::string& importer,
                         const std::string& spec) {
  if (is_node_builtin(spec)) {
    auto rel = path_relative(root, importer);
    throw ResolveError((rel ? *rel : importer) + ": imports the Node built-in \"" + spec +
                       "\", which plts does not provide (functions run inside PostgreSQL, without "
                       "file system, network or process access)");
  }
  return Resolver(fs, root, importer, spec).run();
}

}  // namespace stopgap::cli
