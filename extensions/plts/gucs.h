// plts's settings (GUCs), defined in one place.
#pragma once

namespace plts {

struct Settings {
  int max_runtime_ms;       // 0 = no plts limit (statement_timeout still applies)
  int max_heap_mb;          // V8 heap limit for the user-code isolate
  int max_arraybuffer_mb;   // budget for ArrayBuffer backing stores
  int max_sql_bytes;        // per ctx.db call
  int max_params;           // per ctx.db call
  int max_query_rows;       // per ctx.db call; 0 = unlimited
  int plan_cache_size;      // prepared plans kept per backend
  int max_log_bytes;        // console/ctx.log output per outermost call; 0 = unlimited
  int log_level;            // gates plts's own log lines (an elevel)
  int typecheck;            // kTypecheckOff | kTypecheckWarn | kTypecheckError
  bool lossy_jsonb_numbers;  // jsonb numbers convert to the nearest double (else exact or 22003)
  int int8_bigint;           // plts.int8: 0 = 'string' (node-postgres), 1 = 'bigint'
  char* compiler_snapshot;  // path of the compiler snapshot; empty: the installed one
  char* start_proc;         // plts function run once per realm before its first call; empty: none
};

enum { kTypecheckOff = 0, kTypecheckWarn = 1, kTypecheckError = 2 };

extern Settings settings;

// Defines the GUCs; called from _PG_init (must stay V8-free).
void define_settings();

}  // namespace plts
