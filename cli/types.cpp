#include "cli/types.h"

#include <map>
#include <memory>

#include "cli/paths.h"
#include "cli/project.h"

namespace stopgap::cli {
namespace {

const char* const kApiFile = "stopgap/_generated/api.ts";

bool is_identifier(const std::string& s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// An object literal key: bare when it can be; "__proto__" computed, or it would set the prototype.
std::string object_key(const std::string& name) {
  if (name == "__proto__") return "[\"__proto__\"]";
  if (is_identifier(name)) return name;
  return nlohmann::json(name).dump();
}

// `typeof m0.get`, or `typeof m0["odd-name"]` for a name that is not an identifier.
std::string member(const std::string& alias, const std::string& name) {
  if (is_identifier(name)) return alias + "." + name;
  return alias + "[" + nlohmann::json(name).dump() + "]";
}

struct Node {
  // A leaf: the function at this path.
  std::string path, module, export_name, alias;
  bool leaf = false;
  std::map<std::string, std::unique_ptr<Node>> children;
};

std::string where(const Node& n) { return "stopgap/" + n.module + " export " + n.export_name; }

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto dot = path.find('.', start);
    out.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) return out;
    start = dot + 1;
  }
}

// The first leaf below n (for messages).
const Node* any_leaf(const Node& n) {
  if (n.leaf) return &n;
  for (const auto& [_, child] : n.children)
    if (const Node* l = any_leaf(*child)) return l;
  return nullptr;
}

void render(const Node& n, int depth, std::string* out) {
  const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
  for (const auto& [name, child] : n.children) {
    *out += indent + object_key(name) + ": ";
    if (child->leaf) {
      *out += "fnRef<typeof " + member(child->alias, child->export_name) + ">(" +
              nlohmann::json(child->path).dump() + "),\n";
    } else {
      *out += "{\n";
      render(*child, depth + 1, out);
      *out += indent + "},\n";
    }
  }
}

}  // namespace

std::vector<ModuleExports> scan_project_exports(const FileSystem& fs, const std::string& root) {
  const std::string src = path_join(root, "stopgap");
  if (!fs.is_dir(src))
    throw ProjectError("not a stopgap project (no stopgap/ directory): run stopgap init");
  std::vector<ModuleExports> out;
  for (const auto& key : project_module_keys(fs, root)) {
    auto text = fs.read(path_join(src, key));
    if (!text) throw ProjectError("cannot read stopgap/" + key);
    ModuleExports m{key, {}};
    for (const auto& e : scan_function_exports(*text)) {
      bool seen = false;
      for (const auto& prior : m.exports) seen = seen || prior.name == e.name;
      if (!seen) m.exports.push_back(e);
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::string api_import_specifier(const std::string& module_key) {
  std::string spec = "../" + module_key;
  if (ends_with(spec, ".mts")) return spec.substr(0, spec.size() - 4) + ".mjs";
  if (ends_with(spec, ".ts")) return spec.substr(0, spec.size() - 3) + ".js";
  return spec;  // .js, .mjs
}

std::string render_api_ts(const std::vector<ModuleExports>& modules) {
  Node tree;
  std::string imports;
  int count = 0, module_index = 0;
  for (const auto& m : modules) {
    if (m.exports.empty()) continue;
    const std::string alias = "m" + std::to_string(module_index++);
    imports += "import type * as " + alias + " from " +
               nlohmann::json(api_import_specifier(m.key)).dump() + ";\n";
    for (const auto& e : m.exports) {
      const std::string path = function_path(m.key, e.name);
      auto segments = split_path(path);
      Node* n = &tree;
      for (std::size_t i = 1; i < segments.size(); i++) {  // segments[0] is "api"
        if (n->leaf)
          throw ProjectError("two functions clash in api.ts: " + path + " (stopgap/" + m.key +
                             " export " + e.name + ") is inside " + n->path + " (" + where(*n) +
                             "): rename one of them");
        auto& child = n->children[segments[i]];
        if (!child) child = std::make_unique<Node>();
        n = child.get();
      }
      if (n->leaf)
        throw ProjectError("two functions have the path " + path + ": " + where(*n) + " and stopgap/" +
                           m.key + " export " + e.name + ": rename one of them");
      if (!n->children.empty())
        throw ProjectError("two functions clash in api.ts: " + path + " (stopgap/" + m.key +
                           " export " + e.name + ") is also the prefix of " +
                           any_leaf(*n)->path + " (" + where(*any_leaf(*n)) +
                           "): rename one of them");
      n->leaf = true;
      n->path = path;
      n->module = m.key;
      n->export_name = e.name;
      n->alias = alias;
      count++;
    }
  }
  std::string out =
      "// Generated by `stopgap types` from the modules under stopgap/: do not edit (run it again).\n"
      "// api.<module path>.<export> is a reference to each query(...)/mutation(...) export, carrying\n"
      "// its argument and result types: call(client, api.users.profile.get, { id: 1 }) from\n"
      "// \"@stopgap/runtime/client\" runs it through stopgap.call_fn.\n";
  if (count == 0) return out + "\nexport const api = {} as const;\n";
  out += "import { fnRef } from \"@stopgap/runtime/client\";\n";
  out += imports;
  out += "\nexport const api = {\n";
  render(tree, 1, &out);
  out += "} as const;\n";
  return out;
}

TypesResult write_api_types(FileSystem& fs, const std::string& root) {
  auto modules = scan_project_exports(fs, root);
  std::string text = render_api_ts(modules);
  TypesResult r;
  r.file = kApiFile;
  for (const auto& m : modules)
    for (const auto& e : m.exports)
      r.functions.push_back({{"path", function_path(m.key, e.name)},
                             {"module", m.key},
                             {"export", e.name},
                             {"kind", e.kind}});
  const std::string dir = path_join(root, "stopgap/_generated");
  const std::string file = path_join(root, kApiFile);
  try {
    if (!fs.is_dir(dir)) fs.make_dir(dir);
    auto old = fs.read(file);
    if (!old || *old != text) {
      fs.write(file, text);
      r.changed = true;
    }
  } catch (const FsError& e) {
    throw ProjectError(e.what());
  }
  return r;
}

}  // namespace stopgap::cli
