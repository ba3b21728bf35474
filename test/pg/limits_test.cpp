// Failure handling of the plts runtime: timeouts, cancel, terminate, heap and ArrayBuffer limits,
// stack limits (JS and through SQL), and the SQL/JS error boundary. Every failure is followed by a
// successful plts call in the same backend (same Connection): the backend must stay usable.
//
// Each test works in its own schema (lim_<pid>_<n>), created in SetUp and dropped in TearDown, and
// only SETs session settings, so test binaries may run in parallel against one cluster.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/pg_client.h"

using pgtest::Connection;
using pgtest::eventually;
using pgtest::SqlError;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The outcome of one statement: its SQLSTATE and message when it failed, else the first cell.
struct Outcome {
  std::string sqlstate;  // "" when the statement succeeded
  std::string message;
  std::optional<std::string> value;
};

Outcome run(Connection& c, const std::string& sql) {
  Outcome o;
  try {
    auto rows = c.query(sql);
    if (!rows.empty() && !rows[0].empty()) o.value = rows[0][0];
  } catch (const SqlError& e) {
    o.sqlstate = e.sqlstate.empty() ? "(none)" : e.sqlstate;
    o.message = e.what();
  }
  return o;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// True once the process is gone and reaped by its parent (the postmaster): a zombie still exists.
// Backends run on this machine (scripts/test.sh starts the cluster locally).
bool process_gone(int pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

class PltsLimits : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    schema_ = fmt::format("lim_{}_{}", ::getpid(), ++counter);
    admin_ = std::make_unique<Connection>();
    admin_->query("create schema " + schema_);
    // The normal call used after every failure, a loop that only ends when stopped (n = 0 returns
    // at once, to warm the function cache first), and a busy loop of a given number of
    // milliseconds.
    fn("add1(x int) returns int", "export default (ctx) => ctx.args.x + 1");
    fn("spin(n int) returns int", R"JS(
      export default (ctx) => {
        if (ctx.args.n === 0) return 0;
        while (true) {}
      })JS");
    fn("busy(ms int) returns int", R"JS(
      export default (ctx) => {
        const end = Date.now() + ctx.args.ms;
        let i = 0;
        while (Date.now() < end) i++;
        return ctx.args.ms;
      })JS");
  }

  void TearDown() override {
    try {
      Connection c;  // the test's own connections may be dead
      c.query("set client_min_messages = warning");
      c.query("drop schema if exists " + schema_ + " cascade");
      for (const auto& role : roles_) c.query("drop role if exists " + role);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup of " << schema_ << " failed: " << e.what();
    }
  }

  // Creates <schema>.<signature> in LANGUAGE plts; "@S@" in the body names the schema.
  void fn(const std::string& signature, const std::string& body, const std::string& options = "") {
    admin_->query(fmt::format("create function {}.{} language plts {} as $js${}$js$", schema_,
                              signature, options, replace_all(body, "@S@", schema_)));
  }

  std::string S(const std::string& name) const { return schema_ + "." + name; }
  std::string call(const std::string& expr) const { return "select " + schema_ + "." + expr; }

  // A normal plts call succeeds in this backend.
  void expect_usable(Connection& c, int x = 41) {
    EXPECT_TRUE(c.alive());
    auto o = run(c, call(fmt::format("add1({})", x)));
    EXPECT_EQ(o.sqlstate, "") << o.message;
    EXPECT_EQ(o.value, std::optional<std::string>(std::to_string(x + 1)));
  }

  std::string make_role(const std::string& tag) {
    std::string role = fmt::format("{}_{}", schema_, tag);
    admin_->query("create role " + role);
    roles_.push_back(role);
    return role;
  }

  // Waits until pid runs its statement on CPU (active, not waiting): after a warm-up call of the
  // same function this is the JS loop.
  static bool wait_running(Connection& observer, int pid) {
    return eventually([&] {
      return !observer
                  .query(
                      "select 1 from pg_stat_activity where pid = $1 and state = 'active' "
                      "and wait_event is null",
                      {std::to_string(pid)})
                  .empty();
    });
  }

  // Waits until pid sleeps in pg_sleep (inside ctx.db).
  static bool wait_pg_sleep(Connection& observer, int pid) {
    return eventually([&] {
      return !observer
                  .query("select 1 from pg_stat_activity where pid = $1 and wait_event = 'PgSleep'",
                         {std::to_string(pid)})
                  .empty();
    });
  }

  std::string schema_;
  std::unique_ptr<Connection> admin_;
  std::vector<std::string> roles_;
};

// ---- statement_timeout / plts.max_runtime_ms ----------------------------------------------------

