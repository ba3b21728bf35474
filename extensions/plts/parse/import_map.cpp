#include "extensions/plts/parse/import_map.h"

#include "extensions/plts/parse/parse_error.h"

namespace plts {

nlohmann::json import_map_comment(const std::string& code, const std::string& name) {
  static const std::string marker = "// plts-import-map:";
  size_t pos = code.find(marker);
  if (pos == std::string::npos) return nlohmann::json::object();
  size_t start = pos + marker.size();
  size_t end = code.find('\n', start);
  std::string text = code.substr(start, end == std::string::npos ? std::string::npos : end - start);
  nlohmann::json map;
  try {
    map = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ParseError("malformed plts-import-map comment in " + name + ": " + e.what());
  }
  if (!map.is_object()) throw ParseError("plts-import-map in " + name + " must be a JSON object");
  for (auto& [k, v] : map.items()) {
    // Names reach error messages as C strings, where a NUL would cut them short.
    if (k.find('\0') != std::string::npos)
      throw ParseError("plts-import-map in " + name + " has a name with a NUL character");
    if (!v.is_string())
      throw ParseError("plts-import-map entry \"" + k + "\" in " + name + " must map to a string");
    if (v.get_ref<const std::string&>().find('\0') != std::string::npos)
      throw ParseError("plts-import-map entry \"" + k + "\" in " + name +
                       " maps to a string with a NUL character");
  }
  return map;
}

}  // namespace plts
