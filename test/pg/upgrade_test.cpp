// The upgrade path of both extensions (issue 15, "No upgrade path"): a database set up with the
// released 0.1.0 (CREATE EXTENSION ... VERSION '0.1.0'), with deployments made by 0.1.0's engine,
// is updated with ALTER EXTENSION ... UPDATE and keeps working: live functions answer as before,
// the 0.1.0 history is readable and can be rolled back to, new deploys and rollbacks work, and
// stopgap.check() finds no problem. Each test runs in a database of its own (upg_<pid>_<n>, dropped
// afterwards), since CREATE EXTENSION ... VERSION needs a database without the extensions.
//
// UpgradePaths checks the installed files: every version PostgreSQL can install reaches the default
// version through an update path (the repository's sql/ directory is checked the same way without
// a server by test/unit/update_path_test.cpp).
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/pg_client.h"

using pgtest::Connection;
using pgtest::SqlError;

namespace {

constexpr const char* kEnv = "upg";
constexpr const char* kLive = "upg_live";

class Upgrade : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    db_ = fmt::format("upg_{}_{}", ::getpid(), ++counter);
    Connection admin;
    admin.query("set client_min_messages = warning");
    admin.query(fmt::format("drop database if exists {} with (force)", db_));
    admin.query(fmt::format("create database {}", db_));
  }

  void TearDown() override {
    try {
      Connection admin;
      admin.query("set client_min_messages = warning");
      admin.query(fmt::format("drop database if exists {} with (force)", db_));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "dropping database " << db_ << " failed: " << e.what();
    }
  }

  // A new session (a fresh backend) on the test's database.
  std::unique_ptr<Connection> session() {
    auto c = std::make_unique<Connection>("", "dbname=" + db_);
    c->query("set client_min_messages = warning");
    return c;
  }

  std::string version_of(Connection& c, const std::string& ext) {
    return c.scalar("select extversion from pg_extension where extname = $1", {ext});
  }

  // The released 0.1.0 of both extensions, the data the live functions touch, and the source
  // schema with every function at generation 1.
  void install_010(Connection& c) {
    c.query("create extension plts version '0.1.0'");
    c.query("create extension stopgap version '0.1.0'");
    ASSERT_EQ(version_of(c, "plts"), "0.1.0");
    ASSERT_EQ(version_of(c, "stopgap"), "0.1.0");
    c.query("create schema upg_data");
    c.query("create table upg_data.item(id int primary key, name text, note text)");
    c.query("create table upg_data.journal(id int, entry text)");
    c.query("create schema upg_src");
    define_source(c, 1);
  }

  // The source schema at generation `gen`: only base() depends on it, so every redeploy changes
  // one function (and, through the baked import map, greet(), which imports it).
  void define_source(Connection& c, int gen) {
    const int factor = gen == 1 ? 10 : gen == 2 ? 100 : gen == 3 ? 1000 : 10000;
    c.query(fmt::format(R"(create or replace function upg_src.base(x int) returns int
        language plts immutable as $js$
export default (ctx: any): number => ctx.args.x * {};
$js$)",
                        factor));
    c.query(R"(create or replace function upg_src.greet(args jsonb) returns jsonb
        language plts as $js$
import base from "@stopgap/upg_src/base";
export default (ctx: any) => ({ hello: ctx.args.name, n: base({ args: { x: 2 } }) });
$js$)");
    c.query(R"(create or replace function upg_src.series(n int) returns setof int
        language plts immutable strict as $js$
export default function* (ctx: any) { for (let i = 1; i <= ctx.args.n; i++) yield i * i; }
$js$)");
    c.query(R"(create or replace function upg_src.stamp() returns trigger language plts as $js$
export default (ctx: any) => ({ ...ctx.trigger.new, note: `${ctx.trigger.args[0]} ${ctx.trigger.op}` });
$js$)");
    c.query(
        R"(create or replace procedure upg_src.add_entry(id int, entry text) language plts as $js$
export default async (ctx: any) => {
  await ctx.db.exec('insert into upg_data.journal values ($1, $2)', [ctx.args.id, ctx.args.entry + '!']);
};
$js$)");
  }

  std::string deploy(Connection& c, const std::string& label) {
    return c.scalar("select stopgap.deploy($1, 'upg_src', $2)::text", {kEnv, label});
  }

  // Every live function answers, and greet()'s n (2 * base's factor: which generation of base()
  // the live schema runs) is `expected_n`.
  void expect_live(Connection& c, const std::string& expected_n, const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(c.scalar(fmt::format("select {}.greet('{{\"name\": \"ann\"}}')::text", kLive)),
              fmt::format("{{\"n\": {}, \"hello\": \"ann\"}}", expected_n));
    EXPECT_EQ(c.scalar(fmt::format("select {}.base(3)::text", kLive)),
              std::to_string(std::stoi(expected_n) / 2 * 3));
    EXPECT_EQ(c.scalar(fmt::format("select string_agg(s::text, ',') from {}.series(4) s", kLive)),
              "1,4,9,16");
    static int row = 0;
    ++row;
    c.query("insert into upg_data.item(id, name) values ($1, 'x')", {std::to_string(row)});
    EXPECT_EQ(c.scalar("select note from upg_data.item where id = $1", {std::to_string(row)}),
              "stamped INSERT");
    c.query(fmt::format("call {}.add_entry($1, 'e')", kLive), {std::to_string(row)});
    EXPECT_EQ(c.scalar("select entry from upg_data.journal where id = $1", {std::to_string(row)}),
              "e!");
  }

  // Two deployments made by 0.1.0's engine (the second changes base()), a table trigger on the
  // live trigger function. Returns their ids.
  std::pair<std::string, std::string> deploy_history_010(Connection& c) {
    c.query(fmt::format("set stopgap.live_schema = '{}'", kLive));
    std::string d1 = deploy(c, "v1 (0.1.0)");
    c.query(
        fmt::format("create trigger item_stamp before insert or update on upg_data.item "
                    "for each row execute function {}.stamp('stamped')",
                    kLive));
    expect_live(c, "20", "0.1.0, first deployment");
    define_source(c, 2);
    std::string d2 = deploy(c, "v2 (0.1.0)");
    EXPECT_NE(d1, d2);
    expect_live(c, "200", "0.1.0, second deployment");
    return {d1, d2};
  }

  std::vector<std::string> check_problems(Connection& c) {
    std::vector<std::string> out;
    for (const auto& r :
         c.query("select env || ': ' || problem || ' ' || detail::text from stopgap.check()"))
      out.push_back(r[0].value_or("NULL"));
    return out;
  }

  // What an environment's history says, oldest first: "id label status".
  std::vector<std::string> history(Connection& c) {
    std::vector<std::string> out;
    for (const auto& r :
         c.query("select concat_ws(' ', d->>'id', d->>'label', d->>'status', d->>'is_active', "
                 "jsonb_array_length(d->'functions')) "
                 "from jsonb_array_elements(stopgap.deployments($1)) with ordinality x(d, i) "
                 "order by i desc",
                 {kEnv}))
      out.push_back(r[0].value_or("NULL"));
    return out;
  }

  // After both updates: history, status, check, rollback into the 0.1.0 era, new deploys, rolling
  // back and forth, metrics.
  void expect_upgraded_environment_works(const std::string& d1, const std::string& d2) {
    auto c = session();
    EXPECT_EQ(version_of(*c, "plts"), "0.3.0");
    EXPECT_EQ(version_of(*c, "stopgap"), "0.4.0");
    EXPECT_EQ(c->scalar("select stopgap.version()"), "stopgap 0.4.0");
    expect_live(*c, "200", "after the update, fresh session");

    EXPECT_EQ(history(*c), (std::vector<std::string>{d1 + " v1 (0.1.0) superseded false 5",
                                                     d2 + " v2 (0.1.0) active true 5"}));
    auto status = c->query(
        "select s->'active_deployment'->>'id', s->'active_deployment'->>'label', "
        "s->>'function_count', s->>'drifted', s->>'live_schema' from stopgap.status($1) s",
        {kEnv});
    ASSERT_EQ(status.size(), 1u);
    EXPECT_EQ(status[0][0].value_or("NULL"), d2);
    EXPECT_EQ(status[0][1].value_or("NULL"), "v2 (0.1.0)");
    EXPECT_EQ(status[0][2].value_or("NULL"), "5");
    EXPECT_EQ(status[0][3].value_or("NULL"), "false");
    EXPECT_EQ(status[0][4].value_or("NULL"), kLive);
    EXPECT_EQ(
        c->scalar("select count(*)::text from stopgap.activation_audit where env = $1", {kEnv}),
        "2");
    EXPECT_EQ(check_problems(*c), std::vector<std::string>{});
    // The source is what 0.1.0 deployed last: diff (0.2.0's, against 0.1.0's rows) finds nothing
    // added, removed or failing, and no change of body, signature or attributes (a new compiler
    // fingerprint, and imports through it, would be a fair change).
    auto diff = c->query(
        "select concat_ws(' ', s->'summary'->>'added', s->'summary'->>'removed', "
        "coalesce(s->'summary'->>'errors', '0'), jsonb_array_length(s->'functions')), "
        "(select string_agg(f->>'fn_name' || ': ' || (f->'reasons')::text, ', ') "
        "   from jsonb_array_elements(s->'functions') f "
        "  where f->>'change' <> 'unchanged' and exists (select from jsonb_array_elements_text("
        "        coalesce(f->'reasons', '[\"?\"]')) r where r not in ('compiler', 'imports'))) "
        "from stopgap.diff($1, 'upg_src') s",
        {kEnv});
    ASSERT_EQ(diff.size(), 1u);
    EXPECT_EQ(diff[0][0].value_or("NULL"), "0 0 0 5");
    EXPECT_EQ(diff[0][1].value_or("none"), "none");

    // Back to the first deployment, which 0.1.0 made.
    EXPECT_EQ(c->scalar("select stopgap.rollback($1, to_id => $2)::text", {kEnv, d1}), d1);
    expect_live(*c, "20", "rolled back to the 0.1.0-era first deployment");
    EXPECT_EQ(check_problems(*c), std::vector<std::string>{});

    // A new deploy, another, one step back, back to the first again, and forward by deploying.
    define_source(*c, 3);
    std::string d3 = deploy(*c, "v3 (0.2.0)");
    EXPECT_GT(std::stoll(d3), std::stoll(d2));
    expect_live(*c, "2000", "first deploy after the update");
    define_source(*c, 4);
    std::string d4 = deploy(*c, "v4 (0.2.0)");
    expect_live(*c, "20000", "second deploy after the update");
    EXPECT_EQ(c->scalar("select stopgap.rollback($1)::text", {kEnv}), d3);
    expect_live(*c, "2000", "one step back");
    EXPECT_EQ(c->scalar("select stopgap.rollback($1, to_id => $2)::text", {kEnv, d1}), d1);
    expect_live(*c, "20", "back to the first deployment again");
    std::string d5 = deploy(*c, "v4 again (0.2.0)");
    EXPECT_GT(std::stoll(d5), std::stoll(d4));
    expect_live(*c, "20000", "forward again");
    EXPECT_EQ(history(*c),
              (std::vector<std::string>{
                  d1 + " v1 (0.1.0) superseded false 5", d2 + " v2 (0.1.0) rolled_back false 5",
                  d3 + " v3 (0.2.0) rolled_back false 5", d4 + " v4 (0.2.0) rolled_back false 5",
                  d5 + " v4 again (0.2.0) active true 5"}));
    EXPECT_EQ(check_problems(*c), std::vector<std::string>{});

    // This session's counters saw three deploys and three rollbacks, none failed.
    auto m = c->query(
        "select m->'deploy'->>'calls', m->'rollback'->>'calls', m->>'errors' "
        "from stopgap.metrics() m");
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0][0].value_or("NULL"), "3");
    EXPECT_EQ(m[0][1].value_or("NULL"), "3");
    EXPECT_EQ(m[0][2].value_or("NULL"), "0");
    EXPECT_NE(std::stoll(c->scalar("select (plts.metrics()->>'calls')")), 0);
  }

  std::string db_;
};

