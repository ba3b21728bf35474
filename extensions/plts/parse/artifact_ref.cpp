#include "extensions/plts/parse/artifact_ref.h"

namespace plts {

namespace {

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::string normalize_artifact_ref(const std::string& ref) {
  std::string r = ref;
  if (r.rfind("plts+artifact:", 0) == 0) r = r.substr(14);
  if (r.rfind("sha256:", 0) == 0 && is_hex64(r.substr(7))) return r;
  return "";
}

}  // namespace plts
