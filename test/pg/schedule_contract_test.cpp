// The scheduler's contract (issue 17): claim, lease, retry, quota and the job state machine,
// written once and run against two stores (schedule_contract_stores.h). ScheduleContract/Memory
// runs it on MemoryStore (the pure core with a fake clock, no server: the binary only wants PGPORT
// set); ScheduleContract/Sql on the catalog through stopgap._sched_tick / stopgap._sched_finish,
// with stopgap.scheduler_clock as the fake clock. The SQL half needs a cluster without scheduler
// workers (stopgap.scheduler_workers = 0): these tests are the only ones ticking, at instants
// they choose.
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test/pg/schedule_contract_stores.h"

namespace {

using sgsched::Claim;
using sgsched::JobView;
using sgsched::kOtherTarget;
using sgsched::kTarget;
using sgsched::MemoryStoreAdapter;
using sgsched::RunView;
using sgsched::SchedulerStore;
using sgsched::SqlStore;
using sgsched::TickResult;
using stopgap::schedule::kSecond;
using stopgap::schedule::Micros;

constexpr const char* kOk = R"({"status": "ok"})";
constexpr const char* kError = R"({"status": "error", "message": "boom", "sqlstate": "P0001"})";
constexpr const char* kTimeout =
    R"({"status": "timeout", "message": "canceling statement due to statement timeout", "sqlstate": "57014"})";

std::string ok_with(const std::string& result_json) {
  return R"({"status": "ok", "result": )" + result_json + "}";
}

// Every scenario starts at 2031-03-15 00:00:00 UTC (a fixed instant in the future, so nothing
// else that reads the real clock finds these jobs due).
Micros t(double seconds) {
  static const Micros t0 = *sgsched::parse_iso8601("2031-03-15T00:00:00Z");
  return t0 + std::llround(seconds * 1e6);
}

// The instant as a JavaScript Date's toISOString() writes it.
std::string js_iso(Micros at) {
  std::string s = sgsched::format_utc(at);  // "2031-03-15 00:13:17+00"
  s[10] = 'T';
  return s.substr(0, s.size() - 3) + ".000Z";
}

constexpr int kW1 = 1001, kW2 = 1002;
const std::vector<int> kAlive = {kW1, kW2};

// The names a tick claimed, sorted (the order of the claims array is not part of the contract).
std::vector<std::string> names_of(const TickResult& r) {
  std::vector<std::string> out;
  for (const auto& c : r.claims) out.push_back(c.name);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> statuses(const std::vector<RunView>& runs) {
  std::vector<std::string> out;
  for (const auto& r : runs) out.push_back(r.status);
  return out;
}

struct StoreNames {
  template <class T>
  static std::string GetName(int) {
    return T::kName;
  }
};

template <class Store>
class ScheduleContract : public testing::Test {
 protected:
  static void SetUpTestSuite() { Store::SetUpSuite(); }
  void SetUp() override {
    if (!Store::suite_error().empty()) GTEST_FAIL() << Store::suite_error();
    store_ = std::make_unique<Store>();
  }
  void TearDown() override { store_.reset(); }

  SchedulerStore& s() { return *store_; }
  // A run's end, recorded; fails the test when the store says the run was not running.
  JobView finish(int64_t run_id, const std::string& outcome_json, double random01, Micros now) {
    std::optional<JobView> v = store_->finish(run_id, outcome_json, random01, now);
    EXPECT_TRUE(v.has_value()) << "run " << run_id << " was not running";
    return v.value_or(JobView{});
  }
  // The one job a tick claimed; fails the test when it claimed another number.
  Claim only_claim(const TickResult& r, const std::string& name) {
    EXPECT_EQ(names_of(r), std::vector<std::string>{name});
    return r.claims.empty() ? Claim{} : r.claims[0];
  }

  std::unique_ptr<SchedulerStore> store_;
};

using Stores = testing::Types<MemoryStoreAdapter, SqlStore>;
TYPED_TEST_SUITE(ScheduleContract, Stores, StoreNames);

TYPED_TEST(ScheduleContract, DueIntervalJobIsClaimedExactlyOnce) {
  auto& s = this->s();
  JobView j = s.add("every10", "10 seconds", "{}", t(0));
  EXPECT_EQ(j.state, "active");
  EXPECT_EQ(j.next_run_at, t(10));
  EXPECT_EQ(j.attempt, 0);
  EXPECT_EQ(j.failures_in_row, 0);

  TickResult early = s.tick(kW1, 10, kAlive, t(9.999));
  EXPECT_TRUE(early.claims.empty());
  EXPECT_EQ(early.reaped, 0);
  EXPECT_EQ(early.skipped, 0);

  TickResult due = s.tick(kW1, 10, kAlive, t(10));
  Claim c = this->only_claim(due, "every10");
  EXPECT_EQ(c.attempt, 1);
  EXPECT_GT(c.run_id, 0);

  // The lease (max_runtime 60 s + 30 s) keeps every other tick off it, at the same instant and
  // later.
  EXPECT_TRUE(s.tick(kW2, 10, kAlive, t(10)).claims.empty());
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(10)).claims.empty());
  EXPECT_TRUE(s.tick(kW2, 10, kAlive, t(95)).claims.empty());

