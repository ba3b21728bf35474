// plts's own log lines, gated by plts.log_level.
#pragma once

#include <string>

namespace plts {

// Emits msg at `level` (DEBUG1, LOG, INFO, NOTICE, WARNING) when plts.log_level lets it through.
// Debug lines are written at LOG so that plts.log_level alone decides whether they appear.
void plts_log(int level, const std::string& msg);

}  // namespace plts
