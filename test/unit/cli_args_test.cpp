// The stopgap CLI's command line (cli/args.cpp).
#include <gtest/gtest.h>

#include "cli/args.h"

namespace stopgap::cli {
namespace {

Args parse(std::vector<std::string> argv) { return parse_args(argv); }

// The message of the UsageError a command line raises ("" when it parses).
std::string usage_error(std::vector<std::string> argv) {
  try {
    parse_args(argv);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(CliArgs, GlobalOptionsBeforeOrAfterTheCommand) {
  Args a = parse({"--db", "postgres://h/db", "--output", "json", "status"});
  EXPECT_EQ(a.command, Command::kStatus);
  EXPECT_EQ(a.db, "postgres://h/db");
  EXPECT_EQ(a.output, OutputFormat::kJson);
  a = parse({"status", "--output=json", "--db=service=x"});
  EXPECT_EQ(a.output, OutputFormat::kJson);
  EXPECT_EQ(a.db, "service=x");
  a = parse({"deployments"});
  EXPECT_EQ(a.output, OutputFormat::kHuman);
  EXPECT_FALSE(a.db);
  EXPECT_FALSE(a.env);
}

TEST(CliArgs, Deploy) {
  Args a = parse({"deploy", "--env", "prod", "--label", "v 2", "--prune", "--dry-run", "--force"});
  EXPECT_EQ(a.command, Command::kDeploy);
  EXPECT_EQ(a.env, "prod");
  EXPECT_EQ(a.label, "v 2");
  EXPECT_TRUE(a.prune);
  EXPECT_TRUE(a.dry_run);
  EXPECT_TRUE(a.force);
  EXPECT_FALSE(a.from_schema);
  a = parse({"deploy", "--from-schema", "app_src", "--force"});
  EXPECT_EQ(a.from_schema, "app_src");
  EXPECT_FALSE(a.prune);
  EXPECT_EQ(usage_error({"deploy", "--from-schema", "s", "--prune"}),
            "--prune does not apply to --from-schema");
  EXPECT_EQ(usage_error({"deploy", "--from-schema="}), "--from-schema needs a schema name");
  EXPECT_EQ(usage_error({"deploy", "extra"}), "unexpected argument \"extra\"");
}

TEST(CliArgs, Rollback) {
  Args a = parse({"rollback"});
  EXPECT_FALSE(a.steps);
  EXPECT_FALSE(a.to_id);
  a = parse({"rollback", "--env", "staging", "--steps", "3"});
  EXPECT_EQ(a.steps, 3);
  a = parse({"rollback", "--to=9000000000"});
  EXPECT_EQ(a.to_id, 9000000000LL);
  EXPECT_EQ(usage_error({"rollback", "--steps", "2", "--to", "5"}),
            "--steps and --to exclude each other");
  EXPECT_EQ(usage_error({"rollback", "--steps", "0"}),
            "--steps needs a positive integer, not \"0\"");
  EXPECT_EQ(usage_error({"rollback", "--steps", "2x"}),
            "--steps needs a positive integer, not \"2x\"");
  EXPECT_EQ(usage_error({"rollback", "--to", "-1"}), "--to needs a positive integer, not \"-1\"");
  EXPECT_EQ(usage_error({"rollback", "--to", "99999999999999999999"}),
            "--to needs a positive integer, not \"99999999999999999999\"");
  EXPECT_EQ(usage_error({"rollback", "--steps"}), "--steps needs a value");
}

TEST(CliArgs, StatusDeploymentsDiff) {
  EXPECT_EQ(parse({"status", "--env", "e"}).env, "e");
  EXPECT_EQ(parse({"deployments", "--env=e"}).command, Command::kDeployments);
  Args a = parse({"diff", "--from-schema", "src"});
  EXPECT_EQ(a.command, Command::kDiff);
  EXPECT_EQ(a.from_schema, "src");
  EXPECT_EQ(usage_error({"status", "--label", "x"}), "status does not take --label");
  EXPECT_EQ(usage_error({"deployments", "--force"}), "deployments does not take --force");
  EXPECT_EQ(usage_error({"diff", "--prune"}), "diff does not take --prune");
}

TEST(CliArgs, Call) {
  Args a = parse({"call", "api.users.profile.get", R"({"id": 7})", "--env", "prod"});
  EXPECT_EQ(a.command, Command::kCall);
  EXPECT_EQ(a.call_path, "api.users.profile.get");
  EXPECT_EQ(a.call_args, nlohmann::json({{"id", 7}}));
  EXPECT_EQ(a.env, "prod");
  a = parse({"call", "api.example.hello"});
  EXPECT_EQ(a.call_args, nlohmann::json::object());
  // JSON arguments that look like options come after "--".
  a = parse({"call", "api.math.neg", "--", "-1"});
  EXPECT_EQ(a.call_args, nlohmann::json(-1));
  EXPECT_EQ(usage_error({"call"}), "call needs a function path");
  EXPECT_EQ(usage_error({"call", "api.x.y", "{not json"}),
            "json-args is not valid JSON: {not json");
  EXPECT_EQ(usage_error({"call", "api.x.y", "{}", "more"}), "unexpected argument \"more\"");
}

TEST(CliArgs, InitTakesNothing) {
  EXPECT_EQ(parse({"init"}).command, Command::kInit);
  EXPECT_EQ(usage_error({"init", "--env", "x"}), "init does not take --env");
  EXPECT_EQ(usage_error({"init", "here"}), "unexpected argument \"here\"");
}

TEST(CliArgs, HelpOnEveryCommand) {
  for (const char* name : {"init", "deploy", "rollback", "status", "deployments", "diff", "call"}) {
    Args a = parse({name, "--help"});
    EXPECT_TRUE(a.help) << name;
    EXPECT_STREQ(command_name(a.command), name);
    EXPECT_NE(usage(a.command).find(std::string("usage: stopgap ") + name), std::string::npos)
        << name;
  }
  Args a = parse({"--help"});
  EXPECT_TRUE(a.help);
  EXPECT_EQ(a.command, Command::kNone);
  EXPECT_NE(usage(Command::kNone).find("rollback"), std::string::npos);
  // --help wins over what else is wrong with the line.
  EXPECT_TRUE(parse({"rollback", "--steps", "1", "--to", "2", "-h"}).help);
}

TEST(CliArgs, BadUsage) {
  EXPECT_EQ(usage_error({}), "no command given");
  EXPECT_EQ(usage_error({"deploi"}), "unknown command \"deploi\"");
  EXPECT_EQ(usage_error({"deploy", "--frobnicate"}), "unknown option --frobnicate");
  EXPECT_EQ(usage_error({"-x", "status"}), "unknown option -x");
  EXPECT_EQ(usage_error({"--output", "xml", "status"}),
            "--output must be human or json, not \"xml\"");
  EXPECT_EQ(usage_error({"status", "--env", "a", "--env", "b"}), "--env given twice");
  EXPECT_EQ(usage_error({"deploy", "--force=yes"}), "--force takes no value");
  try {
    parse_args({"rollback", "--steps", "x"});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_EQ(e.command, Command::kRollback);  // so the rollback usage is shown
  }
}

TEST(CliArgs, ConnectionStringPrecedence) {
  Args a = parse({"--db", "postgres://a/b", "status"});
  EXPECT_EQ(conninfo(a, "postgres://env/db"), "postgres://a/b");
  a = parse({"status"});
  EXPECT_EQ(conninfo(a, "postgres://env/db"), "postgres://env/db");
  EXPECT_EQ(conninfo(a, nullptr), "");  // libpq's PG* variables and defaults
}

}  // namespace
}  // namespace stopgap::cli