  auto runs = s.runs("every10");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "running");
  EXPECT_EQ(runs[0].attempt, 1);
  // A claim moves nothing but the lease: the job's next run is still the one that was due.
  EXPECT_EQ(s.job("every10").next_run_at, t(10));
}

TYPED_TEST(ScheduleContract, TwoWorkersAtOneInstantClaimDisjointJobs) {
  auto& s = this->s();
  for (int k = 0; k < 4; k++) s.add(std::string("w") + char('a' + k), "10 seconds", "{}", t(k));
  // Oldest next run first: the first worker takes a, b, c; the second, ticking before the first
  // commits, skips those and takes d.
  auto r = s.tick_together({{kW1, 3}, {kW2, 3}}, kAlive, t(13));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(names_of(r[0]), (std::vector<std::string>{"wa", "wb", "wc"}));
  EXPECT_EQ(names_of(r[1]), std::vector<std::string>{"wd"});
  std::set<int64_t> run_ids;
  for (const auto& worker : r) {
    for (const auto& c : worker.claims) run_ids.insert(c.run_id);
  }
  EXPECT_EQ(run_ids.size(), 4u);
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(13)).claims.empty());
  for (const char* name : {"wa", "wb", "wc", "wd"}) EXPECT_EQ(s.runs(name).size(), 1u) << name;
}

TYPED_TEST(ScheduleContract, MaxClaimsBoundsATickOldestFirst) {
  auto& s = this->s();
  s.add("mz", "10 seconds", "{}", t(0));
  s.add("my", "10 seconds", "{}", t(1));
  s.add("mx", "10 seconds", "{}", t(2));
  this->only_claim(s.tick(kW1, 1, kAlive, t(20)), "mz");
  EXPECT_EQ(names_of(s.tick(kW1, 2, kAlive, t(20))), (std::vector<std::string>{"mx", "my"}));
  EXPECT_TRUE(s.tick(kW1, 2, kAlive, t(20)).claims.empty());
}

TYPED_TEST(ScheduleContract, OkRunSchedulesTheNextOneIntervalAfterIt) {
  auto& s = this->s();
  s.add("ok", "10 seconds", "{}", t(0));
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(10)), "ok");
  JobView v = this->finish(c.run_id, kOk, 0.5, t(12));
  EXPECT_EQ(v.state, "active");
  EXPECT_EQ(v.next_run_at, t(22));
  EXPECT_EQ(v.attempt, 0);
  EXPECT_EQ(v.failures_in_row, 0);
  JobView stored = s.job("ok");
  EXPECT_EQ(stored.state, v.state);
  EXPECT_EQ(stored.next_run_at, v.next_run_at);

  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(21)).claims.empty());
  Claim again = this->only_claim(s.tick(kW2, 10, kAlive, t(22)), "ok");
  EXPECT_EQ(again.attempt, 1);
  EXPECT_NE(again.run_id, c.run_id);
  EXPECT_EQ(statuses(s.runs("ok")), (std::vector<std::string>{"ok", "running"}));
}

