// Unkillable code (issue 11, "make the class impossible"): every place where user JS runs or rows
// are converted — error getters, Proxy traps, toJSON, toSQL, getters during conversion,
// comparators, generators, promise callbacks, module and DO-block top levels, row loops — runs an
// endless loop under statement_timeout, plts.max_runtime_ms, pg_cancel_backend and
// pg_terminate_backend. Each must stop within 1 s of its limit or signal, without SIGKILL:
//   timeout / max_runtime: 57014 within 1 s after the 1 s limit;
//   cancel:                57014 within 1 s after the signal (sent ~300 ms into the call);
//   terminate:             the connection ends (57P01, or gone) within 1 s after the signal;
// and the server never restarts (start time + checkpointer pid unchanged, PLTS_SERVER_LOG clean).
// A case that does not stop is ended by the hang guard (cancel at 10 s, terminate at 12 s,
// kill -9 at 14 s; a kill -9 restarts the cluster, the test waits for it and goes on).
//
// One TEST per limit (UnkillableSlow.*); each prints the table of the cases it ran (when run in one
// process, the last one prints the whole case x limit table). Own schema uk_<pid>_<n>.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <map>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/guarded_session.h"
#include "test/pg/pg_client.h"

using pgtest::Connection;
using pgtest::GuardedSession;
using pgtest::Outcome;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

