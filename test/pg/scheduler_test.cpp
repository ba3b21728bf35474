// Schedules run by the real scheduler workers (issue 17): cadence, two workers without double
// runs, a worker killed mid-run, deploys changing what runs, adaptive cadence, retries to 'dead',
// quotas, the identity a run has, max_runtime, and what stopgap.schedule() refuses.
//
// Suite SchedulerSlow ("slow": run alone, -j1): the cluster must preload plts and stopgap
// (shared_preload_libraries = 'plts,stopgap'), and one test SIGKILLs a scheduler worker, which
// makes the postmaster restart every backend. Each test works in an environment of its own
// (sched_<pid>_<n>, live schema <env>_live), deploys a small project to it with
// stopgap.deploy_project, runs its jobs as the role sched_it_runner (NOLOGIN, member of
// app_user; it stays for the next run) and unschedules them in TearDown (a scheduler worker stays
// connected to the database while schedules exist). The tests wait by polling (pgtest::eventually),
// never by fixed sleeps (the cadence test's 5 s window closes when a run starts after it).
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/pg_client.h"
#include "test/pg/stopgap_reliability.h"

namespace {

using pgtest::Connection;
using pgtest::eventually;
using namespace std::chrono_literals;

constexpr const char* kRunner = "sched_it_runner";

// The project every test deploys: one file, jobs.ts (paths api.jobs.<export>). `tick_version`
// is what tick() returns ({"v": n}); 0 leaves tick out (a deploy that drops it).
std::string jobs_source(const std::string& counter_table, int tick_version = 1) {
  std::string s = R"TS(import { mutation, query, v } from "@stopgap/runtime";
export const count = mutation(v.object({ k: v.int(), spin_ms: v.int() }), async ({ k, spin_ms }, ctx) => {
  await ctx.db.exec("update public.COUNTER set n = n + 1 where k = $1", [k]);
  const end = Date.now() + spin_ms;
  while (Date.now() < end);
  return { k };
});
export const busy = mutation(v.object({ ms: v.int() }), async ({ ms }) => {
  const end = Date.now() + ms;
  let spins = 0;
  while (Date.now() < end) spins++;
  return { spins };
});
export const adapt = mutation(v.object({ ms: v.int() }), async ({ ms }) => ({ next_run_in_ms: ms }));
export const fail = mutation(v.object({}), async () => {
  throw new Error("boom from a scheduled job");
});
export const who = query(v.object({}), async (_a, ctx) => {
  const rows: any[] = await ctx.db.query("select current_user::text as u, current_setting('application_name') as a");
  return { user: rows[0].u, app: rows[0].a };
});
)TS";
  s.replace(s.find("COUNTER"), 7, counter_table);
  if (tick_version > 0)
    s += fmt::format("export const tick = mutation(v.object({{}}), async () => ({{ v: {} }}));\n",
                     tick_version);
  return s;
}