TYPED_TEST(ScheduleContract, ExpiredLeaseIsLostAndRetried) {
  auto& s = this->s();
  s.add("lease", "10 seconds", R"({"max_runtime": "10 seconds", "backoff_base": "4 seconds"})",
        t(0));
  this->only_claim(s.tick(kW1, 10, kAlive, t(10)), "lease");  // lease until t(50)
  TickResult at_end = s.tick(kW2, 10, kAlive, t(50));
  EXPECT_EQ(at_end.reaped, 0) << "lease_until < now reaps; at lease_until the lease still holds";
  EXPECT_TRUE(at_end.claims.empty());

  TickResult after = s.tick(kW2, 10, kAlive, t(50.001));
  EXPECT_EQ(after.reaped, 1);
  EXPECT_TRUE(after.claims.empty());
  auto runs = s.runs("lease");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "lost");
  JobView j = s.job("lease");
  EXPECT_EQ(j.state, "active");
  EXPECT_EQ(j.attempt, 1);
  EXPECT_EQ(j.failures_in_row, 1);
  ASSERT_TRUE(j.next_run_at.has_value());
  // First retry: backoff 4 s with equal jitter, [2 s, 4 s) after the reap.
  EXPECT_GE(*j.next_run_at, t(52.001));
  EXPECT_LT(*j.next_run_at, t(54.001));

  Claim retry = this->only_claim(s.tick(kW1, 10, kAlive, *j.next_run_at), "lease");
  EXPECT_EQ(retry.attempt, 2);
}

TYPED_TEST(ScheduleContract, RunOfAWorkerThatIsGoneIsLost) {
  auto& s = this->s();
  s.add("orphan", "10 seconds", R"({"backoff_base": "4 seconds", "max_attempts": 2})", t(0));
  this->only_claim(s.tick(kW1, 10, kAlive, t(10)), "orphan");
  EXPECT_EQ(s.tick(kW2, 10, {kW1, kW2}, t(11)).reaped, 0);
  EXPECT_EQ(s.runs("orphan").at(0).status, "running");

  TickResult r = s.tick(kW2, 10, {kW2}, t(11));
  EXPECT_EQ(r.reaped, 1);
  EXPECT_TRUE(r.claims.empty());
  EXPECT_EQ(statuses(s.runs("orphan")), std::vector<std::string>{"lost"});
  JobView j = s.job("orphan");
  EXPECT_EQ(j.state, "active");
  EXPECT_EQ(j.attempt, 1);
  EXPECT_EQ(j.failures_in_row, 1);
  ASSERT_TRUE(j.next_run_at.has_value());
  EXPECT_GE(*j.next_run_at, t(13));
  EXPECT_LT(*j.next_run_at, t(15));

  // A lost run is a failed attempt: the second one lost makes the job dead (max_attempts 2).
  Claim retry = this->only_claim(s.tick(kW1, 10, kAlive, *j.next_run_at), "orphan");
  EXPECT_EQ(retry.attempt, 2);
  EXPECT_EQ(s.tick(kW2, 10, {kW2}, *j.next_run_at + kSecond).reaped, 1);
  JobView dead = s.job("orphan");
  EXPECT_EQ(dead.state, "dead");
  EXPECT_FALSE(dead.next_run_at.has_value());
  EXPECT_EQ(dead.attempt, 2);
  EXPECT_EQ(dead.failures_in_row, 2);
}

