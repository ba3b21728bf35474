// The little of a file system the CLI needs, behind an interface so that project discovery,
// payload building and npm resolution are tested over an in-memory tree (memory_fs.h).
// Paths are '/'-separated strings; the CLI works with absolute ones.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace stopgap::cli {

struct FileSystem {
  virtual ~FileSystem() = default;
  virtual bool is_dir(const std::string& path) const = 0;
  virtual bool is_file(const std::string& path) const = 0;
  // The file's bytes, or nullopt when it cannot be read.
  virtual std::optional<std::string> read(const std::string& path) const = 0;
  // Names of a directory's entries, sorted bytewise.
  virtual std::vector<std::string> list(const std::string& dir) const = 0;
  // Both throw FsError on failure.
  virtual void write(const std::string& path, const std::string& text) = 0;
  virtual void make_dir(const std::string& path) = 0;
};

struct FsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The process's real file system.
class RealFs : public FileSystem {
 public:
  bool is_dir(const std::string& path) const override;
  bool is_file(const std::string& path) const override;
  std::optional<std::string> read(const std::string& path) const override;
  std::vector<std::string> list(const std::string& dir) const override;
  void write(const std::string& path, const std::string& text) override;
  void make_dir(const std::string& path) override;
};

// Path text helpers (no file system access).
std::string path_join(const std::string& dir, const std::string& name);
std::string path_dirname(const std::string& path);  // "a/b" -> "a", "a" -> "", "/a" -> "/"
// Resolves "." and ".." segments and repeated '/'; nullopt when ".." climbs above the start of a
// relative path or above "/".
std::optional<std::string> path_normalize(const std::string& path);
// path relative to base when path is base or below it, else nullopt.
std::optional<std::string> path_relative(const std::string& base, const std::string& path);
bool ends_with(const std::string& s, const std::string& suffix);
bool starts_with(const std::string& s, const std::string& prefix);

}  // namespace stopgap::cli