TEST_F(PltsLimits, StatementTimeoutStopsJsLoop) {
  Connection c;
  expect_usable(c);
  // Repeatedly: a stopped backend can be stopped again, and works in between.
  for (int i = 0; i < 3; i++) {
    c.query("set statement_timeout = '200ms'");
    auto t0 = Clock::now();
    EXPECT_EQ(c.error_of(call("spin(1)")), "57014") << "round " << i;
    EXPECT_LT(seconds_since(t0), 10.0);
    c.query("reset statement_timeout");
    expect_usable(c, i);
  }
}

TEST_F(PltsLimits, TimeoutIsUncatchableFromJs) {
  // Each body must end in 57014 although JS tries to catch, finalize, or keep going in microtasks.
  const std::vector<std::string> bodies = {
      "export default () => { try { while (true) {} } catch (e) { return 'caught' } }",
      "export default () => { try { while (true) {} } catch (e) {} return 'after catch' }",
      "export default () => { try { while (true) {} } finally { return 'finally ran' } }",
      "export default async () => { try { await null; while (true) {} } catch (e) { return "
      "'caught' } }",
      "export default async () => { for (;;) await null; }",
      "export default async () => { try { await new Promise(() => { while (true) {} }) } "
      "catch (e) { return 'caught' } }",
      "export default () => { const re = /(a+)+$/; const s = 'a'.repeat(32) + '!'; "
      "try { for (;;) re.test(s); } catch (e) { return 'caught' } }",
  };
  for (size_t i = 0; i < bodies.size(); i++)
    fn(fmt::format("uncatchable{}() returns text", i), bodies[i]);

  Connection c;
  expect_usable(c);
  for (size_t i = 0; i < bodies.size(); i++) {
    c.query("set statement_timeout = '200ms'");
    auto t0 = Clock::now();
    auto o = run(c, call(fmt::format("uncatchable{}()", i)));
    EXPECT_EQ(o.sqlstate, "57014")
        << bodies[i] << "\nreturned: " << o.value.value_or("(null)") << "\n"
        << o.message;
    EXPECT_LT(seconds_since(t0), 10.0) << bodies[i];
    c.query("reset statement_timeout");
    expect_usable(c, static_cast<int>(i));
  }
}

TEST_F(PltsLimits, MaxRuntimeStopsJsLoop) {
  Connection c;
  expect_usable(c);
  // statement_timeout is only a safety net here: max_runtime_ms is stricter and must win.
  c.query("set statement_timeout = '20s'");
  c.query("set plts.max_runtime_ms = 200");
  auto t0 = Clock::now();
  EXPECT_EQ(c.error_of(call("spin(1)")), "57014");
  EXPECT_LT(seconds_since(t0), 10.0) << "plts.max_runtime_ms did not stop the loop";
  expect_usable(c);
}

// A module whose top-level code was stopped (time limit, cancel) is not kept: the next call runs
// it again. V8 leaves such a module errored with the termination's null as its exception, and
// plts once cached it, so every later call failed with "null" (P0001) until the backend ended.
TEST_F(PltsLimits, ModuleStoppedAtTopLevelRunsAgainOnTheNextCall) {
  fn("spin_at_load() returns int", R"JS(
    while (true) {}
    export default () => 1;)JS");
  fn("spin_on_first_load() returns int", R"JS(
    if (!globalThis.__loaded_once) { globalThis.__loaded_once = true; while (true) {} }
    export default () => 2;)JS");
  Connection c;
  c.query("set statement_timeout = '20s'");  // safety net only
  c.query("set plts.max_runtime_ms = 200");
  for (int i = 0; i < 3; i++) {
    auto o = run(c, call("spin_at_load()"));
    EXPECT_EQ(o.sqlstate, "57014") << "call " << i << ": " << o.message;
  }
  EXPECT_EQ(c.error_of(call("spin_on_first_load()")), "57014");
  EXPECT_EQ(c.scalar(call("spin_on_first_load()")), "2");  // its top level ran again, and finished
  c.query("reset plts.max_runtime_ms");
  expect_usable(c);
}

TEST_F(PltsLimits, StatementTimeoutWinsWhenStricterThanMaxRuntime) {
  Connection c;
  expect_usable(c);
  c.query("set plts.max_runtime_ms = 60000");
  c.query("set statement_timeout = '200ms'");
  auto t0 = Clock::now();
  EXPECT_EQ(c.error_of(call("spin(1)")), "57014");
  EXPECT_LT(seconds_since(t0), 10.0);
  c.query("reset statement_timeout");
  expect_usable(c);
}