TYPED_TEST(ScheduleContract, FailedRunsRetryWithBackoffThenDieAndResumeRevives) {
  auto& s = this->s();
  s.add("flaky", "1 minute",
        R"({"max_attempts": 3, "backoff_base": "2 seconds", "backoff_max": "3 seconds"})", t(0));
  Claim first = this->only_claim(s.tick(kW1, 10, kAlive, t(60)), "flaky");
  EXPECT_EQ(first.attempt, 1);
  // Retry 1: 2 s, equal jitter with random01 = 0 -> 1 s.
  JobView v = this->finish(first.run_id, kError, 0.0, t(61));
  EXPECT_EQ(v.state, "active");
  EXPECT_EQ(v.attempt, 1);
  EXPECT_EQ(v.failures_in_row, 1);
  EXPECT_EQ(v.next_run_at, t(62));

  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(61.5)).claims.empty());
  Claim second = this->only_claim(s.tick(kW1, 10, kAlive, t(62)), "flaky");
  EXPECT_EQ(second.attempt, 2);
  // Retry 2: 4 s capped at 3 s; random01 = 0.5 -> 1.5 s + 0.75 s.
  v = this->finish(second.run_id, kError, 0.5, t(62));
  EXPECT_EQ(v.attempt, 2);
  EXPECT_EQ(v.failures_in_row, 2);
  EXPECT_EQ(v.next_run_at, t(64.25));

  Claim third = this->only_claim(s.tick(kW2, 10, kAlive, t(64.25)), "flaky");
  EXPECT_EQ(third.attempt, 3);
  v = this->finish(third.run_id, kError, 0.99, t(65));
  EXPECT_EQ(v.state, "dead");
  EXPECT_FALSE(v.next_run_at.has_value());
  EXPECT_EQ(v.attempt, 3);
  EXPECT_EQ(v.failures_in_row, 3);
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(3600)).claims.empty());
  EXPECT_EQ(statuses(s.runs("flaky")), (std::vector<std::string>{"error", "error", "error"}));
  EXPECT_EQ(s.pause("flaky", t(3600)).state, "dead") << "only an active job pauses";

  // resume revives it, its failures forgotten, its next run the schedule's next time.
  v = s.resume("flaky", t(3600));
  EXPECT_EQ(v.state, "active");
  EXPECT_EQ(v.attempt, 0);
  EXPECT_EQ(v.failures_in_row, 0);
  EXPECT_EQ(v.next_run_at, t(3660));
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(3659)).claims.empty());
  Claim revived = this->only_claim(s.tick(kW1, 10, kAlive, t(3660)), "flaky");
  EXPECT_EQ(revived.attempt, 1);
  v = this->finish(revived.run_id, kOk, 0.5, t(3661));
  EXPECT_EQ(v.state, "active");
  EXPECT_EQ(v.attempt, 0);
  EXPECT_EQ(v.failures_in_row, 0);
  EXPECT_EQ(v.next_run_at, t(3721));
}

TYPED_TEST(ScheduleContract, TimeoutCountsAsAFailure) {
  auto& s = this->s();
  s.add("slow", "10 seconds", R"({"max_attempts": 2, "backoff_base": "2 seconds"})", t(0));
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(10)), "slow");
  JobView v = this->finish(c.run_id, kTimeout, 0.0, t(11));
  EXPECT_EQ(v.state, "active");
  EXPECT_EQ(v.attempt, 1);
  EXPECT_EQ(v.failures_in_row, 1);
  EXPECT_EQ(v.next_run_at, t(12));
  c = this->only_claim(s.tick(kW1, 10, kAlive, t(12)), "slow");
  EXPECT_EQ(c.attempt, 2);
  v = this->finish(c.run_id, kTimeout, 0.0, t(13));
  EXPECT_EQ(v.state, "dead");
  EXPECT_FALSE(v.next_run_at.has_value());
  EXPECT_EQ(v.failures_in_row, 2);
  auto runs = s.runs("slow");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].status, "timeout");
  EXPECT_EQ(runs[0].attempt, 1);
  EXPECT_EQ(runs[1].status, "timeout");
  EXPECT_EQ(runs[1].attempt, 2);
}

TYPED_TEST(ScheduleContract, QuotaOfRunsSkipsUntilTheWindowPasses) {
  auto& s = this->s();
  s.add("quota", "10 seconds", R"({"quota": {"runs": 1, "per": "65 seconds"}})", t(0));
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(10)), "quota");
  EXPECT_EQ(this->finish(c.run_id, kOk, 0.5, t(12)).next_run_at, t(22));
  // The run at t(10) counts until t(75): every occurrence before is skipped, and moves on.
  for (int at = 22; at <= 72; at += 10) {
    TickResult r = s.tick(kW1, 10, kAlive, t(at));
    EXPECT_EQ(r.skipped, 1) << "at t(" << at << ")";
    EXPECT_TRUE(r.claims.empty()) << "at t(" << at << ")";
    JobView j = s.job("quota");
    EXPECT_EQ(j.state, "active");
    EXPECT_EQ(j.next_run_at, t(at + 10));
    EXPECT_EQ(j.attempt, 0);
    EXPECT_EQ(j.failures_in_row, 0);
  }
  this->only_claim(s.tick(kW1, 10, kAlive, t(82)), "quota");
  auto runs = s.runs("quota");
  ASSERT_EQ(runs.size(), 8u);
  EXPECT_EQ(runs.front().status, "ok");
  for (size_t i = 1; i <= 6; i++) {
    EXPECT_EQ(runs[i].status, "skipped") << i;
    EXPECT_EQ(runs[i].reason, "quota") << i;
  }
  EXPECT_EQ(runs.back().status, "running");
  EXPECT_FALSE(runs.front().reason.has_value());
}

