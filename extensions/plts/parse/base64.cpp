#include "extensions/plts/parse/base64.h"

namespace plts {

int base64_digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 4 * 3 + 3);
  // Only the bits not yet written are kept: at most 6 + 7 of them (a signed int that kept them all
  // overflowed after five digits).
  unsigned val = 0;
  int bits = -8;
  for (char c : in) {
    if (c == '=') break;
    int d = base64_digit(c);
    if (c == '-') d = 62;
    if (c == '_') d = 63;
    if (d < 0) return std::nullopt;
    val = ((val << 6) | static_cast<unsigned>(d)) & 0x3fffu;
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

}  // namespace plts
