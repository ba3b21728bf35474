// The `<extension>.log_level` settings of both extensions: one set of values, one gate.
#pragma once

#include <string>

#include "common/pg.h"

namespace pgx {

// Values of a log_level GUC: debug, log, info, notice, warning, off.
extern const struct config_enum_entry log_level_options[];

// Emits msg at `level` when `threshold` (a log_level GUC's value) lets it through. Debug lines are
// written at LOG so that the extension's setting alone decides whether they appear.
void log_gated(int threshold, int level, const std::string& msg);

}  // namespace pgx
