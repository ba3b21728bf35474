// data: URL imports: arbitrary URLs never crash and fail only with a ParseError whose message is
// whole (no NUL); code sent through base64 or percent-encoding comes back byte for byte.
#include <cstddef>
#include <cstdint>

#include "extensions/plts/parse/data_url.h"
#include "extensions/plts/parse/parse_error.h"
#include "test/fuzz/fuzz_check.h"

namespace {

void try_url(const std::string& url) {
  try {
    std::string code = plts::data_url_code(url);
    size_t comma = url.find(',');
    FUZZ_CHECK(url.rfind("data:", 0) == 0 && comma != std::string::npos);
    FUZZ_CHECK(code.size() <= url.size() - comma - 1);  // decoding never grows the payload
  } catch (const plts::ParseError& e) {
    FUZZ_CHECK(!fuzz::has_nul(e.message()) && !e.message().empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  try_url(in);
  try_url("data:" + in);

  for (const char* type : {"", "text/javascript", "application/javascript;charset=utf-8"}) {
    std::string t(type);
    FUZZ_CHECK(
        plts::data_url_code("data:" + t + ";base64," + fuzz::base64_encode(in, false, true)) == in);
    FUZZ_CHECK(
        plts::data_url_code("data:" + t + ";base64," + fuzz::base64_encode(in, true, false)) == in);
    FUZZ_CHECK(plts::data_url_code("data:" + t + "," + fuzz::percent_encode(in)) == in);
  }
  return 0;
}
