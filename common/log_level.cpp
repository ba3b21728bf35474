#include "common/log_level.h"

#include "common/error_boundary.h"

namespace pgx {

const struct config_enum_entry log_level_options[] = {
    {"debug", DEBUG1, false},  {"log", LOG, false},         {"info", INFO, false},
    {"notice", NOTICE, false}, {"warning", WARNING, false}, {"off", PANIC + 1, false},
    {nullptr, 0, false},
};

void log_gated(int threshold, int level, const std::string& msg) {
  if (level < threshold) return;
  int elevel = level < LOG ? LOG : level;
  pg_guard([&] { ereport(elevel, (errmsg_internal("%s", msg.c_str()))); });
}

}  // namespace pgx
