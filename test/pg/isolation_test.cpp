// Isolation in the plts runtime: the per-backend function cache follows pg_proc (CREATE OR REPLACE,
// ALTER, rollback) across sessions; one V8 context per effective role (SET ROLE, SECURITY DEFINER);
// a fresh ctx for every call.
//
// Each test works in its own schema (iso_<pid>_<n>) and roles named after it, created in SetUp and
// dropped in TearDown, and only SETs session settings.
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "test/pg/pg_client.h"

using pgtest::Connection;

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

class PltsIsolation : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    schema_ = fmt::format("iso_{}_{}", ::getpid(), ++counter);
    admin_ = std::make_unique<Connection>();
    admin_->query("create schema " + schema_);
  }

  void TearDown() override {
    try {
      Connection c;
      c.query("set client_min_messages = warning");
      c.query("drop schema if exists " + schema_ + " cascade");
      for (const auto& role : roles_) {
        if (c.scalar("select count(*) from pg_roles where rolname = $1", {role}) == "1") {
          c.query("drop owned by " + role + " cascade");
          c.query("drop role " + role);
        }
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup of " << schema_ << " failed: " << e.what();
    }
  }

  // "create [or replace] function <schema>.<signature> language plts <options> as <body>" on c;
  // "@S@" in the body names the schema.
  void define(Connection& c, const std::string& signature, const std::string& body,
              const std::string& options = "", bool replace = false) {
    c.query(fmt::format("create {}function {}.{} language plts {} as $js${}$js$",
                        replace ? "or replace " : "", schema_, signature, options,
                        replace_all(body, "@S@", schema_)));
  }

  std::string call(const std::string& expr) const { return "select " + schema_ + "." + expr; }

  std::string make_role(const std::string& tag) {
    std::string role = fmt::format("{}_{}", schema_, tag);
    admin_->query("create role " + role);
    roles_.push_back(role);
    admin_->query(fmt::format("grant usage, create on schema {} to {}", schema_, role));
    return role;
  }

  std::string schema_;
  std::unique_ptr<Connection> admin_;
  std::vector<std::string> roles_;
};

std::string body_returning(const std::string& text) {
  return fmt::format("export default () => '{}'", text);
}

TEST_F(PltsIsolation, CreateOrReplaceIsSeenByAnotherSession) {
  Connection a, b;
  define(a, "ver() returns text", body_returning("v1"));
  EXPECT_EQ(b.scalar(call("ver()")), "v1");  // b caches v1
  EXPECT_EQ(a.scalar(call("ver()")), "v1");

  define(a, "ver() returns text", body_returning("v2"), "", true);
  EXPECT_EQ(b.scalar(call("ver()")), "v2");
  EXPECT_EQ(a.scalar(call("ver()")), "v2");

  // Uncommitted in a: b keeps seeing v2 until a commits.
  a.query("begin");
  define(a, "ver() returns text", body_returning("v3"), "", true);
  EXPECT_EQ(a.scalar(call("ver()")), "v3");
  EXPECT_EQ(b.scalar(call("ver()")), "v2");
  a.query("commit");
  EXPECT_EQ(b.scalar(call("ver()")), "v3");

  // Rolled back in a: a itself goes back to v3 (its cache must not keep the rolled-back body).
  a.query("begin");
  define(a, "ver() returns text", body_returning("v4"), "", true);
  EXPECT_EQ(a.scalar(call("ver()")), "v4");
  a.query("rollback");
  EXPECT_EQ(a.scalar(call("ver()")), "v3");
  EXPECT_EQ(b.scalar(call("ver()")), "v3");

  // Replaced by b, seen by a; repeated calls keep the new body.
  define(b, "ver() returns text", body_returning("v5"), "", true);
  for (int i = 0; i < 3; i++) EXPECT_EQ(a.scalar(call("ver()")), "v5");
}

