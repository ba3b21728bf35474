#include "extensions/plts/parse/data_url.h"

#include <optional>

#include "extensions/plts/parse/base64.h"
#include "extensions/plts/parse/parse_error.h"

namespace plts {

namespace {

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string data_url_code(const std::string& url) {
  if (url.rfind("data:", 0) != 0) throw ParseError("malformed data: URL import (no data: scheme)");
  size_t comma = url.find(',');
  if (comma == std::string::npos) throw ParseError("malformed data: URL import (no comma)");
  std::string meta = url.substr(5, comma - 5), payload = url.substr(comma + 1), code;
  bool b64 = meta.size() >= 7 && meta.compare(meta.size() - 7, 7, ";base64") == 0;
  std::string mime = b64 ? meta.substr(0, meta.size() - 7) : meta;
  if (size_t semi = mime.find(';'); semi != std::string::npos) mime = mime.substr(0, semi);
  // The type reaches the message as a C string, where a NUL would cut it short.
  if (mime.find('\0') != std::string::npos)
    throw ParseError("malformed data: URL import (a NUL character in its media type)");
  if (!mime.empty() && mime != "text/javascript" && mime != "application/javascript")
    throw ParseError("data: URL import of type \"" + mime +
                     "\": only JavaScript modules can be imported");
  if (b64) {
    std::optional<std::string> decoded = base64_decode(payload);
    if (!decoded) throw ParseError("malformed base64 in data: URL import");
    return *decoded;
  }
  for (size_t i = 0; i < payload.size(); i++) {
    if (payload[i] == '%' && i + 2 < payload.size() && hexval(payload[i + 1]) >= 0 &&
        hexval(payload[i + 2]) >= 0) {
      code.push_back(static_cast<char>(hexval(payload[i + 1]) * 16 + hexval(payload[i + 2])));
      i += 2;
    } else {
      code.push_back(payload[i]);
    }
  }
  return code;
}

}  // namespace plts