class SchedulerSlow : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Connection c;
    c.query("set client_min_messages = warning");
    c.query(
        fmt::format("do $$ begin if not exists (select from pg_roles where rolname = '{0}') then "
                    "create role {0} nologin; end if; end $$",
                    kRunner));
    c.query(fmt::format("grant app_user to {}", kRunner));
  }

  void SetUp() override {
    static int counter = 0;
    env_ = fmt::format("sched_{}_{}", ::getpid(), ++counter);
    counter_table_ = env_ + "_counter";
    admin_ = std::make_unique<Connection>();
    admin_->query("set client_min_messages = warning");
    ASSERT_EQ(admin_->scalar("select rolsuper::text from pg_roles where rolname = current_user"),
              "true")
        << "the scheduler tests need a superuser (ALTER SYSTEM, roles, reading job_run)";
    ASSERT_NE(admin_->scalar("select current_setting('shared_preload_libraries')").find("stopgap"),
              std::string::npos)
        << "the cluster must run with shared_preload_libraries = 'plts,stopgap'";
    admin_->query("select stopgap.create_environment($1, $2)", {env_, env_ + "_live"});
  }

  void TearDown() override {
    try {
      Connection c;  // the test's own connection may have died with a restart
      c.query("set client_min_messages = warning");
      c.query("select stopgap.unschedule(env, name) from stopgap.job where env = $1", {env_});
      if (workers_changed_) {
        c.query("alter system reset stopgap.scheduler_workers");
        c.query("select pg_reload_conf()");
      }
      c.query("drop table if exists public." + counter_table_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup of " << env_ << " failed: " << e.what();
    }
  }

  void reconnect() {
    admin_ = std::make_unique<Connection>();
    admin_->query("set client_min_messages = warning");
  }

  // Deploys jobs.ts; returns the new deployment's id.
  std::string deploy(int tick_version, const std::string& label, bool prune = false) {
    return admin_->scalar(
        "select (stopgap.deploy_project($1, jsonb_build_object('modules', "
        "jsonb_build_object('jobs.ts', $2::text)), $3, $4::jsonb))->>'deployment_id'",
        {env_, jobs_source(counter_table_, tick_version), label,
         prune ? R"({"prune": true})" : "{}"});
  }

  // stopgap.schedule in the test's environment, run as kRunner; returns the schedule (jsonb text).
  std::string schedule(const std::string& name, const std::string& target, const std::string& when,
                       const std::string& args = "{}", const std::string& options = "{}") {
    return admin_->scalar(
        "select stopgap.schedule($1, $2, $3, $4, $5::jsonb, "
        "$6::jsonb || jsonb_build_object('run_as', $7::text))::text",
        {env_, name, target, when, args, options, kRunner});
  }

  void run_now(const std::string& name) {
    admin_->query("select stopgap.run_now($1, $2)", {env_, name});
  }

  // Runs of job `name` with `status` (every status when empty).
  int runs(const std::string& name, const std::string& status = "") {
    return std::stoi(
        admin_->scalar("select count(*) from stopgap.job_run where env = $1 and job_name = $2 "
                       "and ($3 = '' or status = $3)",
                       {env_, name, status}));
  }

  std::string job(const std::string& name, const std::string& column) {
    auto rows = admin_->query(
        fmt::format("select {}::text from stopgap.job where env = $1 and name = $2", column),
        {env_, name});
    if (rows.empty()) return "(no job)";
    return rows[0][0].value_or("(null)");
  }

  // The job and its last 30 runs, for failure messages.
  std::string describe(const std::string& name) {
    std::string out;
    try {
      Connection c;
      for (const auto& r :
           c.query("select state, coalesce(state_reason, '-'), coalesce(next_run_at::text, '-'), "
                   "attempt, failures_in_row, run_requested, coalesce(claimed_by::text, '-'), "
                   "coalesce(claim_until::text, '-'), now()::text from stopgap.job "
                   "where env = $1 and name = $2",
                   {env_, name}))
        out += fmt::format(
            "\n  job {}/{}: state {} ({}), next_run_at {}, attempt {}, failures_in_row {}, "
            "run_requested {}, claimed_by {} until {}; now {}",
            env_, name, *r[0], *r[1], *r[2], r[3].value_or("-"), r[4].value_or("-"),
            r[5].value_or("-"), *r[6], *r[7], *r[8]);
      for (const auto& r : c.query(
               "select * from (select id, attempt, status, coalesce(reason, ''), "
               "coalesce(sqlstate, ''), coalesce(left(error_message, 160), ''), "
               "coalesce(left(result::text, 80), ''), coalesce(scheduled_for::text, '-'), "
               "coalesce(started_at::text, '-'), coalesce(round(duration_ms::numeric, 1)::text, "
               "'-'), coalesce(worker_pid::text, '-') from stopgap.job_run "
               "where env = $1 and job_name = $2 order by id desc limit 30) x order by 1",
               {env_, name}))
        out += fmt::format(
            "\n    run {} attempt {} {} {} {} {} {} scheduled {} started {} took {} ms pid {}",
            *r[0], r[1].value_or("-"), r[2].value_or("-"), *r[3], *r[4], *r[5], *r[6], *r[7], *r[8],
            *r[9], *r[10]);
      out += "\n  background processes:";
      for (const auto& r :
           c.query("select pid, backend_type, coalesce(application_name, ''), "
                   "coalesce(datname, ''), coalesce(state, ''), coalesce(wait_event, '') "
                   "from pg_stat_activity where backend_type <> 'client backend' order by pid"))
        out += fmt::format("\n    {} {} '{}' {} {} {}", *r[0], *r[1], *r[2], *r[3], *r[4], *r[5]);
    } catch (const std::exception& e) {
      out += std::string("\n  (describe failed: ") + e.what() + ")";
    }
    return out;
  }

  // Scheduler workers of this database in pg_stat_activity.
  int scheduler_workers() {
    return std::stoi(admin_->scalar(
        "select count(*) from pg_stat_activity where datname = current_database() and "
        "(backend_type like 'stopgap scheduler%' or application_name like 'stopgap scheduler%')"));
  }

  std::string env_, counter_table_;
  std::unique_ptr<Connection> admin_;
  bool workers_changed_ = false;
};

