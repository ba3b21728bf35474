// Logging from plts (issue 14): what reaches the server log (log_min_messages), the bounds of one
// message, and interrupts that arrive while a message is being reported. The client side
// (client_min_messages, formatting, CONTEXT) is covered by test/regress/sql/logging.sql.
//
// Each test works in its own schema (log_<pid>_<n>), dropped at the end.
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "test/pg/pg_client.h"

using pgtest::Connection;
using pgtest::eventually;
using namespace std::chrono_literals;

namespace {

// A raw libpq connection that keeps the notices it receives.
class NoticeConnection {
 public:
  NoticeConnection() {
    conn_ = PQconnectdb("application_name=plts_logging_test");
    if (PQstatus(conn_) != CONNECTION_OK) throw std::runtime_error(PQerrorMessage(conn_));
    PQsetNoticeReceiver(
        conn_,
        [](void* self, const PGresult* r) {
          auto* me = static_cast<NoticeConnection*>(self);
          const char* sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
          const char* msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
          const char* ctx = PQresultErrorField(r, PG_DIAG_CONTEXT);
          me->notices.push_back({sev ? sev : "", msg ? msg : "", ctx ? ctx : ""});
        },
        this);
  }
  ~NoticeConnection() { PQfinish(conn_); }
  // Runs sql; returns its SQLSTATE ("" when it succeeded).
  std::string exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    std::string state;
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
      const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      state = s ? s : "(none)";
    }
    PQclear(r);
    return state;
  }
  int pid() { return PQbackendPID(conn_); }
  struct Notice {
    std::string severity, message, context;
  };
  std::vector<Notice> notices;

 private:
  PGconn* conn_;
};

class Logging : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    schema_ = fmt::format("log_{}_{}", ::getpid(), ++counter);
    admin_.query("create schema " + schema_);
  }
  void TearDown() override { admin_.query("drop schema if exists " + schema_ + " cascade"); }
  void create(const std::string& signature, const std::string& body) {
    admin_.query(
        fmt::format("create function {}.{} language plts as $js${}$js$", schema_, signature, body));
  }
  // The server log from byte `from`, read by the server (the file the scripts' cluster_start
  // writes: PLTS_SERVER_LOG, else server.log beside the data directory). Empty when unreadable.
  std::string server_log_path() {
    if (const char* p = std::getenv("PLTS_SERVER_LOG")) return p;
    std::string data = admin_.scalar("select current_setting('data_directory')");
    return data.substr(0, data.rfind('/')) + "/server.log";
  }
  long log_size(const std::string& path) {
    try {
      return std::stol(admin_.scalar("select (pg_stat_file($1)).size", {path}));
    } catch (const std::exception&) {
      return -1;
    }
  }
  std::string log_since(const std::string& path, long from) {
    return admin_.scalar("select pg_read_file($1, $2, (pg_stat_file($1)).size - $2)",
                         {path, std::to_string(from)});
  }

  Connection admin_{"-c client_min_messages=warning"};
  std::string schema_;
};

TEST_F(Logging, WarningsReachTheServerLogWithTheFunctionsName) {
  const std::string path = server_log_path();
  const long from = log_size(path);
  if (from < 0) GTEST_SKIP() << "server log not readable at " << path;
  create("warns(tag text) returns int",
         "export default (ctx) => {\n"
         "  console.warn('warned', ctx.args.tag, { n: 1 });\n"
         "  console.log('noticed', ctx.args.tag);\n"
         "  return 1;\n"
         "};");
  const std::string tag = fmt::format("tag{}x{}", ::getpid(), schema_);
  Connection c("-c client_min_messages=error");
  c.query("set log_min_messages = warning");
  c.query(fmt::format("select {}.warns($1)", schema_), {tag});
  const std::string fn = "plts function " + schema_ + ".warns";
  std::string log;
  ASSERT_TRUE(eventually([&] {
    log = log_since(path, from);
    return log.find("warned " + tag) != std::string::npos;
  })) << log;
  EXPECT_NE(log.find("WARNING:  warned " + tag + " { n: 1 }\n"), std::string::npos) << log;
  EXPECT_NE(log.find("CONTEXT:  " + fn + " line 2 at console.warn"), std::string::npos) << log;
  // NOTICEs stay out of the server log unless log_min_messages asks for them
  EXPECT_EQ(log.find("noticed " + tag), std::string::npos) << log;
  c.query("set log_min_messages = notice");
  c.query(fmt::format("select {}.warns($1)", schema_), {tag + "b"});
  ASSERT_TRUE(eventually([&] {
    log = log_since(path, from);
    return log.find("noticed " + tag + "b") != std::string::npos;
  })) << log;
  EXPECT_NE(log.find("CONTEXT:  " + fn + " line 3 at console.log"), std::string::npos) << log;
}

