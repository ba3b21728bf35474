// An in-memory FileSystem for tests: files by absolute path; directories are those holding a file
// plus those made explicitly.
#pragma once

#include <map>
#include <set>

#include "cli/fs.h"

namespace stopgap::cli {

class MemoryFs : public FileSystem {
 public:
  MemoryFs() = default;
  MemoryFs(std::initializer_list<std::pair<const std::string, std::string>> files) {
    for (auto& [path, text] : files) add(path, text);
  }
  void add(const std::string& path, const std::string& text) {
    files_[path] = text;
    for (auto d = path_dirname(path); !d.empty(); d = path_dirname(d)) {
      dirs_.insert(d);
      if (d == "/") break;
    }
  }
  const std::map<std::string, std::string>& files() const { return files_; }

  bool is_dir(const std::string& path) const override { return dirs_.count(path) > 0; }
  bool is_file(const std::string& path) const override { return files_.count(path) > 0; }
  std::optional<std::string> read(const std::string& path) const override {
    auto it = files_.find(path);
    if (it == files_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> list(const std::string& dir) const override {
    std::set<std::string> names;
    std::string prefix = dir == "/" ? "/" : dir + "/";
    auto take = [&](const std::string& p) {
      if (p.size() > prefix.size() && starts_with(p, prefix)) {
        auto rest = p.substr(prefix.size());
        names.insert(rest.substr(0, rest.find('/')));
      }
    };
    for (auto& [p, _] : files_) take(p);
    for (auto& d : dirs_) take(d);
    return {names.begin(), names.end()};
  }
  void write(const std::string& path, const std::string& text) override {
    if (!is_dir(path_dirname(path))) throw FsError("cannot write " + path + ": no such directory");
    if (is_dir(path)) throw FsError("cannot write " + path + ": a directory");
    files_[path] = text;
  }
  void make_dir(const std::string& path) override {
    if (is_file(path)) throw FsError("cannot create directory " + path + ": a file");
    add_dir(path);
  }
  void add_dir(const std::string& path) {
    for (auto d = path; !d.empty(); d = path_dirname(d)) {
      dirs_.insert(d);
      if (d == "/") break;
    }
  }

 private:
  std::map<std::string, std::string> files_;
  std::set<std::string> dirs_;
};

}  // namespace stopgap::cli