// A '1 second' schedule runs about once a second: 3 to 7 ok runs start within 5 s of its first.
TEST_F(SchedulerSlow, OneSecondScheduleRunsAboutOncePerSecond) {
  deploy(1, "v1");
  const std::string made = schedule("every", "api.jobs.tick", "1 second");
  EXPECT_NE(made.find("\"active\""), std::string::npos) << made;
  ASSERT_TRUE(eventually([&] { return runs("every", "ok") >= 1; }, 30s))
      << "no ok run within 30 s" << describe("every");
  const std::string first = admin_->scalar(
      "select min(started_at)::text from stopgap.job_run where env = $1 and job_name = 'every' "
      "and status = 'ok'",
      {env_});
  // The window closes when a run starts after it (the scheduler is still going).
  const std::string after_window =
      "select count(*) from stopgap.job_run where env = $1 and job_name = 'every' and "
      "started_at >= $2::timestamptz + interval '5 seconds'";
  EXPECT_TRUE(eventually(
      [&] {
        return admin_->scalar(after_window, {env_, first}) != "0";
      },
      20s))
      << "no run started after the 5 s window" << describe("every");
  const int in_window = std::stoi(admin_->scalar(
      "select count(*) from stopgap.job_run where env = $1 and job_name = 'every' and "
      "status = 'ok' and started_at >= $2::timestamptz and "
      "started_at < $2::timestamptz + interval '5 seconds'",
      {env_, first}));
  EXPECT_GE(in_window, 3) << describe("every");
  EXPECT_LE(in_window, 7) << describe("every");
  EXPECT_EQ(runs("every") - runs("every", "ok") - runs("every", "running"), 0)
      << "runs that were neither ok nor running" << describe("every");
  EXPECT_EQ(admin_->scalar("select count(*) from stopgap.job_run where env = $1 and "
                           "status = 'ok' and result->>'v' is distinct from '1'",
                           {env_}),
            "0")
      << describe("every");
}

