#include "extensions/plts/log.h"

#include "common/error_boundary.h"
#include "common/log_level.h"
#include "extensions/plts/gucs.h"

namespace plts {

void plts_log(int level, const std::string& msg) { pgx::log_gated(settings.log_level, level, msg); }

}  // namespace plts
