// plts and stopgap on a hot standby (a streaming replica started by scripts/lib.sh's standby_start,
// found through STANDBY_PGHOST / STANDBY_PGPORT; the primary through the PG* environment).
//
// What is deployed on the primary is replayed to the standby and runs there: live query functions,
// plain plts functions, DO blocks, the compiler functions, stopgap's read-only introspection. What
// writes fails with 25006 (read_only_sql_transaction): a mutation's ctx.db.exec, stopgap.deploy
// and stopgap.rollback. A function whose body was never compiled on the primary (created with
// check_function_bodies = off, never called) compiles in each standby backend that calls it; the
// artifact store, impossible there, is skipped without an error.
//
// Every wait for the standby polls its replay position (pg_last_wal_replay_lsn) against the
// primary's WAL position taken after the commit it needs; nothing sleeps a fixed time.
//
// A separate executable (plts_standby_tests), run by scripts/test.sh as the suite "standby". It
// fails (never skips) when the standby's address is missing.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/pg_client.h"

using pgtest::Connection;
using pgtest::SqlError;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// Figures printed at the end.
int checks = 0;
int replay_waits = 0;
double replay_ms_total = 0, replay_ms_max = 0;

std::string standby_conninfo() {
  return fmt::format("host={} port={}", std::getenv("STANDBY_PGHOST"),
                     std::getenv("STANDBY_PGPORT"));
}

std::unique_ptr<Connection> connect_standby() {
  return std::make_unique<Connection>("", standby_conninfo());
}

// A counted EXPECT_EQ on text.
void expect_eq(const std::string& actual, const std::string& expected, const std::string& what) {
  ++checks;
  EXPECT_EQ(actual, expected) << what;
}

void expect_true(bool cond, const std::string& what) {
  ++checks;
  EXPECT_TRUE(cond) << what;
}

// Runs sql and expects it to fail with sqlstate and a message containing each of `words`.
void expect_error(Connection& c, const std::string& sql, const std::string& sqlstate,
                  std::initializer_list<std::string> words) {
  ++checks;
  try {
    c.query(sql);
    ADD_FAILURE() << "expected " << sqlstate << " from: " << sql;
  } catch (const SqlError& e) {
    EXPECT_EQ(e.sqlstate, sqlstate) << sql << "\n" << e.what();
    const std::string msg = e.what();
    for (const auto& w : words)
      EXPECT_NE(msg.find(w), std::string::npos) << "message lacks \"" << w << "\": " << msg;
  }
}

