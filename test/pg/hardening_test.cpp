// Issue 11's limits: heap exhaustion in every allocation pattern, a built-in that ignores
// termination, one role's ArrayBuffer budget, the first call of a fresh backend and nested
// deadlines. Each test uses its own schema (hard_<pid>_<n>) and roles, so binaries may run in
// parallel against one cluster.
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/pg_client.h"

using pgtest::Connection;
using pgtest::SqlError;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// SQLSTATE of sql on c ("" when it succeeded; "lost" when the connection died).
std::string state_of(Connection& c, const std::string& sql) {
  try {
    c.query(sql);
    return "";
  } catch (const SqlError& e) {
    return c.alive() ? e.sqlstate : "lost";
  }
}

class Hardening : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    schema_ = fmt::format("hard_{}_{}", ::getpid(), ++n);
    admin_.query("create schema " + schema_);
    admin_.query("grant usage on schema " + schema_ + " to public");
    def("ok() returns int", "export default () => 1");
    started_ = pgtest::server_incarnation(admin_);
  }
  void TearDown() override {
    Connection c;
    EXPECT_EQ(pgtest::server_incarnation(c), started_) << "the cluster restarted";
    c.query("set client_min_messages = warning");
    c.query("drop schema if exists " + schema_ + " cascade");
    for (const auto& r : roles_) c.query("drop role if exists " + r);
  }
  void def(const std::string& sig, const std::string& body, const std::string& opts = "") {
    admin_.query(fmt::format("create function {}.{} language plts {} as $js${}$js$", schema_, sig,
                             opts, body));
    admin_.query(fmt::format("grant execute on function {}.{} to public", schema_,
                             sig.substr(0, sig.find(')') + 1)));
  }
  std::string call(const std::string& expr) const { return "select " + schema_ + "." + expr; }
  std::string role(const std::string& tag) {
    std::string r = schema_ + "_" + tag;
    admin_.query("create role " + r);
    roles_.push_back(r);
    return r;
  }

  Connection admin_;
  std::string schema_, started_;
  std::vector<std::string> roles_;
};

// Every way of running out of JS heap is 53200, and the backend goes on with a fresh isolate.
TEST_F(Hardening, HeapExhaustionIsAnErrorInEveryPattern) {
  def("spread() returns int", R"JS(export default () => {
    const it = { [Symbol.iterator]() { return { next: () => ({ done: false, value: 1 }) }; } };
    return [...it].length; })JS");
  def("grow_map() returns int",
      "export default () => { const m = new Map(); for (let i = 0; ; i++) m.set(i, { i }); }");
  def("big_strings() returns int",
      "export default () => { const a: string[] = []; for (;;) a.push('x'.repeat(1 << 20) + a.length); }");
  // V8's own fill of a 100M-element sparse array never checks for termination; plts's does.
  def("fill_sparse() returns int", "export default () => new Array(1e8).fill(1.5).length");
  // Sets: a generator that hoards while it yields, and rows made all at once.
  def("hoard_set() returns setof text", R"JS(export default function* () {
    const a: string[] = []; for (;;) { a.push('x'.repeat(1 << 20) + a.length); yield 'r'; } })JS");
  def("huge_rows() returns table(a int, b text)",
      "export default () => { const r = []; for (let i = 0; ; i++) r.push({ a: i, b: 'row ' + i }); }");
  for (const char* f : {"spread()", "grow_map()", "big_strings()", "fill_sparse()", "hoard_set()",
                        "huge_rows()"}) {
    Connection c;
    c.query("set plts.max_query_rows = 0");
    c.query("set plts.max_heap_mb = 64");
    c.query("set statement_timeout = '60s'");  // a safety net only
    auto t0 = Clock::now();
    EXPECT_EQ(state_of(c, call(f)), "53200") << f;
    EXPECT_LT(since(t0), 30.0) << f;
    EXPECT_EQ(c.scalar(call("ok()")), "1") << f;
  }
}

