// Base64 as data: URLs and source maps use it. PostgreSQL-free.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace plts {

// The value of a base64 digit (standard alphabet), or -1.
int base64_digit(char c);

// Decodes base64 in the standard or the URL alphabet; decoding stops at the first '=' and bits
// that do not fill a byte are dropped. nullopt when a character is not a base64 digit.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace plts
