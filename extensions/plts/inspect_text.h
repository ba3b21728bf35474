// The text pieces of console's value formatting (see inspect.h) that need neither V8 nor
// PostgreSQL: string literals, dates, identifiers, list layout, cutting UTF-8. Unit-tested.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace plts {

std::string join(const std::vector<std::string>& parts, const char* sep);

// Whether a property name can be written bare ({ a: 1 }) rather than quoted ({ 'a-b': 1 }).
bool is_js_identifier(const std::string& s);

// A string literal as node writes one: single quotes unless the text holds some and no double
// quotes, control characters escaped.
std::string js_quote(const std::string& s);

// ISO 8601 text of a time value in ms since 1970 (as Date.prototype.toISOString writes it, years
// past 9999 as +YYYYYY), or "Invalid Date".
std::string iso_date_text(double ms);

// A list's text at nesting `depth`: `open` (a class name, "Map(2)", or "") then the parts in
// brackets ([ ] when `brackets`, else { }): on one line when short; many short array entries
// share lines; otherwise one entry per line, indented two spaces per level.
std::string layout_list(const std::string& open, const std::vector<std::string>& parts,
                        bool brackets, int depth);

// Cuts s to at most max bytes at a UTF-8 character boundary.
void cut_utf8(std::string& s, size_t max);

}  // namespace plts