TEST_F(Upgrade, BothExtensionsKeepDeploymentsLiveFunctionsAndHistory) {
  auto c = session();
  ASSERT_NO_FATAL_FAILURE(install_010(*c));
  auto [d1, d2] = deploy_history_010(*c);
  ASSERT_FALSE(HasFailure()) << "0.1.0 itself does not work with the installed libraries";

  // Same session (the backend keeps its loaded libraries and caches across the update), both in
  // one transaction as DEPLOYMENT.md shows.
  c->query("begin");
  c->query("alter extension plts update");
  c->query("alter extension stopgap update");
  c->query("commit");
  EXPECT_EQ(version_of(*c, "plts"), "0.3.0");
  EXPECT_EQ(version_of(*c, "stopgap"), "0.4.0");
  expect_live(*c, "200", "after the update, same session");
  expect_upgraded_environment_works(d1, d2);
}

TEST_F(Upgrade, PltsFirstThenStopgapLater) {
  auto c = session();
  ASSERT_NO_FATAL_FAILURE(install_010(*c));
  auto [d1, d2] = deploy_history_010(*c);
  ASSERT_FALSE(HasFailure());

  c->query("alter extension plts update");
  EXPECT_EQ(version_of(*c, "plts"), "0.3.0");
  EXPECT_EQ(version_of(*c, "stopgap"), "0.1.0");
  // stopgap 0.1.0 on plts 0.2.0: live calls, a rollback and a deploy.
  auto c2 = session();
  expect_live(*c2, "200", "plts 0.2.0, stopgap 0.1.0");
  EXPECT_EQ(c2->scalar("select stopgap.rollback($1)::text", {kEnv}), d1);
  expect_live(*c2, "20", "rolled back with stopgap 0.1.0 on plts 0.2.0");
  std::string d3 = deploy(*c2, "v2 again (stopgap 0.1.0)");
  expect_live(*c2, "200", "deployed with stopgap 0.1.0 on plts 0.2.0");
  EXPECT_EQ(check_problems(*c2), std::vector<std::string>{});

  c2->query("alter extension stopgap update");
  EXPECT_EQ(version_of(*c2, "stopgap"), "0.4.0");
  auto c3 = session();
  expect_live(*c3, "200", "both at 0.2.0");
  EXPECT_EQ(history(*c3),
            (std::vector<std::string>{d1 + " v1 (0.1.0) superseded false 5",
                                      d2 + " v2 (0.1.0) rolled_back false 5",
                                      d3 + " v2 again (stopgap 0.1.0) active true 5"}));
  EXPECT_EQ(c3->scalar("select stopgap.rollback($1, to_id => $2)::text", {kEnv, d1}), d1);
  expect_live(*c3, "20", "rolled back after both updates");
  EXPECT_EQ(check_problems(*c3), std::vector<std::string>{});
}

