#include "extensions/stopgap/project_logic.h"

#include <algorithm>
#include <cctype>

namespace stopgap::project {

namespace {

constexpr const char kPackages[] = "node_modules/";
constexpr size_t kMaxIdentifierBytes = 63;  // NAMEDATALEN - 1

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) return out;
    start = slash + 1;
  }
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

const char* const kExtensions[] = {".ts", ".mts", ".js", ".mjs"};

// The key without its extension.
std::string stem(const std::string& key) {
  for (const char* ext : kExtensions)
    if (ends_with(key, ext)) return key.substr(0, key.size() - std::string(ext).size());
  return key;
}

}  // namespace

bool is_package_file(const std::string& key) { return key.rfind(kPackages, 0) == 0; }

std::optional<std::string> key_problem(const std::string& key) {
  if (key.empty()) return "an empty file name";
  if (key[0] == '/') return "an absolute path (file names are relative to stopgap/)";
  for (unsigned char c : key) {
    if (c < 0x20 || c == 0x7f) return "a control character in the file name";
    if (c == '\\') return "a backslash in the file name (use '/')";
  }
  bool known = false;
  for (const char* ext : kExtensions) known = known || ends_with(key, ext);
  if (!known || ends_with(key, ".d.ts") || ends_with(key, ".d.mts"))
    return "not a module (a module ends in .ts, .mts, .js or .mjs, and is not a .d.ts declaration)";
  const bool package = is_package_file(key);
  for (const std::string& segment : split(key)) {
    if (segment.empty() || segment == "." || segment == "..") return "an empty, \".\" or \"..\" path segment";
    if (package) continue;
    for (char c : segment)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
        return std::string("the character '") + c + "' (a module's path may hold letters, digits, '_', '-', '.' and '/')";
  }
  if (package && split(key).size() < 3) return "a file of node_modules/ outside any package";
  return std::nullopt;
}

bool is_node_builtin(const std::string& specifier) {
  if (specifier.rfind("node:", 0) == 0) return true;
  static const std::set<std::string> builtins = {
      "assert", "async_hooks", "buffer", "child_process", "cluster", "console", "constants", "crypto",
      "dgram", "diagnostics_channel", "dns", "domain", "events", "fs", "http", "http2", "https",
      "inspector", "module", "net", "os", "path", "perf_hooks", "process", "punycode", "querystring",
      "readline", "repl", "stream", "string_decoder", "sys", "timers", "tls", "trace_events", "tty",
      "url", "util", "v8", "vm", "wasi", "worker_threads", "zlib"};
  return builtins.count(specifier.substr(0, specifier.find('/'))) > 0;
}

bool is_relative(const std::string& specifier) {
  return specifier.rfind("./", 0) == 0 || specifier.rfind("../", 0) == 0;
}

std::optional<std::string> resolve_relative(const std::string& from, const std::string& specifier,
                                            const std::set<std::string>& keys, bool* escapes) {
  if (escapes != nullptr) *escapes = false;
  std::vector<std::string> path = split(from);
  path.pop_back();  // the importing file's directory
  for (const std::string& segment : split(specifier)) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (path.empty()) {
        if (escapes != nullptr) *escapes = true;
        return std::nullopt;
      }
      path.pop_back();
    } else {
      path.push_back(segment);
    }
  }
  if (path.empty()) return std::nullopt;
  const std::string base = join(path);
  std::vector<std::string> candidates = {base};
  for (const char* ext : kExtensions) candidates.push_back(base + ext);
  if (ends_with(base, ".js")) candidates.push_back(stem(base) + ".ts");
  if (ends_with(base, ".mjs")) candidates.push_back(stem(base) + ".mts");
  for (const char* ext : kExtensions) candidates.push_back(base + "/index" + ext);
  for (const std::string& c : candidates)
    if (keys.count(c) > 0) return c;
  return std::nullopt;
}

std::string function_path(const std::string& module_key, const std::string& export_name) {
  std::string out = "api";
  for (const std::string& segment : split(stem(module_key))) out += "." + segment;
  return out + "." + export_name;
}

std::string live_function_name(const std::string& module_key, const std::string& export_name) {
  std::string out = stem(module_key);
  std::replace_if(out.begin(), out.end(), [](char c) { return c == '/' || c == '-' || c == '.'; }, '_');
  return out + "_" + export_name;
}

std::optional<std::string> live_name_problem(const std::string& live_name) {
  if (live_name.size() > kMaxIdentifierBytes)
    return "its live function name \"" + live_name + "\" is longer than PostgreSQL's " +
           std::to_string(kMaxIdentifierBytes) + " bytes: shorten the module's path or the export's name";
  return std::nullopt;
}

Link link_files(const std::map<std::string, std::vector<std::string>>& imports,
                const std::map<std::string, std::map<std::string, std::string>>& resolve) {
  std::set<std::string> keys;
  for (const auto& [key, unused] : imports) keys.insert(key);
  Link out;
  for (const auto& [key, specifiers] : imports) {
    auto& targets = out.targets[key];
    const auto given = resolve.find(key);
    for (const std::string& spec : specifiers) {
      if (spec == "@stopgap/runtime") continue;
      if (is_relative(spec)) {
        bool escapes = false;
        if (std::optional<std::string> target = resolve_relative(key, spec, keys, &escapes)) {
          targets[spec] = *target;
        } else {
          out.problems[key].push_back(escapes ? "import \"" + spec + "\" leaves the project's stopgap/ directory"
                                              : "import \"" + spec + "\" names no file of the project");
        }
        continue;
      }
      if (is_node_builtin(spec)) {
        out.problems[key].push_back("import \"" + spec +
                                    "\" is a Node.js built-in module, which plts does not provide");
        continue;
      }
      const std::string* target = nullptr;
      if (given != resolve.end()) {
        auto it = given->second.find(spec);
        if (it != given->second.end()) target = &it->second;
      }
      if (target == nullptr) {
        out.problems[key].push_back("import \"" + spec + "\" is not resolved (a package is resolved from "
                                    "node_modules/ by the stopgap CLI, or named in the project's \"resolve\")");
      } else if (keys.count(*target) == 0) {
        out.problems[key].push_back("import \"" + spec + "\" resolves to \"" + *target +
                                    "\", which is not a file of the project");
      } else {
        targets[spec] = *target;
      }
    }
  }
  return out;
}

std::vector<std::string> live_name_collisions(const std::map<std::string, std::vector<std::string>>& exports) {
  std::map<std::string, std::vector<std::string>> by_name;
  for (const auto& [key, names] : exports)
    for (const std::string& name : names) by_name[live_function_name(key, name)].push_back(function_path(key, name));
  std::vector<std::string> out;
  for (const auto& [live, paths] : by_name) {
    if (paths.size() < 2) continue;
    std::string list;
    for (const std::string& p : paths) list += (list.empty() ? "" : ", ") + p;
    out.push_back("functions " + list + " would all be the live function \"" + live + "\": rename one");
  }
  return out;
}

}  // namespace stopgap::project
