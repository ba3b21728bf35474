// Shared by the fuzz targets: invariant checks that abort (libFuzzer then saves the input), and
// reference encoders the targets round-trip through.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

// fputs, not fprintf: PostgreSQL's port.h (in the JSON text target) redefines the printf family.
#define FUZZ_CHECK(cond)                                                     \
  do {                                                                       \
    if (!(cond)) fuzz::fail(__FILE__, __LINE__, "invariant failed: " #cond); \
  } while (0)

#define FUZZ_FAIL(message) fuzz::fail(__FILE__, __LINE__, message)

namespace fuzz {

[[noreturn]] inline void fail(const char* file, int line, const std::string& message) {
  std::string text = std::string(file) + ":" + std::to_string(line) + ": " + message + "\n";
  std::fputs(text.c_str(), stderr);
  std::abort();
}

inline bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// s split at every sep (n separators: n + 1 parts, empty ones kept).
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

// Base64 of data (RFC 4648), in the standard or URL alphabet, with or without '=' padding.
inline std::string base64_encode(std::string_view data, bool url_alphabet, bool pad) {
  const char* digits = url_alphabet
                           ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                           : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(data[i]) << 16) |
                 (static_cast<unsigned char>(data[i + 1]) << 8) |
                 static_cast<unsigned char>(data[i + 2]);
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    out += digits[(v >> 6) & 63];
    out += digits[v & 63];
  }
  size_t rest = data.size() - i;
  if (rest > 0) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    if (rest == 2) out += digits[(v >> 6) & 63];
    if (pad) out += rest == 2 ? "=" : "==";
  }
  return out;
}

// Every byte as %XX.
inline std::string percent_encode(std::string_view data) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : data) {
    auto u = static_cast<unsigned char>(c);
    out += '%';
    out += hex[u >> 4];
    out += hex[u & 15];
  }
  return out;
}

}  // namespace fuzz