// PostgreSQL lets stopgap be updated while plts is still at 0.1.0 (requires = 'plts' names no
// version), but stopgap 0.2.0's deploy needs plts 0.2.0 (plts._typecheck_modules): the update is
// refused with an error that says to update plts first, and leaves stopgap at 0.1.0 and working.
// Then plts, then stopgap, updates as usual. CREATE EXTENSION stopgap (0.2.0) beside plts 0.1.0
// is refused the same way.
TEST_F(Upgrade, StopgapBeforePltsIsRefusedClearly) {
  auto c = session();
  ASSERT_NO_FATAL_FAILURE(install_010(*c));
  auto [d1, d2] = deploy_history_010(*c);
  ASSERT_FALSE(HasFailure());

  auto expect_refusal = [](const std::string& sql, Connection& conn) {
    SCOPED_TRACE(sql);
    try {
      conn.query(sql);
      ADD_FAILURE() << "stopgap 0.2.0 went in beside plts 0.1.0";
    } catch (const SqlError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(e.sqlstate, "55000") << msg;
      EXPECT_NE(msg.find("stopgap 0.2.0 needs plts 0.2.0, but plts is at version 0.1.0"),
                std::string::npos)
          << msg;
      EXPECT_NE(msg.find("Run ALTER EXTENSION plts UPDATE first"), std::string::npos) << msg;
    }
  };
  expect_refusal("alter extension stopgap update", *c);
  c = session();
  EXPECT_EQ(version_of(*c, "stopgap"), "0.1.0");
  EXPECT_EQ(version_of(*c, "plts"), "0.1.0");
  expect_live(*c, "200", "stopgap's refused update changed nothing");
  EXPECT_EQ(check_problems(*c), std::vector<std::string>{});

  // A fresh stopgap beside plts 0.1.0 (in a transaction, so the database keeps its 0.1.0 one).
  c->query("begin");
  c->query("drop extension stopgap");
  expect_refusal("create extension stopgap", *c);
  c->query("rollback");
  EXPECT_EQ(version_of(*c, "stopgap"), "0.1.0");

  c->query("alter extension plts update");
  c->query("alter extension stopgap update");
  expect_upgraded_environment_works(d1, d2);
}