class Standby : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    try {
      set_up();
      ready_ = true;
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }

  // Every test fails at once when the suite's setup did.
  void SetUp() override {
    ASSERT_TRUE(ready_) << "setup on the primary and standby failed: " << setup_error_;
  }

  static void set_up() {
    name_ = fmt::format("sgs_{}", ::getpid());
    primary_ = new Connection();
    standby_ = connect_standby().release();
    // The two addresses must be what they claim to be.
    if (primary_->scalar("select pg_is_in_recovery()") != "f" ||
        standby_->scalar("select pg_is_in_recovery()") != "t")
      throw std::runtime_error("PG* must name the primary and STANDBY_PG* a standby in recovery");
    Connection& p = *primary_;
    p.query("set client_min_messages = warning");
    p.query("create schema " + src());
    p.query("create schema " + plain());
    p.query(fmt::format("create table {}.items(id int primary key, label text not null)", src()));
    p.query(fmt::format("insert into {}.items values (1, 'one'), (2, 'two')", src()));
    define_get_item("v1");
    p.query(fmt::format(
        R"sql(create function {}.add_item(args jsonb) returns jsonb language plts as $js$
import {{ mutation, v }} from "@stopgap/runtime";
export default mutation(v.object({{ id: v.int(), label: v.string() }}), async ({{ id, label }}, ctx) => {{
  const r = await ctx.db.exec("insert into {}.items values ($1, $2)", [id, label]);
  return {{ added: r.rowCount }};
}});
$js$)sql",
        src(), src()));
    p.query(
        fmt::format("create function {}.greet(name text) returns text language plts as "
                    "$js$ export default (ctx: any): string => 'hello ' + ctx.args.name $js$",
                    src()));
    // A plts function that stopgap does not deploy (compiled and stored at CREATE).
    p.query(
        fmt::format("create function {}.twice(x int) returns int language plts as "
                    "$js$ export default (ctx: {{ args: {{ x: number }} }}) => 2 * ctx.args.x $js$",
                    plain()));
    p.query(fmt::format("set stopgap.live_schema = '{}'", live()));
    first_id_ = p.scalar(fmt::format("select stopgap.deploy('{}', '{}', 'v1')", env(), src()));
    wait_for_replay();
  }

  static void TearDownTestSuite() {
    if (primary_ == nullptr) return;
    try {
      primary_->query("set client_min_messages = warning");
      for (const auto& schema : {src(), plain(), live()})
        primary_->query("drop schema if exists " + schema + " cascade");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup of " << name_ << " failed: " << e.what();
    }
    delete standby_;
    delete primary_;
  }

 protected:
  static std::string src() { return name_ + "_src"; }
  static std::string plain() { return name_ + "_plain"; }
  static std::string live() { return name_ + "_live"; }
  static std::string env() { return name_; }

  static void define_get_item(const std::string& version) {
    primary_->query(fmt::format(
        R"sql(create or replace function {}.get_item(args jsonb) returns jsonb language plts as $js$
import {{ query, v }} from "@stopgap/runtime";
export default query(v.object({{ id: v.int() }}), async ({{ id }}, ctx) => {{
  const rows = await ctx.db.query("select label from {}.items where id = $1", [id]);
  return {{ label: rows[0]?.label ?? null, version: "{}" }};
}});
$js$)sql",
        src(), src(), version));
  }

  // Waits until the standby has replayed what the primary had written when this was called (its
  // WAL position after the last commit): polls the standby's replay position every 10 ms.
  static void wait_for_replay() {
    const std::string lsn = primary_->scalar("select pg_current_wal_lsn()::text");
    const auto t0 = Clock::now();
    const bool replayed = pgtest::eventually(
        [&] {
          return standby_->scalar("select pg_last_wal_replay_lsn() >= $1::pg_lsn", {lsn}) == "t";
        },
        60s);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    replay_waits++;
    replay_ms_total += ms;
    if (ms > replay_ms_max) replay_ms_max = ms;
    if (!replayed)
      throw std::runtime_error(
          fmt::format("the standby did not replay up to {} within 60 s (at {})", lsn,
                      standby_->scalar("select pg_last_wal_replay_lsn()::text")));
  }

  std::string get_item(Connection& c, int id, const std::string& field) {
    return c.scalar(fmt::format("select {}.get_item('{{\"id\": {}}}')->>'{}'", live(), id, field));
  }

  static std::string name_, first_id_, setup_error_;
  static bool ready_;
  static Connection* primary_;
  static Connection* standby_;
};

std::string Standby::name_, Standby::first_id_, Standby::setup_error_;
bool Standby::ready_ = false;
Connection* Standby::primary_ = nullptr;
Connection* Standby::standby_ = nullptr;

TEST_F(Standby, LiveQueryAndPlainFunctionsAnswer) {
  Connection& s = *standby_;
  expect_eq(get_item(s, 1, "label"), "one", "the query function reads the replayed table");
  expect_eq(get_item(s, 2, "label"), "two", "second row");
  expect_eq(get_item(s, 1, "version"), "v1", "the deployed version");
  expect_eq(s.scalar(fmt::format("select {}.get_item('{{\"id\": 3}}')->'label'", live())), "null",
            "a missing row");
  expect_eq(s.scalar(fmt::format("select {}.greet('standby')", live())), "hello standby",
            "a plain deployed function");
  expect_eq(s.scalar(fmt::format("select {}.twice(21)", plain())), "42",
            "a plts function stopgap did not deploy");
  // The query function's argument validation runs there too.
  expect_error(s, fmt::format("select {}.get_item('{{\"id\": \"x\"}}')", live()), "22023",
               {"validation"});
  // A new backend on the standby (fresh isolate, function cache empty) answers the same.
  auto fresh = connect_standby();
  expect_eq(get_item(*fresh, 2, "label"), "two", "a fresh standby backend");
}

TEST_F(Standby, AMutationFailsReadOnly) {
  Connection& s = *standby_;
  expect_error(s, fmt::format("select {}.add_item('{{\"id\": 9, \"label\": \"nine\"}}')", live()),
               "25006", {"read-only"});
  // The backend stays usable, and the same mutation works on the primary.
  expect_eq(get_item(s, 1, "label"), "one", "the standby backend after the refused write");
  expect_eq(primary_->scalar(fmt::format(
                "select {}.add_item('{{\"id\": 9, \"label\": \"nine\"}}')->>'added'", live())),
            "1", "the mutation on the primary");
  wait_for_replay();
  expect_eq(get_item(s, 9, "label"), "nine", "the primary's write, replayed");
  primary_->query(fmt::format("delete from {}.items where id = 9", src()));
  wait_for_replay();
}

