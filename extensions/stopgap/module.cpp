// stopgap.so: module initialization and the small SQL-callable functions.
#include "common/error_boundary.h"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

#define STOPGAP_VERSION "0.1.0"

void _PG_init(void) {}

// stopgap.version() -> text
PGX_FUNCTION(stopgap_version) { return PointerGetDatum(cstring_to_text("stopgap " STOPGAP_VERSION)); }