TEST_F(PltsLimits, DeadlineIsPerCallAndDoesNotLeakIntoNextCall) {
  Connection c;
  EXPECT_EQ(c.scalar(call("busy(0)")), "0");  // warm: compile outside the measured calls
  c.query("set plts.max_runtime_ms = 200");
  EXPECT_EQ(c.error_of(call("spin(1)")), "57014");
  // Each call gets a fresh 200 ms: calls of 50 ms never see a stale termination or a shared budget.
  for (int i = 0; i < 5; i++) {
    auto o = run(c, call("busy(50)"));
    EXPECT_EQ(o.sqlstate, "") << "call " << i << ": " << o.message;
    EXPECT_EQ(o.value, std::optional<std::string>("50"));
  }
  c.query("reset plts.max_runtime_ms");
  c.query("set statement_timeout = '200ms'");
  EXPECT_EQ(c.error_of(call("spin(1)")), "57014");
  for (int i = 0; i < 5; i++) {
    auto o = run(c, call("busy(50)"));
    EXPECT_EQ(o.sqlstate, "") << "call " << i << ": " << o.message;
  }
  c.query("reset statement_timeout");
  expect_usable(c);
}

TEST_F(PltsLimits, DeadlineRacingTheEndOfACallNeverPoisonsTheNextCall) {
  // Calls that end right around the deadline either succeed or fail with 57014; the trivial call
  // after each one always succeeds (a late TerminateExecution must not hit the next call).
  Connection c;
  EXPECT_EQ(c.scalar(call("busy(0)")), "0");
  // Both functions loaded first: a first call's module load is not what this test times (under
  // the sanitizers on a loaded machine it alone can take the 20 ms).
  EXPECT_EQ(c.scalar(call("add1(0)")), "1");
  c.query("set plts.max_runtime_ms = 20");
  for (int i = 0; i < 30; i++) {
    auto o = run(c, call(fmt::format("busy({})", 15 + i % 11)));
    EXPECT_TRUE(o.sqlstate == "" || o.sqlstate == "57014") << o.sqlstate << ": " << o.message;
    auto next = run(c, call(fmt::format("add1({})", i)));
    EXPECT_EQ(next.sqlstate, "") << "after round " << i << ": " << next.message;
    EXPECT_EQ(next.value, std::optional<std::string>(std::to_string(i + 1)));
  }
}

TEST_F(PltsLimits, TimeoutDuringCtxDbQueryIsUncatchable) {
  fn("sleep_caught() returns text", R"JS(
    export default async (ctx) => {
      try { await ctx.db.query('select pg_sleep(10)') } catch (e) { return 'swallowed ' + e.sqlstate }
      return 'slept'
    })JS");
  Connection c;
  expect_usable(c);
  c.query("set statement_timeout = '300ms'");
  auto t0 = Clock::now();
  auto o = run(c, call("sleep_caught()"));
  EXPECT_EQ(o.sqlstate, "57014") << "returned: " << o.value.value_or("(null)");
  EXPECT_LT(seconds_since(t0), 5.0);
  c.query("reset statement_timeout");
  expect_usable(c);
}

TEST_F(PltsLimits, MaxRuntimeStopsSqlRunningUnderCtxDb) {
  // TerminateExecution cannot stop SQL under SPI: the deadline must also cancel the statement.
  fn("sleep_caught() returns text", R"JS(
    export default async (ctx) => {
      try { await ctx.db.query('select pg_sleep(10)') } catch (e) { return 'swallowed ' + e.sqlstate }
      return 'slept'
    })JS");
  Connection c;
  expect_usable(c);
  c.query("set statement_timeout = '20s'");  // safety net only
  c.query("set plts.max_runtime_ms = 300");
  auto t0 = Clock::now();
  auto o = run(c, call("sleep_caught()"));
  EXPECT_EQ(o.sqlstate, "57014") << "returned: " << o.value.value_or("(null)");
  EXPECT_LT(seconds_since(t0), 5.0)
      << "plts.max_runtime_ms did not interrupt pg_sleep under ctx.db";
  c.query("reset plts.max_runtime_ms");
  expect_usable(c);
}

TEST_F(PltsLimits, TimeoutInNestedPltsCallIsUncatchableByOuterJs) {
  // Outer JS -> ctx.db -> inner plts loop: the inner call's 57014 reaches the outer JS as a SQL
  // error, which still must not be swallowed.
  fn("outer_spin() returns text", R"JS(
    export default async (ctx) => {
      try { await ctx.db.query('select @S@.spin(1)') } catch (e) { return 'swallowed ' + e.sqlstate }
      return 'returned'
    })JS");
  Connection c;
  expect_usable(c);
  c.query("set statement_timeout = '300ms'");
  auto t0 = Clock::now();
  auto o = run(c, call("outer_spin()"));
  EXPECT_EQ(o.sqlstate, "57014") << "returned: " << o.value.value_or("(null)");
  EXPECT_LT(seconds_since(t0), 10.0);
  c.query("reset statement_timeout");
  expect_usable(c);
}

// ---- cancel / terminate
// --------------------------------------------------------------------------

