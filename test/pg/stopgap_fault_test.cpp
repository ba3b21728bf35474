// stopgap deploys and rollbacks killed in every phase (see stopgap_reliability.h).
#include <signal.h>
#include <unistd.h>

#include <signal.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/stopgap_reliability.h"

using pgtest::Connection;
using pgtest::eventually;
using pgtest::SqlError;
using namespace std::chrono_literals;
using namespace sgrel;

namespace {

// ---------------------------------------------------------------------------------------------
// 3. Faults in the middle of a deploy or rollback.

// Two versions of a source schema, different in every way a deploy changes a live schema:
//   ver()    body                        v1 'v1'         v2 'v2'
//   uses()   imports ver                 'uses v1'       'uses v2'
//   shape()  result type (drop + create) int 1           text 'two'
//   gone()   only in v1 (pruned by v2)   'gone'          -
//   born()   only in v2                  -               'born'
// `salt` makes the v2 sources (and so their artifacts) new for each case.
class FaultFixture : public StopgapReliabilitySlow {
 protected:
  struct Case {
    std::string what;      // "deploy" or "rollback"
    std::string pause_at;  // phase, or "" (killed after delay_ms)
    bool sigkill = false;
    double delay_ms = 0;
    std::string label;  // where a timed kill is expected to land
  };
  struct Result {
    std::string name;
    std::string outcome;  // what the environment had afterwards
    double killed_after_ms = 0;
    bool committed = false;
    bool ok = true;
  };

  void write_version(Connection& c, const std::string& schema, int version,
                     const std::string& salt) {
    const std::string note = salt.empty() ? "" : "// " + salt + "\n";
    define(c, schema, "ver()", "text", fmt::format("{}export default () => 'v{}'", note, version));
    define(c, schema, "uses()", "text",
           fmt::format("{}import ver from '@stopgap/{}/ver';\nexport default () => 'uses ' + ver()",
                       note, schema));
    if (version == 1) {
      define(c, schema, "shape()", "int", note + "export default () => 1");
      define(c, schema, "gone()", "text", note + "export default () => 'gone'");
    } else {
      define(c, schema, "shape()", "text", note + "export default () => 'two'");
      define(c, schema, "born()", "text", note + "export default () => 'born'");
    }
  }

  // What the live schema of `live` shows: "v1", "v2", or a description of what is wrong.
  std::string live_version(Connection& c, const std::string& live) {
    try {
      const std::string ver = c.scalar(fmt::format("select {}.ver()", live));
      const int v = ver == "v1" ? 1 : ver == "v2" ? 2 : 0;
      if (v == 0) return "ver() = " + ver;
      std::vector<std::string> wrong;
      if (c.scalar(fmt::format("select {}.uses()", live)) != "uses " + ver)
        wrong.push_back("uses()");
      const std::string shape =
          c.scalar(fmt::format("select pg_typeof({0}.shape())::text || ' ' || {0}.shape()", live));
      if (shape != (v == 1 ? "integer 1" : "text two")) wrong.push_back("shape() = " + shape);
      const std::string gone =
          c.scalar(fmt::format("select (to_regprocedure('{0}.gone()') is not null)::text || ' ' || "
                               "(to_regprocedure('{0}.born()') is not null)::text",
                               live));
      if (gone != (v == 1 ? "true false" : "false true")) wrong.push_back("gone/born " + gone);
      if (v == 1 && c.scalar(fmt::format("select {}.gone()", live)) != "gone")
        wrong.push_back("gone()");
      if (v == 2 && c.scalar(fmt::format("select {}.born()", live)) != "born")
        wrong.push_back("born()");
      if (!wrong.empty()) return ver + " but " + join(wrong, ", ");
      return ver;
    } catch (const std::exception& e) {
      return std::string("error: ") + first_line(e.what());
    }
  }

  // A session that deploys into env with live schema `live` and prune on.
  std::unique_ptr<Connection> deployer(const std::string& live) {
    auto c = std::make_unique<Connection>();
    c->query("set client_min_messages = warning");
    c->query(fmt::format("set stopgap.live_schema = '{}'", live));
    c->query("set stopgap.prune = on");
    return c;
  }