TYPED_TEST(ScheduleContract, FunctionQuotaCountsEveryScheduleOfTheTarget) {
  auto& s = this->s();
  const std::string per_function =
      R"({"quota": {"runs": 1, "per": "65 seconds", "scope": "function"}})";
  s.add("fa", "10 seconds", per_function, t(0), kTarget);
  s.add("fb", "10 seconds", per_function, t(1), kTarget);
  s.add("fc", "10 seconds", per_function, t(2), kOtherTarget);
  s.add("fd", "10 seconds", R"({"quota": {"runs": 1, "per": "65 seconds"}})", t(3), kTarget);

  Claim a = this->only_claim(s.tick(kW1, 10, kAlive, t(10)), "fa");
  this->finish(a.run_id, kOk, 0.5, t(10));
  // fb: its function ran at t(10) (as fa).
  TickResult r = s.tick(kW1, 10, kAlive, t(11));
  EXPECT_EQ(r.skipped, 1);
  EXPECT_TRUE(r.claims.empty());
  auto fb = s.runs("fb");
  ASSERT_EQ(fb.size(), 1u);
  EXPECT_EQ(fb[0].status, "skipped");
  EXPECT_EQ(fb[0].reason, "quota");
  EXPECT_EQ(s.job("fb").next_run_at, t(21));
  // fc: another function, with a budget of its own.
  this->only_claim(s.tick(kW1, 10, kAlive, t(12)), "fc");
  // fd: the same function, but its quota counts its own runs only.
  this->only_claim(s.tick(kW1, 10, kAlive, t(13)), "fd");
}

TYPED_TEST(ScheduleContract, RunningRunCountsTowardARunsQuota) {
  auto& s = this->s();
  const std::string per_function =
      R"({"quota": {"runs": 1, "per": "65 seconds", "scope": "function"}})";
  s.add("ra", "10 seconds", per_function, t(0));
  s.add("rb", "10 seconds", per_function, t(1));
  // One tick: ra is claimed (its run is running), then rb finds its function's budget used.
  TickResult r = s.tick(kW1, 10, kAlive, t(11));
  EXPECT_EQ(names_of(r), std::vector<std::string>{"ra"});
  EXPECT_EQ(r.skipped, 1);
  EXPECT_EQ(statuses(s.runs("rb")), std::vector<std::string>{"skipped"});
}

TYPED_TEST(ScheduleContract, CostQuotaCountsTheCostRunsReport) {
  auto& s = this->s();
  s.add("cost", "10 seconds", R"({"quota": {"cost": 5, "per": "65 seconds"}})", t(0));
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(10)), "cost");
  this->finish(c.run_id, ok_with(R"({"cost": 3})"), 0.5, t(10));
  c = this->only_claim(s.tick(kW1, 10, kAlive, t(20)), "cost");  // 3 used of 5
  this->finish(c.run_id, ok_with(R"({"cost": 3, "other": "ignored"})"), 0.5, t(20));
  for (int at = 30; at <= 70; at += 10) {  // 6 used
    TickResult r = s.tick(kW1, 10, kAlive, t(at));
    EXPECT_EQ(r.skipped, 1) << "at t(" << at << ")";
    EXPECT_TRUE(r.claims.empty()) << "at t(" << at << ")";
  }
  // At t(80) the run of t(10) has left the window: 3 used.
  this->only_claim(s.tick(kW1, 10, kAlive, t(80)), "cost");
  auto runs = s.runs("cost");
  ASSERT_EQ(runs.size(), 8u);
  EXPECT_EQ(runs[0].cost, 3.0);
  EXPECT_EQ(runs[1].cost, 3.0);
  for (size_t i = 2; i <= 6; i++) {
    EXPECT_EQ(runs[i].status, "skipped") << i;
    EXPECT_EQ(runs[i].reason, "quota") << i;
  }
  EXPECT_EQ(runs[7].status, "running");
}