TEST_F(PltsLimits, CancelStopsJsLoop) {
  Connection victim, observer;
  victim.query("set statement_timeout = '20s'");   // safety net; the cancel must act long before
  EXPECT_EQ(victim.scalar(call("spin(0)")), "0");  // warm: the next call goes straight into JS
  const int pid = victim.backend_pid();
  victim.send(call("spin(1)"));
  ASSERT_TRUE(wait_running(observer, pid)) << "victim never became active";
  auto t0 = Clock::now();
  EXPECT_EQ(observer.scalar("select pg_cancel_backend($1)", {std::to_string(pid)}), "t");
  EXPECT_EQ(victim.finish(), "57014");
  EXPECT_LT(seconds_since(t0), 10.0) << "cancel did not stop the loop (the safety timeout did)";
  expect_usable(victim);
  // Still cancellable afterwards.
  victim.send(call("spin(1)"));
  ASSERT_TRUE(wait_running(observer, pid));
  EXPECT_EQ(observer.scalar("select pg_cancel_backend($1)", {std::to_string(pid)}), "t");
  EXPECT_EQ(victim.finish(), "57014");
  expect_usable(victim);
  EXPECT_EQ(victim.backend_pid(), pid);
}

TEST_F(PltsLimits, CancelDuringCtxDbQueryIsUncatchable) {
  fn("sleep_caught() returns text", R"JS(
    export default async (ctx) => {
      try { await ctx.db.query('select pg_sleep(10)') } catch (e) { return 'swallowed ' + e.sqlstate }
      return 'slept'
    })JS");
  Connection victim, observer;
  victim.query("set statement_timeout = '20s'");
  expect_usable(victim);
  const int pid = victim.backend_pid();
  victim.send(call("sleep_caught()"));
  ASSERT_TRUE(wait_pg_sleep(observer, pid)) << "victim never reached pg_sleep under ctx.db";
  auto t0 = Clock::now();
  EXPECT_EQ(observer.scalar("select pg_cancel_backend($1)", {std::to_string(pid)}), "t");
  EXPECT_EQ(victim.finish(), "57014");
  EXPECT_LT(seconds_since(t0), 5.0);
  expect_usable(victim);
  EXPECT_EQ(victim.backend_pid(), pid);
}

TEST_F(PltsLimits, TerminateDuringJsLoopEndsOnlyThatBackend) {
  Connection victim, observer;
  victim.query("set statement_timeout = '20s'");
  EXPECT_EQ(victim.scalar(call("spin(0)")), "0");
  const std::string started = pgtest::server_incarnation(observer);
  const int observer_pid = observer.backend_pid();
  const int pid = victim.backend_pid();
  victim.send(call("spin(1)"));
  ASSERT_TRUE(wait_running(observer, pid));
  EXPECT_EQ(observer.scalar("select pg_terminate_backend($1)", {std::to_string(pid)}), "t");
  const std::string state = victim.finish();
  EXPECT_NE(state, "") << "the terminated call succeeded";
  EXPECT_NE(state, "57014") << "terminate did not act; the safety timeout did";
  EXPECT_FALSE(victim.alive());
  // The backend exits cleanly (its pg_stat_activity entry goes) and is reaped by the postmaster;
  // a crash would make the postmaster kill every other backend, the observer included.
  EXPECT_TRUE(eventually([&] {
    return observer.query("select 1 from pg_stat_activity where pid = $1", {std::to_string(pid)})
        .empty();
  }));
  EXPECT_TRUE(eventually([&] { return process_gone(pid); }))
      << "backend " << pid << " still exists";
  expect_usable(observer);
  EXPECT_EQ(observer.backend_pid(), observer_pid);
  Connection fresh;
  expect_usable(fresh);
  EXPECT_EQ(pgtest::server_incarnation(fresh), started);
  expect_usable(observer);
}

TEST_F(PltsLimits, TerminateDuringCtxDbQueryEndsOnlyThatBackend) {
  // FATAL raised while V8 frames are on the stack (inside ctx.db): the backend must exit without
  // crashing.
  fn("sleep_caught() returns text", R"JS(
    export default async (ctx) => {
      try { await ctx.db.query('select pg_sleep(10)') } catch (e) { return 'swallowed ' + e.sqlstate }
      return 'slept'
    })JS");
  Connection victim, observer;
  victim.query("set statement_timeout = '20s'");
  expect_usable(victim);
  const std::string started = pgtest::server_incarnation(observer);
  const int pid = victim.backend_pid();
  victim.send(call("sleep_caught()"));
  ASSERT_TRUE(wait_pg_sleep(observer, pid));
  EXPECT_EQ(observer.scalar("select pg_terminate_backend($1)", {std::to_string(pid)}), "t");
  const std::string state = victim.finish();
  EXPECT_NE(state, "");
  EXPECT_NE(state, "57014");
  EXPECT_FALSE(victim.alive());
  EXPECT_TRUE(eventually([&] {
    return observer.query("select 1 from pg_stat_activity where pid = $1", {std::to_string(pid)})
        .empty();
  }));
  EXPECT_TRUE(eventually([&] { return process_gone(pid); }))
      << "backend " << pid << " still exists";
  expect_usable(observer);
  Connection fresh;
  expect_usable(fresh);
  EXPECT_EQ(pgtest::server_incarnation(fresh), started);
}

