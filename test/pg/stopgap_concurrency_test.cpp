// Concurrent stopgap deploys: deploys to one environment serialize on its advisory lock and both
// end up recorded intact (the later one supersedes the earlier); a deploy whose transaction rolls
// back leaves nothing for the one that waited on it; other environments do not wait.
//
// Each test works in its own source schema, environment and live schema (sgc_<pid>_<n>), dropped
// in TearDown. Catalog rows stay: deployments are history and the database is a throwaway one.
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/pg_client.h"

using pgtest::Connection;
using pgtest::eventually;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

class StopgapConcurrency : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    name_ = fmt::format("sgc_{}_{}", ::getpid(), ++counter);
    admin_ = std::make_unique<Connection>();
    admin_->query("create schema " + src());
    define("hello()", "export default () => 'v1'");
    define("twice(x int)", "import hello from '@stopgap/" + src() + "/hello';\n" +
                               "export default (ctx: any) => hello() + ':' + 2 * ctx.args.x;");
  }

  void TearDown() override {
    try {
      Connection c;
      c.query("set client_min_messages = warning");
      for (const auto& s : {src(), live(), live("b")})
        c.query("drop schema if exists " + s + " cascade");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup of " << name_ << " failed: " << e.what();
    }
  }

  std::string src() const { return name_ + "_src"; }
  std::string env(const std::string& suffix = "") const { return name_ + suffix; }
  std::string live(const std::string& suffix = "") const { return name_ + suffix + "_live"; }

  void define(const std::string& signature, const std::string& body) {
    admin_->query(
        fmt::format("create or replace function {}.{} returns text language plts as $js${}$js$",
                    src(), signature, body));
  }

  // A session that deploys into env (suffix) with its own live schema.
  std::unique_ptr<Connection> deployer(const std::string& suffix = "") {
    auto c = std::make_unique<Connection>();
    c->query(fmt::format("set stopgap.live_schema = '{}'", live(suffix)));
    return c;
  }

  std::string deploy_sql(const std::string& label, const std::string& suffix = "") const {
    // force: every deploy here records a deployment, though the source does not change between them.
    return fmt::format("select stopgap.deploy('{}', '{}', '{}', true)", env(suffix), src(), label);
  }

  // Whether the backend pid is waiting for an advisory lock.
  bool waits_on_advisory_lock(int pid) {
    return admin_->scalar(fmt::format("select count(*) from pg_stat_activity where pid = {} and "
                                      "wait_event_type = 'Lock' and wait_event = 'advisory'",
                                      pid)) == "1";
  }

  std::string status_of(const std::string& id) {
    return admin_->scalar("select status from stopgap.deployment where id = $1", {id});
  }

  std::string name_;
  std::unique_ptr<Connection> admin_;
};

TEST_F(StopgapConcurrency, DeploysToOneEnvironmentSerializeAndBothAreRecorded) {
  auto first = deployer();
  auto second = deployer();
  first->query("begin");
  const std::string id1 = first->scalar(deploy_sql("first"));

  second->send(deploy_sql("second"));
  ASSERT_TRUE(eventually([&] { return waits_on_advisory_lock(second->backend_pid()); }))
      << "the second deploy should wait for the first's environment lock";
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(waits_on_advisory_lock(second->backend_pid()))
      << "it keeps waiting until the first commits";

  // The first deploy commits a changed body under the lock; the second then deploys on top of it.
  define("hello()", "export default () => 'v2'");
  first->query("commit");
  EXPECT_EQ(second->finish(), "");

  const std::string id2 = admin_->scalar(
      "select id from stopgap.deployment where env = $1 and label = 'second'", {env()});
  EXPECT_LT(std::stoll(id1), std::stoll(id2));
  EXPECT_EQ(status_of(id1), "superseded");
  EXPECT_EQ(status_of(id2), "active");
  EXPECT_EQ(admin_->scalar("select active_deployment_id from stopgap.environment where env = $1",
                           {env()}),
            id2);
  // Both deployments are whole: two functions each, their manifests sealed with both.
  for (const auto& id : {id1, id2}) {
    EXPECT_EQ(
        admin_->scalar("select count(*) from stopgap.fn_version where deployment_id = $1", {id}),
        "2");
    EXPECT_EQ(
        admin_->scalar("select jsonb_array_length(manifest->'functions') from stopgap.deployment "
                       "where id = $1",
                       {id}),
        "2");
  }
  // The activation log chains them: nothing -> first -> second.
  auto log = admin_->query(
      "select coalesce(from_deployment_id::text, '-'), to_deployment_id::text from "
      "stopgap.activation_log "
      "where env = $1 order by id",
      {env()});
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(*log[0][0], "-");
  EXPECT_EQ(*log[0][1], id1);
  EXPECT_EQ(*log[1][0], id1);
  EXPECT_EQ(*log[1][1], id2);
  // The live functions are the second deployment's, and run its code.
  EXPECT_EQ(admin_->scalar(fmt::format("select {}.twice(21)", live())), "v2:42");
  EXPECT_EQ(admin_->scalar(fmt::format(
                "select count(*) from pg_proc p join stopgap.fn_version v on v.fn_name = p.proname "
                "and v.deployment_id = {} and v.pointer = p.prosrc where p.pronamespace = "
                "'{}'::regnamespace",
                id2, live())),
            "2");
  EXPECT_EQ(admin_->scalar(fmt::format("select stopgap.status('{}')->>'drifted'", env())), "false");
}

