// Pointer stubs (a function's prosrc): any text is a stub, not a stub, or a ParseError naming the
// field, never a nlohmann exception (which would surface as XX000 with nlohmann's own message). A
// parsed stub's fields are well-formed and parse back the same when re-serialized.
#include <cstddef>
#include <cstdint>

#include "extensions/plts/parse/artifact_ref.h"
#include "extensions/plts/parse/parse_error.h"
#include "extensions/plts/parse/pointer_stub.h"
#include "test/fuzz/fuzz_check.h"

namespace {

const std::string kFn = "public.f";

void check_fields(const plts::PointerStub& s) {
  FUZZ_CHECK(!s.artifact_hash.empty() &&
             plts::normalize_artifact_ref(s.artifact_hash) == s.artifact_hash);
  FUZZ_CHECK(!s.export_name.empty() && !fuzz::has_nul(s.export_name));
  FUZZ_CHECK(s.import_map.is_object());
  for (auto& [k, v] : s.import_map.items()) {
    FUZZ_CHECK(!fuzz::has_nul(k));
    FUZZ_CHECK(v.is_string() && !fuzz::has_nul(v.get_ref<const std::string&>()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::optional<plts::PointerStub> stub;
  try {
    stub = plts::pointer_stub_of(text, kFn);
  } catch (const plts::ParseError& e) {
    FUZZ_CHECK(e.message().rfind("malformed plts pointer stub in " + kFn + ": ", 0) == 0);
    FUZZ_CHECK(!fuzz::has_nul(e.message()));
    FUZZ_CHECK(!e.hint().empty());
    return 0;
  } catch (const nlohmann::json::exception& e) {
    FUZZ_FAIL(std::string("a nlohmann exception escaped the stub parser: ") + e.what());
  }
  if (!stub) return 0;
  check_fields(*stub);

  nlohmann::json j = {{"plts", 1},
                      {"kind", "artifact_ptr"},
                      {"artifact_hash", stub->artifact_hash},
                      {"export", stub->export_name},
                      {"import_map", stub->import_map}};
  std::optional<plts::PointerStub> again = plts::pointer_stub_of(j.dump(), kFn);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->artifact_hash == stub->artifact_hash);
  FUZZ_CHECK(again->export_name == stub->export_name);
  FUZZ_CHECK(again->import_map == stub->import_map);
  return 0;
}