// Two workers, 20 jobs every second, each incrementing a counter of its own (and spinning 20 ms,
// so that one worker cannot take every run): every ok run incremented its counter exactly once,
// no job ran twice at once or twice for one occurrence.
TEST_F(SchedulerSlow, TwoWorkersNeverRunAJobTwice) {
  admin_->query("create table public." + counter_table_ +
                "(k int primary key, n int not null default 0)");
  admin_->query("insert into public." + counter_table_ + "(k) select generate_series(1, 20)");
  admin_->query(fmt::format("grant select, update on public.{} to {}", counter_table_, kRunner));
  deploy(1, "v1");

  // One schedule with the default single worker, then stopgap.scheduler_workers = 2 and 19 more
  // schedules: their commits must bring the second worker (as start_scheduler() would).
  schedule("c01", "api.jobs.count", "1 second", R"({"k": 1, "spin_ms": 20})");
  ASSERT_TRUE(eventually([&] { return scheduler_workers() == 1; }, 30s)) << describe("c01");
  workers_changed_ = true;
  admin_->query("alter system set stopgap.scheduler_workers = 2");
  admin_->query("select pg_reload_conf()");
  ASSERT_TRUE(eventually(
      [&] { return admin_->scalar("select current_setting('stopgap.scheduler_workers')") == "2"; },
      10s))
      << "the reload did not reach this session";
  for (int k = 2; k <= 20; k++)
    schedule(fmt::format("c{:02}", k), "api.jobs.count", "1 second",
             fmt::format(R"({{"k": {}, "spin_ms": 20}})", k));

  const auto workers_message = [&] {
    return fmt::format(
        "pg_stat_activity shows {} scheduler workers of this database, not 2 (backend_type or "
        "application_name starting with 'stopgap scheduler')",
        scheduler_workers());
  };
  EXPECT_TRUE(eventually([&] { return scheduler_workers() == 2; }, 15s))
      << "stopgap.scheduler_workers = 2, one worker running, 19 schedules made since: "
      << workers_message() << describe("c01");
  // With the schedules in place, start_scheduler() starts whatever is missing: the checks below
  // need two workers claiming at once.
  admin_->query("select stopgap.start_scheduler()");
  ASSERT_TRUE(eventually([&] { return scheduler_workers() == 2; }, 30s))
      << "after start_scheduler() with 20 schedules: " << workers_message() << describe("c01");

  // 150 ok runs with both workers up.
  const std::string both_up = admin_->scalar(
      "select coalesce(max(id), 0)::text from stopgap.job_run where env = $1", {env_});
  const std::string ok_total =
      "select count(*) from stopgap.job_run where env = $1 and status = 'ok'";
  const std::string ok_since =
      "select count(*) from stopgap.job_run where env = $1 and status = 'ok' and id > $2::bigint";
  ASSERT_TRUE(eventually(
      [&] {
        return std::stoi(admin_->scalar(ok_since, {env_, both_up})) >= 150;
      },
      90s))
      << "fewer than 150 ok runs of 20 one-second jobs within 90 s: "
      << admin_->scalar(ok_since, {env_, both_up}) << describe("c01");

  // Stop the jobs and let the runs in flight end before comparing.
  admin_->query("select stopgap.pause(env, name) from stopgap.job where env = $1", {env_});
  ASSERT_TRUE(eventually(
      [&] {
        return admin_->scalar(
                   "select count(*) from stopgap.job_run where env = $1 and "
                   "status = 'running'",
                   {env_}) == "0";
      },
      60s))
      << describe("c01");

  auto mismatched = admin_->query(
      "select j.name, c.n, (select count(*) from stopgap.job_run r where r.job_id = j.id and "
      "r.status = 'ok') from stopgap.job j join public." +
          counter_table_ +
          " c on c.k = (j.args->>'k')::int where j.env = $1 and c.n <> (select count(*) from "
          "stopgap.job_run r where r.job_id = j.id and r.status = 'ok') order by 1",
      {env_});
  for (const auto& r : mismatched)
    ADD_FAILURE() << "job " << *r[0] << ": counter " << *r[1] << ", ok runs " << *r[2];
  EXPECT_EQ(admin_->scalar("select count(*) from stopgap.job j where j.env = $1 and not exists "
                           "(select from stopgap.job_run r where r.job_id = j.id and "
                           "r.status = 'ok')",
                           {env_}),
            "0")
      << "jobs that never ran";
  auto overlaps = admin_->query(
      "select job_name, id, started_at::text, prev_end::text from (select job_name, id, "
      "started_at, lag(finished_at) over (partition by job_id order by started_at, id) prev_end "
      "from stopgap.job_run where env = $1 and status <> 'skipped') x "
      "where started_at < prev_end order by 1, 2",
      {env_});
  for (const auto& r : overlaps)
    ADD_FAILURE() << "run " << *r[1] << " of " << *r[0] << " started at " << *r[2]
                  << " before the previous run of that job ended (" << *r[3] << ")";
  auto twice = admin_->query(
      "select job_name, scheduled_for::text, count(*) from stopgap.job_run where env = $1 and "
      "attempt = 1 group by job_name, scheduled_for having count(*) > 1 order by 1, 2",
      {env_});
  for (const auto& r : twice)
    ADD_FAILURE() << "job " << *r[0] << "'s occurrence at " << *r[1] << " ran " << *r[2]
                  << " times";
  EXPECT_EQ(admin_->scalar("select count(*) from stopgap.job_run where env = $1 and "
                           "status not in ('ok', 'running')",
                           {env_}),
            "0")
      << "runs that failed" << describe("c01");
  EXPECT_EQ(admin_->scalar("select count(distinct worker_pid) from stopgap.job_run where env = $1 "
                           "and id > $2::bigint",
                           {env_, both_up}),
            "2")
      << "both workers should have claimed runs (the checks above need two claimers)";
  const std::string pids = admin_->scalar(
      "select count(distinct worker_pid)::text || ' (' || string_agg(distinct "
      "worker_pid::text, ', ') || ')' from stopgap.job_run where env = $1",
      {env_});
  std::cout << "[ info ] " << admin_->scalar(ok_total, {env_})
            << " ok runs; worker pids that ran them: " << pids << "\n";
}