  // The environment of one case, named after `tag`: v1 deployed, and for a rollback v2 on top of
  // it (the rollback goes back to v1); v2's source ready (salted with the environment's name, so
  // its artifacts are new).
  struct Prepared {
    std::string env, live, v2, prev_id, prev_version, op_sql;
  };
  Prepared prepare(const std::string& tag, const std::string& what) {
    Prepared p;
    p.env = fmt::format("{}_{}", name_, tag);
    p.live = p.env + "_live";
    p.v2 = p.env + "_v2";
    admin_->query("create schema " + p.v2);
    write_version(*admin_, p.v2, 2, p.env);  // new to plts.artifact: the deploy stores them
    auto d = deployer(p.live);
    p.prev_id = d->scalar(fmt::format("select stopgap.deploy('{}', '{}_v1', 'v1')", p.env, name_));
    p.prev_version = "v1";
    if (what == "rollback") {
      p.prev_id = d->scalar(fmt::format("select stopgap.deploy('{}', '{}', 'v2')", p.env, p.v2));
      p.prev_version = "v2";
    }
    p.op_sql = what == "deploy"
                   ? fmt::format("select stopgap.deploy('{}', '{}', 'v2')", p.env, p.v2)
                   : fmt::format("select stopgap.rollback('{}')", p.env);
    return p;
  }

  // Starts the compiler in a session (a diff of v1: other sources than the deploy's, so nothing
  // of the deploy is cached), so that a timed deploy's time is stopgap's work rather than the
  // compiler's start (most of a first deploy in a fresh session).
  void warm_up(Connection& c, const Prepared& p) {
    c.query(fmt::format("select stopgap.diff('{}', '{}_v1')", p.env, name_));
  }

  // Holds the pause lock of `phase`, starts the operation in `victim` with stopgap.pause_at set,
  // and waits until it waits for that lock. Returns "" or what went wrong.
  std::string pause(Connection& controller, Connection& victim, const std::string& phase,
                    const std::string& op_sql) {
    controller.query(fmt::format(
        "select pg_advisory_lock(hashtext('stopgap.pause_at'), hashtext('{}'))", phase));
    victim.query(fmt::format("set stopgap.pause_at = '{}'", phase));
    victim.send(op_sql);
    const std::string controller_pid = std::to_string(controller.backend_pid());
    const std::string victim_pid = std::to_string(victim.backend_pid());
    const bool paused = eventually(
        [&] {
          return !victim.busy() ||
                 admin_->scalar("select ($1::int = any(pg_blocking_pids($2::int)))::text",
                                {controller_pid, victim_pid}) == "true";
        },
        60s);
    if (!victim.busy()) {
      const std::string state = victim.finish();
      return "it ended without pausing" + (state.empty() ? "" : " (" + state + ")");
    }
    if (!paused) return "it did not get there within 60 s";
    return "";
  }

  // A deploy paused at `phase` in a fresh session and then let go: how long it took to get there
  // and in all without the pause, in ms. Checks that it completes once released.
  std::pair<double, double> time_to_phase(const std::string& tag, const std::string& phase) {
    Prepared p = prepare(tag, "deploy");
    Connection controller;
    auto victim = deployer(p.live);
    warm_up(*victim, p);
    const auto t0 = Clock::now();
    const std::string wrong = pause(controller, *victim, phase, p.op_sql);
    const double reached = ms_since(t0);
    EXPECT_EQ(wrong, "") << "the deploy paused at " << phase;
    const auto released = Clock::now();
    controller.query(fmt::format(
        "select pg_advisory_unlock(hashtext('stopgap.pause_at'), hashtext('{}'))", phase));
    EXPECT_EQ(victim->finish(), "") << "the deploy released at " << phase;
    const double total = reached + ms_since(released);
    EXPECT_EQ(live_version(*admin_, p.live), "v2") << "the deploy released at " << phase;
    return {reached, total};
  }