// lastIndexOf over an array-like of 2^52 elements loops in V8's C++ and ignores termination:
// plts ends that session (FATAL) three seconds after its limit, never the cluster.
TEST_F(Hardening, BuiltinIgnoringTerminationEndsOnlyItsSession) {
  def("search() returns int",
      "export default () => Array.prototype.lastIndexOf.call({ length: 2 ** 52 }, 1)");
  Connection c;
  c.query("set statement_timeout = '1s'");
  auto t0 = Clock::now();
  EXPECT_EQ(state_of(c, call("search()")), "lost");
  EXPECT_LT(since(t0), 6.0);
  Connection fresh;
  EXPECT_EQ(fresh.scalar(call("ok()")), "1");
}

// btoa of a string near V8's length limit grows past it by a third: a RangeError, where making the
// string unchecked would end the process (V8 aborts on a failed ToLocalChecked).
TEST_F(Hardening, BtoaPastTheStringLengthLimitIsARangeError) {
  def("b64() returns text", R"JS(export default () => {
    const s = 'a'.repeat((1 << 29) - 24);  // v8::String::kMaxLength
    try { return String(btoa(s).length); } catch (e: any) { return e.name + ': ' + e.message; } })JS");
  Connection c;
  c.query("set plts.max_heap_mb = 2048");  // the isolate of this fresh backend holds the string
  EXPECT_EQ(c.scalar(call("b64()")), "RangeError: btoa: the result is longer than a string may be");
  EXPECT_EQ(c.scalar(call("ok()")), "1");
}

// One role filling plts.max_arraybuffer_mb leaves other roles' first calls working.
TEST_F(Hardening, FullArrayBufferBudgetOfOneRoleLeavesOthersWorking) {
  def("hoard() returns int", R"JS(export default () => {
    const keep: ArrayBuffer[] = (globalThis as any).keep = [];
    try { for (;;) keep.push(new ArrayBuffer(1 << 20)); } catch { return keep.length; } })JS");
  std::string a = role("a"), b = role("b");
  Connection c;
  c.query("set role " + a);
  EXPECT_GT(std::stoi(c.scalar(call("hoard()"))), 0);
  c.query("reset role");
  c.query("set role " + b);
  EXPECT_EQ(c.scalar(call("ok()")), "1");
  c.query("reset role");
  EXPECT_EQ(c.scalar(call("ok()")), "1");
}

// With the ArrayBuffer budget spent, a set-returning function (whose batch buffers are
// ArrayBuffers) still runs: V8 would end the process if ArrayBuffer::New could not allocate.
TEST_F(Hardening, FullArrayBufferBudgetLeavesSetsWorking) {
  def("hoard() returns int", R"JS(export default () => {
    const keep: ArrayBuffer[] = (globalThis as any).keep = [];
    try { for (;;) keep.push(new ArrayBuffer(1 << 20)); } catch { return keep.length; } })JS");
  def("gen(n int) returns setof int",
      "export default function* (ctx) { for (let i = 0; i < ctx.args.n; i++) yield i; }");
  def("arr(n int) returns setof int",
      "export default (ctx) => Array.from({ length: ctx.args.n }, (_, i) => i)");
  Connection c;
  EXPECT_GT(std::stoi(c.scalar(call("hoard()"))), 0);
  EXPECT_EQ(c.scalar(fmt::format("select sum(x)::text from {}.gen(1000) x", schema_)), "499500");
  EXPECT_EQ(c.scalar(fmt::format("select sum(x)::text from {}.arr(1000) x", schema_)), "499500");
  EXPECT_EQ(c.scalar(call("ok()")), "1");
}