// A deploy changes what the next runs execute; a deploy that drops the target makes the schedule
// 'missing'; a rollback that brings it back makes it 'active' and it runs again.
TEST_F(SchedulerSlow, DeploysChangeWhatRuns) {
  const std::string d1 = deploy(1, "v1");
  schedule("t", "api.jobs.tick", "1 second");
  const std::string ok_with_v =
      "select coalesce(min(id), 0)::text from stopgap.job_run where env = $1 and job_name = 't' "
      "and status = 'ok' and result->>'v' = $2 and id > $3::bigint";
  ASSERT_TRUE(eventually(
      [&] {
        return admin_->scalar(ok_with_v, {env_, "1", "0"}) != "0";
      },
      30s))
      << describe("t");
  const std::string v1_run = admin_->scalar(ok_with_v, {env_, "1", "0"});
  EXPECT_EQ(
      admin_->scalar("select deployment_id::text from stopgap.job_run where id = $1", {v1_run}),
      d1);

  const std::string d2 = deploy(2, "v2");
  ASSERT_TRUE(eventually(
      [&] {
        return admin_->scalar(ok_with_v, {env_, "2", "0"}) != "0";
      },
      30s))
      << "no run returned {\"v\": 2} within 30 s of deploying v2" << describe("t");
  const std::string v2_run = admin_->scalar(ok_with_v, {env_, "2", "0"});
  EXPECT_EQ(
      admin_->scalar("select deployment_id::text from stopgap.job_run where id = $1", {v2_run}),
      d2);
  // Wait for one more v2 run, then no v1 run may follow the first v2 run.
  ASSERT_TRUE(eventually(
      [&] {
        return admin_->scalar(ok_with_v, {env_, "2", v2_run}) != "0";
      },
      30s))
      << describe("t");
  EXPECT_EQ(admin_->scalar(ok_with_v, {env_, "1", v2_run}), "0")
      << "a run returned v 1 after one returned v 2" << describe("t");

  // v3 has no tick (and prunes its live function): the schedule goes 'missing'.
  deploy(0, "v3 without tick", true);
  EXPECT_TRUE(eventually([&] { return job("t", "state") == "missing"; }, 30s)) << describe("t");
  const std::string last_before_rollback = admin_->scalar(
      "select coalesce(max(id), 0)::text from stopgap.job_run where env = $1", {env_});
  EXPECT_EQ(admin_->scalar("select count(*) from stopgap.job_run where env = $1 and "
                           "job_name = 't' and status = 'running'",
                           {env_}),
            "0")
      << describe("t");

  admin_->query("select stopgap.rollback($1)", {env_});
  EXPECT_TRUE(eventually([&] { return job("t", "state") == "active"; }, 30s))
      << "the rollback to v2 did not revive the schedule" << describe("t");
  ASSERT_TRUE(eventually(
      [&] {
        return admin_->scalar(ok_with_v, {env_, "2", last_before_rollback}) != "0";
      },
      30s))
      << "no run returned {\"v\": 2} after the rollback" << describe("t");
  const std::string after = admin_->scalar(
      "select coalesce(min(id), 0)::text from stopgap.job_run where env = $1 and "
      "id > $2::bigint and status = 'ok'",
      {env_, last_before_rollback});
  EXPECT_EQ(admin_->scalar("select coalesce(deployment_id::text, '-') from stopgap.job_run "
                           "where id = $1",
                           {after}),
            d2)
      << describe("t");
}

