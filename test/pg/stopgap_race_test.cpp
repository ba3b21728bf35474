// stopgap with racing sessions on one environment (see stopgap_reliability.h).
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
#include <cctype>
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
  const char* op_names[] = {
      "deploy",     "deploy (new result type)", "rollback", "rollback to_id", "diff", "status",
      "deployments"};
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
        static const Op table[] = {kDeploy,   kDeploy,     kDeploy, kRetype, kRollback,
                                   kRollback, kRollbackTo, kDiff,   kStatus, kDeployments};
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
            sql =
                fmt::format("select stopgap.deploy('{}', '{}', 's{} i{} retyped')", env, src, k, i);
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
          unexpected.push_back(
              fmt::format("session {} iteration {} {}: {} {}", k, i, op_names[op], state, message));
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
  for (const auto& [k, n] : outcomes)
    counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", k, n);
  report_figures(
      fmt::format("race: {} sessions x {} operations in {:.1f} s (seed {}): {}; {} "
                  "unexpected, {} invariant violations",
                  sessions, iterations, elapsed, seed, counts, unexpected.size(), problems.size()));
  EXPECT_TRUE(unexpected.empty()) << join(unexpected);
  EXPECT_TRUE(problems.empty()) << join(problems);
  EXPECT_GT(outcomes["deploy: ok"], 0);

  // Independently of check(): one active deployment, the environment points at it, and the
  // activation log is one unbroken chain ending there.
  const std::string active = admin_->scalar(
      "select active_deployment_id::text from stopgap.environment where env = $1", {env});
  EXPECT_EQ(
      admin_->scalar("select string_agg(id::text, ',') from stopgap.deployment where env = $1 "
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
    // The source ends "=> 'text'" or "=> <digits>".
    const std::string source = *r[1];
    const size_t arrow = source.find("=> ");
    ASSERT_NE(arrow, std::string::npos) << source;
    std::string literal = source.substr(arrow + 3);
    if (!literal.empty() && literal[0] == '\'') {
      literal = literal.substr(1, literal.find('\'', 1) - 1);
    } else {
      size_t n = 0;
      while (n < literal.size() && std::isdigit(static_cast<unsigned char>(literal[n]))) n++;
      literal = literal.substr(0, n);
    }
    ASSERT_FALSE(literal.empty()) << source;
    EXPECT_EQ(admin_->scalar(fmt::format("select {}.{}()::text", live, *r[0])), literal)
        << "live " << *r[0] << " does not run deployment " << active << "'s code";
  }
}

}  // namespace
