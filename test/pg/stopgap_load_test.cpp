// stopgap under load: pgbench clients call live functions while deploys and rollbacks run, and
// statements in flight across a deploy (see stopgap_reliability.h).
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
  admin_->query(
      fmt::format("do $$ begin if not exists (select from pg_roles where rolname = '{0}') then "
                  "create role {0} login in role app_user; end if; end $$",
                  app_role));
  admin_->query("create schema " + data);
  admin_->query(
      fmt::format("create table {}.counter(id int primary key, n bigint not null)", data));
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
    define(
        source, src, "bump(args jsonb)", "jsonb",
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
    history.push_back(LoadState{
        deployer.scalar(fmt::format("select stopgap.deploy('{}', '{}', '{}')", env, src, tag)), tag,
        shape_type, extras});
  }

  // Checks the live schema against the expected state from the deployer's own connection, right
  // after the deploy or rollback committed.
  auto live_matches = [&](const LoadState& s) -> std::string {
    std::string got = deployer.scalar(fmt::format("select {}.ver()", live));
    if (got != s.tag) return fmt::format("ver() = {}, expected {}", got, s.tag);
    got = deployer.scalar(fmt::format("select pg_typeof({}.shape())::text", live));
    if (got != s.shape_type)
      return fmt::format("shape() returns {}, expected {}", got, s.shape_type);
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
          std::string id = deployer.scalar(
              fmt::format("select stopgap.deploy('{}', '{}', '{}')", env, src, tag));
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
  // call whose function was dropped after its statement resolved it
  // (ACallInFlightOfARetypedFunction); PostgreSQL itself can still fail a statement that resolved
  // the function by name just before the drop committed and starts executing just after (XX000
  // "cache lookup failed for function", from fmgr, before plts is reached; PL/pgSQL the same). Only
  // that error is let through, counted.
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
  auto [status, out] =
      run_command(fmt::format("{} -n -c {} -j {} -T {} -f {} -U {}", pgbench, clients,
                              std::min(clients, 2L), seconds, script_path, app_role));
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
  report_figures(
      fmt::format("load: {:.0f} s, {} clients, {} transactions, {} failed, {} deploys, {} "
                  "rollbacks, {} invariant violations; shape(): {} calls, {} lost to a "
                  "concurrent drop",
                  elapsed, clients, transactions ? std::to_string(*transactions) : "?",
                  failed ? std::to_string(*failed) : "?", deploys, rollbacks, problems.size(),
                  shape_calls, shape_lookup_failures));

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

// The source schema of the in-flight tests, with first(): a function that waits for advisory lock
// `key` (held by the test while it deploys) and then reads a table, which takes in the deploy's
// catalog invalidation before the statement's next call.
class StopgapReliabilityInFlightSlow : public StopgapReliabilitySlow {
 protected:
  void define_first(const std::string& src, const std::string& key) {
    admin_->query("create schema " + src);
    admin_->query(fmt::format("create table {}.t(x int)", src));
    define(*admin_, src, "first()", "int",
           fmt::format("export default async (ctx: any) => {{\n"
                       "  await ctx.db.query('select pg_advisory_lock({0})');\n"
                       "  await ctx.db.query('select pg_advisory_unlock({0})');\n"
                       "  await ctx.db.query('select count(*) from {1}.t');\n"
                       "  return 1;\n}}",
                       key, src));
  }
};

// What LoadWithDeploys finds: a statement (or a REPEATABLE READ transaction) that began before a
// deploy committed and takes in the deploy's catalog invalidation before it calls a redeployed
// function (here: the SQL of an earlier call in the statement; any first access to another table
// does it) sees the new pointer in pg_proc but looks its artifact up with its older snapshot:
// "plts function ... points to artifact sha256:..., which does not exist". Artifacts are
// immutable and content-addressed: a pointer read from the catalog should find its artifact with a
// snapshot as new as the catalog's. The call must complete with either version.
TEST_F(StopgapReliabilityInFlightSlow, ACallAfterADeployCommittedMidStatement) {
  const std::string src = name_ + "_src", live = name_ + "_live", env = name_;
  const std::string key = std::to_string(::getpid());
  define_first(src, key);
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
  EXPECT_EQ(state, "")
      << "a call of a function redeployed while its statement ran (READ COMMITTED)";

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
TEST_F(StopgapReliabilityInFlightSlow, ACallInFlightOfARetypedFunction) {
  const std::string src = name_ + "_src", live = name_ + "_live", env = name_;
  const std::string key = std::to_string(::getpid());
  define_first(src, key);
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

}  // namespace