// 0.2.0 -> 0.3.0 (issue 16: projects): stopgap's update is refused while plts is at 0.2.0
// (deploy_project loads modules through plts 0.3.0's artifact_exports(hash, import_map)); with
// plts updated first, the 0.2.0 deployments stay live, roll back, and a project deploys beside them.
TEST_F(Upgrade, From020StopgapNeedsPlts030AndKeepsDeployments) {
  auto c = session();
  c->query("create extension plts version '0.2.0'");
  c->query("create extension stopgap version '0.2.0'");
  c->query("create schema upg_data");
  c->query("create table upg_data.item(id int primary key, name text, note text)");
  c->query("create table upg_data.journal(id int, entry text)");
  c->query("create schema upg_src");
  define_source(*c, 1);
  c->query(fmt::format("set stopgap.live_schema = '{}'", kLive));
  std::string d1 = deploy(*c, "v1 (0.2.0)");
  c->query(fmt::format("create trigger item_stamp before insert or update on upg_data.item "
                       "for each row execute function {}.stamp('stamped')",
                       kLive));
  define_source(*c, 2);
  std::string d2 = deploy(*c, "v2 (0.2.0)");
  expect_live(*c, "200", "0.2.0");

  try {
    c->query("alter extension stopgap update");
    ADD_FAILURE() << "stopgap 0.3.0 went in beside plts 0.2.0";
  } catch (const SqlError& e) {
    EXPECT_EQ(e.sqlstate, "55000") << e.what();
    EXPECT_NE(std::string(e.what()).find("stopgap 0.3.0 needs plts 0.3.0, but plts is at version 0.2.0"),
              std::string::npos)
        << e.what();
  }
  c = session();
  EXPECT_EQ(version_of(*c, "stopgap"), "0.2.0");
  c->query("alter extension plts update");
  c->query("alter extension stopgap update");
  EXPECT_EQ(version_of(*c, "plts"), "0.3.0");
  EXPECT_EQ(version_of(*c, "stopgap"), "0.4.0");
  auto c2 = session();
  expect_live(*c2, "200", "after 0.2.0 -> 0.3.0");
  EXPECT_EQ(c2->scalar("select stopgap.rollback($1)::text", {kEnv}), d1);
  expect_live(*c2, "20", "rolled back to a 0.2.0 deployment");
  EXPECT_EQ(check_problems(*c2), std::vector<std::string>{});
  // a project beside the schema deployments, in its own environment
  c2->query("select stopgap.create_environment('upg_proj', 'upg_proj_live')");
  c2->query(R"(select stopgap.deploy_project('upg_proj', $${"modules": {"a.ts":
      "import { query, v } from \"@stopgap/runtime\";\nexport const f = query(v.object({ n: v.int() }), async ({ n }) => n * 2);\n"}}$$))");
  EXPECT_EQ(c2->scalar("select stopgap.call_fn('api.a.f', '{\"n\": 21}', 'upg_proj')::text"), "42");
  EXPECT_EQ(check_problems(*c2), std::vector<std::string>{});
}

