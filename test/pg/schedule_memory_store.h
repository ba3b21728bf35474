// The scheduler's store semantics in memory, with a fake clock: what stopgap._sched_tick and
// stopgap._sched_finish do to stopgap.job and stopgap.job_run (reap, claim with a lease, quota,
// retry and dead, run_now, pause/resume), decided by the same pure core (schedule_logic.h).
// The contract tests (schedule_contract_test.cpp) run every scenario against this store and
// against the real catalog, so a disagreement between the two shows which one departs.
// Every operation takes `now`; nothing here reads a real clock. Time zones: UTC only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "extensions/stopgap/schedule_logic.h"

namespace sgsched {

using stopgap::schedule::Micros;

// What a caller sees of a job: stopgap.job's progress columns.
struct JobView {
  std::string state;  // active | paused | dead | missing
  std::optional<Micros> next_run_at;
  int attempt = 0;
  int failures_in_row = 0;
};

// What a caller sees of a run: stopgap.job_run's outcome columns.
struct RunView {
  std::string status;  // running | ok | error | timeout | skipped | lost
  std::optional<std::string> reason;
  int attempt = 0;
  std::optional<double> cost;
};

struct Claim {
  int64_t run_id = 0;
  std::string name;
  int attempt = 0;
};

// What one tick did: _sched_tick's {"reaped", "skipped", "claims"}.
struct TickResult {
  int reaped = 0;
  int skipped = 0;
  std::vector<Claim> claims;
};

// An operation on a schedule that does not exist (the SQL side's 42704).
struct UnknownSchedule : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "2031-03-15 00:00:10.5+00" style text (UTC, microseconds when not whole seconds), which
// PostgreSQL's timestamptz input reads back exactly.
std::string format_utc(Micros t);
// ISO 8601 "YYYY-MM-DD[T ]HH:MM[:SS[.f...]][Z|+HH[:MM]|-HH[:MM]]"; nullopt for anything else.
std::optional<Micros> parse_iso8601(const std::string& text);

class MemoryStore {
 public:
  // seed: the jitter of retries the store decides itself (a lost run, a finish without random01).
  explicit MemoryStore(uint64_t seed = 17) : rng_(seed) {}

  // Create or replace (env, name). Throws stopgap::schedule::ScheduleError for a bad schedule or
  // options, and for a time zone other than UTC.
  JobView schedule(const std::string& env, const std::string& name, const std::string& target,
                   const std::string& schedule_text, const std::string& args_json,
                   const std::string& options_json, Micros now);
  bool unschedule(const std::string& env, const std::string& name);
  // Only an active job pauses (a dead or missing one keeps its state).
  JobView pause(const std::string& env, const std::string& name, Micros now);
  // A paused or dead job becomes active, its failures forgotten (attempt and failures_in_row 0),
  // its next run the schedule's next time after now. Other states: nothing changes.
  JobView resume(const std::string& env, const std::string& name, Micros now);
  // The next tick claims the job whatever its state (missing excepted), before the due ones.
  JobView run_now(const std::string& env, const std::string& name, Micros now);

  // alive_pids: the workers that are alive; nullopt: every worker counts as alive (memory has no
  // backends to ask), so only expired leases are reaped.
  TickResult tick(int worker_pid, int max_claims, const std::optional<std::vector<int>>& alive_pids,
                  Micros now);
  // outcome: {"status": "ok"|"error"|"timeout", "result": ..., "message": ..., "sqlstate": ...}
  // (another status: std::invalid_argument). nullopt, and nothing changes, when the run is not
  // running any more (reaped as lost meanwhile, or its schedule dropped).
  std::optional<JobView> finish(int64_t run_id, const std::string& outcome_json,
                                std::optional<double> random01, Micros now);

  std::optional<JobView> job(const std::string& env, const std::string& name) const;
  std::vector<RunView> runs(const std::string& env, const std::string& name) const;  // in id order

 private:
  struct Job {
    int64_t id = 0;
    std::string env, name, target, schedule_text, args_json;
    stopgap::schedule::Schedule schedule;
    stopgap::schedule::Options options;
    stopgap::schedule::JobProgress progress;
    bool run_requested = false;
    std::optional<int> claimed_by;
    std::optional<Micros> claim_until;
  };
  struct Run {
    int64_t id = 0, job_id = 0;
    int attempt = 0;
    std::optional<Micros> scheduled_for, started_at, finished_at, lease_until;
    stopgap::schedule::RunStatus status = stopgap::schedule::RunStatus::kRunning;
    std::optional<std::string> reason, result_json, message, sqlstate;
    std::optional<double> cost;
    int worker_pid = 0;
  };

  Job& find(const std::string& env, const std::string& name);
  static JobView view(const Job& j);
  // What the job used of its quota in the window ending at now (runs, or cost units).
  double quota_used(const Job& j, Micros now) const;
  // Records the end of a run and moves its job as after_run says.
  void settle(Run& run, stopgap::schedule::RunStatus status, std::optional<Micros> requested_next,
              double random01, Micros now);

  int64_t next_job_id_ = 1, next_run_id_ = 1;
  std::map<int64_t, Job> jobs_;  // by id
  std::map<int64_t, Run> runs_;  // by id: iteration is id order
  std::mt19937_64 rng_;
};

}  // namespace sgsched
