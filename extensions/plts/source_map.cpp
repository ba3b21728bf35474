#include "extensions/plts/source_map.h"

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
  // source column, name index.
  int src_line = 0, src_col = 0, gen_col = 0;
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
    int fields[5] = {0, 0, 0, 0, 0};
    int n = 0;
    while (i < mappings.size() && mappings[i] != ',' && mappings[i] != ';') {
      int value = 0, shift = 0, d = 0;
      do {
        if (i >= mappings.size() || (d = base64_digit(mappings[i++])) < 0) {
          lines_.clear();
          return;
        }
        value += (d & 31) << shift;
        shift += 5;
      } while (d & 32);
      if (n < 5) fields[n] = (value & 1) ? -(value >> 1) : (value >> 1);
      n++;
    }
    gen_col += fields[0];
    if (n >= 4) {
      src_line += fields[2];
      src_col += fields[3];
      lines_.back().push_back({gen_col, src_line, src_col});
    }
  }
}

bool SourceMap::lookup(int line, int column, int* src_line, int* src_column) {
  if (!decoded_) decode();
  if (line < 1 || line > static_cast<int>(lines_.size())) return false;
  const auto& segs = lines_[line - 1];
  const Segment* best = nullptr;
  for (const auto& s : segs)
    if (s.gen_col <= column - 1) best = &s;
  if (best == nullptr && !segs.empty()) best = &segs.front();
  if (best == nullptr) return false;
  *src_line = best->src_line + 1;
  *src_column = best->src_col + 1;
  return true;
}

}  // namespace plts