TYPED_TEST(ScheduleContract, AdaptiveNextRunIsClampedToTheBounds) {
  auto& s = this->s();
  s.add("adaptive", "1 minute", R"({"min_interval": "5 seconds", "max_interval": "10 minutes"})",
        t(0));
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(60)), "adaptive");
  JobView v = this->finish(c.run_id, ok_with(R"({"next_run_in_ms": 1000})"), 0.5, t(60));
  EXPECT_EQ(v.next_run_at, t(65)) << "raised to min_interval";

  c = this->only_claim(s.tick(kW1, 10, kAlive, t(65)), "adaptive");
  v = this->finish(c.run_id, ok_with(R"({"next_run_in_ms": 3600000})"), 0.5, t(66));
  EXPECT_EQ(v.next_run_at, t(666)) << "lowered to max_interval";

  c = this->only_claim(s.tick(kW1, 10, kAlive, t(666)), "adaptive");
  v = this->finish(c.run_id, ok_with(R"({"next_run_in_ms": 30000})"), 0.5, t(667));
  EXPECT_EQ(v.next_run_at, t(697));

  c = this->only_claim(s.tick(kW1, 10, kAlive, t(697)), "adaptive");
  v = this->finish(c.run_id, ok_with(R"({"next_run_at": ")" + js_iso(t(797)) + R"("})"), 0.5,
                   t(698));
  EXPECT_EQ(v.next_run_at, t(797)) << "next_run_at " << js_iso(t(797));

  // A result that asks nothing: the schedule's own cadence again.
  c = this->only_claim(s.tick(kW1, 10, kAlive, t(797)), "adaptive");
  v = this->finish(c.run_id, ok_with(R"({"done": 1})"), 0.5, t(798));
  EXPECT_EQ(v.next_run_at, t(858));
  EXPECT_EQ(v.attempt, 0);
}

TYPED_TEST(ScheduleContract, RunNowClaimsAJobThatIsNotDue) {
  auto& s = this->s();
  s.add("manual", "1 hour", "{}", t(0));
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(1)).claims.empty());
  JobView v = s.run_now("manual", t(2));
  EXPECT_EQ(v.state, "active");
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(2)), "manual");
  EXPECT_EQ(c.attempt, 1);
  EXPECT_TRUE(s.tick(kW2, 10, kAlive, t(3)).claims.empty());
  v = this->finish(c.run_id, kOk, 0.5, t(4));
  EXPECT_EQ(v.next_run_at, t(3604));
  // The request was consumed by the claim.
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(5)).claims.empty());
}

TYPED_TEST(ScheduleContract, RunNowRunsAPausedJobOnceAndItStaysPaused) {
  auto& s = this->s();
  s.add("held", "10 seconds", "{}", t(0));
  s.pause("held", t(5));
  EXPECT_EQ(s.run_now("held", t(6)).state, "paused");
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(6)), "held");
  JobView v = this->finish(c.run_id, kOk, 0.5, t(7));
  EXPECT_EQ(v.state, "paused");
  EXPECT_EQ(v.next_run_at, t(17));
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(17)).claims.empty());
  EXPECT_EQ(statuses(s.runs("held")), std::vector<std::string>{"ok"});
}

TYPED_TEST(ScheduleContract, RequestedRunsAreClaimedBeforeDueOnes) {
  auto& s = this->s();
  s.add("due", "10 seconds", "{}", t(0));
  s.add("asked", "1 hour", "{}", t(1));
  s.run_now("asked", t(2));
  this->only_claim(s.tick(kW1, 1, kAlive, t(20)), "asked");
  this->only_claim(s.tick(kW1, 1, kAlive, t(20)), "due");
}

TYPED_TEST(ScheduleContract, FinishAfterTheRunWasReapedChangesNothing) {
  auto& s = this->s();
  s.add("late", "10 seconds", "{}", t(0));
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(10)), "late");
  EXPECT_EQ(s.tick(kW2, 10, {kW2}, t(11)).reaped, 1);
  JobView before = s.job("late");
  EXPECT_FALSE(s.finish(c.run_id, kOk, 0.5, t(12)).has_value());
  JobView after = s.job("late");
  EXPECT_EQ(after.state, before.state);
  EXPECT_EQ(after.next_run_at, before.next_run_at);
  EXPECT_EQ(after.attempt, 1);
  EXPECT_EQ(after.failures_in_row, 1);
  EXPECT_EQ(statuses(s.runs("late")), std::vector<std::string>{"lost"});
}

