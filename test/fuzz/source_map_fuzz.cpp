// Source maps (stored with artifacts, used to map JS stack frames to TypeScript): any map text and
// any position never crash, and a mapped position is always a valid 1-based line and column.
// Input starting with '{' is a whole map; anything else is used as its "mappings" field.
#include <climits>
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "extensions/plts/source_map.h"
#include "test/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  std::string text = in;
  bool mappings_only = in.empty() || in[0] != '{';
  int lines = 1;  // generated lines the mappings describe
  if (mappings_only) {
    nlohmann::json j = {{"version", 3},
                        {"sources", {"f.ts"}},
                        {"names", nlohmann::json::array()},
                        {"mappings", in}};
    text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    for (char c : in) lines += c == ';';
  }
  plts::SourceMap map(text);
  const int columns[] = {INT_MIN, -1, 0, 1, 2, 7, 40, 1000, INT_MAX};
  for (int line : {INT_MIN, -1, 0, 1, 2, 3, lines - 1, lines, lines + 1, INT_MAX}) {
    for (int col : columns) {
      int sl = 0, sc = 0;
      if (map.lookup(line, col, &sl, &sc)) {
        FUZZ_CHECK(line >= 1);
        if (mappings_only) FUZZ_CHECK(line <= lines);
        FUZZ_CHECK(sl >= 1 && sc >= 1);
      }
    }
  }
  return 0;
}
