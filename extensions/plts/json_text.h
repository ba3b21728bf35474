// A JSON text parser that builds a JsonbValue tree directly. plts returns objects as jsonb by
// serializing them with V8's native JSON.stringify and parsing the text here: two tight loops
// instead of one V8 API call per property.
#pragma once

#include <cstddef>
#include <string>

#include "common/pg.h"

extern "C" {
#include "utils/jsonb.h"
}

namespace plts {

// The deepest nesting plts converts to or from jsonb, on every path (54000 beyond it).
constexpr int kMaxJsonbDepth = 1000;

// Parses text (JSON as JSON.stringify writes it) into *out, allocating in CurrentMemoryContext
// without ever raising (numbers go through the guarded `make_number`). Returns "" or why the text
// cannot be stored as jsonb (e.g. a \u0000 escape); throws std::bad_alloc when memory runs out.
std::string json_text_to_jsonb_value(const char* text, size_t len, JsonbValue* out,
                                     Numeric (*make_number)(const char* text, size_t len));

}  // namespace plts