TEST_F(PltsIsolation, AlterFunctionIsSeenByAnotherSession) {
  // Volatility decides ctx.db.mode; ALTER FUNCTION rewrites the pg_proc row like a replace does.
  Connection a, b;
  define(a, "mode() returns text", "export default (ctx) => ctx.db.mode");
  EXPECT_EQ(b.scalar(call("mode()")), "rw");
  a.query(fmt::format("alter function {}.mode() stable", schema_));
  EXPECT_EQ(b.scalar(call("mode()")), "ro");
  a.query(fmt::format("alter function {}.mode() volatile", schema_));
  EXPECT_EQ(b.scalar(call("mode()")), "rw");
}

TEST_F(PltsIsolation, GlobalsAreIsolatedPerRole) {
  const std::string r1 = make_role("r1"), r2 = make_role("r2");
  const std::string reader =
      "export default () => typeof globalThis.secret === 'undefined' ? '<none>' : "
      "String(globalThis.secret)";
  Connection c;
  // Functions owned by r1 and r2 (created under SET ROLE).
  c.query("set role " + r1);
  define(c, "set_secret(v text) returns text",
         "export default (ctx) => { globalThis.secret = ctx.args.v; return globalThis.secret }");
  define(c, "get_secret() returns text", reader);
  define(c, "get_secret_def_r1() returns text", reader, "security definer");
  define(c, "nested_r1() returns text", R"JS(
    export default async (ctx) => {
      const rows = await ctx.db.query('select @S@.get_secret_def_r2() as v');
      return rows[0].v + '/' + String(globalThis.secret);
    })JS");
  c.query("set role " + r2);
  define(c, "get_secret_def_r2() returns text", reader, "security definer");
  c.query("reset role");

  // r1's code sets a global; r1's later calls see it (the context persists within the role).
  c.query("set role " + r1);
  EXPECT_EQ(c.scalar(call("set_secret('r1')")), "r1");
  EXPECT_EQ(c.scalar(call("get_secret()")), "r1");
  // A SECURITY DEFINER function owned by r2 runs in r2's context: it does not see r1's global.
  EXPECT_EQ(c.scalar(call("get_secret_def_r2()")), "<none>");
  // Nested: r1 -> ctx.db -> definer(r2) -> back in r1, whose global is intact.
  EXPECT_EQ(c.scalar(call("nested_r1()")), "<none>/r1");
  EXPECT_EQ(c.scalar(call("get_secret()")), "r1");

  // After SET ROLE r2, a plain (invoker) function runs in r2's context.
  c.query("set role " + r2);
  EXPECT_EQ(c.scalar(call("get_secret()")), "<none>");
  // ... while a definer function owned by r1 runs in r1's context.
  EXPECT_EQ(c.scalar(call("get_secret_def_r1()")), "r1");
  // r2 sets its own value; r1's stays.
  EXPECT_EQ(c.scalar(call("set_secret('r2')")), "r2");
  EXPECT_EQ(c.scalar(call("get_secret()")), "r2");
  EXPECT_EQ(c.scalar(call("get_secret_def_r1()")), "r1");
  EXPECT_EQ(c.scalar(call("get_secret_def_r2()")), "r2");

  c.query("set role " + r1);
  EXPECT_EQ(c.scalar(call("get_secret()")), "r1");
  EXPECT_EQ(c.scalar(call("nested_r1()")), "r2/r1");

  // The session's own role (superuser) has a context of its own too.
  c.query("reset role");
  EXPECT_EQ(c.scalar(call("get_secret()")), "<none>");
  EXPECT_EQ(c.scalar(call("get_secret_def_r1()")), "r1");
}

