// The watchdog: one helper thread per backend that stops running JavaScript when the call's
// deadline (plts.max_runtime_ms) passes or PostgreSQL has a cancel/terminate/timeout pending.
// It never runs PostgreSQL code: it reads the interrupt flags and calls TerminateExecution (or,
// while JS is inside SQL, signals its own backend with SIGINT so that SQL cancels itself).
#pragma once

#include <cstdint>

#include <v8.h>

namespace plts {

enum class StopReason { kNone, kInterrupt, kDeadline };

// Arms the watchdog for the outermost call (deadline_ms 0 = none). Cheap: atomics only while the
// thread is awake, which it stays for a while after each call.
void watchdog_arm(v8::Isolate* isolate, int deadline_ms);

// Disarms; returns why the watchdog stopped the call (kNone if it did not). After a stop, any
// pending termination has been requested and the caller must cancel it once V8 is unwound.
StopReason watchdog_disarm();

// Marks that JS is (not) inside SQL right now, so a deadline interrupts SQL instead.
void watchdog_in_sql(bool in_sql);

}  // namespace plts
