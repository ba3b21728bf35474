#include "common/quote.h"

#include "common/error_boundary.h"

namespace pgx {

std::string quote_ident(const std::string& ident) {
  const char* quoted = nullptr;
  pg_guard([&] { quoted = quote_identifier(ident.c_str()); });
  return quoted;
}

std::string quote_qualified(const std::string& schema, const std::string& name) {
  return quote_ident(schema) + "." + quote_ident(name);
}

}  // namespace pgx
