// stopgap.so: module initialization and stopgap.version(). The deploy logic itself is SQL
// (sql/stopgap--*.sql); this module holds the settings, metrics, log lines and the caller check.
#include "common/error_boundary.h"
#include "extensions/stopgap/scheduler.h"
#include "extensions/stopgap/settings.h"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

#define STOPGAP_VERSION "0.4.0"

void _PG_init(void) {
  stopgap::define_settings();
  // Preloaded, stopgap starts the schedules' workers with the server (scheduler_worker.cpp).
  if (process_shared_preload_libraries_in_progress) stopgap::scheduler::register_launcher();
}

// stopgap.version() -> text
PGX_FUNCTION(stopgap_version) {
  return PointerGetDatum(cstring_to_text("stopgap " STOPGAP_VERSION));
}