TEST_F(Standby, DoBlocksAndTheCompilerWork) {
  Connection& s = *standby_;
  // A DO block runs (TypeScript, compiled in this backend) and reads; its own error shows it ran.
  EXPECT_NO_THROW(s.query(fmt::format(
      "do $js$ export default async (ctx: any) => {{ const r = await ctx.db.query('select "
      "count(*)::int "
      "as n from {}.items'); if (r[0].n !== 2) throw new Error('saw ' + r[0].n + ' rows'); }} $js$ "
      "language plts",
      src())));
  ++checks;
  expect_error(s, "do $js$ throw new Error('ran on the standby') $js$ language plts", "P0001",
               {"ran on the standby"});
  expect_error(
      s,
      fmt::format("do $js$ export default async (ctx: any) => {{ await ctx.db.exec('insert "
                  "into {}.items values (5, $$five$$)'); }} $js$ language plts",
                  src()),
      "25006", {"read-only"});
  expect_eq(s.scalar("select compiled_js from plts.compile_ts('export default (x: number): number "
                     "=> x + 1;')"),
            "export default (x) => x + 1;\n", "plts.compile_ts");
  expect_eq(
      s.scalar(
          "select count(*) from jsonb_array_elements(plts.typecheck_ts("
          "'const n: number = \"text\"; export default n;')) d where d->>'category' = 'error'"),
      "1", "plts.typecheck_ts finds the type error");
  expect_eq(
      s.scalar("select jsonb_array_length(plts.typecheck_ts('export default (x: number) => x;'))"),
      "0", "plts.typecheck_ts on correct code");
  // Storing is a write.
  expect_error(s, "select plts.compile_and_store('export default 1')", "25006", {"read-only"});
}

TEST_F(Standby, IntrospectionWorks) {
  Connection& s = *standby_;
  const std::string status = fmt::format("stopgap.status('{}')", env());
  expect_eq(s.scalar("select (" + status + "->'active_deployment'->>'id')"), first_id_,
            "status: the active deployment");
  expect_eq(s.scalar("select " + status + "->>'function_count'"), "3", "status: function count");
  expect_eq(s.scalar("select " + status + "->>'drifted'"), "false", "status: no drift");
  expect_eq(s.scalar("select " + status + "->>'live_schema'"), live(), "status: live schema");
  expect_eq(s.scalar(fmt::format("select stopgap.deployments('{}')->0->>'id'", env())), first_id_,
            "deployments: newest first");
  const std::string diff = fmt::format("stopgap.diff('{}', '{}')", env(), src());
  expect_eq(s.scalar("select " + diff + "->'summary'->>'unchanged'"), "3", "diff: all unchanged");
  expect_eq(s.scalar("select " + diff + "->'summary'->>'errors'"), "0", "diff: no errors");
  expect_eq(s.scalar("select active_deployment_id::text || ' ' || function_count from "
                     "stopgap.environment_overview where env = $1",
                     {env()}),
            first_id_ + " 3", "the environment_overview view");
  expect_eq(s.scalar("select count(*) from stopgap.activation_audit where env = $1", {env()}), "1",
            "the activation_audit view");
  expect_true(std::stoi(s.scalar("select stopgap.metrics()->'diff'->>'calls'")) >= 1,
              "stopgap.metrics() counts this standby backend's diffs");
  expect_eq(s.scalar(fmt::format("select count(*) from stopgap.check('{}')", env())), "0",
            "stopgap.check: healthy");
}

TEST_F(Standby, DeployAndRollbackAreRefused) {
  Connection& s = *standby_;
  expect_error(s, fmt::format("select stopgap.deploy('{}', '{}', 'on the standby')", env(), src()),
               "25006", {"cannot deploy on a standby", "in recovery"});
  expect_error(s,
               fmt::format("select stopgap.deploy('{}_new', '{}', 'on the standby')", env(), src()),
               "25006", {"cannot deploy on a standby"});
  expect_error(s, fmt::format("select stopgap.rollback('{}')", env()), "25006",
               {"cannot roll back on a standby"});
  // Nothing changed: the standby still answers with the active deployment.
  expect_eq(get_item(s, 1, "version"), "v1", "after the refused deploy");
  expect_eq(s.scalar(fmt::format("select stopgap.status('{}')->'active_deployment'->>'id'", env())),
            first_id_, "status after the refused deploy");
}