TEST_F(StopgapConcurrency, AWaitingDeployFindsNothingOfOneThatRolledBack) {
  auto first = deployer();
  auto second = deployer();
  first->query("begin");
  first->scalar(deploy_sql("rolled back"));
  second->send(deploy_sql("kept"));
  ASSERT_TRUE(eventually([&] { return waits_on_advisory_lock(second->backend_pid()); }));
  first->query("rollback");
  EXPECT_EQ(second->finish(), "");

  // The environment the first deploy created went with its transaction; the second created it anew.
  auto rows = admin_->query("select label, status from stopgap.deployment where env = $1", {env()});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(*rows[0][0], "kept");
  EXPECT_EQ(*rows[0][1], "active");
  EXPECT_EQ(admin_->scalar("select count(*) from stopgap.activation_log where env = $1", {env()}),
            "1");
  EXPECT_EQ(admin_->scalar(fmt::format("select {}.twice(1)", live())), "v1:2");
}

TEST_F(StopgapConcurrency, OtherEnvironmentsDoNotWait) {
  auto first = deployer();
  auto other = deployer("b");
  first->query("begin");
  first->scalar(deploy_sql("holds its lock"));
  // A deploy of other code to another environment goes through while the first is open.
  define("hello()", "export default () => 'v3'");
  other->query("set lock_timeout = '5s'");
  EXPECT_NO_THROW(other->scalar(deploy_sql("independent", "b")));
  first->query("commit");
  EXPECT_EQ(admin_->scalar(fmt::format("select {}.twice(2)", live("b"))), "v3:4");
  EXPECT_EQ(admin_->scalar(fmt::format("select {}.twice(3)", live())), "v1:6");
}

TEST_F(StopgapConcurrency, SameCodeInTwoEnvironmentsWaitsOnlyForTheArtifactStore) {
  // Artifacts are shared and content-addressed: a deploy that stores the same artifact as an open
  // deploy to another environment waits for that transaction (on the artifact's key, not on the
  // environment lock), then finds the artifact and completes.
  auto first = deployer();
  auto other = deployer("b");
  first->query("begin");
  first->scalar(deploy_sql("first"));
  other->send(deploy_sql("same code", "b"));
  ASSERT_TRUE(eventually([&] {
    return admin_->scalar(fmt::format("select count(*) from pg_stat_activity where pid = {} and "
                                      "wait_event_type = 'Lock' and wait_event = 'transactionid'",
                                      other->backend_pid())) == "1";
  }));
  first->query("commit");
  EXPECT_EQ(other->finish(), "");
  EXPECT_EQ(
      admin_->scalar(fmt::format("select {}.twice(2) || ' ' || {}.twice(3)", live("b"), live())),
      "v1:4 v1:6");
  EXPECT_EQ(admin_->scalar("select count(distinct v.artifact_hash) from stopgap.fn_version v join "
                           "stopgap.deployment d "
                           "on d.id = v.deployment_id where d.env in ($1, $2)",
                           {env(), env("b")}),
            "2");
}

TEST_F(StopgapConcurrency, RollbackWaitsForADeployInFlight) {
  auto first = deployer();
  const std::string id1 = first->scalar(deploy_sql("base"));
  first->query("begin");
  define("hello()", "export default () => 'v2'");
  first->scalar(deploy_sql("in flight"));
  auto roller = deployer();
  roller->send(fmt::format("select stopgap.rollback('{}')", env()));
  ASSERT_TRUE(eventually([&] { return waits_on_advisory_lock(roller->backend_pid()); }));
  first->query("commit");
  EXPECT_EQ(roller->finish(), "");
  // The rollback saw the committed deploy and undid it.
  EXPECT_EQ(admin_->scalar("select active_deployment_id from stopgap.environment where env = $1",
                           {env()}),
            id1);
  EXPECT_EQ(
      admin_->scalar("select status from stopgap.deployment where env = $1 and label = 'in flight'",
                     {env()}),
      "rolled_back");
  EXPECT_EQ(admin_->scalar(fmt::format("select {}.twice(5)", live())), "v1:10");
}

TEST_F(StopgapConcurrency, UnderRepeatableReadAWaitingDeployFailsSafely) {
  // A REPEATABLE READ deploy that waited for another cannot see what that one committed: it fails
  // with a serialization error (40001) instead of recording on stale state, and can be retried.
  auto base = deployer();
  const std::string id1 = base->scalar(deploy_sql("base"));
  auto first = deployer();
  auto second = deployer();
  first->query("begin");
  first->scalar(deploy_sql("first"));
  second->query("begin isolation level repeatable read");
  second->send(deploy_sql("stale"));
  ASSERT_TRUE(eventually([&] { return waits_on_advisory_lock(second->backend_pid()); }));
  first->query("commit");
  EXPECT_EQ(second->finish(), "40001");
  second->query("rollback");
  EXPECT_EQ(admin_->scalar("select label from stopgap.deployment d join stopgap.environment e "
                           "on e.active_deployment_id = d.id where e.env = $1",
                           {env()}),
            "first");
  EXPECT_EQ(admin_->scalar("select count(*) from stopgap.deployment where env = $1", {env()}), "2");
  // The retry, in a fresh transaction, goes through.
  EXPECT_NE(second->scalar(deploy_sql("retried")), id1);
}

}  // namespace
