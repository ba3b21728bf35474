// base64_decode (data: URL imports): arbitrary text never crashes; its output length follows from
// its input; decoding what a reference encoder wrote gives the bytes back, in both alphabets.
#include <cstddef>
#include <cstdint>

#include "extensions/plts/parse/base64.h"
#include "test/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  std::optional<std::string> out = plts::base64_decode(in);
  std::string_view digits = in.substr(0, in.find('='));
  bool all_digits = true;
  for (char c : digits) all_digits &= plts::base64_digit(c) >= 0 || c == '-' || c == '_';
  FUZZ_CHECK(out.has_value() == all_digits);
  if (out) FUZZ_CHECK(out->size() == digits.size() * 6 / 8);

  for (bool url : {false, true})
    for (bool pad : {false, true}) {
      std::optional<std::string> back = plts::base64_decode(fuzz::base64_encode(in, url, pad));
      FUZZ_CHECK(back.has_value() && *back == in);
    }
  return 0;
}
