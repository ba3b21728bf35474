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

struct Watchdog {
  // Guards `armed` and every TerminateExecution: once disarm has taken it, none is requested.
  std::mutex fire_mu;
  bool armed = false;
  std::atomic<bool> armed_hint{false};  // read without the lock by the polling loop
  std::atomic<bool> stop{false};
  std::atomic<int64_t> stop_since_ns{0};
  std::atomic<int> reason{0};
  std::atomic<int64_t> deadline_ns{0};
  std::atomic<int> in_sql{0};
  std::atomic<bool> sleeping{false};
  std::atomic<bool> sigint_sent{false};
  int deadline_ms = 0;
  v8::Isolate* isolate = nullptr;
  std::mutex sleep_mu;
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
    if (!w.armed_hint.load()) {
      // Stay awake for ~200 ms after a call so back-to-back calls need no wakeup.
      if (++idle_polls > 200) {
        std::unique_lock<std::mutex> lock(w.sleep_mu);
        w.sleeping.store(true);
        while (!w.armed_hint.load()) w.cv.wait(lock);
        w.sleeping.store(false);
        idle_polls = 0;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      continue;
    }
    idle_polls = 0;
    bool interrupt =
        InterruptPending && (QueryCancelPending || ProcDiePending || ClientConnectionLost);
    int64_t deadline = w.deadline_ns.load();
    bool late = deadline != 0 && now_ns() >= deadline;
    if (interrupt || late || w.stop.load()) {
      std::lock_guard<std::mutex> lock(w.fire_mu);
      if (w.armed) {
        if (!w.stop.load()) {
          // The reason first: the main thread reads it once it sees the stop or the signal.
          w.reason.store(
              static_cast<int>(interrupt ? StopReason::kInterrupt : StopReason::kDeadline));
          w.stop_since_ns.store(now_ns());
          w.stop.store(true);
        }
        if (late && !interrupt && w.in_sql.load() > 0) {
          // TerminateExecution cannot stop SQL: let PostgreSQL cancel the statement itself.
          if (!w.sigint_sent.exchange(true)) kill(getpid(), SIGINT);
        }
        w.isolate->TerminateExecution();
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
  {
    std::lock_guard<std::mutex> lock(w.fire_mu);
    w.isolate = isolate;
    w.reason.store(0);
    w.stop.store(false);
    w.stop_since_ns.store(0);
    w.sigint_sent.store(false);
    w.in_sql.store(0);
    w.deadline_ms = deadline_ms;
    w.deadline_ns.store(deadline_ms > 0 ? now_ns() + int64_t{deadline_ms} * 1000000 : 0);
    w.armed = true;
    w.armed_hint.store(true);
  }
  if (w.sleeping.load()) {
    std::lock_guard<std::mutex> lock(w.sleep_mu);
    w.cv.notify_one();
  }
}

StopReason watchdog_disarm() {
  Watchdog& w = *dog;
  std::lock_guard<std::mutex> lock(w.fire_mu);
  w.armed = false;
  w.armed_hint.store(false);
  return static_cast<StopReason>(w.reason.load());
}

v8::Isolate* watchdog_retarget(v8::Isolate* isolate) {
  if (dog == nullptr) return nullptr;
  std::lock_guard<std::mutex> lock(dog->fire_mu);
  v8::Isolate* old = dog->isolate;
  dog->isolate = isolate;
  if (dog->armed && dog->stop.load()) isolate->TerminateExecution();
  return old;
}

int watchdog_deadline_ms() { return dog != nullptr ? dog->deadline_ms : 0; }

int64_t watchdog_stopping_for_ms() {
  if (dog == nullptr || !dog->armed_hint.load()) return 0;
  int64_t since = dog->stop_since_ns.load();
  return since == 0 ? 0 : (now_ns() - since) / 1000000;
}

bool watchdog_stop_requested() { return dog != nullptr && dog->stop.load(std::memory_order_relaxed); }

InSql::InSql() {
  if (dog != nullptr) dog->in_sql.fetch_add(1);
}

InSql::~InSql() {
  if (dog != nullptr) dog->in_sql.fetch_sub(1);
}

}  // namespace plts