TEST_F(Logging, OneMessageStopsAt16kB) {
  create("huge() returns int",
         "export default () => {\n"
         "  console.log('x'.repeat(100000));\n"
         "  console.log(Array.from({ length: 100 }, (_, i) => ({ i, s: 'y'.repeat(1000) })));\n"
         "  console.log({ s: 'z'.repeat(10050) });\n"
         "  console.log('\\u00e9'.repeat(9000));\n"  // two bytes each: cut at a character boundary
         "  return 1;\n"
         "};");
  NoticeConnection c;
  c.exec("set plts.max_log_bytes = '1MB'");
  ASSERT_EQ(c.exec(fmt::format("select {}.huge()", schema_)), "");
  ASSERT_EQ(c.notices.size(), 4u);
  const std::string marker = "... [truncated at 16384 bytes]";
  for (size_t i : {0, 1, 3}) {
    const std::string& m = c.notices[i].message;
    EXPECT_LE(m.size(), 16384 + marker.size()) << i;
    EXPECT_GE(m.size(), 16384 - 4 + marker.size()) << i;
    EXPECT_EQ(m.substr(m.size() - marker.size()), marker) << i;
  }
  EXPECT_EQ(c.notices[0].message, std::string(16384, 'x') + marker);
  // a string inside a structure stops at 10000 characters, as util.inspect's does
  EXPECT_EQ(c.notices[2].message,
            "{\n  s: '" + std::string(10000, 'z') + "'... 50 more characters\n}");
  EXPECT_EQ(c.notices[3].message.size() % 2, marker.size() % 2);
}

TEST_F(Logging, LogLoopStopsAtTimeoutAndCancelUncatchably) {
  // Every message goes through ereport (no budget, the client wants NOTICEs): the interrupt is
  // often noticed inside ereport's own CHECK_FOR_INTERRUPTS, which JS must not be able to catch.
  create("chatter() returns int",
         "export default () => {\n"
         "  for (let i = 0; ; i++) { try { console.log('line', i); } catch (e) {} }\n"
         "};");
  NoticeConnection c;
  c.exec("set plts.max_log_bytes = 0");
  c.exec("set statement_timeout = '500ms'");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c.exec(fmt::format("select {}.chatter()", schema_)), "57014");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_GT(c.notices.size(), 10u);
  c.exec("set statement_timeout = 0");
  // cancel from another session
  std::thread canceler([&, pid = c.pid()] {
    std::this_thread::sleep_for(300ms);
    Connection other;
    other.query("select pg_cancel_backend($1)", {std::to_string(pid)});
  });
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c.exec(fmt::format("select {}.chatter()", schema_)), "57014");
  canceler.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  // the backend stays usable
  c.notices.clear();
  EXPECT_EQ(c.exec("do $$ console.log('still here') $$ language plts"), "");
  ASSERT_EQ(c.notices.size(), 1u);
  EXPECT_EQ(c.notices[0].message, "still here");
}

TEST_F(Logging, LogLoopEndsAtTerminate) {
  create("chatter() returns int",
         "export default () => {\n"
         "  for (let i = 0; ; i++) { try { console.log('line', i); } catch (e) {} }\n"
         "};");
  auto c = std::make_unique<NoticeConnection>();
  c->exec("set plts.max_log_bytes = 0");
  std::thread terminator([pid = c->pid()] {
    std::this_thread::sleep_for(300ms);
    Connection other;
    other.query("select pg_terminate_backend($1)", {std::to_string(pid)});
  });
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(c->exec(fmt::format("select {}.chatter()", schema_)), "");
  terminator.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  c.reset();
  // the server did not restart: a new session works at once
  NoticeConnection d;
  EXPECT_EQ(d.exec("do $$ console.log('after terminate') $$ language plts"), "");
  ASSERT_EQ(d.notices.size(), 1u);
}

TEST_F(Logging, BudgetIsPerOutermostCall) {
  create("inner() returns int", "export default () => { console.log('i'.repeat(60)); return 1; };");
  create("outer() returns int", fmt::format("export default async (ctx) => {{\n"
                                            "  console.log('o'.repeat(60));\n"
                                            "  await ctx.db.query('select {}.inner()');\n"
                                            "  console.log('after');\n"
                                            "  return 1;\n"
                                            "}};",
                                            schema_));
  NoticeConnection c;
  c.exec("set plts.max_log_bytes = 100");
  ASSERT_EQ(c.exec(fmt::format("select {}.outer()", schema_)), "");
  ASSERT_EQ(c.notices.size(), 3u);
  EXPECT_EQ(c.notices[0].message, std::string(60, 'o'));
  EXPECT_EQ(c.notices[1].message, std::string(40, 'i') + "... [truncated at 40 bytes]");
  EXPECT_EQ(
      c.notices[1].context.rfind("plts function " + schema_ + ".inner line 1 at console.log", 0),
      0u)
      << c.notices[1].context;
  EXPECT_EQ(c.notices[2].severity, "WARNING");
  EXPECT_NE(c.notices[2].message.find("logged more than plts.max_log_bytes (100 bytes)"),
            std::string::npos);
  // the next statement's call has its own budget
  c.notices.clear();
  ASSERT_EQ(c.exec(fmt::format("select {}.inner()", schema_)), "");
  ASSERT_EQ(c.notices.size(), 1u);
  EXPECT_EQ(c.notices[0].message, std::string(60, 'i'));
}

}  // namespace