// ---- heap and ArrayBuffer memory
// -----------------------------------------------------------------

TEST_F(PltsLimits, HeapLimitStopsArrayGrowth) {
  fn("hog() returns int", R"JS(
    export default () => {
      const a = [];
      while (true) a.push({ x: a.length, s: 'x'.repeat(10) });
    })JS");
  Connection c;  // new backend: the limit is set before V8 starts here
  c.query("set plts.max_heap_mb = 64");
  c.query("set statement_timeout = '30s'");  // safety net only
  expect_usable(c, 1);  // caches add1 in the isolate that is about to hit its limit
  auto t0 = Clock::now();
  auto o = run(c, call("hog()"));
  EXPECT_EQ(o.sqlstate, "53200") << o.message;
  EXPECT_LT(seconds_since(t0), 25.0);
  // The isolate is recreated: cached functions and new ones work, and the limit holds again.
  expect_usable(c, 2);
  EXPECT_EQ(c.scalar(call("busy(1)")), "1");
  o = run(c, call("hog()"));
  EXPECT_EQ(o.sqlstate, "53200") << o.message;
  expect_usable(c, 3);
}

TEST_F(PltsLimits, HeapLimitIsUncatchable) {
  fn("hog_caught() returns text", R"JS(
    export default () => {
      const a = [];
      try { while (true) a.push({ x: a.length, s: 'x'.repeat(10) }); }
      catch (e) { a.length = 0; return 'caught ' + e }
    })JS");
  Connection c;
  c.query("set plts.max_heap_mb = 64");
  c.query("set statement_timeout = '30s'");
  expect_usable(c);
  auto o = run(c, call("hog_caught()"));
  EXPECT_EQ(o.sqlstate, "53200") << "returned: " << o.value.value_or("(null)") << "\n" << o.message;
  expect_usable(c);
}

TEST_F(PltsLimits, HeapLimitInNestedPltsCall) {
  // The isolate is shared by the outer and the inner call: the heap error ends the whole statement
  // and the isolate is replaced only once no JS frame is left.
  fn("hog() returns int", R"JS(
    export default () => {
      const a = [];
      while (true) a.push({ x: a.length, s: 'x'.repeat(10) });
    })JS");
  fn("outer_hog() returns text", R"JS(
    export default async (ctx) => {
      try { await ctx.db.query('select @S@.hog()') } catch (e) { return 'swallowed ' + e.sqlstate }
      return 'returned'
    })JS");
  Connection c;
  c.query("set plts.max_heap_mb = 64");
  c.query("set statement_timeout = '30s'");
  expect_usable(c);
  auto o = run(c, call("outer_hog()"));
  EXPECT_EQ(o.sqlstate, "53200") << "returned: " << o.value.value_or("(null)") << "\n" << o.message;
  expect_usable(c);
}

TEST_F(PltsLimits, MaxHeapIsSuperuserOnly) {
  const std::string role = make_role("nosu");
  admin_->query(fmt::format("grant usage on schema {} to {}", schema_, role));
  Connection c;
  expect_usable(c);  // plts loaded: the setting is defined, not a placeholder
  EXPECT_EQ(c.error_of("set plts.max_heap_mb = 64"), "");  // the tests run as superuser
  c.query("reset plts.max_heap_mb");
  c.query("set role " + role);
  EXPECT_EQ(c.error_of("set plts.max_heap_mb = 64"), "42501");
  expect_usable(c);
  c.query("reset role");
}

TEST_F(PltsLimits, HugeTypedArrayIsAnErrorNotACrash) {
  fn("huge() returns text", "export default () => String(new Float64Array(1e9).length)");
  fn("huge_caught() returns text", R"JS(
    export default () => {
      try { new Float64Array(1e9) } catch (e) { return 'caught' }
      return 'allocated'
    })JS");
  fn("small_array() returns int", "export default () => new Float64Array(1024).length");
  Connection c;
  c.query("set statement_timeout = '30s'");
  expect_usable(c);
  auto o = run(c, call("huge()"));
  EXPECT_NE(o.sqlstate, "") << "returned: " << o.value.value_or("(null)");
  EXPECT_NE(o.sqlstate, "57014");
  expect_usable(c);
  EXPECT_EQ(c.scalar(call("huge_caught()")), "caught");
  expect_usable(c);
  EXPECT_EQ(c.scalar(call("small_array()")), "1024");
}

