// Reliability of stopgap (issue 12), shared by stopgap_{load,race,fault}_test.cpp: deploys and
// rollbacks under load, racing each other, and killed in the middle. Suites StopgapReliabilitySlow
// and StopgapReliabilityFaultSlow:
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
// the cluster. Each SIGKILLed pid is appended to the file PLTS_EXPECTED_KILLS names
// (scripts/test.sh sets it) before the signal, so that the server log check (scripts/lib.sh
// cluster_crashes) tells these restarts from a crash.
//
// Needs a superuser connection (pause points, pg_terminate_backend, roles) and, for SIGKILL, the
// right to signal the server's processes on this machine (root or the cluster's user). Objects are
// named sgr_<pid>_<n>; the schemas go in TearDown, catalog rows stay (deployments are history), and
// the login role stopgap_reliability_app (member of app_user) stays for the next run.
#pragma once

#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/pg_client.h"

namespace sgrel {

using Clock = std::chrono::steady_clock;
using pgtest::Connection;

long env_long(const char* name, long fallback);

double ms_since(Clock::time_point t0);

std::string first_line(const std::string& s);

// Problems stopgap.check() reports for env, or for every environment whose name starts with
// `prefix` (other suites leave environments whose live schemas they dropped), one line each.
std::vector<std::string> check_problems(Connection& c, const std::string& env,
                                        const std::string& prefix = "");

std::string join(const std::vector<std::string>& v, const char* sep = "\n");

// The postmaster and the checkpointer's pid: changes when the server restarts after a crash.
std::string incarnation();

// A SIGKILL the test means: its pid goes to $PLTS_EXPECTED_KILLS before the signal, so the server
// log check can tell the restart it causes from a crash.
void sigkill_backend(int pid);

// Waits until the server accepts connections as an incarnation other than `before` (after a
// SIGKILL the postmaster ends every backend, recovers and starts again). Returns the new one, or
// "" after 60 s.
std::string wait_for_restart(const std::string& before);

// Whether backend pid has ended (gone from pg_stat_activity).
bool backend_gone(Connection& c, int pid);

std::string pgbench_path();

// Runs a shell command; returns its exit status and (stdout + stderr).
std::pair<int, std::string> run_command(const std::string& cmd);

std::optional<long long> number_after(const std::string& text, const std::string& label);

// Prints one line of a suite's figures, and appends it to the file $PLTS_FIGURES names (ctest
// shows a passing test's output nowhere; scripts/test.sh prints that file after the slow suites).
void report_figures(const std::string& line);

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
      auto schemas =
          c.query("select nspname from pg_namespace where starts_with(nspname, $1) order by 1",
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
    c.query(
        fmt::format("create or replace function {}.{} returns {} language plts {} as $js${}$js$",
                    schema, signature, returns, attributes, body));
  }

  std::string name_;
  std::unique_ptr<Connection> admin_;
};

}  // namespace sgrel