// A run's {"next_run_in_ms": n} sets its next run, clamped into [min_interval, max_interval].
TEST_F(SchedulerSlow, AdaptiveCadenceIsClamped) {
  deploy(1, "v1");
  // 200 ms asked on a '1 hour' schedule (min_interval 100 ms): several runs within seconds.
  schedule("fast", "api.jobs.adapt", "1 hour", R"({"ms": 200})", R"({"min_interval": 100})");
  run_now("fast");
  EXPECT_TRUE(eventually([&] { return runs("fast", "ok") >= 5; }, 15s))
      << "fewer than 5 runs of a job asking for 200 ms within 15 s" << describe("fast");
  // Each run started no sooner than 200 ms after the previous one finished.
  auto gaps = admin_->query(
      "select id, round(gap_ms::numeric, 1)::text from (select id, extract(epoch from "
      "started_at - lag(finished_at) over (order by id)) * 1000 gap_ms from stopgap.job_run "
      "where env = $1 and job_name = 'fast' and status = 'ok') x where gap_ms < 190",
      {env_});
  for (const auto& r : gaps)
    ADD_FAILURE() << "run " << *r[0] << " started " << *r[1]
                  << " ms after the previous one finished (asked: 200 ms)" << describe("fast");

  // 5000 ms asked with max_interval 1 second: the next run is 1 s after the run, not 5 s.
  schedule("capped", "api.jobs.adapt", "1 hour", R"({"ms": 5000})",
           R"({"min_interval": 100, "max_interval": "1 second"})");
  run_now("capped");
  ASSERT_TRUE(eventually([&] { return runs("capped", "ok") >= 1; }, 30s)) << describe("capped");
  // Unclamped, the second run would start 5 s after the first finished.
  ASSERT_TRUE(eventually([&] { return runs("capped", "ok") >= 2; }, 4s))
      << "no second run within 4 s of a job whose 5 s request is capped at 1 s"
      << describe("capped");
  const std::string gap = admin_->scalar(
      "select round((extract(epoch from b.started_at - a.finished_at) * 1000)::numeric)::text "
      "from (select * from stopgap.job_run where env = $1 and job_name = 'capped' and "
      "status = 'ok' order by id limit 1) a, (select * from stopgap.job_run where env = $1 and "
      "job_name = 'capped' and status = 'ok' order by id offset 1 limit 1) b",
      {env_});
  EXPECT_GE(std::stod(gap), 950) << describe("capped");
  EXPECT_LT(std::stod(gap), 2500) << describe("capped");
}

// A function that throws: 3 error runs (attempts 1..3, backoff between them), then 'dead';
// resume revives it.
TEST_F(SchedulerSlow, FailingJobRetriesThenDiesAndResumeRevives) {
  deploy(1, "v1");
  schedule("f", "api.jobs.fail", "1 hour", "{}",
           R"({"max_attempts": 3, "backoff_base": "100 ms"})");
  run_now("f");
  ASSERT_TRUE(eventually([&] { return job("f", "state") == "dead"; }, 30s)) << describe("f");
  auto rows = admin_->query(
      "select attempt, status, coalesce(sqlstate, ''), coalesce(error_message, ''), "
      "coalesce(extract(epoch from started_at - lag(finished_at) over (order by id)) * 1000, "
      "-1)::text from stopgap.job_run where env = $1 and job_name = 'f' order by id",
      {env_});
  ASSERT_EQ(rows.size(), 3u) << describe("f");
  for (size_t i = 0; i < rows.size(); i++) {
    EXPECT_EQ(*rows[i][0], std::to_string(i + 1)) << "attempt of run " << i + 1 << describe("f");
    EXPECT_EQ(*rows[i][1], "error") << describe("f");
    EXPECT_EQ(rows[i][2]->size(), 5u) << "sqlstate '" << *rows[i][2] << "'" << describe("f");
    EXPECT_NE(rows[i][3]->find("boom from a scheduled job"), std::string::npos)
        << "error_message: " << *rows[i][3];
  }
  // Retry n waits at least half of 100 ms * 2^(n-1) (equal jitter).
  EXPECT_GE(std::stod(*rows[1][4]), 50 - 1) << describe("f");
  EXPECT_GE(std::stod(*rows[2][4]), 100 - 1) << describe("f");
  EXPECT_EQ(job("f", "failures_in_row"), "3");

  admin_->query("select stopgap.resume($1, 'f')", {env_});
  EXPECT_EQ(job("f", "state"), "active") << describe("f");
  EXPECT_EQ(job("f", "attempt"), "0") << describe("f");
}

// quota {"runs": 2, "per": "1 hour"} on a '200 ms' schedule: 2 ok runs, then 'skipped' ones.
TEST_F(SchedulerSlow, QuotaSkipsRuns) {
  deploy(1, "v1");
  schedule("q", "api.jobs.tick", "200 ms", "{}", R"({"quota": {"runs": 2, "per": "1 hour"}})");
  ASSERT_TRUE(eventually([&] { return runs("q", "skipped") >= 3; }, 30s)) << describe("q");
  EXPECT_EQ(runs("q", "ok"), 2) << describe("q");
  EXPECT_EQ(admin_->scalar("select count(*) from stopgap.job_run where env = $1 and "
                           "job_name = 'q' and status = 'skipped' and reason is distinct from "
                           "'quota'",
                           {env_}),
            "0")
      << describe("q");
  // The skipped runs come after the two ok ones.
  EXPECT_EQ(admin_->scalar("select count(*) from stopgap.job_run where env = $1 and "
                           "job_name = 'q' and status = 'ok' and id > (select min(id) from "
                           "stopgap.job_run where env = $1 and job_name = 'q' and "
                           "status = 'skipped')",
                           {env_}),
            "0")
      << describe("q");
  EXPECT_EQ(job("q", "state"), "active");
}

