// Every version of each extension in the repository's sql/ directory reaches the control file's
// default_version through update scripts (issue 15: "Keep a test that every future version has an
// update script from the previous one"). Versions come from the file names: an install script
// <ext>--<v>.sql offers v; an update script <ext>--<a>--<b>.sql offers a and b and the step a -> b.
// A new default_version (say 0.3.0) without a chain of update scripts from every older version
// (say <ext>--0.2.0--0.3.0.sql) fails here, as does an update script to a version that cannot
// reach the default. PLTS_SQL_DIR is the repository's sql/ directory (set in CMakeLists.txt).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <cctype>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

struct ExtensionScripts {
  std::string default_version;
  std::set<std::string> installable;                     // versions with an install script
  std::map<std::string, std::set<std::string>> updates;  // from -> to
};

// Sorts file names of one sql/ directory into extensions. Returns the problems it meets (names
// that look like scripts but cannot be read as one).
// "<ext>--<version>.sql" -> {ext, version}; "<ext>--<from>--<to>.sql" -> {ext, from, to}; {} when
// the name is neither: ext is letters, digits and '_', a version is non-empty and neither begins
// nor ends with '-' (so that "--" separates). No std::regex: libstdc++'s trips -Wmaybe-uninitialized
// in the sanitizer build.
std::vector<std::string> script_parts(const std::string& f) {
  const std::string suffix = ".sql";
  if (f.size() <= suffix.size() || f.compare(f.size() - suffix.size(), suffix.size(), suffix) != 0) return {};
  std::string stem = f.substr(0, f.size() - suffix.size());
  std::vector<std::string> parts;
  for (size_t from = 0;;) {
    size_t at = stem.find("--", from);
    parts.push_back(stem.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) break;
    from = at + 2;
  }
  if (parts.size() < 2 || parts.size() > 3) return {};
  for (char c : parts[0])
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return {};
  for (const auto& p : parts)
    if (p.empty() || p.front() == '-' || p.back() == '-') return {};
  return parts;
}

std::vector<std::string> classify(const std::vector<std::string>& files,
                                  std::map<std::string, ExtensionScripts>& out) {
  std::vector<std::string> problems;
  for (const auto& f : files) {
    std::vector<std::string> p = script_parts(f);
    if (p.size() == 3) {
      out[p[0]].updates[p[1]].insert(p[2]);
    } else if (p.size() == 2) {
      out[p[0]].installable.insert(p[1]);
    } else if (f.size() > 4 && f.substr(f.size() - 4) == ".sql") {
      problems.push_back(f + ": not <ext>--<version>.sql nor <ext>--<from>--<to>.sql");
    }
  }
  return problems;
}

// The problems of one extension's scripts: a version that does not reach the default version by
// update scripts, or a default version that cannot be installed at all.
std::vector<std::string> missing_paths(const std::string& ext, const ExtensionScripts& s) {
  std::vector<std::string> problems;
  if (s.default_version.empty()) {
    problems.push_back(ext + ": no default_version (sql/" + ext + ".control)");
    return problems;
  }
  std::set<std::string> versions = s.installable;
  for (const auto& [from, tos] : s.updates) {
    versions.insert(from);
    versions.insert(tos.begin(), tos.end());
  }
  auto reaches_default = [&](const std::string& start) {
    std::set<std::string> seen{start};
    std::vector<std::string> todo{start};
    while (!todo.empty()) {
      std::string v = todo.back();
      todo.pop_back();
      if (v == s.default_version) return true;
      auto it = s.updates.find(v);
      if (it == s.updates.end()) continue;
      for (const auto& next : it->second)
        if (seen.insert(next).second) todo.push_back(next);
    }
    return false;
  };
  bool default_installable = false;
  for (const auto& v : versions) {
    if (!reaches_default(v)) {
      problems.push_back(ext + " " + v + ": no chain of update scripts to the default version " +
                         s.default_version + " (add sql/" + ext + "--" + v + "--<next>.sql)");
    } else if (s.installable.count(v)) {
      default_installable = true;
    }
  }
  if (!default_installable)
    problems.push_back(ext + " " + s.default_version +
                       ": the default version has no install script and no install script's "
                       "version reaches it");
  return problems;
}

std::string default_version_of(const fs::path& control) {
  // default_version = '<v>'   (white space around, an optional # comment after)
  std::ifstream in(control);
  std::string l;
  const std::string key = "default_version";
  while (std::getline(in, l)) {
    size_t i = l.find_first_not_of(" \t");
    if (i == std::string::npos || l.compare(i, key.size(), key) != 0) continue;
    i = l.find_first_not_of(" \t", i + key.size());
    if (i == std::string::npos || l[i] != '=') continue;
    i = l.find_first_not_of(" \t", i + 1);
    if (i == std::string::npos || l[i] != '\'') continue;
    size_t end = l.find('\'', i + 1);
    if (end == std::string::npos) continue;
    size_t rest = l.find_first_not_of(" \t", end + 1);
    if (rest != std::string::npos && l[rest] != '#') continue;
    return l.substr(i + 1, end - i - 1);
  }
  return "";
}

