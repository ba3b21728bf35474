// Command runs of the stopgap CLI (cli/commands.cpp) against a FakeApi and an in-memory project:
// what is sent to the server, what is printed, and the exit code of every kind of failure.
#include <gtest/gtest.h>

#include <functional>
#include <sstream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/memory_fs.h"

namespace stopgap::cli {
namespace {

using json = nlohmann::json;

// Records each call as {"fn": name, ...arguments}; answers with `answer`, or runs `fail` first.
class FakeApi : public Api {
 public:
  std::vector<json> calls;
  json answer = json::object();
  std::int64_t id = 42;
  std::function<void()> fail;

  json deploy_project(const Opt& env, const json& project, const Opt& label,
                      const json& options) override {
    return record({{"fn", "deploy_project"},
                   {"env", opt(env)},
                   {"project", project},
                   {"label", opt(label)},
                   {"options", options}});
  }
  std::int64_t deploy(const Opt& env, const std::string& from_schema, const Opt& label,
                      bool force) override {
    record({{"fn", "deploy"},
            {"env", opt(env)},
            {"from_schema", from_schema},
            {"label", opt(label)},
            {"force", force}});
    return id;
  }
  json diff(const Opt& env, const std::string& from_schema) override {
    return record({{"fn", "diff"}, {"env", opt(env)}, {"from_schema", from_schema}});
  }
  std::int64_t rollback(const Opt& env, std::optional<int> steps,
                        std::optional<std::int64_t> to_id) override {
    record({{"fn", "rollback"},
            {"env", opt(env)},
            {"steps", steps ? json(*steps) : json()},
            {"to_id", to_id ? json(*to_id) : json()}});
    return id;
  }
  json status(const Opt& env) override { return record({{"fn", "status"}, {"env", opt(env)}}); }
  json deployments(const Opt& env) override {
    return record({{"fn", "deployments"}, {"env", opt(env)}});
  }
  json call_fn(const std::string& path, const json& args, const Opt& env) override {
    return record({{"fn", "call_fn"}, {"path", path}, {"args", args}, {"env", opt(env)}});
  }

 private:
  static json opt(const Opt& v) { return v ? json(*v) : json(); }
  json record(json call) {
    calls.push_back(std::move(call));
    if (fail) fail();
    return answer;
  }
};

struct Outcome {
  int code;
  std::string out, err;
};

class CliCommands : public ::testing::Test {
 protected:
  MemoryFs fs{{"/p/stopgap/example.ts",
               "import { query, v } from '@stopgap/runtime';\nexport const hello = 1;"},
              {"/p/stopgap/users/profile.ts", "import { z } from 'zod';\nexport const get = 2;"},
              {"/p/node_modules/zod/package.json", R"({"type":"module","exports":"./index.js"})"},
              {"/p/node_modules/zod/index.js", "export const z = 3;"}};
  FakeApi api;
  int factory_calls = 0;

