#include "test/pg/schedule_contract_stores.h"

#include <cstdio>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace sgsched {

using pgtest::Connection;

// ---------------------------------------------------------------------------------------------
// MemoryStore

std::string& MemoryStoreAdapter::suite_error() {
  static std::string error;
  return error;
}

JobView MemoryStoreAdapter::add(const std::string& name, const std::string& schedule,
                                const std::string& options_json, Micros now,
                                const std::string& target, const std::string& args_json) {
  return store_.schedule(kContractEnv, name, target, schedule, args_json, options_json, now);
}

TickResult MemoryStoreAdapter::tick(int worker_pid, int max_claims,
                                    const std::vector<int>& alive_pids, Micros now) {
  return store_.tick(worker_pid, max_claims, alive_pids, now);
}

std::vector<TickResult> MemoryStoreAdapter::tick_together(
    const std::vector<std::pair<int, int>>& workers, const std::vector<int>& alive_pids,
    Micros now) {
  std::vector<TickResult> out;
  for (const auto& [pid, max_claims] : workers) {
    out.push_back(tick(pid, max_claims, alive_pids, now));
  }
  return out;
}

std::optional<JobView> MemoryStoreAdapter::finish(int64_t run_id, const std::string& outcome_json,
                                                  double random01, Micros now) {
  return store_.finish(run_id, outcome_json, random01, now);
}

JobView MemoryStoreAdapter::pause(const std::string& name, Micros now) {
  return store_.pause(kContractEnv, name, now);
}

JobView MemoryStoreAdapter::resume(const std::string& name, Micros now) {
  return store_.resume(kContractEnv, name, now);
}

JobView MemoryStoreAdapter::run_now(const std::string& name, Micros now) {
  return store_.run_now(kContractEnv, name, now);
}

JobView MemoryStoreAdapter::job(const std::string& name) {
  auto j = store_.job(kContractEnv, name);
  if (!j) throw UnknownSchedule(name);
  return *j;
}

std::vector<RunView> MemoryStoreAdapter::runs(const std::string& name) {
  return store_.runs(kContractEnv, name);
}

// ---------------------------------------------------------------------------------------------
// The catalog

namespace {

constexpr const char* kSessionOptions = "-c client_min_messages=warning -c TimeZone=UTC";
// A database of its own where no scheduler worker runs (stopgap.scheduler_workers = 0 there): a
// real worker, on the real clock, would otherwise claim what run_now asks for and mark the fake
// workers' runs lost. ctest runs these tests one at a time (RUN_SERIAL, test/pg/CMakeLists.txt).
constexpr const char* kContractDb = "plts_sched_contract";
constexpr const char* kContractConninfo = "dbname=plts_sched_contract";

void create_contract_database() {
  Connection admin(kSessionOptions);
  if (admin.scalar("select count(*) from pg_database where datname = $1", {kContractDb}) == "0") {
    try {
      admin.query(std::string("create database ") + kContractDb);
    } catch (const pgtest::SqlError& e) {
      if (e.sqlstate != "42P04") throw;  // created by a test process beside this one
    }
  }
  admin.query(std::string("alter database ") + kContractDb + " set stopgap.scheduler_workers = 0");
}

void set_clock(Connection& c, Micros now) {
  c.query("set stopgap.scheduler_clock = '" + format_utc(now) + "'");
}

TickResult tick_on(Connection& c, int worker_pid, int max_claims,
                   const std::vector<int>& alive_pids) {
  std::string alive = "{";
  for (size_t i = 0; i < alive_pids.size(); i++) {
    alive += (i ? "," : "") + std::to_string(alive_pids[i]);
  }
  alive += "}";
  const auto j = nlohmann::json::parse(
      c.scalar("select stopgap._sched_tick($1, $2, $3::int[])",
               {std::to_string(worker_pid), std::to_string(max_claims), alive}));
  TickResult out;
  out.reaped = j.at("reaped").get<int>();
  out.skipped = j.at("skipped").get<int>();
  for (const auto& claim : j.at("claims")) {
    out.claims.push_back(Claim{claim.at("run_id").get<int64_t>(),
                               claim.at("name").get<std::string>(),
                               claim.at("attempt").get<int>()});
  }
  return out;
}

// A row of (state, next_run_at in microseconds since 1970, attempt, failures_in_row).
JobView view_of(const pgtest::Row& row) {
  JobView v;
  v.state = row.at(0).value_or("");
  if (row.at(1)) v.next_run_at = std::stoll(*row[1]);
  v.attempt = std::stoi(row.at(2).value_or("-1"));
  v.failures_in_row = std::stoi(row.at(3).value_or("-1"));
  return v;
}

}  // namespace

std::string& SqlStore::suite_error() {
  static std::string error;
  return error;
}

