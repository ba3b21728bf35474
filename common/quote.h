// Identifier and literal quoting for the few places where C++ builds SQL text.
#pragma once

#include <string>

namespace pgx {

// Quotes an identifier when PostgreSQL needs it (same rules as quote_ident()).
std::string quote_ident(const std::string& ident);

// Quotes a schema-qualified name: "schema"."name".
std::string quote_qualified(const std::string& schema, const std::string& name);

}  // namespace pgx
