#include "extensions/plts/log.h"

#include "common/error_boundary.h"
#include "extensions/plts/gucs.h"

namespace plts {

void plts_log(int level, const std::string& msg) {
  if (level < settings.log_level) return;
  int elevel = level < LOG ? LOG : level;
  pgx::pg_guard([&] { ereport(elevel, (errmsg_internal("%s", msg.c_str()))); });
}

}  // namespace plts