  // Runs one case in an environment of its own; returns what happened.
  Result run_case(int n, const Case& k) {
    Result res;
    const char* how = k.sigkill ? "SIGKILL" : "pg_terminate_backend";
    res.name = k.pause_at.empty()
                   ? fmt::format("{} killed after {:.0f} ms{}, {}", k.what, k.delay_ms,
                                 k.label.empty() ? "" : " (" + k.label + ")", how)
                   : fmt::format("{} paused at {}, {}", k.what, k.pause_at, how);
    auto fail = [&](const std::string& why) {
      res.ok = false;
      res.outcome = why;
      ADD_FAILURE() << res.name << ": " << why;
      return res;
    };
    const Prepared p = prepare(fmt::format("c{}", n), k.what);
    const std::string& env = p.env;
    const std::string& live = p.live;
    const std::string count_sql =
        "select (select count(*) from stopgap.deployment where env = $1) || ' ' || (select "
        "count(*) from stopgap.activation_log where env = $1)";
    const std::string counts_before = admin_->scalar(count_sql, {env});
    const std::string before = pgtest::server_incarnation(*admin_);

    // The operation, paused or timed.
    auto victim = deployer(live);
    if (k.pause_at.empty()) warm_up(*victim, p);
    const int pid = victim->backend_pid();
    std::unique_ptr<Connection> controller;
    const auto t0 = Clock::now();
    if (!k.pause_at.empty()) {
      controller = std::make_unique<Connection>();
      const std::string wrong = pause(*controller, *victim, k.pause_at, p.op_sql);
      if (!wrong.empty()) return fail(fmt::format("the {} did not pause: {}", k.what, wrong));
    } else {
      victim->send(p.op_sql);
      std::this_thread::sleep_until(
          t0 + std::chrono::microseconds(static_cast<long>(k.delay_ms * 1000)));
    }
    res.killed_after_ms = ms_since(t0);

    // The kill.
    if (k.sigkill) {
      sigkill_backend(pid);
      if (::testing::Test::HasFatalFailure()) return fail("kill -9 failed");
      if (wait_for_restart(before).empty()) return fail("the server did not come back within 60 s");
      victim->finish();  // the connection is gone
      reconnect_admin();
    } else {
      admin_->query("select pg_terminate_backend($1)", {std::to_string(pid)});
      const std::string state = victim->finish();
      if (state != "57P01" && state != "08006" && state != "")
        return fail("the terminated operation ended with " + state);
      if (!eventually([&] { return backend_gone(*admin_, pid); }, 30s))
        return fail("the terminated backend did not exit within 30 s");
      if (pgtest::server_incarnation(*admin_) != before)
        return fail("pg_terminate_backend restarted the server");
    }
    controller.reset();

    // The environment afterwards: the operation either never happened (killed before its
    // commit) or happened whole (a timed kill that came after the commit).
    const std::string counts_after = admin_->scalar(count_sql, {env});
    const std::string active = admin_->scalar(
        "select active_deployment_id::text from stopgap.environment where env = $1", {env});
    const std::string now_version = live_version(*admin_, live);
    const std::string next_version = p.prev_version == "v1" ? "v2" : "v1";
    bool committed = false;
    if (active == p.prev_id) {
      if (counts_after != counts_before)
        return fail(
            fmt::format("the killed {} left rows behind: deployments + activations {} -> {}",
                        k.what, counts_before, counts_after));
      if (now_version != p.prev_version)
        return fail(fmt::format("deployment {} ({}) is active but the live schema shows {}", active,
                                p.prev_version, now_version));
    } else {
      committed = true;
      if (!k.pause_at.empty())
        return fail(
            fmt::format("a {} killed while paused took effect (active {})", k.what, active));
      if (now_version != next_version)
        return fail(fmt::format("the {} committed (active {}) but the live schema shows {}", k.what,
                                active, now_version));
    }
    auto problems = check_problems(*admin_, env);
    if (!problems.empty()) return fail("stopgap.check(): " + join(problems, "; "));

    // And the environment goes on: the operation done again (or, after one that had committed,
    // another deploy) succeeds and leaves it consistent.
    auto d = deployer(live);
    try {
      d->scalar(committed ? fmt::format("select stopgap.deploy('{}', '{}_v1', 'again')", env, name_)
                          : p.op_sql);
    } catch (const std::exception& e) {
      return fail(fmt::format("the {} after the kill failed: {}",
                              committed ? "deploy" : k.what + " done again", first_line(e.what())));
    }
    const std::string expect_now = committed ? "v1" : next_version;
    const std::string again = live_version(*admin_, live);
    if (again != expect_now)
      return fail(fmt::format("after the next operation the live schema shows {}, not {}", again,
                              expect_now));
    problems = check_problems(*admin_, env);
    if (!problems.empty())
      return fail("stopgap.check() after the next operation: " + join(problems, "; "));
    res.committed = committed;
    res.outcome =
        committed ? fmt::format("had committed: {} active; next deploy ok", next_version)
                  : fmt::format("undone: {} active; done again: {}", p.prev_version, next_version);
    return res;
  }

  void SetUpSources() {
    admin_->query("create schema " + name_ + "_v1");
    write_version(*admin_, name_ + "_v1", 1, "");
  }

