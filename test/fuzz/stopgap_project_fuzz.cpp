// The pure rules of a project deployed as files (extensions/stopgap/project_logic.cpp), shared by
// stopgap.deploy_project and the stopgap CLI, over untrusted file names and import specifiers. The
// input is split at \x1e (ASCII record separator) into
//   0 a file key | 1 an import specifier | 2 an export name | 3 more file keys, one per line |
//   4 imports, a "file<TAB>specifier" per line | 5 resolutions, a "file<TAB>specifier<TAB>target" per line
// Nothing throws; what is accepted keeps the rules the server relies on.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "extensions/stopgap/project_logic.h"
#include "test/fuzz/fuzz_check.h"

namespace {

namespace pj = stopgap::project;

using fuzz::split;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A key the server accepts names a module file inside the project.
void check_key(const std::string& key) {
  if (pj::key_problem(key)) return;
  FUZZ_CHECK(!key.empty() && key[0] != '/');
  FUZZ_CHECK(key.find('\\') == std::string::npos && !fuzz::has_nul(key));
  FUZZ_CHECK(key.find("//") == std::string::npos);
  for (const std::string& seg : split(key, '/')) FUZZ_CHECK(seg != "." && seg != ".." && !seg.empty());
  FUZZ_CHECK(ends_with(key, ".ts") || ends_with(key, ".mts") || ends_with(key, ".js") || ends_with(key, ".mjs"));
  FUZZ_CHECK(!ends_with(key, ".d.ts") && !ends_with(key, ".d.mts"));
  for (unsigned char c : key) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
  if (pj::is_package_file(key)) return;
  // An own module's name becomes part of SQL function names: only [A-Za-z0-9_] after mapping.
  const std::string live = pj::live_function_name(key, "x");
  for (unsigned char c : live)
    FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
  const std::string path = pj::function_path(key, "x");
  FUZZ_CHECK(path.rfind("api.", 0) == 0 && ends_with(path, ".x"));
  if (live.size() > 63) FUZZ_CHECK(pj::live_name_problem(live).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> f = split(input, '\x1e');
  f.resize(6);
  const std::string &key = f[0], &spec = f[1], &name = f[2];

  check_key(key);
  (void)pj::is_node_builtin(spec);
  if (pj::is_node_builtin(spec)) FUZZ_CHECK(!pj::is_relative(spec));
  (void)pj::function_path(key, name);
  (void)pj::live_name_problem(pj::live_function_name(key, name));

  std::set<std::string> keys;
  if (!pj::key_problem(key)) keys.insert(key);
  for (const std::string& k : split(f[3], '\n')) {
    check_key(k);
    if (!pj::key_problem(k)) keys.insert(k);
  }
  if (pj::is_relative(spec) && !keys.empty()) {
    bool escapes = false;
    std::optional<std::string> target = pj::resolve_relative(*keys.begin(), spec, keys, &escapes);
    if (target) FUZZ_CHECK(keys.count(*target) == 1 && !escapes);
  }

  // Linking: every import of a file is resolved to a file of the set, reported, or plts's own.
  std::map<std::string, std::vector<std::string>> imports;
  for (const std::string& k : keys) imports[k];
  for (const std::string& line : split(f[4], '\n')) {
    std::vector<std::string> parts = split(line, '\t');
    if (parts.size() == 2 && keys.count(parts[0])) imports[parts[0]].push_back(parts[1]);
  }
  std::map<std::string, std::map<std::string, std::string>> resolve;
  for (const std::string& line : split(f[5], '\n')) {
    std::vector<std::string> parts = split(line, '\t');
    if (parts.size() == 3) resolve[parts[0]][parts[1]] = parts[2];
  }
  pj::Link link = pj::link_files(imports, resolve);
  for (const auto& [file, specs] : imports) {
    const auto& targets = link.targets[file];
    size_t problems = link.problems.count(file) ? link.problems.at(file).size() : 0;
    size_t unresolved = 0;
    std::set<std::string> distinct(specs.begin(), specs.end());
    for (const std::string& s : distinct) {
      if (s == "@stopgap/runtime") continue;
      auto t = targets.find(s);
      if (t == targets.end())
        unresolved++;
      else
        FUZZ_CHECK(keys.count(t->second) == 1);
    }
    FUZZ_CHECK(problems >= unresolved);
  }
  std::map<std::string, std::vector<std::string>> exports;
  for (const std::string& k : keys)
    if (!pj::is_package_file(k)) exports[k].push_back(name.empty() ? "x" : name);
  (void)pj::live_name_collisions(exports);
  return 0;
}