TEST_F(PltsLimits, ArrayBufferBudgetStopsCumulativeGrowth) {
  // Many buffers, each small enough on its own: the budget counts them all, and frees them again.
  fn("buffers() returns int", R"JS(
    export default () => {
      const keep = [];
      for (;;) keep.push(new ArrayBuffer(8 * 1024 * 1024));
    })JS");
  fn("buffers_caught() returns text", R"JS(
    export default () => {
      const keep = [];
      try { for (;;) keep.push(new ArrayBuffer(8 * 1024 * 1024)); }
      catch (e) { const n = keep.length; keep.length = 0; return n > 0 ? 'caught' : 'caught at first' }
    })JS");
  fn("buffer(mb int) returns int",
     "export default (ctx) => new ArrayBuffer(ctx.args.mb * 1024 * 1024).byteLength");
  Connection c;
  c.query("set statement_timeout = '30s'");  // safety net: growth must be stopped by the budget
  expect_usable(c);
  auto o = run(c, call("buffers()"));
  EXPECT_NE(o.sqlstate, "");
  EXPECT_NE(o.sqlstate, "57014") << "no ArrayBuffer budget: the safety timeout stopped the growth";
  expect_usable(c);
  EXPECT_EQ(c.scalar(call("buffer(8)")), std::to_string(8 * 1024 * 1024));
  EXPECT_EQ(c.scalar(call("buffers_caught()")), "caught");
  EXPECT_EQ(c.scalar(call("buffer(8)")), std::to_string(8 * 1024 * 1024));
  expect_usable(c);
}

// ---- stack
// ---------------------------------------------------------------------------------------

TEST_F(PltsLimits, DeepJsRecursionIsAnError) {
  fn("deep() returns int", R"JS(
    function f(n) { return f(n + 1) + 1 }
    export default () => f(0))JS");
  Connection c;
  expect_usable(c);
  auto o = run(c, call("deep()"));
  EXPECT_NE(o.sqlstate, "");
  // The message must survive the stack overflow (V8's own text or PostgreSQL's).
  EXPECT_NE(o.message.find("stack"), std::string::npos) << o.message;
  expect_usable(c);
  o = run(c, call("deep()"));
  EXPECT_NE(o.sqlstate, "");
  expect_usable(c);
}

TEST_F(PltsLimits, DeepJsRecursionCaughtInJs) {
  // A stack overflow is an ordinary JS RangeError: catching it is allowed (or the runtime reports
  // it as an error); either way the backend continues.
  fn("deep_caught() returns text", R"JS(
    function f(n) { return f(n + 1) + 1 }
    export default () => {
      try { return String(f(0)) } catch (e) { return e instanceof RangeError ? 'caught RangeError' : 'caught other' }
    })JS");
  Connection c;
  expect_usable(c);
  auto o = run(c, call("deep_caught()"));
  if (o.sqlstate.empty()) {
    EXPECT_EQ(o.value, std::optional<std::string>("caught RangeError"));
  }
  expect_usable(c);
}

TEST_F(PltsLimits, DeepJsRecursionInsideSqlRecursion) {
  // JS stack overflow at SQL depth 20: the V8 stack limit must hold with outer plts frames below.
  fn("nest_then_deep(n int) returns int", R"JS(
    function f(n) { return f(n + 1) + 1 }
    export default async (ctx) => {
      if (ctx.args.n === 0) return f(0);
      const rows = await ctx.db.query('select @S@.nest_then_deep($1) as r', [ctx.args.n - 1]);
      return rows[0].r;
    })JS");
  Connection c;
  expect_usable(c);
  auto o = run(c, call("nest_then_deep(20)"));
  EXPECT_NE(o.sqlstate, "");
  expect_usable(c);
}

TEST_F(PltsLimits, SqlRecursionEndsInStackDepthLimit) {
  fn("rec(n int) returns int", R"JS(
    export default async (ctx) => {
      const rows = await ctx.db.query('select @S@.rec($1) as r', [ctx.args.n + 1]);
      return rows[0].r;
    })JS");
  Connection c;
  expect_usable(c);
  auto o = run(c, call("rec(0)"));
  EXPECT_EQ(o.sqlstate, "54001") << o.message;
  expect_usable(c);
  // Again, in a transaction that goes on afterwards (it is aborted, rolls back, and the next
  // works).
  c.query("begin");
  EXPECT_EQ(c.error_of(call("rec(0)")), "54001");
  c.query("rollback");
  expect_usable(c);
}

TEST_F(PltsLimits, SqlRecursionStackErrorCaughtInJs) {
  // Catching "stack depth limit exceeded" from ctx.db is allowed: the transaction continues.
  fn("rec_caught(n int) returns text", R"JS(
    export default async (ctx) => {
      try {
        const rows = await ctx.db.query('select @S@.rec_caught($1) as r', [ctx.args.n + 1]);
        return rows[0].r;
      } catch (e) { return 'caught ' + e.sqlstate }
    })JS");
  Connection c;
  expect_usable(c);
  c.query("begin");
  EXPECT_EQ(c.scalar(call("rec_caught(0)")), "caught 54001");
  expect_usable(c);
  c.query("commit");
  expect_usable(c);
}

