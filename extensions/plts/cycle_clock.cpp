#include "extensions/plts/cycle_clock.h"

namespace plts {

namespace {
bool started = false;
uint64_t tick0 = 0;
std::chrono::steady_clock::time_point time0;
}  // namespace

void start_cycle_clock() {
  if (started) return;
  started = true;
  tick0 = cycle_now();
  time0 = std::chrono::steady_clock::now();
}

double microseconds_per_tick() {
#if defined(__x86_64__)
  start_cycle_clock();
  // Reporting is rare: wait for an interval long enough to be precise.
  while (std::chrono::steady_clock::now() - time0 < std::chrono::milliseconds(2)) {
  }
  double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - time0).count();
  uint64_t ticks = cycle_now() - tick0;
  return ticks > 0 ? us / static_cast<double>(ticks) : 0.0;
#else
  return 0.001;
#endif
}

}  // namespace plts
