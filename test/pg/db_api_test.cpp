// ctx.db.notify (issue 14): what a listener receives. The SQL-visible rest of the ctx.db API is
// covered by test/regress/sql/db_api.sql; delivery needs a second connection that listens.
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/pg_client.h"

using pgtest::Connection;
using pgtest::eventually;
using namespace std::chrono_literals;

namespace {

class DbApi : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    schema_ = fmt::format("dbapi_{}_{}", ::getpid(), ++counter);
    channel_ = schema_ + "_chan";
    admin_.query("set client_min_messages = warning");
    admin_.query("create schema " + schema_);
    admin_.query(fmt::format(
        "create function {}.say(ch text, payload text, drop_one bool) returns int language plts "
        "as $js$export default async (ctx) => {{\n"
        "  if (ctx.args.drop_one) {{\n"
        "    try {{ await ctx.db.transaction(async (db) => {{ await db.notify(ctx.args.ch, "
        "'rolled back'); throw new Error('undo'); }}); }} catch {{}}\n"
        "  }}\n"
        "  await ctx.db.notify(ctx.args.ch, ctx.args.payload);\n"
        "  return 1;\n"
        "}}$js$",
        schema_));
  }
  void TearDown() override { admin_.query("drop schema if exists " + schema_ + " cascade"); }

  // Payloads the listener has received once `last` arrived (or what arrived within 10 s).
  std::vector<std::string> received_until(Connection& listener, const std::string& last) {
    std::vector<std::string> got;
    eventually([&] {
      for (auto& p : listener.notifications(channel_)) got.push_back(p);
      return !got.empty() && got.back() == last;
    });
    return got;
  }

  Connection admin_;
  std::string schema_, channel_;
};

TEST_F(DbApi, NotifyIsDeliveredAtCommitAndDroppedWithItsRollback) {
  Connection listener, caller;
  listener.query("listen " + channel_);
  // Rolled back with the caller's transaction: never delivered.
  caller.query("begin");
  caller.query(fmt::format("select {}.say($1, 'in a rolled-back transaction', false)", schema_),
               {channel_});
  caller.query("rollback");
  // Committed: delivered, in order.
  caller.query("begin");
  caller.query(fmt::format("select {}.say($1, 'first', false)", schema_), {channel_});
  caller.query(fmt::format("select {}.say($1, 'second', false)", schema_), {channel_});
  caller.query("commit");
  EXPECT_EQ(received_until(listener, "second"), (std::vector<std::string>{"first", "second"}));
}

TEST_F(DbApi, NotifyInsideARolledBackCtxTransactionIsNotDelivered) {
  Connection listener, caller;
  listener.query("listen " + channel_);
  caller.query(fmt::format("select {}.say($1, 'kept', true)", schema_), {channel_});
  EXPECT_EQ(received_until(listener, "kept"), (std::vector<std::string>{"kept"}));
}

}  // namespace
