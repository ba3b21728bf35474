// stopgap's settings (GUCs), defined in one place.
#pragma once

#include <string>

namespace stopgap {

struct Settings {
  char* live_schema;  // live schema of an environment created by its first deploy
  char* default_env;  // environment used when a function is given env => NULL
  bool prune;         // whether activation drops live functions absent from the deployment
  int log_level;      // gates stopgap's own log lines (an elevel)
  int pause_at;       // fault tests: the phase that waits (0: none)
};

extern Settings settings;

// Defines the GUCs; called from _PG_init.
void define_settings();

// stopgap.live_schema, or a PgError (22023) when the value set in this session was refused.
std::string live_schema_setting();

}  // namespace stopgap
