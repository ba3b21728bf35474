// Human and JSON output of the stopgap CLI (cli/output.cpp).
#include <gtest/gtest.h>

#include "cli/output.h"

namespace stopgap::cli {
namespace {

using json = nlohmann::json;

TEST(CliOutput, JsonIsOneLine) {
  json doc = {{"b", {1, 2}}, {"a", "x\ny"}};
  EXPECT_EQ(json_line(doc), R"({"a":"x\ny","b":[1,2]})");
  EXPECT_EQ(json_line(json(std::string("bad \xff byte"))), "\"bad \xEF\xBF\xBD byte\"");
}

TEST(CliOutput, DeploymentsTable) {
  json list = json::parse(R"([
    {"id": 12, "label": "v2", "status": "active", "is_active": true, "created_at": "2026-01-02 10:00:00+00",
     "created_by": "deployer", "functions": [{"fn_name": "a"}, {"fn_name": "b"}]},
    {"id": 3, "label": null, "status": "rolled_back", "is_active": false, "created_at": "2026-01-01 09:00:00+00",
     "created_by": "postgres", "functions": []}])");
  EXPECT_EQ(format_deployments(list),
            "  ID  STATUS       LABEL  FUNCTIONS  CREATED AT              CREATED BY\n"
            "* 12  active       v2     2          2026-01-02 10:00:00+00  deployer\n"
            "  3   rolled_back  -      0          2026-01-01 09:00:00+00  postgres\n");
  EXPECT_EQ(format_deployments(json::array()), "no deployments\n");
  EXPECT_THROW(format_deployments(json::object()), DecodeError);
  EXPECT_THROW(format_deployments(json({1})), DecodeError);
}

TEST(CliOutput, StatusSummary) {
  json s =
      json::parse(R"j({"env": "prod", "live_schema": "live", "function_count": 4, "drifted": true,
    "active_deployment": {"id": 7, "label": "release", "activated_at": "2026-01-02 10:00:00+00"},
    "drift": [{"fn_name": "f", "signature": "f(jsonb)", "problem": "modified", "body_changed": true},
              {"problem": "live_schema_missing", "schema": "live"}], "retained": []})j");
  EXPECT_EQ(format_status(s),
            "environment prod (live schema live)\n"
            "active: deployment 7 \"release\", 4 functions, activated 2026-01-02 10:00:00+00\n"
            "drift: 2 problems\n"
            "  modified f\n"
            "  live_schema_missing live\n");
  json empty = {{"env", "dev"},
                {"live_schema", "dev_live"},
                {"active_deployment", nullptr},
                {"function_count", 0},
                {"drift", json::array()}};
  EXPECT_EQ(
      format_status(empty),
      "environment dev (live schema dev_live)\nactive: none (nothing deployed yet)\ndrift: none\n");
  // a project's functions are listed by path
  s["paths"] = {"api.todos.add", "api.todos.list"};
  s["drift"] = json::array();
  EXPECT_EQ(format_status(s),
            "environment prod (live schema live)\n"
            "active: deployment 7 \"release\", 4 functions, activated 2026-01-02 10:00:00+00\n"
            "  api.todos.add\n"
            "  api.todos.list\n"
            "drift: none\n");
  EXPECT_THROW(format_status(json::array()), DecodeError);
}

TEST(CliOutput, DiffSummary) {
  json d = json::parse(
      R"({"summary": {"added": 1, "changed": 1, "removed": 1, "unchanged": 5, "errors": 1},
    "functions": [{"fn_name": "users_profile_get", "path": "api.users.profile.get", "change": "added"},
                  {"fn_name": "b", "change": "changed", "reasons": ["source", "kind"]},
                  {"fn_name": "c", "change": "removed"},
                  {"fn_name": "d", "change": "unchanged"}],
    "errors": [{"function": "e", "message": "type error", "sqlstate": "42804"}]})");
  EXPECT_EQ(format_diff(d),
            "1 added, 1 changed, 1 removed, 5 unchanged, 1 errors\n"
            "  + api.users.profile.get\n"
            "  ~ b (source, kind)\n"
            "  - c\n"
            "  error: e: type error\n");
  EXPECT_THROW(format_diff(json::object()), DecodeError);
}

TEST(CliOutput, DeployReport) {
  json r = json::parse(R"({"env": "prod", "deployment_id": 13, "label": "v3",
    "summary": {"added": 1, "changed": 0, "removed": 0, "unchanged": 2},
    "functions": [{"path": "api.example.hello", "change": "added"}, {"path": "api.a.b", "change": "unchanged"}]})");
  EXPECT_EQ(format_deploy_report(r),
            "deployed to prod: deployment 13 \"v3\"\n"
            "  1 added, 0 changed, 0 removed, 2 unchanged\n"
            "  + api.example.hello\n");
  json same = {
      {"env", "prod"}, {"deployment_id", nullptr}, {"unchanged", true}, {"active_deployment", 13}};
  EXPECT_EQ(format_deploy_report(same),
            "nothing to deploy: prod already runs this code (deployment 13)\n");
  json dry = {{"env", "prod"}, {"dry_run", true}, {"summary", {{"added", 2}}}};
  EXPECT_EQ(format_deploy_report(dry), "dry run for prod: nothing was changed\n  2 added\n");
  EXPECT_THROW(format_deploy_report(json(5)), DecodeError);
}

TEST(CliOutput, CallResultIsIndentedJson) {
  EXPECT_EQ(format_call_result(json({{"greeting", "hi"}})), "{\n  \"greeting\": \"hi\"\n}\n");
  EXPECT_EQ(format_call_result(json()), "null\n");
}

TEST(CliOutput, ServerErrorsKeepTheirDetailLines) {
  ApiError e(
      "42804", "type check failed for 2 modules",
      "users/profile.ts:12:7: error TS2322: Type 'string' is not assignable to type 'number'.\n"
      "example.ts:3:1: error TS2304: Cannot find name 'x'.",
      "fix the errors above, or deploy with stopgap.typecheck = warn");
  EXPECT_EQ(
      format_api_error(e),
      "error: type check failed for 2 modules (SQLSTATE 42804)\n"
      "users/profile.ts:12:7: error TS2322: Type 'string' is not assignable to type 'number'.\n"
      "example.ts:3:1: error TS2304: Cannot find name 'x'.\n"
      "hint: fix the errors above, or deploy with stopgap.typecheck = warn\n");
  EXPECT_EQ(format_api_error(ApiError("42501", "permission denied for function deploy_project")),
            "error: permission denied for function deploy_project (SQLSTATE 42501)\n");
  EXPECT_EQ(
      api_error_document(ApiError("P0001", "m", "d", "h")),
      json({{"error", {{"sqlstate", "P0001"}, {"message", "m"}, {"detail", "d"}, {"hint", "h"}}}}));
}

}  // namespace
}  // namespace stopgap::cli
