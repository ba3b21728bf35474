// The command line: `stopgap [--db URL] [--output human|json] <command> [options]`.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stopgap::cli {

enum class Command {
  kNone,
  kInit,
  kDeploy,
  kRollback,
  kStatus,
  kDeployments,
  kDiff,
  kCall,
  kTypes,
  kDev
};
enum class OutputFormat { kHuman, kJson };

struct Args {
  Command command = Command::kNone;
  bool help = false;  // --help: print the command's usage (the global one without a command)
  std::optional<std::string> db;
  OutputFormat output = OutputFormat::kHuman;

  std::optional<std::string> env, label, from_schema;
  bool prune = false, dry_run = false, force = false;
  std::optional<int> steps;
  std::optional<std::int64_t> to_id;
  std::string call_path;
  nlohmann::json call_args = nlohmann::json::object();
};

// A malformed command line; what() says what is wrong (the caller adds the usage line).
struct UsageError : std::runtime_error {
  UsageError(const std::string& what, Command c) : std::runtime_error(what), command(c) {}
  Command command;  // the command whose usage to show (kNone: the global one)
};

// argv without the program name. Global options may appear anywhere.
Args parse_args(const std::vector<std::string>& argv);

const char* command_name(Command c);
// The --help text of a command (kNone: the overview of all commands).
std::string usage(Command c);

// The connection string: --db, else STOPGAP_DB (stopgap_db, may be null), else "" (libpq's PG*
// environment variables and defaults).
std::string conninfo(const Args& args, const char* stopgap_db);

}  // namespace stopgap::cli
