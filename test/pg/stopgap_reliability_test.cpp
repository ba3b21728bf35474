// Reliability of stopgap (issue 12): deploys and rollbacks under load, racing each other, and
// killed in the middle. Suites StopgapReliabilitySlow and StopgapReliabilityFaultSlow:
//
//   LoadWithDeploys         pgbench clients call live functions (a mutation that counts, then a
//                           query that reads, in one statement) while a thread deploys and rolls
//                           back in a loop: changed bodies every time, a result type that changes
//                           (drop + create inside the deploy), functions added and pruned. No
//                           client may see an error, no call may be lost, every deploy and
//                           rollback must succeed and leave the live schema as its deployment
//                           says. STOPGAP_LOAD_SECONDS (default 20; 300 for a release check),
//                           STOPGAP_LOAD_CLIENTS (default 4).
//   ACallAfterADeployCommittedMidStatement
//                           the deterministic form of what the load found (see there).
//   RacingSessions          sessions deploy, roll back (by steps and to an id), diff and read
//                           status and deployments of one environment at once; every operation
//                           succeeds or fails with a documented error. STOPGAP_RACE_SESSIONS (4),
//                           STOPGAP_RACE_ITERATIONS (25), STOPGAP_RACE_SEED.
//   KilledAtEachPausePoint  a deploy paused in each phase (stopgap.pause_at), a rollback paused in
//                           its materialize and activate phases, each ended by SIGKILL and by
//                           pg_terminate_backend: the previous deployment stays active and whole,
//                           and the operation done again succeeds.
//   KilledAtAnyMoment       a deploy killed K ms after it started, for K across its measured
//                           phases and duration (STOPGAP_KILL_POINTS spread evenly, default 6, plus
//                           one in each phase): whatever it reached, the environment is consistent.
//
// After each, stopgap.check() must return no rows for the environments the test made. The suites
// are "slow" (run alone, -j1): a SIGKILLed backend makes the postmaster restart every backend of
// the cluster. Each SIGKILLed pid is appended to the file PLTS_EXPECTED_KILLS names (scripts/test.sh
// sets it) before the signal, so that the server log check (scripts/lib.sh cluster_crashes) tells
// these restarts from a crash.
//
// Needs a superuser connection (pause points, pg_terminate_backend, roles) and, for SIGKILL, the
// right to signal the server's processes on this machine (root or the cluster's user). Objects are
// named sgr_<pid>_<n>; the schemas go in TearDown, catalog rows stay (deployments are history), and
// the login role stopgap_reliability_app (member of app_user) stays for the next run.
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
#include <regex>
#include <set>
#include <sstream>
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

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (end && *end == 0 && n > 0) ? n : fallback;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string first_line(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  const std::string prefix = "ERROR:  ";
  if (line.rfind(prefix, 0) == 0) line = line.substr(prefix.size());
  return line;
}

// Problems stopgap.check() reports for env, or for every environment whose name starts with
// `prefix` (other suites leave environments whose live schemas they dropped), one line each.
std::vector<std::string> check_problems(Connection& c, const std::string& env,
                                        const std::string& prefix = "") {
  auto rows = prefix.empty()
                  ? c.query("select env, problem, detail::text from stopgap.check($1)", {env})
                  : c.query("select c.env, c.problem, c.detail::text from stopgap.environment e, "
                            "stopgap.check(e.env) c where starts_with(e.env, $1) order by 1, 2",
                            {prefix});
  std::vector<std::string> out;
  for (const auto& r : rows)
    out.push_back(fmt::format("{}: {} {}", r[0].value_or("-"), r[1].value_or("-"),
                              r[2].value_or("")));
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep = "\n") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// The postmaster and the checkpointer's pid: changes when the server restarts after a crash.
std::string incarnation() {
  Connection c;
  return pgtest::server_incarnation(c);
}

// A SIGKILL the test means: its pid goes to $PLTS_EXPECTED_KILLS before the signal, so the server
// log check can tell the restart it causes from a crash.
void sigkill_backend(int pid) {
  if (const char* path = std::getenv("PLTS_EXPECTED_KILLS"); path && *path) {
    std::ofstream f(path, std::ios::app);
    f << pid << "\n";
    f.flush();
    if (!f) ADD_FAILURE() << "cannot append to PLTS_EXPECTED_KILLS=" << path;
  }
  ASSERT_EQ(::kill(pid, SIGKILL), 0) << "kill -9 " << pid << ": " << std::strerror(errno)
                                     << " (the test must run as root or as the cluster's user)";
}

