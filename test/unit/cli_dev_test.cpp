// `stopgap dev`: the debounce/redeploy loop (cli/dev.*) against a scripted watcher, the dev command
// through run_cli with a fake watcher and a fake Api, and the inotify watcher (cli/watch.*) on a
// real temporary directory (new subdirectories, ignored files, SIGTERM).
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/dev.h"
#include "cli/exit_codes.h"
#include "cli/memory_fs.h"

namespace stopgap::cli {
namespace {

using json = nlohmann::json;

// Answers wait() from a script and records each timeout it was asked for ("deploy" entries are
// added by the test's deploy callback, so the log shows the interleaving).
class ScriptedWatcher : public Watcher {
 public:
  explicit ScriptedWatcher(std::deque<WatchEvent> script, std::vector<std::string>* log)
      : script_(std::move(script)), log_(log) {}
  WatchEvent wait(int timeout_ms) override {
    log_->push_back("wait " + std::to_string(timeout_ms));
    if (script_.empty()) return WatchEvent::kStop;  // a test that forgets to stop still ends
    WatchEvent e = script_.front();
    script_.pop_front();
    return e;
  }

 private:
  std::deque<WatchEvent> script_;
  std::vector<std::string>* log_;
};

constexpr auto C = WatchEvent::kChange;
constexpr auto T = WatchEvent::kTimeout;
constexpr auto S = WatchEvent::kStop;

TEST(CliDevLoop, DeploysAtStartThenOncePerBurstAfterTheQuietTime) {
  std::vector<std::string> log;
  ScriptedWatcher w({C, C, C, T, C, T, S}, &log);
  std::ostringstream err;
  int code = run_dev_loop(w, [&] { log.push_back("deploy"); return 0; }, err, 100);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(log, (std::vector<std::string>{"deploy", "wait -1", "wait 100", "wait 100", "wait 100",
                                           "deploy", "wait -1", "wait 100", "deploy", "wait -1"}));
  EXPECT_EQ(err.str(),
            "watching stopgap/ for changes (Ctrl-C to stop)\n"
            "change detected: redeploying\n"
            "change detected: redeploying\n"
            "stopped\n");
}

TEST(CliDevLoop, AFailedDeployDoesNotStopTheLoop) {
  std::vector<std::string> log;
  ScriptedWatcher w({C, T, C, T, S}, &log);
  std::ostringstream err;
  int deploys = 0;
  int code = run_dev_loop(w, [&] { return ++deploys == 2 ? kExitCompile : kExitOk; }, err, 100);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(deploys, 3);
}

TEST(CliDevLoop, StopDuringTheQuietTimeEndsWithoutDeploying) {
  std::vector<std::string> log;
  ScriptedWatcher w({C, C, S}, &log);
  std::ostringstream err;
  int deploys = 0;
  EXPECT_EQ(run_dev_loop(w, [&] { return ++deploys, 0; }, err, 50), 0);
  EXPECT_EQ(deploys, 1);
  EXPECT_EQ(log, (std::vector<std::string>{"wait -1", "wait 50", "wait 50"}));
}

TEST(CliDevLoop, TimeoutWithoutAChangeIsIgnored) {
  std::vector<std::string> log;
  ScriptedWatcher w({T, T, S}, &log);
  std::ostringstream err;
  int deploys = 0;
  EXPECT_EQ(run_dev_loop(w, [&] { return ++deploys, 0; }, err), 0);
  EXPECT_EQ(deploys, 1);
}

// A fake Api whose deploy_project answers (or throws) from a list.
class DeployApi : public Api {
 public:
  std::vector<std::function<json()>> answers;
  std::vector<json> sent;
  json deploy_project(const Opt& env, const json& project, const Opt& label,
                      const json& options) override {
    sent.push_back({{"env", env ? json(*env) : json()},
                    {"label", label ? json(*label) : json()},
                    {"options", options},
                    {"modules", project["modules"]}});
    auto answer = answers.at(sent.size() - 1);
    return answer();
  }
  std::int64_t deploy(const Opt&, const std::string&, const Opt&, bool) override { return 0; }
  json diff(const Opt&, const std::string&) override { return {}; }
  std::int64_t rollback(const Opt&, std::optional<int>, std::optional<std::int64_t>) override {
    return 0;
  }
  json status(const Opt&) override { return {}; }
  json deployments(const Opt&) override { return {}; }
  json call_fn(const std::string&, const json&, const Opt&) override { return {}; }
};

TEST(CliDev, RedeploysAfterChangesPrintingReportsAndErrorsUntilStopped) {
  MemoryFs fs{{"/p/stopgap/a.ts", "export const f = query({}, g);"}};
  DeployApi api;
  api.answers = {
      [] { return json{{"env", "dev"}, {"deployment_id", 7}, {"summary", {{"added", 1}}}}; },
      []() -> json {
        throw ApiError("42804", "type check failed",
                       "a.ts:1:7: error TS2322: Type 'string' is not assignable to type 'number'.");
      },
      []() -> json { throw ConnectError("connection lost: server closed the connection"); },
      [] { return json{{"env", "dev"}, {"deployment_id", 8}, {"summary", {{"changed", 1}}}}; },
  };
  std::vector<std::string> log;
  std::string watched_dir;
  int reconnects = 0;
  DevHooks hooks;
  hooks.watcher = [&](const std::string& dir) {
    watched_dir = dir;
    return std::make_unique<ScriptedWatcher>(std::deque<WatchEvent>{C, T, C, T, C, T, S}, &log);
  };
  hooks.reconnect = [&] { reconnects++; };
  std::ostringstream out, err;
  Io io{fs, "/p", out, err};
  ApiFactory factory = [&](const Args&) -> Api& { return api; };
  int code = run_cli({"dev", "--env", "dev", "--label", "wip"}, factory, io, hooks);
  EXPECT_EQ(code, kExitOk) << err.str();
  EXPECT_EQ(watched_dir, "/p/stopgap");
  ASSERT_EQ(api.sent.size(), 4u);
  for (const auto& s : api.sent) {
    EXPECT_EQ(s["env"], "dev");
    EXPECT_EQ(s["label"], "wip");
    EXPECT_EQ(s["options"], json({{"force", false}, {"prune", false}, {"dry_run", false}}));
  }
  EXPECT_EQ(reconnects, 1);
  const std::string o = out.str(), e = err.str();
  EXPECT_NE(o.find("deployment 7"), std::string::npos) << o;
  EXPECT_NE(o.find("deployment 8"), std::string::npos) << o;
  EXPECT_NE(e.find("a.ts:1:7: error TS2322: Type 'string' is not assignable to type 'number'."),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("cannot connect to the database: connection lost"), std::string::npos) << e;
  EXPECT_NE(e.find("stopped\n"), std::string::npos);
}

TEST(CliDev, JsonOutputIsOneDocumentPerDeploy) {
  MemoryFs fs{{"/p/stopgap/a.ts", "export const f = query({}, g);"}};
  DeployApi api;
  api.answers = {
      [] { return json{{"deployment_id", 1}}; },
      []() -> json { throw ApiError("42804", "type check failed", "a.ts:1:1: error TS1: x"); },
  };
  std::vector<std::string> log;
  DevHooks hooks;
  hooks.watcher = [&](const std::string&) {
    return std::make_unique<ScriptedWatcher>(std::deque<WatchEvent>{C, T, S}, &log);
  };
  std::ostringstream out, err;
  Io io{fs, "/p", out, err};
  ApiFactory factory = [&](const Args&) -> Api& { return api; };
  EXPECT_EQ(run_cli({"--output", "json", "dev"}, factory, io, hooks), kExitOk);
  std::istringstream lines(out.str());
  std::string first, second, rest;
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_FALSE(std::getline(lines, rest)) << out.str();
  EXPECT_EQ(json::parse(first), json({{"deployment_id", 1}}));
  EXPECT_EQ(json::parse(second)["error"]["exit_code"], kExitCompile);
  EXPECT_EQ(json::parse(second)["error"]["sqlstate"], "42804");
}

TEST(CliDev, OutsideAProjectExitsSixWithoutWatching) {
  MemoryFs fs;
  fs.add_dir("/p");
  bool watched = false;
  DevHooks hooks;
  hooks.watcher = [&](const std::string&) -> std::unique_ptr<Watcher> {
    watched = true;
    return nullptr;
  };
  std::ostringstream out, err;
  Io io{fs, "/p", out, err};
  ApiFactory factory = [&](const Args&) -> Api& { throw std::logic_error("no api"); };
  EXPECT_EQ(run_cli({"dev"}, factory, io, hooks), kExitProject);
  EXPECT_FALSE(watched);
  EXPECT_EQ(run_cli({"dev", "--prune"}, factory, io, hooks), kExitUsage);
}

// The real inotify watcher on a temporary directory.
class CliInotify : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("stopgap-watch-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "existing");
    std::filesystem::create_directories(dir_ / "node_modules" / "pkg");
    std::filesystem::create_directories(dir_ / "_generated");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::filesystem::path& rel, const std::string& text) {
    std::ofstream(dir_ / rel) << text;
  }
  // Waits for the next event, allowing a slow machine 5 s.
  static WatchEvent next(Watcher& w) { return w.wait(5000); }
  std::filesystem::path dir_;
};

TEST_F(CliInotify, ReportsModuleWritesInOldAndNewSubdirectories) {
  InotifyWatcher w(dir_.string());
  EXPECT_EQ(w.wait(50), WatchEvent::kTimeout);
  write("existing/a.ts", "export const x = 1;");
  EXPECT_EQ(next(w), WatchEvent::kChange);
  while (w.wait(100) == WatchEvent::kChange) {
  }
  std::filesystem::create_directories(dir_ / "new" / "deeper");
  EXPECT_EQ(next(w), WatchEvent::kChange);  // the new directory itself
  while (w.wait(100) == WatchEvent::kChange) {
  }
  write("new/deeper/b.mts", "export const y = 2;");
  EXPECT_EQ(next(w), WatchEvent::kChange);
  while (w.wait(100) == WatchEvent::kChange) {
  }
  std::filesystem::remove(dir_ / "existing" / "a.ts");
  EXPECT_EQ(next(w), WatchEvent::kChange);
}

TEST_F(CliInotify, IgnoresOtherFilesAndSkippedDirectories) {
  InotifyWatcher w(dir_.string());
  write("notes.txt", "x");
  write(".a.ts.swp", "x");
  write("existing/a.ts~", "x");
  write("node_modules/pkg/index.js", "x");
  write("_generated/api.ts", "x");
  write("tsconfig.json", "{}");
  EXPECT_EQ(w.wait(300), WatchEvent::kTimeout);
}

TEST_F(CliInotify, SigtermEndsAWaitAndTheMaskIsRestoredAfterwards) {
  {
    InotifyWatcher w(dir_.string());
    ASSERT_EQ(kill(getpid(), SIGTERM), 0);  // blocked: queued for the signalfd, not fatal
    EXPECT_EQ(next(w), WatchEvent::kStop);
  }
  sigset_t now;
  ASSERT_EQ(sigprocmask(SIG_BLOCK, nullptr, &now), 0);
  EXPECT_FALSE(sigismember(&now, SIGTERM));
  EXPECT_FALSE(sigismember(&now, SIGINT));
}

TEST(CliInotifyErrors, AMissingRootIsAWatchErrorAndLeavesTheMaskAlone) {
  try {
    InotifyWatcher w("/nonexistent-stopgap-dir");
    FAIL() << "no error";
  } catch (const WatchError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot watch /nonexistent-stopgap-dir"), std::string::npos)
        << e.what();
  }
  sigset_t now;
  ASSERT_EQ(sigprocmask(SIG_BLOCK, nullptr, &now), 0);
  EXPECT_FALSE(sigismember(&now, SIGTERM));
}

}  // namespace
}  // namespace stopgap::cli