std::vector<std::string> problems_of(const std::vector<std::string>& files,
                                     const std::map<std::string, std::string>& defaults) {
  std::map<std::string, ExtensionScripts> exts;
  auto problems = classify(files, exts);
  for (const auto& [ext, def] : defaults) exts[ext].default_version = def;
  for (const auto& [ext, s] : exts) {
    auto p = missing_paths(ext, s);
    problems.insert(problems.end(), p.begin(), p.end());
  }
  return problems;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

TEST(UpdatePath, RepositoryScriptsReachTheDefaultVersion) {
  // PLTS_SQL_DIR in the environment checks another copy of the directory (e.g. a future release's).
  const char* other = std::getenv("PLTS_SQL_DIR");
  const fs::path dir = other && *other ? other : PLTS_SQL_DIR;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::vector<std::string> files;
  std::map<std::string, std::string> defaults;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".control")
      defaults[e.path().stem().string()] = default_version_of(e.path());
    else
      files.push_back(name);
  }
  ASSERT_EQ(defaults.count("plts"), 1u);
  ASSERT_EQ(defaults.count("stopgap"), 1u);
  ASSERT_NE(std::find(files.begin(), files.end(), "plts--0.1.0.sql"), files.end())
      << "the released 0.1.0 install script";
  ASSERT_NE(std::find(files.begin(), files.end(), "stopgap--0.1.0.sql"), files.end())
      << "the released 0.1.0 install script";
  auto problems = problems_of(files, defaults);
  EXPECT_TRUE(problems.empty()) << join(problems);
}

// The check itself, on made-up directories.
TEST(UpdatePath, ChainOfUpdateScripts) {
  EXPECT_TRUE(problems_of({"x--0.1.0.sql", "x--0.1.0--0.2.0.sql"}, {{"x", "0.2.0"}}).empty());
  EXPECT_TRUE(
      problems_of({"x--0.1.0.sql", "x--0.1.0--0.2.0.sql", "x--0.2.0--0.3.0.sql"}, {{"x", "0.3.0"}})
          .empty());
  // A full script for the new version beside the old ones, and a direct jump.
  EXPECT_TRUE(problems_of({"x--0.1.0.sql", "x--0.1.0--0.3.0.sql", "x--0.2.0.sql",
                           "x--0.2.0--0.3.0.sql", "x--0.3.0.sql"},
                          {{"x", "0.3.0"}})
                  .empty());
  EXPECT_TRUE(problems_of({"x--1.0-beta.sql", "x--1.0-beta--1.0.sql"}, {{"x", "1.0"}}).empty());
}

TEST(UpdatePath, ANewVersionWithoutUpdateScriptFails) {
  // default_version moved to 0.3.0 but nobody wrote 0.2.0--0.3.0.
  auto p = problems_of({"x--0.1.0.sql", "x--0.1.0--0.2.0.sql"}, {{"x", "0.3.0"}});
  ASSERT_EQ(p.size(), 3u) << join(p);
  EXPECT_NE(p[0].find("x 0.1.0: no chain"), std::string::npos) << p[0];
  EXPECT_NE(p[1].find("x 0.2.0: no chain"), std::string::npos) << p[1];
  EXPECT_NE(p[2].find("x 0.3.0: the default version has no install script"), std::string::npos);
  // A full 0.3.0 install script does not excuse the missing update from 0.2.0.
  p = problems_of({"x--0.1.0.sql", "x--0.1.0--0.2.0.sql", "x--0.3.0.sql"}, {{"x", "0.3.0"}});
  EXPECT_EQ(p.size(), 2u) << join(p);
  // An update script to a version past the default.
  p = problems_of({"x--0.1.0.sql", "x--0.1.0--0.2.0.sql", "x--0.2.0--0.3.0.sql"}, {{"x", "0.2.0"}});
  ASSERT_EQ(p.size(), 1u) << join(p);
  EXPECT_NE(p[0].find("x 0.3.0: no chain"), std::string::npos) << p[0];
}

TEST(UpdatePath, MissingDefaultAndOddNames) {
  auto p = problems_of({"y--0.1.0.sql"}, {});
  ASSERT_EQ(p.size(), 1u) << join(p);
  EXPECT_NE(p[0].find("no default_version"), std::string::npos);
  p = problems_of({"x--0.1.0.sql", "x.sql", "x--0.1.0--0.2.0.sql"}, {{"x", "0.2.0"}});
  ASSERT_EQ(p.size(), 1u) << join(p);
  EXPECT_NE(p[0].find("x.sql"), std::string::npos);
  // Files that are not scripts (control files are read apart, READMEs) are not versions.
  EXPECT_TRUE(problems_of({"x--0.1.0.sql", "README.md"}, {{"x", "0.1.0"}}).empty());
}

}  // namespace
