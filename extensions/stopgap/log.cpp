// stopgap's log lines: stopgap_log() and the SQL-callable stopgap._log(level, message).
#include "extensions/stopgap/log.h"

#include <cstring>

#include "common/error_boundary.h"
#include "common/log_level.h"
#include "extensions/stopgap/settings.h"

namespace stopgap {

void stopgap_log(int level, const std::string& msg) {
  pgx::log_gated(settings.log_level, level, msg);
}

}  // namespace stopgap

// stopgap._log(level text, message text) -> void; level is debug, log, info, notice or warning.
PGX_FUNCTION(stopgap_log_line) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_VOID();
  char* level_name = nullptr;
  char* message = nullptr;
  pgx::pg_guard([&] {
    level_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
    message = text_to_cstring(PG_GETARG_TEXT_PP(1));
  });
  static const struct {
    const char* name;
    int level;
  } levels[] = {
      {"debug", DEBUG1}, {"log", LOG}, {"info", INFO}, {"notice", NOTICE}, {"warning", WARNING}};
  for (const auto& l : levels) {
    if (strcmp(level_name, l.name) == 0) {
      stopgap::stopgap_log(l.level, message);
      PG_RETURN_VOID();
    }
  }
  throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                     std::string("unknown stopgap log level \"") + level_name + "\"");
}
