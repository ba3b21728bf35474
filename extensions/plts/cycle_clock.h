// A cheap clock for per-call latency: the CPU's time-stamp counter where there is one (reading the
// system clock twice per call measured ~10% of a trivial call on this kind of VM), converted to
// microseconds with a rate calibrated against the steady clock.
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace plts {

inline uint64_t cycle_now() {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
#endif
}

// Starts the calibration interval (cheap; call when V8 starts).
void start_cycle_clock();

// Microseconds per cycle_now() tick, measured between the first call and now (good to well under
// 1% after a few milliseconds).
double microseconds_per_tick();

}  // namespace plts
