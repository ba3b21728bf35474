// The V8 engine of one backend: process-wide V8 initialization (lazy, never in the postmaster),
// the user-code isolate with its heap and ArrayBuffer limits, and the stack limit.
#pragma once

#include <atomic>
#include <cstddef>

#include <v8.h>

namespace plts {

// ArrayBuffer memory is outside the V8 heap limit: this allocator keeps a budget. Frees arrive on
// V8's worker threads, hence the atomic counter.
class BudgetAllocator final : public v8::ArrayBuffer::Allocator {
 public:
  void set_limit(size_t bytes) { limit_.store(bytes); }
  size_t used() const { return used_.load(); }
  void* Allocate(size_t length) override;
  void* AllocateUninitialized(size_t length) override;
  void Free(void* data, size_t length) override;

 private:
  bool reserve(size_t length);
  std::atomic<size_t> used_{0};
  std::atomic<size_t> limit_{0};
};

enum class IsolateState { kHealthy, kHeapExhausted };

// The heap limit to grant once an isolate is near its limit: enough for the allocation under way
// (one allocation may be far larger than a fixed margin) so that termination can unwind.
size_t heap_headroom(size_t current);

// V8's OOM and fatal-error handlers: end this backend (FATAL, exit code 1), never abort().
void install_fatal_handlers(v8::Isolate* iso);

// Starts V8 in this process if not started yet (idempotent; backend only).
void ensure_v8_started();

// The backend's user-code isolate, created on first use. Entered for the life of the backend.
v8::Isolate* user_isolate();

// True when the user isolate exists (V8 started and nothing discarded it since).
bool user_isolate_exists();

// True when the user isolate has hit its heap limit during the current call.
bool heap_limit_hit();

// Disposes the user isolate if it hit its heap limit, so the next call starts fresh.
// Returns true when it was disposed (all contexts and cached functions are gone with it).
bool recycle_isolate_if_exhausted();

// Increments with every isolate (re)creation: caches keyed on the isolate compare it.
unsigned isolate_generation();

// True when an ArrayBuffer of `bytes` fits the remaining plts.max_arraybuffer_mb budget.
bool arraybuffer_budget_allows(size_t bytes);

// Creates an isolate with every signal blocked (its threads must never take PostgreSQL's signals).
v8::Isolate* new_isolate_signals_blocked(const v8::Isolate::CreateParams& params);

// Sets V8's stack limit from PostgreSQL's stack base and max_stack_depth (outermost calls only).
void apply_stack_limit(v8::Isolate* isolate);

// "10.2.154.26-node.xx"
const char* v8_version();

// Nesting depth of plts calls currently running V8 code on this backend's stack.
extern int v8_call_depth;

}  // namespace plts
