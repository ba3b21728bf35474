// The watchdog: one helper thread per backend that stops running JavaScript when the call's
// deadline (plts.max_runtime_ms) passes or PostgreSQL has a cancel/terminate/timeout or a lost
// client connection pending. It never runs PostgreSQL code: it reads the interrupt flags and calls
// TerminateExecution (or, while JS is inside SQL, signals its own backend with SIGINT so that SQL
// cancels itself).
//
// Once a call must stop, the watchdog keeps requesting termination every millisecond until the
// call is disarmed: C++ code that catches a termination (a TryCatch around a user getter, say) and
// carries on would otherwise run the next piece of user code unstoppably. C++ loops that do not
// run JavaScript (row conversion, walking a huge array) poll watchdog_stop_requested().
#pragma once

#include <cstdint>

#include <v8.h>

namespace plts {

enum class StopReason { kNone, kInterrupt, kDeadline };

// Arms the watchdog for the outermost call (deadline_ms 0 = none). Cheap: atomics only while the
// thread is awake, which it stays for a while after each call.
void watchdog_arm(v8::Isolate* isolate, int deadline_ms);

// Disarms; returns why the watchdog stopped the call (kNone if it did not). Once it returns, no
// further termination is requested: the caller cancels any pending one after V8 has unwound.
StopReason watchdog_disarm();

// Points an armed watchdog at another isolate (the compiler's, while a nested compile runs);
// returns the one it watched before.
v8::Isolate* watchdog_retarget(v8::Isolate* isolate);

// The deadline the armed call runs under, in ms (0 = none): what messages name.
int watchdog_deadline_ms();

// Milliseconds since the armed call was first asked to stop (0 while it was not).
int64_t watchdog_stopping_for_ms();

// True once the armed call must stop (deadline passed or an interrupt is pending).
bool watchdog_stop_requested();

// While one of these lives, JS is inside SQL: a deadline interrupts SQL (SIGINT) instead. Nested
// calls nest these, so the count, not a flag, says whether SQL is running.
class InSql {
 public:
  InSql();
  ~InSql();
  InSql(const InSql&) = delete;
  InSql& operator=(const InSql&) = delete;
};

}  // namespace plts
