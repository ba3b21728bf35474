#include "extensions/plts/source_map.h"

#include <climits>

#include <nlohmann/json.hpp>

#include "extensions/plts/parse/base64.h"

namespace plts {

void SourceMap::decode() {
  decoded_ = true;
  std::string mappings;
  try {
    nlohmann::json j = nlohmann::json::parse(text_);
    mappings = j.value("mappings", "");
  } catch (...) {
    return;
  }
  // Fields are base64 VLQ deltas: generated column (reset per line), source index, source line,
  // source column, name index. A map is malformed where a value needs more than 32 bits or a
  // position leaves [0, INT_MAX) (sums are kept in 64 bits, so a hostile map cannot overflow them).
  auto in_range = [](long long v) { return v >= 0 && v < INT_MAX; };
  long long src_line = 0, src_col = 0, gen_col = 0;
  lines_.emplace_back();
  size_t i = 0;
  while (i < mappings.size()) {
    char c = mappings[i];
    if (c == ';') {
      lines_.emplace_back();
      gen_col = 0;
      i++;
      continue;
    }
    if (c == ',') {
      i++;
      continue;
    }
    long long fields[5] = {0, 0, 0, 0, 0};
    int n = 0;
    while (i < mappings.size() && mappings[i] != ',' && mappings[i] != ';') {
      long long value = 0;
      int shift = 0, d = 0;
      do {
        if (i >= mappings.size() || (d = base64_digit(mappings[i++])) < 0 || shift > 30) {
          lines_.clear();
          return;
        }
        value += static_cast<long long>(d & 31) << shift;
        shift += 5;
      } while (d & 32);
      if (n < 5) fields[n] = (value & 1) ? -(value >> 1) : (value >> 1);
      n++;
    }
    gen_col += fields[0];
    if (n >= 4) {
      src_line += fields[2];
      src_col += fields[3];
      if (!in_range(gen_col) || !in_range(src_line) || !in_range(src_col)) {
        lines_.clear();
        return;
      }
      lines_.back().push_back(
          {static_cast<int>(gen_col), static_cast<int>(src_line), static_cast<int>(src_col)});
    }
  }
}

bool SourceMap::lookup(int line, int column, int* src_line, int* src_column) {
  if (!decoded_) decode();
  if (line < 1 || line > static_cast<int>(lines_.size())) return false;
  const auto& segs = lines_[line - 1];
  const Segment* best = nullptr;
  for (const auto& s : segs)
    if (s.gen_col < column) best = &s;  // gen_col is 0-based; not column - 1: INT_MIN
  if (best == nullptr && !segs.empty()) best = &segs.front();
  if (best == nullptr) return false;
  *src_line = best->src_line + 1;
  *src_column = best->src_col + 1;
  return true;
}

}  // namespace plts
