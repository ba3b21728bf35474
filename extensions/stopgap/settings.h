// stopgap's settings (GUCs), defined in one place.
#pragma once

#include <string>

namespace stopgap {

enum { kTypecheckOff = 0, kTypecheckWarn = 1, kTypecheckOn = 2 };

struct Settings {
  char* live_schema;  // live schema of an environment created by its first deploy
  char* default_env;  // environment used when a function is given env => NULL
  bool prune;         // whether activation drops live functions absent from the deployment
  int log_level;      // gates stopgap's own log lines (an elevel)
  int pause_at;       // fault tests: the phase that waits (0: none)
  int typecheck;      // kTypecheck*: whether deploy type-checks and refuses type errors
  int deploy_timeout_ms;  // limit of a module's top-level code when a deploy loads it
  int scheduler_workers;  // scheduler workers per database with schedules (0: none run)
  int job_run_retention_s;  // how long stopgap.job_run keeps finished runs (0: for ever)
  char* scheduler_clock;  // tests: the scheduler's "now" ("" = the real clock)
};

extern Settings settings;

// Defines the GUCs; called from _PG_init.
void define_settings();

// Why a live schema name is refused, or "" when it is not.
std::string live_schema_problem(const char* name);

// stopgap.live_schema, or a PgError (22023) when the value set in this session was refused.
std::string live_schema_setting();

}  // namespace stopgap
