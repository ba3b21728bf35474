#include "cli/fs.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace stopgap::cli {

namespace stdfs = std::filesystem;

bool RealFs::is_dir(const std::string& path) const {
  std::error_code ec;
  return stdfs::is_directory(path, ec);
}

bool RealFs::is_file(const std::string& path) const {
  std::error_code ec;
  return stdfs::is_regular_file(path, ec);
}

std::optional<std::string> RealFs::read(const std::string& path) const {
  if (!is_file(path)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return s.str();
}

std::vector<std::string> RealFs::list(const std::string& dir) const {
  std::vector<std::string> names;
  std::error_code ec;
  for (stdfs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void RealFs::write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw FsError("cannot write " + path);
}

void RealFs::make_dir(const std::string& path) {
  std::error_code ec;
  stdfs::create_directory(path, ec);
  if (ec) throw FsError("cannot create directory " + path + ": " + ec.message());
}

std::string path_join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::string path_dirname(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::optional<std::string> path_normalize(const std::string& path) {
  bool absolute = !path.empty() && path[0] == '/';
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= path.size()) {
    auto j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string seg = path.substr(i, j - i);
    if (seg == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    i = j + 1;
  }
  std::string out = absolute ? "/" : "";
  for (std::size_t k = 0; k < parts.size(); k++) out += (k ? "/" : "") + parts[k];
  return out;
}

std::optional<std::string> path_relative(const std::string& base, const std::string& path) {
  if (path == base) return "";
  std::string prefix = base.empty() || base.back() == '/' ? base : base + "/";
  if (!starts_with(path, prefix)) return std::nullopt;
  return path.substr(prefix.size());
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace stopgap::cli
