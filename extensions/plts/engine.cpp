#include "extensions/plts/engine.h"

#include <csignal>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <memory>
#include <pthread.h>
#include <unistd.h>

#include <libplatform/libplatform.h>

#include "common/error_boundary.h"
#include "extensions/plts/cycle_clock.h"
#include "extensions/plts/gucs.h"
#include "extensions/plts/log.h"
#include "extensions/plts/v8_flags.h"
#include "extensions/plts/js_exception.h"
#include "extensions/plts/watchdog.h"

extern "C" {
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
}

namespace plts {

int v8_call_depth = 0;

namespace {

// Process-wide state. Plain pointers, never destroyed: no global destructor may run at exit while
// V8 threads are alive.
v8::Platform* platform = nullptr;
BudgetAllocator* allocator = nullptr;
v8::Isolate* isolate = nullptr;
bool heap_exhausted = false;
unsigned generation = 0;

// V8 flags are process-wide and must match the compiler snapshot generator's.

// Runs f with every signal blocked in this thread, so threads created inside inherit a full mask
// and PostgreSQL's signal handlers only ever run on the backend's main thread.
template <typename F>
void with_signals_blocked(F&& f) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  f();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// FATAL raised while V8 frames are on the stack must not run V8's or libnode's teardown.
bool v8_broken = false;  // V8 reported a fatal error or OOM: nothing of it may run again

void on_exit_with_v8(int code, Datum) {
  if (v8_call_depth > 0 || v8_broken) _exit(code);
}

int64_t heap_hit_ns = 0;  // when the heap limit was hit in the running call

int64_t mono_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// A call asked to stop runs on only inside a V8 builtin's own loop (lastIndexOf over an
// array-like of 2^52 elements runs for days in C++ without checking for termination). Such loops
// allocate, so garbage collections keep coming: a few seconds after the stop, end the session
// (FATAL, exit code 1: the rest of the cluster is untouched) instead of leaving it unstoppable.
void on_gc_epilogue(v8::Isolate*, v8::GCType, v8::GCCallbackFlags, void*) {
  if (v8_call_depth == 0) return;
  // A limit or a signal: 3 s; the heap limit: 5 s. Some single steps take over a second (V8
  // rehashing a dictionary of millions of elements) and then let termination through: a call
  // that does is a 57014 or 53200, not a lost session.
  bool stuck = watchdog_stopping_for_ms() > 3000 ||
               (heap_exhausted && heap_hit_ns != 0 && mono_ms() - heap_hit_ns > 5000);
  if (stuck) {
    v8_broken = true;
    ereport(FATAL,
            (errcode(ERRCODE_QUERY_CANCELED),
             errmsg("plts: JavaScript did not stop within 3 s of its limit or cancel"),
             errdetail("A built-in operation that cannot be interrupted kept running; the session "
                       "ends so that it stops."),
             errhint("Avoid single built-in calls over huge sparse arrays (fill, sort, join).")));
  }
}

size_t near_heap_limit(void*, size_t current, size_t) {
  isolate->TerminateExecution();
  if (heap_exhausted) {
    // Still growing after the headroom: a builtin's own loop (Array.prototype.fill over a
    // dictionary, say) that never checks for termination. Granting more would let it take the
    // machine's memory: V8 gives up instead, which ends this session only (FATAL, see on_oom).
    return current;
  }
  heap_exhausted = true;
  heap_hit_ns = mono_ms();
  // Headroom so that termination can unwind; the isolate is disposed after the call.
  return heap_headroom(current);
}

void on_oom(const char* location, bool is_heap_oom) {
  v8_broken = true;
  // V8 cannot continue: end this backend only (exit code 1 is not a crash for the postmaster).
  ereport(FATAL, (errcode(ERRCODE_OUT_OF_MEMORY),
                  errmsg("plts: V8 ran out of memory (%s)", location ? location : "unknown"),
                  errhint("Lower the memory a function needs or raise plts.max_heap_mb.")));
}

void on_fatal(const char* location, const char* message) {
  v8_broken = true;
  ereport(FATAL, (errcode(ERRCODE_INTERNAL_ERROR),
                  errmsg("plts: fatal V8 error in %s: %s", location ? location : "?",
                         message ? message : "?")));
}

}  // namespace

size_t heap_headroom(size_t current) {
  // Terminating takes effect at the next interrupt check: until then one allocation may still
  // come, as large as a 1 GB backing store or a dictionary doubling the heap it is part of.
  const size_t kMinHeadroom = size_t{1280} * 1024 * 1024;
  return current + std::max(kMinHeadroom, current * 2);
}

void install_fatal_handlers(v8::Isolate* iso) {
  iso->SetOOMErrorHandler(on_oom);
  iso->SetFatalErrorHandler(on_fatal);
  iso->AddGCEpilogueCallback(on_gc_epilogue, nullptr);
}

bool BudgetAllocator::reserve(size_t length) {
  size_t cur = used_.load();
  do {
    if (cur + length > limit_.load() || cur + length < cur) return false;
  } while (!used_.compare_exchange_weak(cur, cur + length));
  return true;
}

void* BudgetAllocator::Allocate(size_t length) {
  if (!reserve(length)) return nullptr;
  void* p = calloc(length ? length : 1, 1);
  if (p == nullptr) used_.fetch_sub(length);
  return p;
}

void* BudgetAllocator::AllocateUninitialized(size_t length) {
  if (!reserve(length)) return nullptr;
  void* p = malloc(length ? length : 1);
  if (p == nullptr) used_.fetch_sub(length);
  return p;
}

void BudgetAllocator::Free(void* data, size_t length) {
  free(data);
  used_.fetch_sub(length);
}

void ensure_v8_started() {
  if (platform != nullptr) return;
  if (!IsUnderPostmaster && !IsBackgroundWorker && IsPostmasterEnvironment) {
    throw pgx::PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                       "plts: V8 cannot start in the postmaster");
  }
  with_signals_blocked([] {
    v8::V8::SetFlagsFromString(kV8Flags, sizeof(kV8Flags) - 1);
    platform = v8::platform::NewDefaultPlatform(1).release();
    v8::V8::InitializePlatform(platform);
    v8::V8::Initialize();
  });
  allocator = new BudgetAllocator();
  start_cycle_clock();
  pgx::pg_guard([] { on_proc_exit(on_exit_with_v8, 0); });
  plts_log(DEBUG1, std::string("plts: V8 ") + v8::V8::GetVersion() + " started in this backend");
}