// A run executes as the schedule's owner, with application_name 'stopgap job <env>/<name>'.
TEST_F(SchedulerSlow, RunsAsTheOwnerWithItsApplicationName) {
  deploy(1, "v1");
  const std::string made = schedule("w", "api.jobs.who", "1 hour");
  EXPECT_NE(made.find(kRunner), std::string::npos) << "the schedule names its owner: " << made;
  EXPECT_EQ(job("w", "owner"), kRunner);
  run_now("w");
  ASSERT_TRUE(eventually([&] { return runs("w", "ok") >= 1; }, 30s)) << describe("w");
  auto r = admin_->query(
      "select result->>'user', result->>'app' from stopgap.job_run where env = $1 and "
      "job_name = 'w' and status = 'ok' order by id limit 1",
      {env_});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0][0].value_or("(null)"), kRunner);
  EXPECT_EQ(r[0][1].value_or("(null)"), "stopgap job " + env_ + "/w");
}

// A run past max_runtime is stopped: status 'timeout', sqlstate 57014; with max_attempts 1 the
// job is then dead (a timeout is a failure).
TEST_F(SchedulerSlow, RunPastMaxRuntimeTimesOut) {
  deploy(1, "v1");
  schedule("slow", "api.jobs.busy", "1 hour", R"({"ms": 5000})",
           R"({"max_runtime": "200 ms", "max_attempts": 1})");
  run_now("slow");
  ASSERT_TRUE(eventually([&] { return runs("slow", "timeout") >= 1; }, 30s)) << describe("slow");
  auto r = admin_->query(
      "select coalesce(sqlstate, ''), duration_ms::text from stopgap.job_run where env = $1 and "
      "job_name = 'slow' and status = 'timeout' order by id limit 1",
      {env_});
  EXPECT_EQ(*r[0][0], "57014") << describe("slow");
  EXPECT_LT(std::stod(r[0][1].value_or("1e9")), 2000) << "stopped near 200 ms" << describe("slow");
  EXPECT_TRUE(eventually([&] { return job("slow", "state") == "dead"; }, 10s)) << describe("slow");
  EXPECT_EQ(runs("slow", "ok"), 0) << describe("slow");
}

// What stopgap.schedule() refuses, with nothing created.
TEST_F(SchedulerSlow, ScheduleRefusesBadInput) {
  deploy(1, "v1");
  auto attempt = [&](const std::string& when, const std::string& target,
                     const std::string& options) {
    return admin_->error_of(
        fmt::format("select stopgap.schedule('{}', 'bad', '{}', '{}', '{{}}', '{}'::jsonb)", env_,
                    target, when, options));
  };
  const std::string run_as = fmt::format(R"({{"run_as": "{}"}})", kRunner);
  EXPECT_EQ(attempt("* * *", "api.jobs.tick", run_as), "22023") << "a cron of 3 fields";
  EXPECT_EQ(attempt("61 * * * *", "api.jobs.tick", run_as), "22023") << "minute 61";
  EXPECT_EQ(attempt("0 seconds", "api.jobs.tick", run_as), "22023") << "a zero interval";
  EXPECT_EQ(attempt("1 second", "api.jobs.tick",
                    fmt::format(R"({{"run_as": "{}", "bogus": 1}})", kRunner)),
            "22023")
      << "an unknown option";
  EXPECT_EQ(attempt("1 second", "api.jobs.tick",
                    fmt::format(R"({{"run_as": "{}", "max_attempts": 0}})", kRunner)),
            "22023")
      << "max_attempts 0";
  EXPECT_EQ(attempt("1 second", "api.jobs.nope", run_as), "42883") << "an unknown target";
  const std::string superuser = admin_->scalar("select current_user");
  EXPECT_EQ(attempt("1 second", "api.jobs.tick", fmt::format(R"({{"run_as": "{}"}})", superuser)),
            "42501")
      << "run_as a superuser";
  EXPECT_EQ(attempt("1 second", "api.jobs.tick", "{}"), "42501")
      << "run_as defaults to the caller, here a superuser";
  // A caller that is not a member of stopgap_deployer.
  admin_->query(fmt::format("set role {}", kRunner));
  EXPECT_EQ(attempt("1 second", "api.jobs.tick", run_as), "42501") << "a non-deployer caller";
  admin_->query("reset role");
  EXPECT_EQ(admin_->scalar("select count(*) from stopgap.job where env = $1", {env_}), "0")
      << "a refused schedule() created a job";
  EXPECT_EQ(admin_->error_of(fmt::format("select stopgap.pause('{}', 'nope')", env_)), "42704");
  EXPECT_EQ(admin_->error_of(fmt::format("select stopgap.run_now('{}', 'nope')", env_)), "42704");
}

