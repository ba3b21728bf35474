// The inline import map of a module: a `// plts-import-map: {"name": "target", ...}` comment.
// PostgreSQL-free.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace plts {

// The map in code's first `// plts-import-map:` comment (the rest of its line), or {} when there
// is none. Throws ParseError naming the module `name` when it is not a JSON object of strings
// (names and targets without NUL characters); no nlohmann exception escapes.
nlohmann::json import_map_comment(const std::string& code, const std::string& name);

}  // namespace plts