// Waits until the server accepts connections as an incarnation other than `before` (after a
// SIGKILL the postmaster ends every backend, recovers and starts again). Returns the new one, or
// "" after 60 s.
std::string wait_for_restart(const std::string& before) {
  const auto deadline = Clock::now() + 60s;
  while (Clock::now() < deadline) {
    try {
      std::string now = incarnation();
      if (now != before) return now;
    } catch (const std::exception&) {
      // Not accepting connections yet (recovery), or the connection was ended by the restart.
    }
    std::this_thread::sleep_for(20ms);
  }
  return "";
}

// Whether backend pid has ended (gone from pg_stat_activity).
bool backend_gone(Connection& c, int pid) {
  return c.scalar("select count(*) from pg_stat_activity where pid = $1",
                  {std::to_string(pid)}) == "0";
}

std::string pgbench_path() {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("PG_BINDIR"); d && *d) dirs.push_back(d);
  if (FILE* p = ::popen("pg_config --bindir 2>/dev/null", "r")) {
    char buf[512] = {0};
    if (std::fgets(buf, sizeof buf, p)) {
      std::string s(buf);
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
      if (!s.empty()) dirs.push_back(s);
    }
    ::pclose(p);
  }
  dirs.push_back("/usr/lib/postgresql/15/bin");
  for (const auto& d : dirs) {
    std::string path = d + "/pgbench";
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// Runs a shell command; returns its exit status and (stdout + stderr).
std::pair<int, std::string> run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::optional<long long> number_after(const std::string& text, const std::string& label) {
  std::smatch m;
  if (std::regex_search(text, m, std::regex(label + R"(\s*(\d+))"))) return std::stoll(m[1]);
  return std::nullopt;
}

class StopgapReliabilitySlow : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    name_ = fmt::format("sgr_{}_{}", ::getpid(), ++counter);
    admin_ = std::make_unique<Connection>();
    admin_->query("set client_min_messages = warning");
    ASSERT_EQ(admin_->scalar("select rolsuper::text from pg_roles where rolname = current_user"),
              "true")
        << "the reliability tests need a superuser (pause points, pg_terminate_backend)";
  }

  void TearDown() override {
    try {
      Connection c;
      c.query("set client_min_messages = warning");
      auto schemas = c.query(
          "select nspname from pg_namespace where starts_with(nspname, $1) order by 1",
          {name_ + "_"});
      for (const auto& s : schemas) c.query("drop schema if exists " + *s[0] + " cascade");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup of " << name_ << " failed: " << e.what();
    }
  }

  // Reconnects the admin session (after a restart ended it).
  void reconnect_admin() {
    admin_ = std::make_unique<Connection>();
    admin_->query("set client_min_messages = warning");
  }

  void define(Connection& c, const std::string& schema, const std::string& signature,
              const std::string& returns, const std::string& body,
              const std::string& attributes = "") {
    c.query(fmt::format(
        "create or replace function {}.{} returns {} language plts {} as $js${}$js$", schema,
        signature, returns, attributes, body));
  }

  std::string name_;
  std::unique_ptr<Connection> admin_;
};

// ---------------------------------------------------------------------------------------------
// 1. Load with deploys.

// What the live schema must look like while one deployment is active.
struct LoadState {
  std::string id;                // deployment id
  std::string tag;               // what ver() returns
  std::string shape_type;        // result type of shape(): integer or text
  std::set<std::string> extras;  // extra_<n>() functions
};

