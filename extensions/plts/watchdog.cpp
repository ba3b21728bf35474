#include "extensions/plts/watchdog.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <unistd.h>

#include "common/error_boundary.h"

namespace plts {

namespace {

using Clock = std::chrono::steady_clock;

// state = generation << 2 | phase. The thread only terminates the call whose generation it saw
// armed, and the main thread learns under one atomic exchange whether a stop was in flight.
constexpr uint64_t kIdle = 0, kArmed = 1, kFiring = 2;

struct Watchdog {
  std::atomic<uint64_t> state{kIdle};
  std::atomic<uint64_t> fired_gen{0};
  std::atomic<int> reason{0};
  std::atomic<int64_t> deadline_ns{0};
  std::atomic<bool> in_sql{false};
  std::atomic<bool> sleeping{false};
  std::atomic<bool> sigint_sent{false};
  v8::Isolate* isolate = nullptr;
  uint64_t generation = 0;
  std::mutex mu;
  std::condition_variable cv;
};

// Never destroyed (no global destructors while threads live).
Watchdog* dog = nullptr;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

void* watchdog_main(void*) {
  Watchdog& w = *dog;
  int idle_polls = 0;
  for (;;) {
    uint64_t st = w.state.load();
    if ((st & 3) != kArmed) {
      // Stay awake for ~200 ms after a call so back-to-back calls need no wakeup.
      if (++idle_polls > 200) {
        std::unique_lock<std::mutex> lock(w.mu);
        w.sleeping.store(true);
        while ((w.state.load() & 3) != kArmed) w.cv.wait(lock);
        w.sleeping.store(false);
        idle_polls = 0;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      continue;
    }
    idle_polls = 0;
    bool interrupt = InterruptPending && (QueryCancelPending || ProcDiePending);
    int64_t deadline = w.deadline_ns.load();
    bool late = deadline != 0 && now_ns() >= deadline;
    if (interrupt || late) {
      if (late && !interrupt && w.in_sql.load()) {
        // TerminateExecution cannot stop SQL: let PostgreSQL cancel the statement itself.
        if (!w.sigint_sent.exchange(true)) kill(getpid(), SIGINT);
        w.reason.store(static_cast<int>(StopReason::kDeadline));
      } else {
        uint64_t expected = st;
        if (w.state.compare_exchange_strong(expected, (st & ~uint64_t{3}) | kFiring)) {
          w.reason.store(
              static_cast<int>(interrupt ? StopReason::kInterrupt : StopReason::kDeadline));
          w.isolate->TerminateExecution();
          w.fired_gen.store(st >> 2);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return nullptr;
}

void start_thread() {
  dog = new Watchdog();
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t tid;
  int rc = pthread_create(&tid, nullptr, watchdog_main, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) {
    delete dog;
    dog = nullptr;
    throw pgx::PgError(ERRCODE_INSUFFICIENT_RESOURCES, "plts: could not start the watchdog thread");
  }
  pthread_detach(tid);
}

}  // namespace

void watchdog_arm(v8::Isolate* isolate, int deadline_ms) {
  if (dog == nullptr) start_thread();
  Watchdog& w = *dog;
  w.isolate = isolate;
  w.reason.store(0);
  w.sigint_sent.store(false);
  w.in_sql.store(false);
  w.deadline_ns.store(deadline_ms > 0 ? now_ns() + int64_t{deadline_ms} * 1000000 : 0);
  w.generation++;
  w.state.store((w.generation << 2) | kArmed);
  if (w.sleeping.load()) {
    std::lock_guard<std::mutex> lock(w.mu);
    w.cv.notify_one();
  }
}

StopReason watchdog_disarm() {
  Watchdog& w = *dog;
  uint64_t prev = w.state.exchange(w.generation << 2 | kIdle);
  if ((prev & 3) == kFiring) {
    // TerminateExecution is being requested right now: wait until it has been.
    while (w.fired_gen.load() != w.generation) {
    }
  }
  return static_cast<StopReason>(w.reason.load());
}

void watchdog_in_sql(bool in_sql) {
  if (dog != nullptr) dog->in_sql.store(in_sql);
}

}  // namespace plts
