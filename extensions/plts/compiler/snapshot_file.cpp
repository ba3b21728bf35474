#include "extensions/plts/compiler/snapshot_file.h"

#include <cstdio>
#include <cstring>

namespace plts {

namespace {
constexpr char kMagic[] = "PLTS-COMPILER-SNAPSHOT 1";
}

bool is_compiler_lib(const std::string& name) {
  if (name.rfind("lib.", 0) != 0 || name.size() < 5 ||
      name.compare(name.size() - 5, 5, ".d.ts") != 0)
    return false;
  if (name.find("full") != std::string::npos) return false;
  if (name.rfind("lib.decorators", 0) == 0 || name == "lib.es5.d.ts") return true;
  for (int y = 2015; y <= 2022; y++)
    if (name.rfind("lib.es" + std::to_string(y), 0) == 0) return true;
  return false;
}

uint64_t content_hash(const char* data, size_t len) {
  // Four independent multiply-xor lanes over 32-byte blocks (fast enough to check a ~15 MB blob in
  // about a millisecond), folded together, then the tail bytes.
  const uint64_t k = 0x9E3779B97F4A7C15ull;
  uint64_t h[4] = {len ^ 0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 0xA4093822299F31D0ull,
                   0x082EFA98EC4E6C89ull};
  size_t i = 0;
  for (; i + 32 <= len; i += 32) {
    for (int lane = 0; lane < 4; lane++) {
      uint64_t w;
      memcpy(&w, data + i + 8 * lane, 8);
      h[lane] = (h[lane] ^ w) * k;
      h[lane] ^= h[lane] >> 31;
    }
  }
  uint64_t out = h[0];
  for (int lane = 1; lane < 4; lane++) out = (out ^ h[lane]) * k, out ^= out >> 29;
  for (; i < len; i++) out = (out ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
  return out;
}

std::string snapshot_file_contents(const std::string& v8_version, const char* blob, size_t len) {
  char header[256];
  snprintf(header, sizeof header, "%s\nv8 %s\nlength %zu\nhash %016llx\n\n", kMagic,
           v8_version.c_str(), len, static_cast<unsigned long long>(content_hash(blob, len)));
  std::string out(header);
  out.append(blob, len);
  return out;
}

std::string check_snapshot_file(const char* data, size_t size, const std::string& v8_version,
                                const char** blob, size_t* len) {
  std::string head(data, size < 512 ? size : 512);
  size_t end = head.find("\n\n");
  if (end == std::string::npos || head.compare(0, strlen(kMagic), kMagic) != 0)
    return "not a plts compiler snapshot";
  std::string header = head.substr(0, end);
  char version[128] = {0};
  size_t length = 0;
  unsigned long long hash = 0;
  const char* p = header.c_str() + strlen(kMagic);
  if (sscanf(p, "\nv8 %127s\nlength %zu\nhash %llx", version, &length, &hash) != 3)
    return "malformed snapshot header";
  if (v8_version != version)
    return "made for V8 " + std::string(version) + ", this is V8 " + v8_version;
  size_t start = end + 2;
  if (size - start != length) return "truncated snapshot";
  if (content_hash(data + start, length) != hash) return "snapshot content hash mismatch";
  *blob = data + start;
  *len = length;
  return "";
}

}  // namespace plts