  // The one-line figures scripts/test.sh repeats, and stopgap.check() over every case's
  // environment.
  void summarize(const char* kind, const std::vector<Result>& results) {
    auto problems = check_problems(*admin_, "", name_ + "_");
    const auto failed =
        std::count_if(results.begin(), results.end(), [](const Result& r) { return !r.ok; });
    report_figures(fmt::format("faults: {}: {} cases, {} failed, {} invariant violations", kind,
                               results.size(), failed, problems.size()));
    EXPECT_TRUE(problems.empty()) << "stopgap.check() over the environments of every case:\n"
                                  << join(problems);
  }

  static void print(const std::string& title, const std::vector<Result>& results) {
    std::ostringstream out;
    out << title << "\n";
    out << fmt::format("  {:<66} | {:>9} | {}\n", "case", "killed at", "afterwards");
    for (const auto& r : results)
      out << fmt::format("  {:<66} | {:>6.0f} ms | {}{}\n", r.name, r.killed_after_ms,
                         r.ok ? "" : "FAILED: ", r.outcome);
    std::cout << out.str() << std::flush;
  }
};

class StopgapReliabilityFaultSlow : public FaultFixture {};

TEST_F(StopgapReliabilityFaultSlow, KilledAtEachPausePoint) {
  SetUpSources();
  std::vector<Case> cases;
  for (const char* phase : {"compile", "store", "load", "materialize", "activate"})
    for (bool sigkill : {false, true}) cases.push_back({"deploy", phase, sigkill, 0});
  for (const char* phase : {"materialize", "activate"})
    for (bool sigkill : {false, true}) cases.push_back({"rollback", phase, sigkill, 0});
  std::vector<Result> results;
  const auto t0 = Clock::now();
  for (size_t i = 0; i < cases.size(); i++)
    results.push_back(run_case(static_cast<int>(i), cases[i]));
  print(fmt::format("faults at pause points: {} cases in {:.1f} s", cases.size(),
                    ms_since(t0) / 1000),
        results);
  summarize("at pause points", results);
}

TEST_F(StopgapReliabilityFaultSlow, KilledAtAnyMoment) {
  SetUpSources();
  // Where the phases of a deploy begin and when it ends, measured as the killed ones run (a fresh
  // session, new artifacts): each deploy paused after the first step of a phase, then let go.
  const std::vector<std::string> phases = {"compile", "store", "load", "materialize", "activate"};
  std::vector<double> reached, totals;
  for (const auto& phase : phases) {
    auto [at, total] = time_to_phase("m_" + phase, phase);
    reached.push_back(at);
    totals.push_back(total);
  }
  if (HasFailure()) return;
  std::sort(totals.begin(), totals.end());
  const double duration = totals[totals.size() / 2];  // the median
  std::string offsets;
  for (size_t i = 0; i < phases.size(); i++)
    offsets += fmt::format("{}{} {:.0f} ms", i ? ", " : "", phases[i], reached[i]);

  // Kill points: the middle of each phase as measured, and points spread evenly over the
  // deploy's duration and a little past it (a kill after the commit must find it whole).
  auto label_of = [&](double at) -> std::string {
    std::string label = "~start";
    for (size_t i = 0; i < phases.size(); i++)
      if (at >= reached[i]) label = "~" + phases[i];
    return at >= duration ? "~done" : label;
  };
  std::vector<double> at = {0};
  for (size_t i = 0; i < phases.size(); i++) {
    const double end = i + 1 < phases.size() ? reached[i + 1] : std::max(duration, reached[i]);
    at.push_back((reached[i] + end) / 2);
  }
  const int spread = static_cast<int>(env_long("STOPGAP_KILL_POINTS", 6));
  for (int i = 1; i <= spread; i++)
    at.push_back(std::max(duration, reached.back()) * 1.25 * i / spread);
  std::sort(at.begin(), at.end());
  std::vector<Case> cases;
  for (size_t i = 0; i < at.size(); i++)
    cases.push_back({"deploy", "", i % 2 == 1, at[i], label_of(at[i])});

  std::vector<Result> results;
  const auto t0 = Clock::now();
  for (size_t i = 0; i < cases.size(); i++)
    results.push_back(run_case(static_cast<int>(i), cases[i]));
  const long undone = std::count_if(results.begin(), results.end(),
                                    [](const Result& r) { return r.ok && !r.committed; });
  print(fmt::format("a deploy killed at {} moments in {:.1f} s (measured: {}, done {:.0f} ms; {} "
                    "undone, {} had committed)",
                    cases.size(), ms_since(t0) / 1000, offsets, duration, undone,
                    results.size() - undone),
        results);
  // Most kills land before the commit (the one at 0 ms always does).
  EXPECT_GT(undone, 0);
  summarize("at measured moments", results);
}

}  // namespace
