// JS stack traces (V8's Error.stack text, which holds user-controlled messages). PostgreSQL-free.
#pragma once

#include <functional>
#include <string>

namespace plts {

// Finds the source position of 1-based (line, column) in the module called `name`; false when
// there is none.
using PositionLookup =
    std::function<bool(const std::string& name, int line, int column, int* src_line, int* src_col)>;

// Rewrites each frame "... (<name>:<line>:<col>)" or "at <name>:<line>:<col>" of stack to
// "<name>.ts:<src line>:<src col>" where lookup maps it; other lines are kept as they are.
std::string map_stack_frames(const std::string& stack, const PositionLookup& lookup);

}  // namespace plts
