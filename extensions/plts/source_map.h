// Source maps (v3): maps positions in compiled JavaScript back to the TypeScript source.
// PostgreSQL-free, unit-tested.
#pragma once

#include <string>
#include <vector>

namespace plts {

class SourceMap {
 public:
  SourceMap() = default;
  explicit SourceMap(std::string json) : text_(std::move(json)) {}

  const std::string& text() const { return text_; }

  // 1-based generated line/column -> 1-based source line/column. False when unmapped or the map
  // is malformed. Decodes the mappings on first use.
  bool lookup(int line, int column, int* src_line, int* src_column);

 private:
  struct Segment {
    int gen_col, src_line, src_col;
  };
  void decode();

  std::string text_;
  bool decoded_ = false;
  std::vector<std::vector<Segment>> lines_;  // by generated line (0-based)
};

}  // namespace plts