// A worker that ends with an error (here pg_terminate_backend; a FATAL in a run alike) is started
// again by the server, and the schedule goes on; a cancel only stops the run in flight.
TEST_F(SchedulerSlow, TerminatedWorkerIsStartedAgain) {
  deploy(1, "v1");
  schedule("every", "api.jobs.tick", "1 second");
  ASSERT_TRUE(eventually([&] { return runs("every", "ok") >= 1; }, 30s)) << describe("every");
  const std::string pid = admin_->scalar(
      "select pid::text from pg_stat_activity where datname = current_database() and "
      "backend_type = 'stopgap scheduler'");
  EXPECT_EQ(admin_->scalar("select pg_cancel_backend($1::int)::text", {pid}), "true");
  EXPECT_EQ(admin_->scalar("select pg_terminate_backend($1::int)::text", {pid}), "true");
  const int before = runs("every", "ok");
  EXPECT_TRUE(eventually(
      [&] {
        return admin_->scalar("select count(*) from pg_stat_activity where datname = "
                              "current_database() and backend_type = 'stopgap scheduler' and pid <> $1::int",
                              {pid}) == "1";
      },
      30s))
      << "no new worker within 30 s of terminating " << pid << describe("every");
  EXPECT_TRUE(eventually([&] { return runs("every", "ok") >= before + 2; }, 30s))
      << "the schedule did not go on with the new worker" << describe("every");
}

// kill -9 of the worker while a run is in flight: the run becomes 'lost' and is retried
// (attempt 2), which then succeeds. Last in the suite: the kill restarts the cluster.
TEST_F(SchedulerSlow, WorkerKilledMidRunLosesTheRunAndRetries) {
  deploy(1, "v1");
  schedule("victim", "api.jobs.busy", "1 hour", R"({"ms": 4000})",
           R"({"max_attempts": 3, "backoff_base": "100 ms", "max_runtime": "30 seconds"})");
  run_now("victim");
  const std::string running =
      "select coalesce(min(id)::text || ' ' || min(worker_pid)::text, '') from stopgap.job_run "
      "where env = $1 and job_name = 'victim' and status = 'running'";
  ASSERT_TRUE(eventually([&] { return !admin_->scalar(running, {env_}).empty(); }, 30s))
      << describe("victim");
  const std::string id_pid = admin_->scalar(running, {env_});
  const std::string run_id = id_pid.substr(0, id_pid.find(' '));
  const int pid = std::stoi(id_pid.substr(id_pid.find(' ') + 1));
  EXPECT_EQ(
      admin_->scalar("select count(*) from pg_stat_activity where pid = $1", {std::to_string(pid)}),
      "1")
      << "the run's worker_pid " << pid << " is no live process of the server";

  const std::string before = sgrel::incarnation();
  sgrel::sigkill_backend(pid);
  ASSERT_FALSE(sgrel::wait_for_restart(before).empty()) << "the server did not come back in 60 s";
  reconnect();

  EXPECT_TRUE(eventually(
      [&] {
        return admin_->scalar("select status from stopgap.job_run where id = $1", {run_id}) ==
               "lost";
      },
      75s))
      << "run " << run_id << " of the killed worker is not 'lost' after 75 s" << describe("victim");
  EXPECT_TRUE(eventually(
      [&] {
        return admin_->scalar(
                   "select count(*) from stopgap.job_run where env = $1 and "
                   "job_name = 'victim' and attempt = 2 and status = 'ok'",
                   {env_}) == "1";
      },
      75s))
      << "no successful retry (attempt 2) after the lost run" << describe("victim");
  EXPECT_EQ(job("victim", "failures_in_row"), "0") << describe("victim");
  EXPECT_EQ(job("victim", "state"), "active") << describe("victim");
}

}  // namespace
