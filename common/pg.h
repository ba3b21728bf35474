// The PostgreSQL C headers, for C++ translation units.
//
// Include this after every C++ standard, V8 and fmt header: PostgreSQL's port.h redefines printf,
// snprintf and friends as macros, which must not reach those libraries' headers.
#pragma once

// C++ libraries whose headers PostgreSQL's macros break are included first, whatever the order
// of includes in the translation unit.
#include <cstdio>
#include <nlohmann/json.hpp>

#ifndef PGDLLEXPORT
#define PGDLLEXPORT __attribute__((visibility("default")))
#endif

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
}

// Newer PostgreSQL versions moved or renamed a few APIs; keep the differences here.
#if PG_VERSION_NUM < 150000
#error "plts needs PostgreSQL 15 or later"
#endif