TEST_F(PltsLimits, SqlRecursionWithBaseCase) {
  fn("rec_to(n int, lim int) returns int", R"JS(
    export default async (ctx) => {
      if (ctx.args.n >= ctx.args.lim) return ctx.args.n;
      const rows = await ctx.db.query('select @S@.rec_to($1, $2) as r', [ctx.args.n + 1, ctx.args.lim]);
      return rows[0].r;
    })JS");
  Connection c;
  expect_usable(c);
  // 100 levels fit the default max_stack_depth (2MB).
  EXPECT_EQ(c.scalar(call("rec_to(0, 100)")), "100");
  // 1,000 levels: with room (7MB) this should succeed; otherwise it must end cleanly in 54001.
  const std::string set_depth = c.error_of("set max_stack_depth = '7MB'");
  auto o = run(c, call("rec_to(0, 1000)"));
  if (o.sqlstate.empty()) {
    EXPECT_EQ(o.value, std::optional<std::string>("1000"));
  } else {
    EXPECT_EQ(o.sqlstate, "54001") << o.message;
    std::cerr << "note: 1000 levels ended in 54001 (set max_stack_depth: "
              << (set_depth.empty() ? "ok" : set_depth) << ")\n";
  }
  expect_usable(c);
  EXPECT_EQ(c.scalar(call("rec_to(0, 100)")), "100");
}

// ---- SQL errors through ctx.db
// -------------------------------------------------------------------

TEST_F(PltsLimits, SqlErrorCaughtInJsThenMoreQueriesInSameTransaction) {
  admin_->query(fmt::format("create table {}.log(v text, msg text)", schema_));
  fn("catch_then_insert() returns text", R"JS(
    export default async (ctx) => {
      let state = null, msg = null;
      try { await ctx.db.query('select 1/0') } catch (e) { state = e.sqlstate; msg = e.message }
      await ctx.db.exec('insert into @S@.log(v, msg) values ($1, $2)', [state, msg]);
      return state;
    })JS");
  Connection c;
  c.query("begin");
  EXPECT_EQ(c.scalar(call("catch_then_insert()")), "22012");
  EXPECT_EQ(c.scalar(fmt::format("select count(*) from {}.log", schema_)), "1");
  c.query("commit");
  Connection other;
  auto rows = other.query(fmt::format("select v, msg from {}.log", schema_));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], std::optional<std::string>("22012"));
  ASSERT_TRUE(rows[0][1].has_value());
  EXPECT_NE(rows[0][1]->find("division by zero"), std::string::npos) << *rows[0][1];
  expect_usable(c);
}

TEST_F(PltsLimits, CaughtSqlErrorRollsBackOnlyItsOwnStatement) {
  admin_->query(fmt::format("create table {}.kv(k int primary key, v text)", schema_));
  fn("partial() returns text", R"JS(
    export default async (ctx) => {
      const states = [];
      await ctx.db.exec('insert into @S@.kv values (1, $1)', ['before']);
      try { await ctx.db.exec('insert into @S@.kv values (1, $1)', ['duplicate']) } catch (e) { states.push(e.sqlstate) }
      try { await ctx.db.query('select 1/0') } catch (e) { states.push(e.sqlstate) }
      try { await ctx.db.query('select * from @S@.no_such_table') } catch (e) { states.push(e.sqlstate) }
      const r = await ctx.db.exec('insert into @S@.kv values (2, $1)', ['after']);
      states.push(String(r.rowCount));
      return states.join(',');
    })JS");
  Connection c;
  c.query("begin");
  EXPECT_EQ(c.scalar(call("partial()")), "23505,22012,42P01,1");
  c.query("commit");
  auto rows = c.query(fmt::format("select k, v from {}.kv order by k", schema_));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][1], std::optional<std::string>("before"));
  EXPECT_EQ(rows[1][1], std::optional<std::string>("after"));
  expect_usable(c);
}