TEST_F(StopgapReliabilitySlow, LoadWithDeploys) {
  const std::string pgbench = pgbench_path();
  ASSERT_FALSE(pgbench.empty()) << "pgbench not found (PG_BINDIR, pg_config --bindir, "
                                   "/usr/lib/postgresql/15/bin): install postgresql-contrib";
  const long seconds = env_long("STOPGAP_LOAD_SECONDS", 20);
  const long clients = env_long("STOPGAP_LOAD_CLIENTS", 4);
  const std::string src = name_ + "_src", data = name_ + "_data", live = name_ + "_live",
                    env = name_;
  // The clients connect as an application role, as an application would: live functions are
  // EXECUTE-able by app_user only, and every re-created function must be granted again.
  const std::string app_role = "stopgap_reliability_app";
  admin_->query(fmt::format(
      "do $$ begin if not exists (select from pg_roles where rolname = '{0}') then "
      "create role {0} login in role app_user; end if; end $$",
      app_role));
  admin_->query("create schema " + data);
  admin_->query(fmt::format("create table {}.counter(id int primary key, n bigint not null)", data));
  admin_->query(fmt::format("insert into {}.counter values (1, 0)", data));
  admin_->query(fmt::format("grant usage on schema {} to {}", data, app_role));
  admin_->query(fmt::format("grant select, update on {}.counter to {}", data, app_role));
  admin_->query("create schema " + src);

  // The source. Every deploy changes the bodies (new artifacts) of bump (a mutation that counts),
  // peek (a query that reads) and ver (the deploy's tag); some change shape's result type (drop +
  // create of the live function) or add or remove an extra_<n>().
  int tag_counter = 0;
  std::string shape_type = "integer";
  std::set<std::string> extras;
  Connection source;  // the deployer thread's source edits, on a connection of their own
  source.query("set client_min_messages = warning");
  auto write_source = [&](const std::string& tag) {
    define(source, src, "bump(args jsonb)", "jsonb",
           fmt::format("import {{ mutation, v }} from '@stopgap/runtime';\n"
                       "export default mutation(v.object({{}}), async (args, ctx) => {{\n"
                       "  const r = await ctx.db.query('update {}.counter set n = n + 1 where id = 1 "
                       "returning n');\n"
                       "  return {{ n: r[0].n, tag: '{}' }};\n"
                       "}});",
                       data, tag));
    define(source, src, "peek(args jsonb)", "jsonb",
           fmt::format("import {{ query, v }} from '@stopgap/runtime';\n"
                       "export default query(v.object({{}}), async (args, ctx) => ({{\n"
                       "  n: (await ctx.db.query('select n from {}.counter where id = 1'))[0].n,\n"
                       "  tag: '{}' }}));",
                       data, tag));
    define(source, src, "ver()", "text", fmt::format("export default () => '{}'", tag));
  };
  auto write_shape = [&] {
    source.query("begin");
    source.query(fmt::format("drop function if exists {}.shape()", src));
    define(source, src, "shape()", shape_type,
           shape_type == "text" ? "export default () => 'two'" : "export default () => 1");
    source.query("commit");
  };

  Connection deployer;
  deployer.query(fmt::format("set stopgap.live_schema = '{}'", live));
  deployer.query("set stopgap.prune = on");
  deployer.query("set client_min_messages = warning");

  // The first deployment, before the load starts.
  std::vector<LoadState> history;  // active deployment last; earlier ones can be rolled back to
  {
    std::string tag = fmt::format("t{}", ++tag_counter);
    write_source(tag);
    write_shape();
    history.push_back(
        LoadState{deployer.scalar(fmt::format("select stopgap.deploy('{}', '{}', '{}')", env, src, tag)),
                  tag, shape_type, extras});
  }

  // Checks the live schema against the expected state from the deployer's own connection, right
  // after the deploy or rollback committed.
  auto live_matches = [&](const LoadState& s) -> std::string {
    std::string got = deployer.scalar(fmt::format("select {}.ver()", live));
    if (got != s.tag) return fmt::format("ver() = {}, expected {}", got, s.tag);
    got = deployer.scalar(fmt::format("select pg_typeof({}.shape())::text", live));
    if (got != s.shape_type) return fmt::format("shape() returns {}, expected {}", got, s.shape_type);
    std::set<std::string> live_extras;
    for (const auto& r : deployer.query(
             "select proname from pg_proc where pronamespace = $1::regnamespace and proname like "
             "'extra\\_%'",
             {live}))
      live_extras.insert(*r[0]);
    if (live_extras != s.extras) return "the extra_<n> functions are not the deployment's";
    return "";
  };
  ASSERT_EQ(live_matches(history.back()), "") << "after the first deploy";

  const std::string script_path = fmt::format("/tmp/{}_pgbench.sql", name_);
  {
    // One statement per transaction: pgbench counts a transaction once its statement returned, so
    // its count is exactly the number of bump() calls that committed. Two live functions in one
    // statement, the first running SQL: the second is called after the backend may have taken
    // in a deploy that committed since the statement began.
    std::ofstream f(script_path);
    f << fmt::format("select {0}.bump('{{}}'), {0}.peek('{{}}');\n", live);
  }
  ::chmod(script_path.c_str(), 0644);

  std::atomic<bool> stop{false};
  int deploys = 0, rollbacks = 0;
  std::vector<std::string> op_failures, mismatches;
  std::thread deploy_loop([&] {
    for (int i = 0; !stop.load(); i++) {
      try {
        const int step = i % 6;
        const bool rollback = (step == 3 || step == 5) && history.size() >= 2;
        if (rollback) {
          const LoadState& target = history[history.size() - 2];
          std::string id = deployer.scalar(fmt::format("select stopgap.rollback('{}')", env));
          rollbacks++;
          if (id != target.id)
            mismatches.push_back(fmt::format("rollback returned {}, expected {}", id, target.id));
          history.pop_back();
        } else {
          std::string tag = fmt::format("t{}", ++tag_counter);
          write_source(tag);  // changed bodies, every time
          if (step == 1) {    // a changed result type: the live shape is dropped and created again
            shape_type = shape_type == "integer" ? "text" : "integer";
            write_shape();
          } else if (step == 2 || step == 3 || step == 5) {  // a function added
            std::string fn = fmt::format("extra_{}", tag_counter);
            define(source, src, fn + "()", "int", "export default () => 7");
            extras.insert(fn);
          } else if (step == 4 && !extras.empty()) {  // a function removed: pruned from live
            std::string fn = *extras.begin();
            source.query(fmt::format("drop function {}.{}()", src, fn));
            extras.erase(fn);
          }
          // The source as it is now (rollbacks do not change it) is what this deploy makes live.
          std::string id =
              deployer.scalar(fmt::format("select stopgap.deploy('{}', '{}', '{}')", env, src, tag));
          deploys++;
          history.push_back(LoadState{id, tag, shape_type, extras});
        }
        std::string m = live_matches(history.back());
        if (!m.empty()) mismatches.push_back(m);
      } catch (const std::exception& e) {
        op_failures.push_back(first_line(e.what()));
        if (op_failures.size() > 5) break;
      }
    }
  });

  // shape(), whose live function is dropped and created again, is called on its own. plts runs a
  // call whose function was dropped after its statement resolved it (ACallInFlightOfARetypedFunction);
  // PostgreSQL itself can still fail a statement that resolved the function by name just before
  // the drop committed and starts executing just after (XX000 "cache lookup failed for function",
  // from fmgr, before plts is reached; PL/pgSQL the same). Only that error is let through, counted.
  long shape_calls = 0, shape_lookup_failures = 0;
  std::vector<std::string> shape_errors;
  std::thread shape_caller([&] {
    try {
      Connection c;
      c.query("set role " + app_role);
      while (!stop.load()) {
        try {
          c.query(fmt::format("select {}.shape()", live));
          shape_calls++;
        } catch (const SqlError& e) {
          if (e.sqlstate == "XX000" &&
              std::string(e.what()).find("cache lookup failed for function") != std::string::npos)
            shape_lookup_failures++;
          else
            shape_errors.push_back(e.sqlstate + " " + first_line(e.what()));
          if (shape_errors.size() > 5) break;
        }
      }
    } catch (const std::exception& e) {
      shape_errors.push_back(first_line(e.what()));
    }
  });

  const auto t0 = Clock::now();
  auto [status, out] = run_command(fmt::format("{} -n -c {} -j {} -T {} -f {} -U {}", pgbench,
                                               clients, std::min(clients, 2L), seconds,
                                               script_path, app_role));
  const double elapsed = ms_since(t0) / 1000;
  stop = true;
  deploy_loop.join();
  shape_caller.join();
  std::remove(script_path.c_str());

  const auto transactions = number_after(out, "number of transactions actually processed:");
  const auto failed = number_after(out, "number of failed transactions:");
  const long long counter =
      std::stoll(admin_->scalar(fmt::format("select n from {}.counter where id = 1", data)));
  const auto problems = check_problems(*admin_, env);
  std::cout << fmt::format(
                   "load: {:.0f} s, {} clients, {} transactions, {} failed, {} deploys, {} "
                   "rollbacks, {} invariant violations; shape(): {} calls, {} lost to a "
                   "concurrent drop",
                   elapsed, clients, transactions ? std::to_string(*transactions) : "?",
                   failed ? std::to_string(*failed) : "?", deploys, rollbacks, problems.size(),
                   shape_calls, shape_lookup_failures)
            << std::endl;

  EXPECT_EQ(status, 0) << "pgbench:\n" << out;
  ASSERT_TRUE(transactions.has_value()) << "pgbench:\n" << out;
  EXPECT_GT(*transactions, 0);
  ASSERT_TRUE(failed.has_value()) << "pgbench:\n" << out;
  EXPECT_EQ(*failed, 0);
  EXPECT_EQ(counter, *transactions) << "every committed bump() counted exactly once";
  EXPECT_TRUE(op_failures.empty()) << join(op_failures);
  EXPECT_TRUE(mismatches.empty()) << join(mismatches);
  EXPECT_TRUE(shape_errors.empty()) << join(shape_errors);
  EXPECT_GT(shape_calls, 0);
  EXPECT_GT(deploys, 0);
  EXPECT_GT(rollbacks, 0);
  EXPECT_TRUE(problems.empty()) << join(problems);
  // The activation log has one row per activation of this run (+ the first deploy).
  EXPECT_EQ(admin_->scalar("select count(*) from stopgap.activation_log where env = $1", {env}),
            std::to_string(1 + deploys + rollbacks));
}