TYPED_TEST(ScheduleContract, ReplacingAScheduleStartsItAfresh) {
  auto& s = this->s();
  s.add("re", "10 seconds", R"({"backoff_base": "2 seconds"})", t(0));
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(10)), "re");
  EXPECT_EQ(this->finish(c.run_id, kError, 0.0, t(10)).attempt, 1);
  s.pause("re", t(11));
  JobView v = s.add("re", "1 minute", "{}", t(20));
  EXPECT_EQ(v.state, "active");
  EXPECT_EQ(v.attempt, 0);
  EXPECT_EQ(v.failures_in_row, 0);
  EXPECT_EQ(v.next_run_at, t(80));
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(79)).claims.empty());
  EXPECT_EQ(this->only_claim(s.tick(kW1, 10, kAlive, t(80)), "re").attempt, 1);
  EXPECT_EQ(statuses(s.runs("re")), (std::vector<std::string>{"error", "running"}));
}

TYPED_TEST(ScheduleContract, BadCallsAreRefused) {
  auto& s = this->s();
  EXPECT_ANY_THROW(s.pause("nosuch", t(0)));
  EXPECT_ANY_THROW(s.resume("nosuch", t(0)));
  EXPECT_ANY_THROW(s.run_now("nosuch", t(0)));
  s.add("strict", "10 seconds", "{}", t(0));
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(10)), "strict");
  // A worker reports ok, error or timeout; skipped and lost are the scheduler's own.
  EXPECT_ANY_THROW(s.finish(c.run_id, R"({"status": "skipped"})", 0.5, t(11)));
  EXPECT_ANY_THROW(s.finish(c.run_id, R"({"status": "lost"})", 0.5, t(11)));
  EXPECT_EQ(statuses(s.runs("strict")), std::vector<std::string>{"running"});
  EXPECT_EQ(this->finish(c.run_id, kOk, 0.5, t(11)).next_run_at, t(21));
}

TYPED_TEST(ScheduleContract, PausedJobIsNotClaimed) {
  auto& s = this->s();
  s.add("paused", "10 seconds", "{}", t(0));
  EXPECT_EQ(s.pause("paused", t(5)).state, "paused");
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(10)).claims.empty());
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(30)).claims.empty());
  EXPECT_TRUE(s.runs("paused").empty());
  // Resumed: the occurrences it missed are not made up, the next is the schedule's next time.
  JobView v = s.resume("paused", t(31));
  EXPECT_EQ(v.state, "active");
  EXPECT_EQ(v.next_run_at, t(41));
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(40)).claims.empty());
  this->only_claim(s.tick(kW1, 10, kAlive, t(41)), "paused");

  // Paused while a run is in flight: the run's end moves the counters, the job stays paused.
  s.add("inflight", "10 seconds", "{}", t(100));
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(110)), "inflight");
  s.pause("inflight", t(111));
  v = this->finish(c.run_id, kOk, 0.5, t(112));
  EXPECT_EQ(v.state, "paused");
  EXPECT_EQ(v.next_run_at, t(122));
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(122)).claims.empty());
}

TYPED_TEST(ScheduleContract, CronJobRunsAtTheTimesItNames) {
  auto& s = this->s();
  JobView v = s.add("quarter", "*/15 * * * *", "{}", t(1));
  EXPECT_EQ(v.next_run_at, t(900));
  EXPECT_TRUE(s.tick(kW1, 10, kAlive, t(899)).claims.empty());
  Claim c = this->only_claim(s.tick(kW1, 10, kAlive, t(900)), "quarter");
  v = this->finish(c.run_id, kOk, 0.5, t(905));
  EXPECT_EQ(v.next_run_at, t(1800));
  EXPECT_EQ(v.state, "active");

  // Six fields: seconds first. Second 30 of minute 0 of every hour.
  v = s.add("hourly30", "30 0 * * * *", "{}", t(1));
  EXPECT_EQ(v.next_run_at, t(30));
  c = this->only_claim(s.tick(kW1, 10, kAlive, t(30)), "hourly30");
  v = this->finish(c.run_id, kOk, 0.5, t(31));
  EXPECT_EQ(v.next_run_at, t(3630));
}

}  // namespace