TEST_F(PltsLimits, UncaughtSqlErrorKeepsItsSqlstate) {
  admin_->query(fmt::format("create table {}.t(v int)", schema_));
  fn("div0() returns int",
     "export default async (ctx) => { await ctx.db.query('select 1/0'); return 1 }");
  fn("div0_rethrow() returns int", R"JS(
    export default async (ctx) => {
      try { await ctx.db.query('select 1/0') } catch (e) { throw e }
      return 1
    })JS");
  fn("div0_exec() returns int",
     "export default async (ctx) => (await ctx.db.exec('insert into @S@.t values "
     "(1/0)')).rowCount");
  fn("div0_promise() returns int", "export default (ctx) => ctx.db.query('select 1/0')");
  fn("dup_table() returns int",
     "export default async (ctx) => { await ctx.db.exec('create table @S@.t(v int)'); return 1 }");
  Connection c;
  for (const char* f : {"div0()", "div0_rethrow()", "div0_exec()", "div0_promise()"}) {
    EXPECT_EQ(c.error_of(call(f)), "22012") << f;
    expect_usable(c);
  }
  EXPECT_EQ(c.error_of(call("dup_table()")), "42P07");
  expect_usable(c);
  // In an explicit transaction: the error aborts it as any SQL error would; rollback recovers.
  c.query("begin");
  EXPECT_EQ(c.error_of(call("div0()")), "22012");
  EXPECT_EQ(c.error_of("select 1"), "25P02");
  c.query("rollback");
  expect_usable(c);
}

TEST_F(PltsLimits, ErrorFromNestedPltsCallCaughtByOuterJs) {
  admin_->query(fmt::format("create table {}.t(v text)", schema_));
  fn("inner_throw() returns int", R"JS(
    export default () => { throw Object.assign(new Error('inner boom'), { sqlstate: '22023' }) })JS");
  fn("outer_catch() returns text", R"JS(
    export default async (ctx) => {
      let got;
      try { await ctx.db.query('select @S@.inner_throw()') }
      catch (e) { got = e.sqlstate + ':' + String(e.message).includes('inner boom') }
      await ctx.db.exec('insert into @S@.t values ($1)', [got]);
      return got;
    })JS");
  Connection c;
  EXPECT_EQ(c.error_of(call("inner_throw()")), "22023");
  expect_usable(c);
  c.query("begin");
  EXPECT_EQ(c.scalar(call("outer_catch()")), "22023:true");
  c.query("commit");
  EXPECT_EQ(c.scalar(fmt::format("select string_agg(v, ';') from {}.t", schema_)), "22023:true");
  expect_usable(c);
}

// ---- odd JS failures
// ------------------------------------------------------------------------------

TEST_F(PltsLimits, HostileThrownValuesBecomeErrors) {
  const std::vector<std::string> bodies = {
      "export default () => { throw 42 }",
      "export default () => { throw null }",
      "export default () => { throw undefined }",
      "export default () => { throw { toString() { throw new Error('toString') } } }",
      "export default () => { throw new Proxy({}, { get() { throw new Error('trap') } }) }",
      "export default () => { const e = new Error('x'); "
      "Object.defineProperty(e, 'stack', { get() { throw new Error('stack getter') } }); throw e }",
      "export default () => { throw Object.assign(new Error('bad code'), { sqlstate: 'not a code!' "
      "}) }",
      "export default () => { throw Object.assign(new Error('x'), { detail: { toString() { throw 1 "
      "} }, "
      "hint: Symbol('h') }) }",
      "export default async () => { throw new Proxy({}, { get() { throw new Error('trap') } }) }",
      "export default () => Promise.reject(Symbol('s'))",
  };
  for (size_t i = 0; i < bodies.size(); i++)
    fn(fmt::format("hostile{}() returns int", i), bodies[i]);
  Connection c;
  for (size_t i = 0; i < bodies.size(); i++) {
    auto o = run(c, call(fmt::format("hostile{}()", i)));
    EXPECT_NE(o.sqlstate, "") << bodies[i];
    EXPECT_NE(o.sqlstate, "08006") << bodies[i] << ": connection lost";
    expect_usable(c, static_cast<int>(i));
  }
}

TEST_F(PltsLimits, ThrownSqlstateIsHonored) {
  fn("throws_state() returns int", R"JS(
    export default () => { throw Object.assign(new Error('custom'), { sqlstate: '22023', detail: 'd', hint: 'h' }) })JS");
  Connection c;
  auto o = run(c, call("throws_state()"));
  EXPECT_EQ(o.sqlstate, "22023");
  EXPECT_NE(o.message.find("custom"), std::string::npos) << o.message;
  expect_usable(c);
}

TEST_F(PltsLimits, PendingPromiseAtReturnIsAnErrorNotAHang) {
  fn("pending() returns int", "export default () => new Promise(() => {})");
  fn("pending_await() returns int",
     "export default async () => { await new Promise(() => {}); return 1 }");
  Connection c;
  c.query("set statement_timeout = '20s'");  // safety net only
  for (const char* f : {"pending()", "pending_await()"}) {
    auto t0 = Clock::now();
    auto o = run(c, call(f));
    EXPECT_NE(o.sqlstate, "") << f;
    EXPECT_NE(o.sqlstate, "57014") << f << " hung until the safety timeout";
    EXPECT_LT(seconds_since(t0), 10.0) << f;
    expect_usable(c);
  }
}

}  // namespace