// What LoadWithDeploys finds: a statement (or a REPEATABLE READ transaction) that began before a
// deploy committed and takes in the deploy's catalog invalidation before it calls a redeployed
// function (here: the SQL of an earlier call in the statement; any first access to another table
// does it) sees the new pointer in pg_proc but looks its artifact up with its older snapshot:
// "plts function ... points to artifact sha256:..., which does not exist". Artifacts are
// immutable and content-addressed: a pointer read from the catalog should find its artifact with a
// snapshot as new as the catalog's. The call must complete with either version.
TEST_F(StopgapReliabilitySlow, ACallAfterADeployCommittedMidStatement) {
  const std::string src = name_ + "_src", live = name_ + "_live", env = name_;
  const std::string key = std::to_string(::getpid());
  admin_->query("create schema " + src);
  admin_->query(fmt::format("create table {}.t(x int)", src));
  define(*admin_, src, "first()", "int",
         fmt::format("export default async (ctx: any) => {{\n"
                     "  await ctx.db.query('select pg_advisory_lock({0})');\n"
                     "  await ctx.db.query('select pg_advisory_unlock({0})');\n"
                     "  await ctx.db.query('select count(*) from {1}.t');\n"
                     "  return 1;\n}}",
                     key, src));
  // Sources new to plts.artifact (artifacts stay): the deploy stores their artifacts.
  auto second = [&](const std::string& v) {
    define(*admin_, src, "second()", "text",
           fmt::format("// {}\nexport default () => '{}'", name_, v));
  };
  second("v1");
  admin_->query(fmt::format("set stopgap.live_schema = '{}'", live));
  admin_->scalar(fmt::format("select stopgap.deploy('{}', '{}', 'v1')", env, src));

  Connection holder, caller;
  caller.query(fmt::format("select {}.second()", live));  // loaded once already in this backend
  holder.query(fmt::format("select pg_advisory_lock({})", key));
  caller.send(fmt::format("select {0}.first(), {0}.second()", live));
  ASSERT_TRUE(eventually([&] {
    return admin_->scalar("select ($1::int = any(pg_blocking_pids($2::int)))::text",
                          {std::to_string(holder.backend_pid()),
                           std::to_string(caller.backend_pid())}) == "true";
  }));
  second("v2");
  admin_->scalar(fmt::format("select stopgap.deploy('{}', '{}', 'v2')", env, src));
  holder.query(fmt::format("select pg_advisory_unlock({})", key));
  std::string state = caller.finish();
  EXPECT_EQ(state, "") << "a call of a function redeployed while its statement ran (READ COMMITTED)";

  // The same in a REPEATABLE READ transaction that began before the deploy.
  caller.query("begin isolation level repeatable read");
  EXPECT_EQ(caller.scalar(fmt::format("select {}.second()", live)), "v2");
  second("v3");
  admin_->scalar(fmt::format("select stopgap.deploy('{}', '{}', 'v3')", env, src));
  caller.query(fmt::format("select count(*) from {}.t", src));  // takes in the invalidation
  state = "";
  std::string value;
  try {
    value = caller.scalar(fmt::format("select {}.second()", live));
  } catch (const SqlError& e) {
    state = e.sqlstate + " " + first_line(e.what());
  }
  caller.query("rollback");
  EXPECT_EQ(state, "") << "a call of a function redeployed since the transaction began "
                          "(REPEATABLE READ)";
  if (state.empty()) {
    EXPECT_TRUE(value == "v2" || value == "v3") << value;
  }
}

