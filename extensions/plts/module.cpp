// plts.so: module initialization and the small SQL-callable functions.
#include <string>

#include "common/error_boundary.h"
#include "extensions/plts/engine.h"
#include "extensions/plts/gucs.h"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

#define PLTS_VERSION "0.2.0"

// Must stay V8-free: with shared_preload_libraries this runs in the postmaster.
void _PG_init(void) { plts::define_settings(); }

// plts.version() -> text: the plts version and the V8 it runs on (starting V8 in this backend).
PGX_FUNCTION(plts_version) {
  plts::ensure_v8_started();
  std::string v = std::string("plts " PLTS_VERSION " (V8 ") + plts::v8_version() + ")";
  return PointerGetDatum(cstring_to_text(v.c_str()));
}