// Every version the installed scripts offer reaches the default version by ALTER EXTENSION UPDATE.
TEST(UpgradePaths, EveryInstalledVersionReachesTheDefault) {
  Connection c;
  for (const char* ext : {"plts", "stopgap"}) {
    SCOPED_TRACE(ext);
    const std::string def =
        c.scalar("select default_version from pg_available_extensions where name = $1", {ext});
    auto versions = c.query(
        "select version from pg_available_extension_versions where name = $1 order by version",
        {ext});
    EXPECT_GE(versions.size(), 2u) << "0.1.0 and " << def << " at least";
    bool has_default = false;
    for (const auto& v : versions) {
      const std::string from = v[0].value();
      if (from == def) {
        has_default = true;
        continue;
      }
      auto path = c.query(
          "select path from pg_extension_update_paths($1) where source = $2 and target = $3",
          {ext, from, def});
      ASSERT_EQ(path.size(), 1u) << from;
      EXPECT_TRUE(path[0][0].has_value())
          << ext << " " << from << " has no update path to the default version " << def;
    }
    EXPECT_TRUE(has_default) << def << " is not installable";
  }
}

}  // namespace

// 0.3.0 -> 0.4.0 (issue 17: schedules): the update adds the schedule catalog beside the existing
// deployments; a schedule of a function deployed under 0.3.0 can be created and dropped.
TEST_F(Upgrade, From030AddsSchedulesBesideDeployments) {
  auto c = session();
  c->query("create extension plts");
  c->query("create extension stopgap version '0.3.0'");
  c->query("select stopgap.create_environment('upg_sched', 'upg_sched_live')");
  c->query(R"(select stopgap.deploy_project('upg_sched', $${"modules": {"a.ts":
      "import { mutation, v } from \"@stopgap/runtime\";\nexport const f = mutation(v.object({}), async () => 1);\n"}}$$))");
  EXPECT_EQ(c->error_of("select * from stopgap.schedules"), "42P01");
  c->query("alter extension stopgap update");
  EXPECT_EQ(version_of(*c, "stopgap"), "0.4.0");
  auto c2 = session();
  c2->query("do $$ begin if not exists (select from pg_roles where rolname = 'upg_sched_role') then "
            "create role upg_sched_role nologin; end if; end $$");
  c2->query("grant app_user to upg_sched_role");
  c2->query("select stopgap.schedule('upg_sched', 'nightly', 'api.a.f', '0 3 * * *', '{}', "
            "'{\"run_as\": \"upg_sched_role\"}')");
  EXPECT_EQ(c2->scalar("select state || ' ' || owner || ' ' || (next_run_at > now())::text "
                       "from stopgap.schedules where env = 'upg_sched'"),
            "active upg_sched_role true");
  EXPECT_EQ(c2->scalar("select stopgap.unschedule('upg_sched', 'nightly')::text"), "true");
  EXPECT_EQ(c2->scalar("select stopgap.call_fn('api.a.f', '{}', 'upg_sched')::text"), "1");
}