// What LoadWithDeploys found when its clients called the retyped function after another one in
// the same statement: a deploy that drops and re-creates a live function (a new result type or
// argument list) failed calls that had already resolved the old function and took in the deploy's
// catalog invalidation before calling it (here the first call's SQL does that): 42883 "cache lookup
// failed for function <oid>". PostgreSQL resolves calls by oid, and PL/pgSQL fails the same way
// (XX000). plts now reads a dropped function's row as the statement's snapshot sees it: the call
// completes with the version the statement resolved.
TEST_F(StopgapReliabilitySlow, ACallInFlightOfARetypedFunction) {
  const std::string src = name_ + "_src", live = name_ + "_live", env = name_;
  const std::string key = std::to_string(::getpid());
  admin_->query("create schema " + src);
  admin_->query(fmt::format("create table {}.t(x int)", src));
  define(*admin_, src, "first()", "int",
         fmt::format("export default async (ctx: any) => {{\n"
                     "  await ctx.db.query('select pg_advisory_lock({0})');\n"
                     "  await ctx.db.query('select pg_advisory_unlock({0})');\n"
                     "  await ctx.db.query('select count(*) from {1}.t');\n"
                     "  return 1;\n}}",
                     key, src));
  define(*admin_, src, "retyped()", "int", "export default () => 1");
  admin_->query(fmt::format("set stopgap.live_schema = '{}'", live));
  admin_->scalar(fmt::format("select stopgap.deploy('{}', '{}', 'v1')", env, src));

  Connection holder, caller;
  holder.query(fmt::format("select pg_advisory_lock({})", key));
  caller.send(fmt::format("select {0}.first(), {0}.retyped()", live));
  ASSERT_TRUE(eventually([&] {
    return admin_->scalar("select ($1::int = any(pg_blocking_pids($2::int)))::text",
                          {std::to_string(holder.backend_pid()),
                           std::to_string(caller.backend_pid())}) == "true";
  }));
  admin_->query("begin");
  admin_->query(fmt::format("drop function {}.retyped()", src));
  define(*admin_, src, "retyped()", "text", "export default () => 'two'");
  admin_->query("commit");
  admin_->scalar(fmt::format("select stopgap.deploy('{}', '{}', 'v2')", env, src));
  holder.query(fmt::format("select pg_advisory_unlock({})", key));
  EXPECT_EQ(caller.finish(), "") << "the call in flight should complete (with either version)";
  // The next statement resolves the new function.
  EXPECT_EQ(caller.scalar(fmt::format("select {}.retyped()", live)), "two");
}