v8::Isolate* user_isolate() {
  if (isolate != nullptr) return isolate;
  ensure_v8_started();
  allocator->set_limit(static_cast<size_t>(settings.max_arraybuffer_mb) * 1024 * 1024);
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = allocator;
  params.constraints.ConfigureDefaultsFromHeapSize(
      0, static_cast<size_t>(settings.max_heap_mb) * 1024 * 1024);
  with_signals_blocked([&] { isolate = v8::Isolate::New(params); });
  install_fatal_handlers(isolate);
  isolate->AddNearHeapLimitCallback(near_heap_limit, nullptr);
  isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  isolate->Enter();
  heap_exhausted = false;
  ++generation;
  return isolate;
}

v8::Isolate* new_isolate_signals_blocked(const v8::Isolate::CreateParams& params) {
  v8::Isolate* iso = nullptr;
  with_signals_blocked([&] { iso = v8::Isolate::New(params); });
  return iso;
}

bool heap_limit_hit() { return heap_exhausted; }

bool user_isolate_exists() { return isolate != nullptr; }

bool call_must_stop(v8::Isolate* iso) {
  return watchdog_stop_requested() || heap_exhausted || iso->IsExecutionTerminating();
}

bool recycle_isolate_if_exhausted() {
  if (!heap_exhausted || isolate == nullptr || v8_call_depth > 0) return false;
  isolate->Exit();
  isolate->Dispose();
  isolate = nullptr;
  heap_exhausted = false;
  plts_log(LOG, "plts: discarded the JavaScript isolate that reached plts.max_heap_mb");
  return true;
}

unsigned isolate_generation() { return generation; }

bool arraybuffer_budget_allows(size_t bytes) {
  return allocator == nullptr || allocator->used() + bytes <=
                                     static_cast<size_t>(settings.max_arraybuffer_mb) * 1024 * 1024;
}

void apply_stack_limit(v8::Isolate* iso) {
  // stack_base_ptr is static in PostgreSQL 15: read it by swapping in and restoring.
  pg_stack_base_t base = set_stack_base();
  restore_stack_base(base);
  char* base_ptr = static_cast<char*>(base);
  // A single-user backend (postgres --single) never sets stack_base_ptr: count from here then,
  // once, at the first call, which only leaves JavaScript less room than it could have.
  static char* single_user_base = nullptr;
  if (base_ptr == nullptr) {
    if (single_user_base == nullptr)
      single_user_base = static_cast<char*>(__builtin_frame_address(0));
    base_ptr = single_user_base;
  }
  // Leave V8 a margin below PostgreSQL's own limit so that SQL called from JS still has room to
  // report "stack depth limit exceeded" cleanly.
  const long margin = 256 * 1024;
  long depth = static_cast<long>(max_stack_depth) * 1024L - margin;
  if (depth < 128 * 1024) depth = 128 * 1024;
  uintptr_t limit = reinterpret_cast<uintptr_t>(base_ptr - depth);
  // Setting it takes V8's execution-access lock: only when it changes (per isolate).
  static v8::Isolate* last_iso = nullptr;
  static uintptr_t last_limit = 0;
  static unsigned last_gen = 0;
  if (iso == last_iso && limit == last_limit && last_gen == generation) return;
  iso->SetStackLimit(limit);
  last_iso = iso;
  last_limit = limit;
  last_gen = generation;
}

const char* v8_version() { return v8::V8::GetVersion(); }

}  // namespace plts