  Outcome run(std::vector<std::string> argv, const std::string& cwd = "/p") {
    std::ostringstream out, err;
    Io io{fs, cwd, out, err};
    ApiFactory factory = [&](const Args&) -> Api& {
      factory_calls++;
      return api;
    };
    int code = run_cli(argv, factory, io);
    return {code, out.str(), err.str()};
  }
};

TEST_F(CliCommands, DeploySendsOneCallWithEveryModule) {
  api.answer = {
      {"env", "prod"}, {"deployment_id", 5}, {"label", "first"}, {"summary", {{"added", 2}}}};
  Outcome r = run({"deploy", "--env", "prod", "--label", "first", "--prune"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  ASSERT_EQ(api.calls.size(), 1u);
  const json& c = api.calls[0];
  EXPECT_EQ(c["fn"], "deploy_project");
  EXPECT_EQ(c["env"], "prod");
  EXPECT_EQ(c["label"], "first");
  EXPECT_EQ(c["options"], json({{"force", false}, {"prune", true}, {"dry_run", false}}));
  EXPECT_EQ(c["project"]["modules"],
            json({{"example.ts", *fs.read("/p/stopgap/example.ts")},
                  {"users/profile.ts", *fs.read("/p/stopgap/users/profile.ts")},
                  {"node_modules/zod/index.js", "export const z = 3;"}}));
  EXPECT_EQ(c["project"]["resolve"],
            json({{"users/profile.ts", {{"zod", "node_modules/zod/index.js"}}}}));
  EXPECT_EQ(r.out, "deployed to prod: deployment 5 \"first\"\n  2 added\n");
  EXPECT_EQ(r.err, "sending 2 modules and 1 npm file to prod\n");
}

TEST_F(CliCommands, DeployJsonOutputIsTheServerDocument) {
  api.answer = {{"env", "prod"}, {"deployment_id", nullptr}, {"unchanged", true}};
  Outcome r = run({"--output", "json", "deploy", "--force", "--dry-run"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(api.calls[0]["env"], nullptr);
  EXPECT_EQ(api.calls[0]["options"], json({{"force", true}, {"prune", false}, {"dry_run", true}}));
  EXPECT_EQ(r.out, R"({"deployment_id":null,"env":"prod","unchanged":true})"
                   "\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(CliCommands, TypeErrorsExitFiveWithTheDiagnosticsPrinted) {
  const std::string diagnostics =
      "stopgap/users/profile.ts:2:14: error TS2322: Type 'number' is not assignable to type "
      "'string'.\n"
      "stopgap/example.ts:1:10: error TS2305: Module '\"@stopgap/runtime\"' has no exported member "
      "'qury'.";
  for (const char* state : {"42804", "42P17"}) {
    api.calls.clear();
    api.fail = [state, &diagnostics] {
      throw ApiError(state, "type check failed", diagnostics, "fix the errors and deploy again");
    };
    Outcome r = run({"deploy"});
    EXPECT_EQ(r.code, kExitCompile) << state;
    EXPECT_EQ(api.calls.size(), 1u);
    EXPECT_NE(r.err.find("error: type check failed (SQLSTATE " + std::string(state) + ")\n" +
                         diagnostics + "\nhint: fix the errors and deploy again\n"),
              std::string::npos)
        << r.err;
  }
  // The same error from --from-schema deploys is a compile error too; from call it is SQL.
  EXPECT_EQ(run({"deploy", "--from-schema", "src"}).code, kExitCompile);
  EXPECT_EQ(run({"call", "api.x.y"}).code, kExitSql);
}

TEST_F(CliCommands, ServerErrorsInJsonMode) {
  api.fail = [] {
    throw ApiError("42501", "permission denied for function deploy_project", "",
                   "ask for stopgap_deployer");
  };
  Outcome r = run({"deploy", "--output=json"});
  EXPECT_EQ(r.code, kExitSql);
  EXPECT_EQ(json::parse(r.out),
            json({{"error",
                   {{"sqlstate", "42501"},
                    {"message", "permission denied for function deploy_project"},
                    {"detail", ""},
                    {"hint", "ask for stopgap_deployer"},
                    {"exit_code", 4}}}}));
  EXPECT_NE(r.err.find("error: permission denied"), std::string::npos);
}

TEST_F(CliCommands, DeployFromSchema) {
  Outcome r =
      run({"deploy", "--from-schema", "app_src", "--env", "staging", "--force", "--label", "l"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(api.calls, (std::vector<json>{{{"fn", "deploy"},
                                           {"env", "staging"},
                                           {"from_schema", "app_src"},
                                           {"label", "l"},
                                           {"force", true}}}));
  EXPECT_EQ(r.out, "deployed app_src to staging: deployment 42\n");
  r = run({"deploy", "--from-schema", "app_src", "--output", "json"});
  EXPECT_EQ(r.out, R"({"deployment_id":42,"env":null})"
                   "\n");
  // Outside a project: --from-schema needs none.
  EXPECT_EQ(run({"deploy", "--from-schema", "s"}, "/elsewhere").code, kExitOk);
}

TEST_F(CliCommands, DryRunAndDiff) {
  api.answer = {{"summary", {{"added", 0}, {"changed", 1}}},
                {"functions", {{{"fn_name", "f"}, {"change", "changed"}}}}};
  Outcome r = run({"deploy", "--from-schema", "s", "--dry-run"});
  EXPECT_EQ(api.calls.back()["fn"], "diff");
  EXPECT_EQ(r.out, "0 added, 1 changed\n  ~ f\n");
  r = run({"diff", "--from-schema", "s", "--env", "e"});
  EXPECT_EQ(api.calls.back(), json({{"fn", "diff"}, {"env", "e"}, {"from_schema", "s"}}));
  // diff of the project is a dry-run deploy.
  api.answer = {{"env", "prod"}, {"dry_run", true}};
  r = run({"diff"});
  EXPECT_EQ(api.calls.back()["fn"], "deploy_project");
  EXPECT_EQ(api.calls.back()["options"]["dry_run"], true);
  EXPECT_EQ(r.out, "dry run for prod: nothing was changed\n");
  EXPECT_EQ(r.code, kExitOk);

  // The problems a dry run finds are data in its report: printed, with the exit code a deploy
  // would have had (5 for type and syntax errors, 4 for the others).
  api.answer = {{"env", "prod"},
                {"dry_run", true},
                {"errors",
                 {{{"sqlstate", "42883"}, {"message", "cannot deploy: unresolved import"}},
                  {{"sqlstate", "42804"},
                   {"message", "cannot deploy: type error"},
                   {"detail", "stopgap/a.ts:1:7: error TS2322: Type 'string' is not assignable to type 'number'."}}}}};
  r = run({"deploy", "--dry-run"});
  EXPECT_EQ(r.code, kExitCompile);
  EXPECT_NE(r.err.find("stopgap/a.ts:1:7: error TS2322"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unresolved import (SQLSTATE 42883)"), std::string::npos) << r.err;
  r = run({"--output", "json", "diff"});
  EXPECT_EQ(r.code, kExitCompile);
  EXPECT_EQ(json::parse(r.out)["errors"].size(), 2u);
  api.answer["errors"].erase(1);
  EXPECT_EQ(run({"diff"}).code, kExitSql);
}

TEST_F(CliCommands, RollbackStatusDeploymentsCall) {
  EXPECT_EQ(run({"rollback"}).out,
            "rolled back the default environment: deployment 42 is active\n");
  // neither --steps nor --to: one step back (the server refuses steps NULL)
  EXPECT_EQ(api.calls.back(),
            json({{"fn", "rollback"}, {"env", nullptr}, {"steps", 1}, {"to_id", nullptr}}));
  run({"rollback", "--env", "prod", "--to", "7"});
  EXPECT_EQ(api.calls.back(),
            json({{"fn", "rollback"}, {"env", "prod"}, {"steps", nullptr}, {"to_id", 7}}));
  run({"rollback", "--steps", "2"});
  EXPECT_EQ(api.calls.back()["steps"], 2);

  api.answer = json::array();
  EXPECT_EQ(run({"deployments", "--env", "prod"}).out, "no deployments\n");
  EXPECT_EQ(api.calls.back(), json({{"fn", "deployments"}, {"env", "prod"}}));
  EXPECT_EQ(run({"deployments", "--output", "json"}).out, "[]\n");

  api.answer = {{"env", "prod"},
                {"live_schema", "live"},
                {"active_deployment", nullptr},
                {"drift", json::array()}};
  EXPECT_EQ(
      run({"status"}).out,
      "environment prod (live schema live)\nactive: none (nothing deployed yet)\ndrift: none\n");

  api.answer = {{"greeting", "Hello, world!"}};
  Outcome r = run({"call", "api.example.hello", R"({"name":"world"})", "--env", "dev"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(api.calls.back(), json({{"fn", "call_fn"},
                                    {"path", "api.example.hello"},
                                    {"args", {{"name", "world"}}},
                                    {"env", "dev"}}));
  EXPECT_EQ(r.out, "{\n  \"greeting\": \"Hello, world!\"\n}\n");
  EXPECT_EQ(run({"--output", "json", "call", "api.example.hello"}).out,
            R"({"greeting":"Hello, world!"})"
            "\n");
  EXPECT_EQ(api.calls.back()["args"], json::object());
}

TEST_F(CliCommands, UsageErrorsExitTwoWithoutTouchingTheServer) {
  Outcome r = run({"rollback", "--steps", "1", "--to", "2"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "stopgap: --steps and --to exclude each other\n" + usage(Command::kRollback));
  EXPECT_EQ(run({}).code, kExitUsage);
  EXPECT_EQ(run({"frobnicate"}).code, kExitUsage);
  EXPECT_EQ(factory_calls, 0);
  EXPECT_TRUE(api.calls.empty());
}

TEST_F(CliCommands, HelpExitsZero) {
  Outcome r = run({"deploy", "--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, usage(Command::kDeploy));
  EXPECT_EQ(run({"--help"}).out, usage(Command::kNone));
  EXPECT_EQ(factory_calls, 0);
}

TEST_F(CliCommands, ProjectErrorsExitSixBeforeConnecting) {
  Outcome r = run({"deploy"}, "/elsewhere");
  EXPECT_EQ(r.code, kExitProject);
  EXPECT_EQ(r.err, "stopgap: not a stopgap project (no stopgap/ directory): run stopgap init\n");
  fs.add("/p/stopgap/bad.ts", "import { readFile } from 'node:fs/promises';");
  r = run({"deploy", "--output", "json"});
  EXPECT_EQ(r.code, kExitProject);
  EXPECT_EQ(
      json::parse(r.out)["error"]["message"],
      "stopgap/bad.ts: imports the Node built-in \"node:fs/promises\", which plts does not provide "
      "(functions run inside PostgreSQL, without file system, network or process access)");
  EXPECT_EQ(json::parse(r.out)["error"]["exit_code"], kExitProject);
  EXPECT_EQ(factory_calls, 0);
}

TEST_F(CliCommands, ConnectionAndDecodingFailures) {
  api.fail = [] {
    throw ConnectError("connection to server on socket \"/x/.s.PGSQL.5432\" failed");
  };
  Outcome r = run({"status"});
  EXPECT_EQ(r.code, kExitConnect);
  EXPECT_EQ(r.err,
            "stopgap: cannot connect to the database: connection to server on socket "
            "\"/x/.s.PGSQL.5432\" failed\n");
  api.fail = [] { throw ApiError("08006", "server closed the connection unexpectedly"); };
  EXPECT_EQ(run({"status"}).code, kExitConnect);
  api.fail = [] { throw DecodeError("not JSON"); };
  EXPECT_EQ(run({"status"}).code, kExitDecode);
  // A document of the wrong shape is a decoding failure in human mode; JSON mode passes it on.
  api.fail = nullptr;
  api.answer = json::object();
  r = run({"deployments"});
  EXPECT_EQ(r.code, kExitDecode);
  EXPECT_NE(r.err.find("unexpected response from the server: deployments: expected an array"),
            std::string::npos);
  EXPECT_EQ(run({"deployments", "--output", "json"}).code, kExitOk);
  api.fail = [] { throw std::logic_error("boom"); };
  EXPECT_EQ(run({"status"}).code, kExitInternal);
}

TEST_F(CliCommands, ExitCodeMapping) {
  EXPECT_EQ(exit_code_for(ApiError("42804", "m"), Command::kDeploy), kExitCompile);
  EXPECT_EQ(exit_code_for(ApiError("42P17", "m"), Command::kDeploy), kExitCompile);
  EXPECT_EQ(exit_code_for(ApiError("42601", "m"), Command::kDeploy), kExitCompile);
  EXPECT_EQ(exit_code_for(ApiError("42804", "m"), Command::kDiff), kExitCompile);
  EXPECT_EQ(exit_code_for(ApiError("42804", "m"), Command::kCall), kExitSql);
  EXPECT_EQ(exit_code_for(ApiError("42501", "m"), Command::kDeploy), kExitSql);
  EXPECT_EQ(exit_code_for(ApiError("P0001", "m"), Command::kRollback), kExitSql);
  EXPECT_EQ(exit_code_for(ApiError("57014", "m"), Command::kDeploy), kExitSql);
  EXPECT_EQ(exit_code_for(ApiError("08006", "m"), Command::kStatus), kExitConnect);
  EXPECT_EQ(exit_code_for(ApiError("", "no SQLSTATE"), Command::kStatus), kExitSql);
}

TEST_F(CliCommands, InitTwiceChangesNothingTheSecondTime) {
  MemoryFs empty;
  empty.add_dir("/new");
  std::ostringstream out, err;
  Io io{empty, "/new", out, err};
  ApiFactory factory = [&](const Args&) -> Api& { return api; };
  EXPECT_EQ(run_cli({"init"}, factory, io), kExitOk);
  EXPECT_NE(out.str().find("created stopgap/example.ts\n"), std::string::npos);
  EXPECT_NE(out.str().find("note: no package.json here"), std::string::npos);
  out.str("");
  EXPECT_EQ(run_cli({"init"}, factory, io), kExitOk);
  EXPECT_NE(out.str().find("already a stopgap project: nothing changed\n"), std::string::npos);
  out.str("");
  EXPECT_EQ(run_cli({"init", "--output", "json"}, factory, io), kExitOk);
  EXPECT_EQ(json::parse(out.str()),
            json({{"created", json::array()}, {"package_json", "missing"}, {"changed", false}}));
  EXPECT_TRUE(api.calls.empty());
  empty.add("/bad/package.json", "{");
  Io bad{empty, "/bad", out, err};
  EXPECT_EQ(run_cli({"init"}, factory, bad), kExitProject);
}

}  // namespace
}  // namespace stopgap::cli
