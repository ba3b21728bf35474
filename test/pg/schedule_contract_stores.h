// The two stores the scheduler's contract tests run against (schedule_contract_test.cpp), behind
// one interface: MemoryStore (the pure core with a fake clock, no server) and the catalog through
// stopgap._sched_tick / stopgap._sched_finish, with stopgap.scheduler_clock as the fake clock.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "test/pg/pg_client.h"
#include "test/pg/schedule_memory_store.h"

namespace sgsched {

// The environment the contract's schedules live in, and two functions of the project the SQL
// store deploys there (jobs.ts: tick and tock).
constexpr const char* kContractEnv = "contract";
constexpr const char* kTarget = "api.jobs.tick";
constexpr const char* kOtherTarget = "api.jobs.tock";

// The scheduler's store, as the contract sees it: one environment, jobs by name.
class SchedulerStore {
 public:
  virtual ~SchedulerStore() = default;
  // stopgap.schedule(env, name, target, schedule, args, options): create or replace.
  virtual JobView add(const std::string& name, const std::string& schedule,
                      const std::string& options_json, Micros now,
                      const std::string& target = kTarget, const std::string& args_json = "{}") = 0;
  virtual TickResult tick(int worker_pid, int max_claims, const std::vector<int>& alive_pids,
                          Micros now) = 0;
  // Workers {pid, max_claims} ticking at one instant, each before the ones before it commit.
  virtual std::vector<TickResult> tick_together(const std::vector<std::pair<int, int>>& workers,
                                                const std::vector<int>& alive_pids, Micros now) = 0;
  // stopgap._sched_finish: the job's new state; nullopt when the run was not running any more.
  virtual std::optional<JobView> finish(int64_t run_id, const std::string& outcome_json,
                                        double random01, Micros now) = 0;
  virtual JobView pause(const std::string& name, Micros now) = 0;
  virtual JobView resume(const std::string& name, Micros now) = 0;
  virtual JobView run_now(const std::string& name, Micros now) = 0;
  virtual JobView job(const std::string& name) = 0;
  virtual std::vector<RunView> runs(const std::string& name) = 0;  // in id order
};

// Each store also has, for the typed test suite: kName (the instantiation's name), SetUpSuite()
// (once per suite) and suite_error() (why the suite cannot run; empty when it can).

class MemoryStoreAdapter : public SchedulerStore {
 public:
  static constexpr const char* kName = "Memory";
  static void SetUpSuite() {}
  static std::string& suite_error();

  JobView add(const std::string& name, const std::string& schedule, const std::string& options_json,
              Micros now, const std::string& target, const std::string& args_json) override;
  TickResult tick(int worker_pid, int max_claims, const std::vector<int>& alive_pids,
                  Micros now) override;
  // In memory the ticks simply take turns.
  std::vector<TickResult> tick_together(const std::vector<std::pair<int, int>>& workers,
                                        const std::vector<int>& alive_pids, Micros now) override;
  std::optional<JobView> finish(int64_t run_id, const std::string& outcome_json, double random01,
                                Micros now) override;
  JobView pause(const std::string& name, Micros now) override;
  JobView resume(const std::string& name, Micros now) override;
  JobView run_now(const std::string& name, Micros now) override;
  JobView job(const std::string& name) override;
  std::vector<RunView> runs(const std::string& name) override;

 private:
  MemoryStore store_;
};

// The catalog: stopgap.schedule and friends, the scheduler's internal functions with
// stopgap.scheduler_clock set to the scenario's instant before each call. Needs stopgap 0.4.0 and
// a cluster without scheduler workers (stopgap.scheduler_workers = 0): a worker would reap the
// contract's runs (their worker pids are not backends) and claim what run_now requests.
class SqlStore : public SchedulerStore {
 public:
  static constexpr const char* kName = "Sql";
  // Creates the extension, the run_as role sched_contract (a member of app_user), the environment
  // and its project; drops schedules an interrupted run left.
  static void SetUpSuite();
  static std::string& suite_error();

  SqlStore();
  ~SqlStore() override;  // unschedules what the test scheduled

  JobView add(const std::string& name, const std::string& schedule, const std::string& options_json,
              Micros now, const std::string& target, const std::string& args_json) override;
  TickResult tick(int worker_pid, int max_claims, const std::vector<int>& alive_pids,
                  Micros now) override;
  // One transaction per worker, left open while the next one ticks: a job the first locked must
  // be skipped by the second (FOR UPDATE SKIP LOCKED), not waited for.
  std::vector<TickResult> tick_together(const std::vector<std::pair<int, int>>& workers,
                                        const std::vector<int>& alive_pids, Micros now) override;
  std::optional<JobView> finish(int64_t run_id, const std::string& outcome_json, double random01,
                                Micros now) override;
  JobView pause(const std::string& name, Micros now) override;
  JobView resume(const std::string& name, Micros now) override;
  JobView run_now(const std::string& name, Micros now) override;
  JobView job(const std::string& name) override;
  std::vector<RunView> runs(const std::string& name) override;

 private:
  pgtest::Connection c_;
  std::set<std::string> names_;
};

}  // namespace sgsched