TEST_F(PltsIsolation, DefinerFunctionDoesNotSeeCallersGlobalsWithoutSetRole) {
  // The caller is the session user (no SET ROLE): a definer function owned by another role still
  // switches context, and a global the callee sets does not leak back to the caller.
  const std::string r2 = make_role("r2");
  Connection c;
  define(c, "set_secret(v text) returns text",
         "export default (ctx) => { globalThis.secret = ctx.args.v; return globalThis.secret }");
  define(c, "get_secret() returns text",
         "export default () => typeof globalThis.secret === 'undefined' ? '<none>' : "
         "String(globalThis.secret)");
  c.query("set role " + r2);
  define(c, "definer_swap() returns text", R"JS(
    export default () => {
      const seen = typeof globalThis.secret === 'undefined' ? '<none>' : String(globalThis.secret);
      globalThis.secret = 'from-r2';
      return seen;
    })JS",
         "security definer");
  c.query("reset role");
  EXPECT_EQ(c.scalar(call("set_secret('mine')")), "mine");
  EXPECT_EQ(c.scalar(call("definer_swap()")), "<none>");
  EXPECT_EQ(c.scalar(call("get_secret()")), "mine");
  EXPECT_EQ(c.scalar(call("definer_swap()")), "from-r2");
  EXPECT_EQ(c.scalar(call("get_secret()")), "mine");
}

TEST_F(PltsIsolation, FreshCtxForEveryCall) {
  Connection c;
  define(c, "mark() returns int",
         "export default (ctx) => { ctx.mark = (ctx.mark ?? 0) + 1; return ctx.mark }");
  for (int i = 0; i < 3; i++) EXPECT_EQ(c.scalar(call("mark()")), "1") << "call " << i;
  // Several calls in one statement.
  auto rows = c.query(fmt::format("select {}.mark() from generate_series(1, 5)", schema_));
  ASSERT_EQ(rows.size(), 5u);
  for (const auto& row : rows) EXPECT_EQ(row[0], std::optional<std::string>("1"));

  // Mutating args/argv does not carry over, and ctx is a new object each time.
  define(c, "mutate(x int) returns text", R"JS(
    export default (ctx) => {
      const seen = `${ctx.args.x},${ctx.argv[0]}`;
      ctx.args.x = 999; ctx.argv[0] = 999;
      const same = globalThis.lastCtx === ctx;
      globalThis.lastCtx = ctx;
      return `${seen},${same}`;
    })JS");
  EXPECT_EQ(c.scalar(call("mutate(1)")), "1,1,false");
  EXPECT_EQ(c.scalar(call("mutate(2)")), "2,2,false");
  EXPECT_EQ(c.scalar(call("mutate(2)")), "2,2,false");
}

TEST_F(PltsIsolation, StaleCtxFromEarlierCallIsHarmless) {
  // A ctx kept past its call: using its db later must not crash the backend (a clear error, or it
  // works against the current call).
  Connection c;
  define(c, "keep_ctx() returns int",
         "export default (ctx) => { globalThis.saved = ctx; return 1 }");
  define(c, "use_stale() returns text", R"JS(
    export default async () => {
      const rows = await globalThis.saved.db.query('select 41 + 1 as v');
      return String(rows[0].v);
    })JS");
  define(c, "use_stale_later() returns text", R"JS(
    export default () => {
      globalThis.saved.db.query('select 1').then(() => {}, () => {});
      return 'ok';
    })JS");
  EXPECT_EQ(c.scalar(call("keep_ctx()")), "1");
  for (const char* f : {"use_stale()", "use_stale_later()", "use_stale()"}) {
    std::string state = c.error_of(call(f));
    EXPECT_NE(state, "08006") << f << ": connection lost";
    EXPECT_TRUE(c.alive()) << f;
  }
  // Also across a transaction boundary that was rolled back.
  c.query("begin");
  EXPECT_EQ(c.scalar(call("keep_ctx()")), "1");
  c.query("rollback");
  std::string state = c.error_of(call("use_stale()"));
  EXPECT_NE(state, "08006");
  EXPECT_TRUE(c.alive());
  define(c, "add1(x int) returns int", "export default (ctx) => ctx.args.x + 1");
  EXPECT_EQ(c.scalar(call("add1(1)")), "2");
}

}  // namespace
