// JS stack traces mapped to TypeScript positions (their text holds user-controlled error messages):
// any text never crashes, keeps its lines, hands the lookup only valid positions, and rewrites a
// line only where the lookup mapped its frame.
#include <climits>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <vector>

#include "extensions/plts/parse/stack_trace.h"
#include "test/fuzz/fuzz_check.h"

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string stack(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> in = lines_of(stack);

  // Nothing mapped: every line is kept as it is.
  std::string same = plts::map_stack_frames(stack, [](auto&&...) { return false; });
  std::string joined;
  for (size_t i = 0; i < in.size(); i++) joined += (i ? "\n" : "") + in[i];
  FUZZ_CHECK(same == joined);

  // Every other frame mapped, to a position derived from its own.
  int calls = 0;
  std::string mapped = plts::map_stack_frames(
      stack, [&](const std::string& name, int line, int col, int* sl, int* sc) {
        FUZZ_CHECK(line >= 1 && col >= 0);
        FUZZ_CHECK(name.find('\n') == std::string::npos);
        calls++;
        if ((line ^ col) & 1) return false;
        *sl = line / 2 + 1;
        *sc = col == INT_MAX ? col : col + 1;
        return true;
      });
  std::vector<std::string> out = lines_of(mapped);
  if (!in.empty() && in.back().empty()) out.emplace_back();  // "a\n\n" is lines "a", ""
  FUZZ_CHECK(out.size() == in.size());
  FUZZ_CHECK(calls <= static_cast<int>(in.size()));
  for (size_t i = 0; i < in.size(); i++)
    if (out[i] != in[i]) FUZZ_CHECK(out[i].find(".ts:") != std::string::npos);
  return 0;
}
