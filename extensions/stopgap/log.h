// stopgap's own log lines, gated by stopgap.log_level.
#pragma once

#include <string>

namespace stopgap {

// Emits msg at `level` (DEBUG1, LOG, INFO, NOTICE, WARNING) when stopgap.log_level lets it through.
// Debug lines are written at LOG so that stopgap.log_level alone decides whether they appear.
void stopgap_log(int level, const std::string& msg);

}  // namespace stopgap