// Schedules (issue 17): managed on the primary only; on the standby a scheduler worker of a database
// with schedules idles and says so, and leaves once the schedules are gone.
TEST_F(Standby, SchedulesAreRefusedAndTheSchedulerIdles) {
  Connection& p = *primary_;
  Connection& s = *standby_;
  const std::string runner = name_ + "_runner";
  p.query(fmt::format("do $$ begin if not exists (select from pg_roles where rolname = '{0}') then "
                      "create role {0} nologin in role app_user; end if; end $$",
                      runner));
  // Yearly: the primary's worker has nothing to run during the test.
  p.query(fmt::format("select stopgap.schedule('{}', 'yearly', 'get_item', '0 0 1 1 *', '{{\"id\": 1}}', "
                      "'{{\"run_as\": \"{}\"}}')",
                      env(), runner));
  wait_for_replay();
  expect_eq(s.scalar(fmt::format("select state from stopgap.schedules where env = '{}'", env())), "active",
            "the schedule is replayed");
  expect_error(s,
               fmt::format("select stopgap.schedule('{}', 'other', 'get_item', '1 minute', '{{}}', "
                           "'{{\"run_as\": \"{}\"}}')",
                           env(), runner),
               "25006", {"cannot schedule on a standby"});
  expect_error(s, fmt::format("select stopgap.run_now('{}', 'yearly')", env()), "25006",
               {"cannot run a schedule on a standby"});
  const std::string idle_workers =
      "select count(*) from pg_stat_activity where backend_type = 'stopgap scheduler' "
      "and datname = current_database() and application_name = 'stopgap scheduler (standby: idle)'";
  expect_eq(s.scalar("select stopgap.start_scheduler()::text"), "1", "start_scheduler launches a worker");
  expect_true(pgtest::eventually([&] { return s.scalar(idle_workers) == "1"; }, 30s),
              "the standby's worker idles and says so");
  p.query(fmt::format("select stopgap.unschedule('{}', 'yearly')", env()));
  wait_for_replay();
  expect_true(pgtest::eventually([&] { return s.scalar(idle_workers) == "0"; }, 30s),
              "the idle worker leaves once the schedules are gone");
  expect_eq(p.scalar(fmt::format("select count(*) from stopgap.job_run where env = '{}'", env())), "0",
            "nothing ran");
}

TEST_F(Standby, ASecondDeployAndARollbackAreSeenAfterReplay) {
  Connection& s = *standby_;
  expect_eq(get_item(s, 1, "version"), "v1", "before (this backend caches v1)");
  define_get_item("v2");
  wait_for_replay();
  // The changed source is visible to diff on the standby before it is deployed.
  const std::string diff = fmt::format("stopgap.diff('{}', '{}')", env(), src());
  expect_eq(s.scalar("select " + diff + "->'summary'->>'changed'"), "1", "diff sees the new body");
  expect_eq(s.scalar("select f->>'reasons' from jsonb_array_elements(" + diff +
                     "->'functions') f where f->>'fn_name' = 'get_item'"),
            "[\"body\"]", "diff: the reason");
  expect_eq(get_item(s, 1, "version"), "v1", "undeployed: the live function is unchanged");

  const std::string second_id =
      primary_->scalar(fmt::format("select stopgap.deploy('{}', '{}', 'v2')", env(), src()));
  wait_for_replay();
  expect_eq(get_item(s, 1, "version"), "v2", "the long-lived standby backend sees v2");
  auto fresh = connect_standby();
  expect_eq(get_item(*fresh, 1, "version"), "v2", "a new standby backend sees v2");
  expect_eq(s.scalar(fmt::format("select stopgap.status('{}')->'active_deployment'->>'id'", env())),
            second_id, "status: the second deployment");
  expect_eq(s.scalar(fmt::format("select stopgap.deployments('{}')->1->>'status'", env())),
            "superseded", "deployments: the first is superseded");

  // Rolled back on the primary: the standby runs v1 again.
  primary_->query(fmt::format("select stopgap.rollback('{}')", env()));
  define_get_item("v1");
  wait_for_replay();
  expect_eq(get_item(s, 1, "version"), "v1", "after the rollback");
  expect_eq(get_item(*fresh, 1, "version"), "v1", "after the rollback, the other backend");
  expect_eq(s.scalar(fmt::format("select stopgap.status('{}')->'active_deployment'->>'id'", env())),
            first_id_, "status after the rollback");
  expect_eq(s.scalar(fmt::format("select stopgap.diff('{}', '{}')->'summary'->>'unchanged'", env(),
                                 src())),
            "3", "diff after the rollback");
}