bool process_gone(int pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

// A place where JS loops forever. `returns` is the function's return type; an empty `returns`
// makes it a DO block. `setup` runs in the session before the call.
struct Case {
  std::string name;
  std::string returns;
  std::string body;
  std::string setup;
};

#define LOOP "for (;;) {}"

const std::vector<Case> kCases = {
    {"plain loop", "int", "export default () => { " LOOP " }", ""},
    {"Error.message getter", "int",
     "export default () => { const e = new Error('x'); Object.defineProperty(e, 'message', { get() "
     "{ " LOOP " } }); throw e }",
     ""},
    {"Error.name getter", "int",
     "export default () => { const e = new Error('x'); Object.defineProperty(e, 'name', { get() "
     "{ " LOOP " } }); throw e }",
     ""},
    {"Error.sqlstate getter", "int",
     "export default () => { const e = new Error('x'); Object.defineProperty(e, 'sqlstate', { "
     "get() "
     "{ " LOOP " } }); throw e }",
     ""},
    {"Error.detail getter", "int",
     "export default () => { const e = new Error('x'); Object.defineProperty(e, 'detail', { get() "
     "{ " LOOP " } }); throw e }",
     ""},
    {"Error.stack getter", "int",
     "export default () => { const e = new Error('x'); Object.defineProperty(e, 'stack', { get() "
     "{ " LOOP " } }); throw e }",
     ""},
    {"thrown Proxy, get trap", "int",
     "export default () => { throw new Proxy({}, { get() { " LOOP " } }) }", ""},
    {"thrown Proxy, all traps", "int",
     "const t = () => { " LOOP " }; export default () => { throw new Proxy({}, { get: t, has: t, "
     "ownKeys: t, getOwnPropertyDescriptor: t, getPrototypeOf: t }) }",
     ""},
    {"Error with looping Proxy cause", "int",
     "export default () => { throw new Error('outer', { cause: new Proxy({}, { get() { " LOOP
     " } }) }) }",
     ""},
    {"async: rejected, message getter", "int",
     "export default async () => { await null; const e = new Error('x'); "
     "Object.defineProperty(e, 'message', { get() { " LOOP " } }); throw e }",
     ""},
    {"async: rejected with looping Proxy", "int",
     "export default async () => { await null; throw new Proxy({}, { get() { " LOOP " } }) }", ""},
    {"DO block: top-level loop", "", LOOP, ""},
    {"DO block: throws, message getter", "",
     "const e = new Error('x'); Object.defineProperty(e, 'message', { get() { " LOOP
     " } }); throw e;",
     ""},
    {"DO block: default export loops", "", "export default () => { " LOOP " }", ""},
    {"module top level loop", "int", LOOP " export default () => 1", ""},
    {"module top level throws Proxy", "int",
     "throw new Proxy({}, { get() { " LOOP " } }); export default () => 1", ""},
    {"toJSON (returns jsonb)", "jsonb", "export default () => ({ toJSON() { " LOOP " } })", ""},
    {"nested toJSON (returns jsonb)", "jsonb",
     "export default () => ({ a: [1, { toJSON() { " LOOP " } }] })", ""},
    {"getter (returns jsonb)", "jsonb", "export default () => ({ get v() { " LOOP " } })", ""},
    {"getter + BigInt (returns jsonb)", "jsonb",
     "export default () => ({ b: 1n, get v() { " LOOP " } })", ""},
    {"getter (returns text)", "text", "export default () => ({ get v() { " LOOP " } })", ""},
    {"toString (returns text)", "text", "export default () => ({ toString() { " LOOP " } })", ""},
    {"Proxy result ownKeys (returns jsonb)", "jsonb",
     "export default () => new Proxy({}, { ownKeys() { " LOOP " } })", ""},
    {"array element getter (returns int[])", "int[]",
     "export default () => { const a = [1, 2]; Object.defineProperty(a, 0, { get() { " LOOP
     " } }); return a }",
     ""},
    {"valueOf (returns int)", "int", "export default () => ({ valueOf() { " LOOP " } })", ""},
    {"toSQL()", "int",
     "export default async (ctx) => { await ctx.db.query({ toSQL() { " LOOP " } }); return 1 }",
     ""},
    {"sql getter of query object", "int",
     "export default async (ctx) => { await ctx.db.query({ get sql() { " LOOP " } }); return 1 }",
     ""},
    {"params array getter", "int",
     "export default async (ctx) => { const p = []; Object.defineProperty(p, 0, { get() { " LOOP
     " } }); await ctx.db.query('select $1::text', p); return 1 }",
     ""},
    {"jsonb param getter", "int",
     "export default async (ctx) => { await ctx.db.query('select $1::jsonb', [{ get v() { " LOOP
     " } }]); return 1 }",
     ""},
    {".then after plain return", "int",
     "export default () => { Promise.resolve().then(() => { " LOOP " }); return 1 }", ""},
    {"async generator (for await)", "int",
     "export default async () => { for await (const x of (async function* () { for (;;) yield 1 "
     "})()) {} }",
     ""},
    {"microtask ping-pong", "int",
     "export default () => { const f = () => Promise.resolve().then(f); f(); return 1 }", ""},
    {"sort comparator", "int",
     "export default () => { [3, 2, 1].sort(() => { " LOOP " }); return 1 }", ""},
    // Function shapes (issue 13): generators and iterators of a set, row conversion, triggers,
    // window functions, a procedure after it committed.
    {"generator body (setof int)", "setof int", "export default function* () { " LOOP " }", ""},
    {"endless generator (setof int)", "setof int",
     "export default function* () { for (;;) yield 1 }", "set plts.max_query_rows = 0"},
    {"async generator body (setof int)", "setof int",
     "export default async function* () { await null; " LOOP " }", ""},
    {"iterator next() (setof int)", "setof int",
     "export default () => ({ [Symbol.iterator]() { return { next() { " LOOP " } } } })", ""},
    {"row getter (table(a int, b int))", "table(a int, b int)",
     "export default () => [{ get a() { " LOOP " } }]", ""},
    {"composite result getter", "pg_catalog.pg_namespace",
     "export default () => ({ get nspname() { " LOOP " } })", ""},
    {"BEFORE row trigger", "trigger", "export default () => { " LOOP " }", ""},
    {"BEFORE row trigger, new row getter", "trigger",
     "export default (ctx) => ({ ...ctx.trigger.new, get a() { " LOOP " } })", ""},
    {"window function", "int window", "export default () => { " LOOP " }", ""},
    {"procedure after commit", "procedure",
     "export default async (ctx) => { await ctx.db.commit(); " LOOP " }", ""},
    // ctx.db's other methods (issue 14): a transaction's callback, a cursor's loop and its scan,
    // a prepared statement's parameters, a called function.
    {"ctx.db.transaction callback", "int",
     "export default (ctx) => ctx.db.transaction(async (db) => { await db.query('select 1'); " LOOP
     " })",
     ""},
    {"for await over ctx.db.cursor", "int",
     "export default async (ctx) => { for await (const r of ctx.db.cursor('select g from "
     "generate_series(1, 1000) g')) { " LOOP " } }",
     ""},
    {"endless ctx.db.cursor scan", "int",
     "export default async (ctx) => { let n = 0; for await (const r of ctx.db.cursor('with "
     "recursive r(g) as (select 1 union all select g + 1 from r) select g from r', [], { batch: "
     "1000 })) n++; return n }",
     ""},
    {"prepared statement param getter", "int",
     "export default async (ctx) => { const s = await ctx.db.prepare('select $1::int'); const p = "
     "[]; Object.defineProperty(p, 0, { get() { " LOOP " } }); await s.query(p); return 1 }",
     ""},
    {"ctx.db.fn of a long SQL function", "int",
     "export default async (ctx) => (await ctx.db.fn('pg_catalog.pg_sleep(float8)')(100), 1)", ""},
    {"prepareStackTrace via console.warn", "int",
     "export default () => { const E: any = Error; E.prepareStackTrace = () => { "
     "E.prepareStackTrace = undefined; " LOOP " }; console.warn(new Error('x')); return 1 }",
     ""},
    {"ctx.log options getter", "int",
     "export default (ctx) => { ctx.log.warning('x', { get detail() { " LOOP " } }); return 1 }",
     ""},
    {"10M-row ctx.db.query", "int",
     "export default async (ctx) => (await ctx.db.query('select g from generate_series(1, "
     "10000000) g')).length",
     "set plts.max_query_rows = 0"},
};

enum class Limit { kTimeout, kMaxRuntime, kCancel, kTerminate };

const char* limit_name(Limit l) {
  switch (l) {
    case Limit::kTimeout:
      return "statement_timeout=1s";
    case Limit::kMaxRuntime:
      return "max_runtime_ms=1000";
    case Limit::kCancel:
      return "cancel@300ms";
    case Limit::kTerminate:
      return "terminate@300ms";
  }
  return "";
}

// Results of every cell run in this process: case -> limit -> text.
std::map<std::string, std::map<std::string, std::string>>& table() {
  static std::map<std::string, std::map<std::string, std::string>> t;
  return t;
}

void print_table() {
  const Limit limits[] = {Limit::kTimeout, Limit::kMaxRuntime, Limit::kCancel, Limit::kTerminate};
  std::ostringstream out;
  out << fmt::format("{:<40}", "case");
  for (Limit l : limits) out << fmt::format(" | {:<30}", limit_name(l));
  out << "\n";
  for (const auto& c : kCases) {
    auto it = table().find(c.name);
    if (it == table().end()) continue;
    out << fmt::format("{:<40}", c.name);
    for (Limit l : limits) {
      auto jt = it->second.find(limit_name(l));
      out << fmt::format(" | {:<30}", jt == it->second.end() ? "-" : jt->second);
    }
    out << "\n";
  }
  std::cout << out.str();
}

class UnkillableSlow : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    schema_ = fmt::format("uk_{}_{}", ::getpid(), ++counter);
    admin_ = std::make_unique<Connection>();
    admin_->query("set client_min_messages = warning");
    admin_->query("create schema " + schema_);
    admin_->query(fmt::format(
        "create function {}.ok() returns int language plts as $js$export default () => 1$js$",
        schema_));
    admin_->query(
        fmt::format("create function {}.ok_async() returns int language plts as "
                    "$js$export default async () => {{ await null; return 1 }}$js$",
                    schema_));
    log_from_ = pgtest::server_log_size();
  }

  void TearDown() override {
    for (const auto& line : pgtest::server_log_crashes(log_from_))
      ADD_FAILURE() << "server log: " << line;
    try {
      GuardedSession::wait_for_server();
      Connection c;
      c.query("set client_min_messages = warning");
      c.query("drop schema if exists " + schema_ + " cascade");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup of " << schema_ << " failed: " << e.what();
    }
  }

  // Creates the case's function (a fresh one per cell: module state from an earlier, stopped call
  // must not change what this one does) and returns the statement that runs it.
  std::string statement_for(const Case& c, int n) {
    if (c.returns.empty()) return fmt::format("do $js${}$js$ language plts", c.body);
    const std::string fn = fmt::format("{}.case{}", schema_, n);
    const bool procedure = c.returns == "procedure";
    std::vector<std::string> ddl = {
        procedure ? fmt::format("create procedure {}() language plts as $js${}$js$", fn, c.body)
                  : fmt::format("create function {}() returns {} language plts as $js${}$js$", fn,
                                c.returns, c.body)};
    std::string statement = "select " + fn + "()";
    if (c.returns == "trigger") {
      // The trigger's table, fired by an INSERT.
      const std::string table = fmt::format("{}.tab{}", schema_, n);
      ddl.push_back(fmt::format("create table {}(a int)", table));
      ddl.push_back(fmt::format(
          "create trigger t before insert on {} for each row execute function {}()", table, fn));
      statement = fmt::format("insert into {} values (1)", table);
    } else if (c.returns.find(" window") != std::string::npos) {
      statement = fmt::format("select {}() over () from generate_series(1, 3)", fn);
    } else if (procedure) {
      statement = "call " + fn + "()";
    }
    for (int attempt = 0;; attempt++) {
      try {
        for (const auto& sql : ddl) admin_->query(sql);
        break;
      } catch (const pgtest::SqlError&) {
        if (attempt > 0 || admin_->alive()) throw;
        GuardedSession::wait_for_server();  // a crash in an earlier cell ended this connection
        admin_ = std::make_unique<Connection>();
      }
    }
    return statement;
  }

  // From another connection: waits until the victim runs its statement, then until ~300 ms
  // into it, and sends the signal; records when (seconds after t0).
  // (Nothing is sent when the statement has ended already.)
  static void signal_victim(int victim, Limit limit, Clock::time_point t0,
                            const std::atomic<bool>& done, double& signal_at) {
    Connection observer;
    pgtest::eventually([&] {
      return done || !observer
                          .query(
                              "select 1 from pg_stat_activity where pid = $1 and state = "
                              "'active'",
                              {std::to_string(victim)})
                          .empty();
    });
    while (!done && Clock::now() < t0 + 300ms) std::this_thread::sleep_for(5ms);
    if (done) return;
    signal_at = std::chrono::duration<double>(Clock::now() - t0).count();
    observer.query(limit == Limit::kCancel ? "select pg_cancel_backend($1)"
                                           : "select pg_terminate_backend($1)",
                   {std::to_string(victim)});
  }

  void run_all(Limit limit) {
    pgtest::GuardTimes times{10000ms, 12000ms, 14000ms};
    GuardedSession s({"set client_min_messages = warning"}, times);
    const std::string start = s.postmaster_start();
    int n = 0;
    std::vector<std::string> failures;
    for (const auto& c : kCases) {
      const std::string sql = statement_for(c, n++);
      // Before each cell: the session is usable and V8 is warm, so the measured call goes
      // straight into JS.
      Outcome warm = s.run(fmt::format("select {}.ok()", schema_));
      if (!warm.ok()) {
        failures.push_back(c.name + ": session unusable before the cell: " + warm.message);
        s.reconnect();
      }
      const bool signal = limit == Limit::kCancel || limit == Limit::kTerminate;
      s.conn().query(limit == Limit::kTimeout ? "set statement_timeout = '1s'"
                                              : "set statement_timeout = 0");
      s.conn().query(limit == Limit::kMaxRuntime ? "set plts.max_runtime_ms = 1000"
                                                 : "reset plts.max_runtime_ms");
      s.conn().query(c.setup.empty() ? "reset plts.max_query_rows" : c.setup);
      const int pid = s.backend_pid();

      double signal_at = -1;  // seconds after the statement was sent
      Outcome o;
      if (signal) {
        const auto t0 = Clock::now();
        o = s.run_with(sql, [&](int victim, const std::atomic<bool>& done) {
          try {
            signal_victim(victim, limit, t0, done, signal_at);
          } catch (const std::exception& e) {
            std::cerr << "could not signal " << victim << ": " << e.what() << "\n";
          }
        });
      } else {
        o = s.run(sql);
      }
      // A statement that ended before the signal was sent is judged against the planned time.
      const double limit_at = signal ? (signal_at < 0 ? 0.3 : signal_at) : 1.0;
      const double late = o.seconds - limit_at;

      // Judge the cell.
      std::string verdict;
      bool pass = true;
      if (!o.guard.empty()) {
        pass = false;
        verdict = fmt::format("HUNG (guard: {})", o.guard);
      } else if (o.ok() && o.seconds < limit_at) {
        // The looping code never ran (e.g. a .then callback left pending): the check afterwards
        // (an async plts call, which drains microtasks) shows whether it runs later.
        verdict = "n/a: returned at once";
      } else if (o.ok()) {
        pass = false;
        verdict = fmt::format("returned after {:.2f}s", o.seconds);
      } else if (o.seconds < limit_at && o.kind == Outcome::Kind::kError &&
                 !pgtest::internal_sqlstate(o.sqlstate) && o.broken_after.empty()) {
        // The runtime refused the value without running the looping code: nothing to stop.
        verdict = fmt::format("n/a: {} at once", o.sqlstate);
      } else if (limit == Limit::kTerminate) {
        const bool gone = o.kind == Outcome::Kind::kConnectionLost;
        pass = gone && late <= 1.0;
        verdict = gone ? fmt::format("gone {} after {:.2f}s", o.sqlstate, o.seconds)
                       : fmt::format("{} after {:.2f}s (still connected)", o.sqlstate, o.seconds);
        if (gone && !pgtest::eventually([&] { return process_gone(pid); }, 5s)) {
          pass = false;
          verdict += ", process still there";
        }
      } else {
        pass = o.sqlstate == "57014" && late <= 1.0 && o.kind == Outcome::Kind::kError;
        verdict = fmt::format("{} after {:.2f}s", o.sqlstate, o.seconds);
        if (o.kind == Outcome::Kind::kConnectionLost) verdict += " (connection lost)";
        if (!o.broken_after.empty()) {
          pass = false;
          verdict += " (then " + o.broken_after.substr(0, 5) + ")";
        }
      }
      if (o.server_restarted) {
        pass = false;
        verdict += " SERVER RESTART";
      }
      if (pass && o.seconds > limit_at + 1.0) pass = false;
      if (!pass) verdict = "FAIL " + verdict;
      table()[c.name][limit_name(limit)] = verdict;
      if (!pass) {
        failures.push_back(fmt::format("{} under {}: {} [{}]", c.name, limit_name(limit), verdict,
                                       o.message.substr(0, 160)));
      }
      // The backend (or, after terminate, a new one) answers plts calls afterwards, also one
      // that drains microtasks (a callback left pending by the cell must not run in it).
      Outcome after = s.run(fmt::format("select {0}.ok() + {0}.ok_async()", schema_));
      if (!after.ok()) {
        failures.push_back(fmt::format("{} under {}: plts call afterwards failed: {} {}", c.name,
                                       limit_name(limit), after.sqlstate, after.message));
        std::string& cell = table()[c.name][limit_name(limit)];
        if (cell.rfind("FAIL", 0) != 0) cell = "FAIL " + cell;
        cell += fmt::format("; NEXT CALL {} after {:.1f}s{}", after.sqlstate, after.seconds,
                            after.guard.empty() ? "" : " (guard: " + after.guard + ")");
        s.reconnect();
      }
      if (limit != Limit::kTerminate && o.kind == Outcome::Kind::kConnectionLost) s.reconnect();
    }
    print_table();
    for (const auto& f : failures) ADD_FAILURE() << f;
    EXPECT_EQ(s.server_restarts(), 0) << "the server restarted during the cells";
    EXPECT_EQ(GuardedSession::wait_for_server(), start)
        << "the server is not the one the test started with (start time + checkpointer pid)";
  }

  std::string schema_;
  std::unique_ptr<Connection> admin_;
  long log_from_ = 0;
};

TEST_F(UnkillableSlow, StatementTimeout) { run_all(Limit::kTimeout); }
TEST_F(UnkillableSlow, MaxRuntime) { run_all(Limit::kMaxRuntime); }
TEST_F(UnkillableSlow, Cancel) { run_all(Limit::kCancel); }
TEST_F(UnkillableSlow, Terminate) { run_all(Limit::kTerminate); }

}  // namespace