// V8's start and the realm of a fresh backend are not counted against plts.max_runtime_ms.
TEST_F(Hardening, FirstCallOfAFreshBackendFitsASmallMaxRuntime) {
  // What the limit times is the module's load and the call: a few ms here, ~4x that under the
  // sanitizers, where a loaded 2-core machine (ctest -j2) has exceeded 50 ms.
#if defined(__SANITIZE_ADDRESS__)
  const char* limit = "set plts.max_runtime_ms = 200";
#else
  const char* limit = "set plts.max_runtime_ms = 50";
#endif
  for (int i = 0; i < 3; i++) {
    Connection c;
    c.query(limit);
    EXPECT_EQ(state_of(c, call("ok()")), "");
  }
}

// A nested call's ctx.db leaves the outer call's deadline in force, and the deadline passing in
// SQL is reported (and counted) as plts.max_runtime_ms with the limit that applied.
TEST_F(Hardening, NestedCallKeepsTheOuterDeadline) {
  def("inner() returns int", "export default async (ctx) => (await ctx.db.query('select 1 as x'))[0].x");
  def("outer() returns int", fmt::format(R"JS(export default async (ctx) => {{
    await ctx.db.query('select {}.inner()');
    await ctx.db.query('select pg_sleep(5)');
    return 1; }})JS", schema_));
  Connection c;
  c.query("set plts.max_runtime_ms = 200");
  std::string timeouts = c.scalar("select plts.metrics()->'error_classes'->>'timeout'");
  auto t0 = Clock::now();
  try {
    c.query(call("outer()"));
    ADD_FAILURE() << "outer() was not stopped";
  } catch (const SqlError& e) {
    EXPECT_EQ(e.sqlstate, "57014");
    EXPECT_NE(std::string(e.what()).find("plts.max_runtime_ms (200 ms)"), std::string::npos)
        << e.what();
  }
  EXPECT_LT(since(t0), 1.2);
  EXPECT_EQ(std::stoi(c.scalar("select plts.metrics()->'error_classes'->>'timeout'")),
            std::stoi(timeouts) + 1);
  EXPECT_EQ(c.scalar(call("ok()")), "1");
}

// Contexts of roles unused for 100k calls are dropped (their globals with them): a pooled backend
// that served many roles once does not keep them all.
TEST_F(Hardening, ContextsOfIdleRolesAreCollected) {
  def("remember() returns int", R"JS(export default () => {
    const g = globalThis as any; g.n = (g.n ?? 0) + 1; return g.n; })JS");
  Connection c;
  for (int i = 0; i < 5; i++) {
    std::string r = role(fmt::format("r{}", i));
    c.query("set role " + r);
    EXPECT_EQ(c.scalar(call("remember()")), "1");
    EXPECT_EQ(c.scalar(call("remember()")), "2");
    c.query("reset role");
  }
  EXPECT_EQ(std::stoi(c.scalar("select plts.metrics()->>'contexts'")), 5);
  c.query("select count(" + schema_ + ".ok()) from generate_series(1, 110000)");
  EXPECT_LE(std::stoi(c.scalar("select plts.metrics()->>'contexts'")), 2);
  // A role whose context was dropped starts afresh.
  c.query("set role " + roles_[0]);
  EXPECT_EQ(c.scalar(call("remember()")), "1");
  c.query("reset role");
}

// An Error whose message getter loops, thrown from an async function, stops on cancel.
TEST_F(Hardening, LoopingErrorGetterStopsOnCancel) {
  def("evil() returns int", R"JS(export default async () => {
    const e = new Error('x');
    Object.defineProperty(e, 'message', { get() { for (;;) {} } });
    throw e; })JS");
  Connection c, observer;
  int pid = c.backend_pid();
  c.send(call("evil()"));
  ASSERT_TRUE(pgtest::eventually([&] {
    return !observer.query("select 1 from pg_stat_activity where pid = $1 and state = 'active'",
                           {std::to_string(pid)}).empty();
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let it reach the getter
  auto t0 = Clock::now();
  observer.query("select pg_cancel_backend($1)", {std::to_string(pid)});
  EXPECT_EQ(c.finish(), "57014");
  EXPECT_LT(since(t0), 1.0);
  EXPECT_EQ(c.scalar(call("ok()")), "1");
}

}  // namespace