// ---------------------------------------------------------------------------------------------
// 2. Racing sessions on one environment.

TEST_F(StopgapReliabilitySlow, RacingSessions) {
  const int sessions = static_cast<int>(env_long("STOPGAP_RACE_SESSIONS", 4));
  const int iterations = static_cast<int>(env_long("STOPGAP_RACE_ITERATIONS", 25));
  const unsigned seed = static_cast<unsigned>(env_long("STOPGAP_RACE_SEED", 12345));
  const std::string src = name_ + "_src", live = name_ + "_live", env = name_;
  admin_->query("create schema " + src);
  // Session k's function at iteration i (new to plts.artifact: the test's name is in it).
  auto body = [&](int k, int i, bool as_int) {
    return as_int ? fmt::format("// {}\nexport default () => {}", name_, i)
                  : fmt::format("// {}\nexport default () => 's{} i{}'", name_, k, i);
  };
  // One function per session (each session rewrites only its own: two sessions replacing one
  // function at once is PostgreSQL's "tuple concurrently updated", not stopgap's business), and
  // one that imports all of them.
  std::string imports, calls;
  for (int k = 0; k < sessions; k++) {
    define(*admin_, src, fmt::format("s{}()", k), "text", body(k, 0, false));
    imports += fmt::format("import s{0} from '@stopgap/{1}/s{0}';\n", k, src);
    calls += fmt::format("{}s{}()", k ? " + ',' + " : "", k);
  }
  define(*admin_, src, "every()", "text", imports + "export default () => " + calls + ";");
  admin_->query(fmt::format("set stopgap.live_schema = '{}'", live));
  admin_->scalar(fmt::format("select stopgap.deploy('{}', '{}', 'initial')", env, src));

  enum Op { kDeploy, kRetype, kRollback, kRollbackTo, kDiff, kStatus, kDeployments, kOps };
  const char* op_names[] = {"deploy", "deploy (new result type)", "rollback", "rollback to_id",
                            "diff", "status", "deployments"};
  std::mutex m;
  std::map<std::string, int> outcomes;  // "op: ok" / "op: <sqlstate>" -> count
  std::vector<std::string> unexpected;
  std::atomic<int> ready{0};

  auto session = [&](int k) {
    try {
      Connection c;
      c.query("set client_min_messages = warning");
      c.query(fmt::format("set stopgap.live_schema = '{}'", live));
      std::mt19937 rng(seed + k);
      bool as_int = false;
      ready++;
      while (ready.load() < sessions) std::this_thread::yield();
      for (int i = 1; i <= iterations; i++) {
        // deploy 3/10, retype 1/10, rollback 2/10, rollback to_id 1/10, diff, status, deployments
        static const Op table[] = {kDeploy,    kDeploy, kDeploy, kRetype, kRollback,
                                   kRollback, kRollbackTo, kDiff, kStatus, kDeployments};
        const Op op = table[rng() % 10];
        std::string sql;
        switch (op) {
          case kDeploy:
            define(c, src, fmt::format("s{}()", k), as_int ? "int" : "text", body(k, i, as_int));
            sql = fmt::format("select stopgap.deploy('{}', '{}', 's{} i{}')", env, src, k, i);
            break;
          case kRetype:  // drop + create in the source: the live function is dropped and created
            as_int = !as_int;
            c.query("begin");
            c.query(fmt::format("drop function {}.s{}()", src, k));
            define(c, src, fmt::format("s{}()", k), as_int ? "int" : "text", body(k, i, as_int));
            c.query("commit");
            sql = fmt::format("select stopgap.deploy('{}', '{}', 's{} i{} retyped')", env, src, k, i);
            break;
          case kRollback:
            sql = fmt::format("select stopgap.rollback('{}')", env);
            break;
          case kRollbackTo: {
            // An earlier deployment, as this session sees it now (others may change that).
            auto rows = c.query(
                "select id from stopgap.deployment where env = $1 and status = 'superseded' "
                "order by id desc limit 3",
                {env});
            if (rows.empty()) {
              sql = fmt::format("select stopgap.rollback('{}')", env);
            } else {
              sql = fmt::format("select stopgap.rollback('{}', to_id => {})", env,
                                *rows[rng() % rows.size()][0]);
            }
            break;
          }
          case kDiff:
            sql = fmt::format("select stopgap.diff('{}', '{}')", env, src);
            break;
          case kStatus:
            sql = fmt::format("select stopgap.status('{}')", env);
            break;
          case kDeployments:
            sql = fmt::format("select stopgap.deployments('{}')", env);
            break;
          case kOps:
            break;
        }
        std::string state, message;
        try {
          c.query(sql);
        } catch (const SqlError& e) {
          state = e.sqlstate;
          message = first_line(e.what());
        }
        // Documented failures: a rollback with nothing (left) to roll back to, or to a deployment
        // another session has meanwhile activated or rolled back (55000); a deploy or diff of the
        // source schema while another session drops or replaces one of its functions (40001,
        // retryable: it would otherwise mix two versions of that function).
        const bool rollback = op == kRollback || op == kRollbackTo;
        const bool reads_source = op == kDeploy || op == kRetype || op == kDiff;
        const bool expected =
            state.empty() || (rollback && state == "55000") ||
            (reads_source && state == "40001" &&
             message.find("dropped or replaced by another transaction") != std::string::npos);
        std::lock_guard<std::mutex> lk(m);
        outcomes[fmt::format("{}: {}", op_names[op], state.empty() ? "ok" : state)]++;
        if (!expected)
          unexpected.push_back(fmt::format("session {} iteration {} {}: {} {}", k, i,
                                           op_names[op], state, message));
      }
    } catch (const std::exception& e) {
      ready++;
      std::lock_guard<std::mutex> lk(m);
      unexpected.push_back(fmt::format("session {}: {}", k, first_line(e.what())));
    }
  };
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int k = 0; k < sessions; k++) threads.emplace_back(session, k);
  for (auto& t : threads) t.join();
  const double elapsed = ms_since(t0) / 1000;

  const auto problems = check_problems(*admin_, env);
  std::string counts;
  for (const auto& [k, n] : outcomes) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", k, n);
  std::cout << fmt::format("race: {} sessions x {} operations in {:.1f} s (seed {}): {}; {} "
                           "unexpected, {} invariant violations",
                           sessions, iterations, elapsed, seed, counts, unexpected.size(),
                           problems.size())
            << std::endl;
  EXPECT_TRUE(unexpected.empty()) << join(unexpected);
  EXPECT_TRUE(problems.empty()) << join(problems);
  EXPECT_GT(outcomes["deploy: ok"], 0);

  // Independently of check(): one active deployment, the environment points at it, and the
  // activation log is one unbroken chain ending there.
  const std::string active =
      admin_->scalar("select active_deployment_id::text from stopgap.environment where env = $1", {env});
  EXPECT_EQ(admin_->scalar("select string_agg(id::text, ',') from stopgap.deployment where env = $1 "
                           "and status = 'active'",
                           {env}),
            active);
  auto log = admin_->query(
      "select coalesce(from_deployment_id::text, '-'), to_deployment_id::text from "
      "stopgap.activation_log where env = $1 order by id",
      {env});
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(*log[0][0], "-");
  for (size_t i = 1; i < log.size(); i++)
    EXPECT_EQ(*log[i][0], *log[i - 1][1]) << "activation " << i << " does not start where the "
                                          << "previous one ended";
  EXPECT_EQ(*log.back()[1], active);
  // The live functions run the active deployment's code: each one's result is the literal in
  // its artifact's source.
  for (const auto& r : admin_->query(
           "select v.fn_name, a.source_ts from stopgap.fn_version v join plts.artifact a using "
           "(artifact_hash) where v.deployment_id = $1 and v.fn_name <> 'every'",
           {active})) {
    std::smatch mm;
    const std::string source = *r[1];
    ASSERT_TRUE(std::regex_search(source, mm, std::regex(R"(=> ('[^']*'|\d+))"))) << source;
    std::string literal = mm[1];
    if (literal[0] == '\'') literal = literal.substr(1, literal.size() - 2);
    EXPECT_EQ(admin_->scalar(fmt::format("select {}.{}()::text", live, *r[0])), literal)
        << "live " << *r[0] << " does not run deployment " << active << "'s code";
  }
}

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

  void write_version(Connection& c, const std::string& schema, int version, const std::string& salt) {
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
      if (c.scalar(fmt::format("select {}.uses()", live)) != "uses " + ver) wrong.push_back("uses()");
      const std::string shape =
          c.scalar(fmt::format("select pg_typeof({0}.shape())::text || ' ' || {0}.shape()", live));
      if (shape != (v == 1 ? "integer 1" : "text two")) wrong.push_back("shape() = " + shape);
      const std::string gone = c.scalar(
          fmt::format("select (to_regprocedure('{0}.gone()') is not null)::text || ' ' || "
                      "(to_regprocedure('{0}.born()') is not null)::text",
                      live));
      if (gone != (v == 1 ? "true false" : "false true")) wrong.push_back("gone/born " + gone);
      if (v == 1 && c.scalar(fmt::format("select {}.gone()", live)) != "gone") wrong.push_back("gone()");
      if (v == 2 && c.scalar(fmt::format("select {}.born()", live)) != "born") wrong.push_back("born()");
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
        return fail(fmt::format("the killed {} left rows behind: deployments + activations {} -> {}",
                                k.what, counts_before, counts_after));
      if (now_version != p.prev_version)
        return fail(fmt::format("deployment {} ({}) is active but the live schema shows {}", active,
                                p.prev_version, now_version));
    } else {
      committed = true;
      if (!k.pause_at.empty())
        return fail(fmt::format("a {} killed while paused took effect (active {})", k.what, active));
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
    if (!problems.empty()) return fail("stopgap.check() after the next operation: " + join(problems, "; "));
    res.committed = committed;
    res.outcome = committed ? fmt::format("had committed: {} active; next deploy ok", next_version)
                            : fmt::format("undone: {} active; done again: {}", p.prev_version,
                                          next_version);
    return res;
  }

  void SetUpSources() {
    admin_->query("create schema " + name_ + "_v1");
    write_version(*admin_, name_ + "_v1", 1, "");
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
  for (size_t i = 0; i < cases.size(); i++) results.push_back(run_case(static_cast<int>(i), cases[i]));
  print(fmt::format("faults at pause points: {} cases in {:.1f} s", cases.size(), ms_since(t0) / 1000),
        results);
  auto problems = check_problems(*admin_, "", name_ + "_");
  EXPECT_TRUE(problems.empty()) << "stopgap.check() over the environments of every case:\n"
                                << join(problems);
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
  for (int i = 1; i <= spread; i++) at.push_back(std::max(duration, reached.back()) * 1.25 * i / spread);
  std::sort(at.begin(), at.end());
  std::vector<Case> cases;
  for (size_t i = 0; i < at.size(); i++)
    cases.push_back({"deploy", "", i % 2 == 1, at[i], label_of(at[i])});

  std::vector<Result> results;
  const auto t0 = Clock::now();
  for (size_t i = 0; i < cases.size(); i++) results.push_back(run_case(static_cast<int>(i), cases[i]));
  const long undone = std::count_if(results.begin(), results.end(),
                                    [](const Result& r) { return r.ok && !r.committed; });
  print(fmt::format("a deploy killed at {} moments in {:.1f} s (measured: {}, done {:.0f} ms; {} "
                    "undone, {} had committed)",
                    cases.size(), ms_since(t0) / 1000, offsets, duration, undone,
                    results.size() - undone),
        results);
  // Most kills land before the commit (the one at 0 ms always does).
  EXPECT_GT(undone, 0);
  auto problems = check_problems(*admin_, "", name_ + "_");
  EXPECT_TRUE(problems.empty()) << "stopgap.check() over the environments of every case:\n"
                                << join(problems);
}

}  // namespace