void SqlStore::SetUpSuite() {
  suite_error().clear();
  try {
    create_contract_database();
    Connection c(kSessionOptions, kContractConninfo);
    c.query("create extension if not exists stopgap cascade");
    if (c.scalar("select to_regprocedure('stopgap._sched_tick(integer, integer, integer[])') "
                 "is not null") != "t") {
      suite_error() = "stopgap._sched_tick is missing: install stopgap 0.4.0 (schedules)";
      return;
    }
    const std::string workers =
        c.scalar("select coalesce(current_setting('stopgap.scheduler_workers', true), '')");
    if (workers != "0") {
      suite_error() =
          "stopgap.scheduler_workers is '" + workers +
          "' in database plts_sched_contract: the contract tests tick with a fake clock and need "
          "a database without scheduler workers";
      return;
    }
    c.query(
        "do $$ begin if not exists (select from pg_roles where rolname = 'sched_contract') then "
        "create role sched_contract nologin; end if; end $$");
    c.query("grant app_user to sched_contract");
    if (c.scalar("select count(*) from stopgap.environment where env = $1", {kContractEnv}) ==
        "0") {
      c.query("select stopgap.create_environment($1, 'contract_live')", {kContractEnv});
    }
    const nlohmann::json project = {
        {"modules",
         {{"jobs.ts",
           "import { mutation, v } from \"@stopgap/runtime\";\n"
           "export const tick = mutation(v.object({}), async () => ({ ticked: true }));\n"
           "export const tock = mutation(v.object({}), async () => ({ tocked: true }));\n"}}}};
    c.query("select stopgap.deploy_project($1, $2::jsonb, 'contract')",
            {kContractEnv, project.dump()});
    c.query("select stopgap.unschedule(env, name) from stopgap.job where env = $1", {kContractEnv});
  } catch (const std::exception& e) {
    suite_error() = std::string("setting up the contract's environment: ") + e.what();
  }
}

SqlStore::SqlStore() : c_(kSessionOptions, kContractConninfo) {}

SqlStore::~SqlStore() {
  for (const auto& name : names_) {
    try {
      c_.query("select stopgap.unschedule($1, $2)", {kContractEnv, name});
    } catch (const std::exception& e) {
      ADD_FAILURE() << "unschedule " << name << ": " << e.what();
    }
  }
}

JobView SqlStore::add(const std::string& name, const std::string& schedule,
                      const std::string& options_json, Micros now, const std::string& target,
                      const std::string& args_json) {
  set_clock(c_, now);
  names_.insert(name);
  c_.query(
      "select stopgap.schedule($1, $2, $3, $4, $5::jsonb, "
      "$6::jsonb || '{\"run_as\": \"sched_contract\"}')",
      {kContractEnv, name, target, schedule, args_json, options_json});
  return job(name);
}

TickResult SqlStore::tick(int worker_pid, int max_claims, const std::vector<int>& alive_pids,
                          Micros now) {
  set_clock(c_, now);
  return tick_on(c_, worker_pid, max_claims, alive_pids);
}

std::vector<TickResult> SqlStore::tick_together(const std::vector<std::pair<int, int>>& workers,
                                                const std::vector<int>& alive_pids, Micros now) {
  std::vector<std::unique_ptr<Connection>> conns;
  std::vector<TickResult> out;
  for (const auto& [pid, max_claims] : workers) {
    conns.push_back(std::make_unique<Connection>(kSessionOptions, kContractConninfo));
    Connection& c = *conns.back();
    c.query("set statement_timeout = '10s'");  // a tick that waits for a lock fails, not hangs
    set_clock(c, now);
    c.query("begin");
    out.push_back(tick_on(c, pid, max_claims, alive_pids));
  }
  for (auto& c : conns) c->query("commit");
  return out;
}

std::optional<JobView> SqlStore::finish(int64_t run_id, const std::string& outcome_json,
                                        double random01, Micros now) {
  set_clock(c_, now);
  char r[32];
  snprintf(r, sizeof r, "%.17g", random01);
  auto rows = c_.query(
      "select r->>'state', round(extract(epoch from (r->>'next_run_at')::timestamptz) * "
      "1000000)::bigint, (r->>'attempt')::int, (r->>'failures_in_row')::int "
      "from stopgap._sched_finish($1::bigint, $2::jsonb, $3::float8) r",
      {std::to_string(run_id), outcome_json, r});
  if (!rows.at(0).at(0)) return std::nullopt;
  return view_of(rows[0]);
}

JobView SqlStore::pause(const std::string& name, Micros now) {
  set_clock(c_, now);
  c_.query("select stopgap.pause($1, $2)", {kContractEnv, name});
  return job(name);
}

JobView SqlStore::resume(const std::string& name, Micros now) {
  set_clock(c_, now);
  c_.query("select stopgap.resume($1, $2)", {kContractEnv, name});
  return job(name);
}

JobView SqlStore::run_now(const std::string& name, Micros now) {
  set_clock(c_, now);
  c_.query("select stopgap.run_now($1, $2)", {kContractEnv, name});
  return job(name);
}

JobView SqlStore::job(const std::string& name) {
  auto rows = c_.query(
      "select state, round(extract(epoch from next_run_at) * 1000000)::bigint, attempt, "
      "failures_in_row from stopgap.job where env = $1 and name = $2",
      {kContractEnv, name});
  if (rows.empty()) throw UnknownSchedule(name);
  return view_of(rows[0]);
}

std::vector<RunView> SqlStore::runs(const std::string& name) {
  std::vector<RunView> out;
  for (const auto& row : c_.query("select status, reason, attempt, cost from stopgap.job_run "
                                  "where env = $1 and job_name = $2 order by id",
                                  {kContractEnv, name})) {
    RunView r;
    r.status = row.at(0).value_or("");
    r.reason = row.at(1);
    r.attempt = std::stoi(row.at(2).value_or("0"));
    if (row.at(3)) r.cost = std::stod(*row[3]);
    out.push_back(r);
  }
  return out;
}

}  // namespace sgsched
