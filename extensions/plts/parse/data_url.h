// `data:` URL imports: data:[<media type>][;base64],<payload>. PostgreSQL-free.
#pragma once

#include <string>

namespace plts {

// The JavaScript code a data: URL carries (base64 or percent-encoded). Throws ParseError when the
// URL is malformed or its media type is not JavaScript.
std::string data_url_code(const std::string& url);

}  // namespace plts