TEST_F(Standby, AFunctionNeverCompiledOnThePrimaryCompilesInEachStandbyBackend) {
  // Created without compiling (as pg_dump's restore scripts do) and never called on the primary:
  // no artifact exists for it anywhere.
  const std::string fn = plain() + ".lazy";
  const std::string marker = name_ + " lazy";
  primary_->query("set check_function_bodies = off");
  primary_->query(
      fmt::format("create function {}(x int) returns text language plts as "
                  "$js$ export default (ctx: {{ args: {{ x: number }} }}): string => '{}:' + 3 * "
                  "ctx.args.x $js$",
                  fn, marker));
  primary_->query("reset check_function_bodies");
  const std::string stored =
      fmt::format("select count(*) from plts.artifact where strpos(source_ts, '{}') > 0", marker);
  expect_eq(primary_->scalar(stored), "0", "nothing stored on the primary");
  wait_for_replay();

  const std::string call = fmt::format("select {}(14)", fn);
  const std::string expected = marker + ":42";
  // Each new standby backend compiles it (the compiler isolate starts), and cannot store it.
  for (int i = 0; i < 2; i++) {
    auto c = connect_standby();
    expect_eq(c->scalar(call), expected, fmt::format("standby backend {}", i + 1));
    expect_eq(c->scalar(call), expected, "called again in that backend");
    expect_true(c->scalar("select plts.metrics()->>'compiler'") != "",
                fmt::format("standby backend {} compiled it", i + 1));
    expect_eq(c->scalar(stored), "0", "nothing stored on the standby");
  }
  // The long-lived standby connection too, in a transaction that goes on after the skipped store.
  standby_->query("begin");
  expect_eq(standby_->scalar(call), expected, "inside a transaction");
  expect_eq(standby_->scalar("select 1"), "1", "the transaction is intact");
  standby_->query("commit");

  // Called once on the primary, it is stored there; replayed, new standby backends load it and
  // start no compiler.
  expect_eq(primary_->scalar(call), expected, "on the primary");
  expect_eq(primary_->scalar(stored), "1", "stored by the primary's first call");
  wait_for_replay();
  auto c = connect_standby();
  expect_eq(c->scalar(call), expected, "a standby backend after the primary stored it");
  expect_eq(c->scalar("select plts.metrics()->>'compiler'"), "",
            "no compiler started: the stored artifact was replayed");

  // Without calling it: plts.validator(oid) on the primary compiles and stores (the remedy
  // docs/SCALING.md gives after a restore).
  const std::string fn2 = plain() + ".lazy_too";
  primary_->query("set check_function_bodies = off");
  primary_->query(
      fmt::format("create function {}(x int) returns text language plts as "
                  "$js$ export default (ctx: {{ args: {{ x: number }} }}): string => '{} too:' + "
                  "ctx.args.x $js$",
                  fn2, marker));
  primary_->query("reset check_function_bodies");
  expect_eq(primary_->scalar(stored), "1", "the second function is not stored yet");
  primary_->query(fmt::format("select plts.validator('{}(int)'::regprocedure)", fn2));
  expect_eq(primary_->scalar(stored), "2", "plts.validator stored it");
  wait_for_replay();
  auto d = connect_standby();
  expect_eq(d->scalar(fmt::format("select {}(5)", fn2)), marker + " too:5",
            "called on the standby");
  expect_eq(d->scalar("select plts.metrics()->>'compiler'"), "", "without compiling");
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (testing::GTEST_FLAG(list_tests)) return RUN_ALL_TESTS();
  const char* missing = std::getenv("PGPORT") == nullptr           ? "PGHOST/PGPORT (the primary)"
                        : std::getenv("STANDBY_PGHOST") == nullptr ? "STANDBY_PGHOST"
                        : std::getenv("STANDBY_PGPORT") == nullptr ? "STANDBY_PGPORT"
                                                                   : nullptr;
  if (missing != nullptr) {
    std::fprintf(stderr,
                 "standby: %s not set: this suite needs a primary and a hot standby of it. Run it "
                 "through scripts/test.sh, or: source scripts/lib.sh; cluster_start "
                 "\"shared_preload_libraries = 'plts,stopgap'\"; standby_start\n",
                 missing);
    return 1;
  }
  const int rc = RUN_ALL_TESTS();
  std::printf("standby: %d checks, replay waited %.0f ms in %d waits (longest %.0f ms)\n", checks,
              replay_ms_total, replay_waits, replay_ms_max);
  return rc;
}
