#include "extensions/plts/parse/stack_trace.h"

#include <climits>
#include <sstream>

namespace plts {

namespace {

// A positive decimal int, all of s; 0 otherwise (atoi's overflow was undefined).
int position(const std::string& s) {
  if (s.empty() || s.size() > 10) return 0;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return v <= INT_MAX ? static_cast<int>(v) : 0;
}

}  // namespace

std::string map_stack_frames(const std::string& stack, const PositionLookup& lookup) {
  std::istringstream in(stack);
  std::string line, out;
  bool first = true;
  while (std::getline(in, line)) {
    std::string mapped = line;
    // "... (<name>:<line>:<col>)" or "at <name>:<line>:<col>"
    size_t end = line.size();
    if (end > 0 && line[end - 1] == ')') end--;
    size_t c2 = end == 0 ? std::string::npos : line.rfind(':', end - 1);
    size_t c1 = c2 == std::string::npos || c2 == 0 ? std::string::npos : line.rfind(':', c2 - 1);
    if (c1 != std::string::npos) {
      size_t open = line.rfind('(', c1);
      size_t at = line.rfind("at ", c1);
      size_t name_start = open != std::string::npos
                              ? open + 1
                              : (at != std::string::npos ? at + 3 : std::string::npos);
      if (name_start != std::string::npos && name_start < c1) {
        std::string name = line.substr(name_start, c1 - name_start);
        int l = position(line.substr(c1 + 1, c2 - c1 - 1));
        int c = position(line.substr(c2 + 1, end - c2 - 1));
        int sl = 0, sc = 0;
        if (l > 0 && lookup(name, l, c, &sl, &sc))
          mapped = line.substr(0, name_start) + name + ".ts:" + std::to_string(sl) + ":" +
                   std::to_string(sc) + line.substr(end);
      }
    }
    if (!first) out += "\n";
    out += mapped;
    first = false;
  }
  return out;
}

}  // namespace plts
