// Per-backend counters behind plts.metrics().
#pragma once

#include <cstdint>

namespace plts {

struct Metrics {
  uint64_t calls = 0, errors = 0;
  // in cycle_now() ticks (see cycle_clock.h); reported in microseconds
  uint64_t latency_total_ticks = 0, latency_last_ticks = 0, latency_max_ticks = 0;
  // error classes
  uint64_t js_exception = 0, sql_error = 0, timeout = 0, cancel = 0, heap = 0, stack = 0;
  uint64_t db_calls = 0, db_errors = 0;
  uint64_t plan_cache_hits = 0, plan_cache_misses = 0;
  uint64_t isolate_recycles = 0;
};

extern Metrics metrics;

}  // namespace plts
