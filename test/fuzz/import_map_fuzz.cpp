// The inline `// plts-import-map: {...}` comment: any module code gives a map of strings or a
// ParseError naming the module, never a nlohmann exception; a parsed map written back as a
// comment parses to the same map.
#include <cstddef>
#include <cstdint>

#include "extensions/plts/parse/import_map.h"
#include "extensions/plts/parse/parse_error.h"
#include "test/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string code(reinterpret_cast<const char*>(data), size);
  nlohmann::json map;
  try {
    map = plts::import_map_comment(code, "public.f");
  } catch (const plts::ParseError& e) {
    FUZZ_CHECK(e.message().find("public.f") != std::string::npos);
    FUZZ_CHECK(!fuzz::has_nul(e.message()));
    return 0;
  } catch (const nlohmann::json::exception& e) {
    FUZZ_FAIL(std::string("a nlohmann exception escaped the import map parser: ") + e.what());
  }
  FUZZ_CHECK(map.is_object());
  if (code.find("// plts-import-map:") == std::string::npos) FUZZ_CHECK(map.empty());
  for (auto& [k, v] : map.items()) {
    FUZZ_CHECK(!fuzz::has_nul(k));
    FUZZ_CHECK(v.is_string() && !fuzz::has_nul(v.get_ref<const std::string&>()));
  }
  std::string again = "export {};\n// plts-import-map: " + map.dump() + "\n";
  FUZZ_CHECK(plts::import_map_comment(again, "public.f") == map);
  return 0;
}
