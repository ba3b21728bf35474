#include "cli/args.h"

#include <cerrno>
#include <cstdlib>
#include <set>

namespace stopgap::cli {
namespace {

struct CommandSpec {
  Command command;
  const char* name;
  std::set<std::string> options;  // accepted options besides the global ones
  const char* help;
};

const std::vector<CommandSpec>& specs() {
  static const std::vector<CommandSpec> kSpecs = {
      {Command::kInit,
       "init",
       {},
       "usage: stopgap init\n"
       "Creates stopgap/ in the current directory with an example module and a tsconfig.json,\n"
       "and adds @stopgap/runtime to package.json's devDependencies when there is a package.json.\n"
       "Existing files are left as they are.\n"},
      {Command::kDeploy,
       "deploy",
       {"--env", "--label", "--prune", "--dry-run", "--force", "--from-schema"},
       "usage: stopgap deploy [--env E] [--label L] [--prune] [--dry-run] [--force]\n"
       "       stopgap deploy --from-schema S [--env E] [--label L] [--dry-run] [--force]\n"
       "Sends every module under stopgap/ (and the npm files they import) to the database, which\n"
       "compiles, type-checks and activates them as one deployment.\n"
       "  --env E            environment (default: the server's stopgap.default_env)\n"
       "  --label L          label recorded with the deployment\n"
       "  --prune            drop live functions whose export no longer exists\n"
       "  --dry-run          print what would change; change nothing\n"
       "  --force            record a new deployment even when nothing changed\n"
       "  --from-schema S    deploy the plts functions of schema S instead of stopgap/\n"},
      {Command::kRollback,
       "rollback",
       {"--env", "--steps", "--to"},
       "usage: stopgap rollback [--env E] [--steps N | --to ID]\n"
       "Activates an earlier deployment: N steps back (default 1), or deployment ID.\n"},
      {Command::kStatus,
       "status",
       {"--env"},
       "usage: stopgap status [--env E]\n"
       "Shows the environment's active deployment and any drift of its live functions.\n"},
      {Command::kDeployments,
       "deployments",
       {"--env"},
       "usage: stopgap deployments [--env E]\n"
       "Lists the environment's deployments, newest first.\n"},
      {Command::kDiff,
       "diff",
       {"--env", "--from-schema"},
       "usage: stopgap diff [--env E] [--from-schema S]\n"
       "Shows what a deploy would change (of schema S with --from-schema; without it, of "
       "stopgap/,\n"
       "as deploy --dry-run does).\n"},
      {Command::kCall,
       "call",
       {"--env"},
       "usage: stopgap call <path> [json-args] [--env E]\n"
       "Calls a deployed function by path, e.g. stopgap call api.users.profile.get '{\"id\": 1}',\n"
       "and prints its result. json-args defaults to {}.\n"},
      {Command::kTypes,
       "types",
       {},
       "usage: stopgap types\n"
       "Writes stopgap/_generated/api.ts: api.<module path>.<export> for every export made with\n"
       "`export const NAME = query(` or `= mutation(`, typed by the module's own types, for\n"
       "call(client, api.users.profile.get, args) from @stopgap/runtime/client. Offline: reads\n"
       "stopgap/ only. The file is rewritten only when its text changes.\n"},
      {Command::kDev,
       "dev",
       {"--env", "--label"},
       "usage: stopgap dev [--env E] [--label L]\n"
       "Deploys stopgap/ (as stopgap deploy does), then watches it and redeploys ~100 ms after\n"
       "the last change to a module file, printing the diagnostics or the deployment. A failed\n"
       "deploy does not stop it; Ctrl-C (SIGINT) or SIGTERM does, with exit code 0.\n"
       "  --env E            environment (default: the server's stopgap.default_env)\n"
       "  --label L          label recorded with each deployment\n"},
  };
  return kSpecs;
}

const CommandSpec* find_spec(Command c) {
  for (const auto& s : specs())
    if (s.command == c) return &s;
  return nullptr;
}

bool takes_value(const std::string& opt) {
  static const std::set<std::string> kValued = {"--db",          "--output", "--env", "--label",
                                                "--from-schema", "--steps",  "--to"};
  return kValued.count(opt) > 0;
}

std::int64_t parse_positive(const std::string& opt, const std::string& value, Command c) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno == ERANGE || v <= 0 || value[0] == '+')
    throw UsageError(opt + " needs a positive integer, not \"" + value + "\"", c);
  return v;
}

}  // namespace

const char* command_name(Command c) {
  const CommandSpec* s = find_spec(c);
  return s ? s->name : "stopgap";
}

std::string usage(Command c) {
  if (const CommandSpec* s = find_spec(c)) return s->help;
  return "usage: stopgap [--db URL] [--output human|json] <command> [options]\n"
         "commands:\n"
         "  init          create a stopgap project in the current directory\n"
         "  deploy        deploy stopgap/ (or --from-schema S) to an environment\n"
         "  rollback      activate an earlier deployment\n"
         "  status        show the active deployment and drift\n"
         "  deployments   list deployments\n"
         "  diff          show what a deploy would change\n"
         "  call          call a deployed function by path\n"
         "  types         write stopgap/_generated/api.ts (typed function references)\n"
         "  dev           deploy, then redeploy on every change under stopgap/\n"
         "options:\n"
         "  --db URL              connection string (else STOPGAP_DB, else libpq's PG* variables)\n"
         "  --output human|json   output format (default human)\n"
         "`stopgap <command> --help` describes a command.\n";
}

Args parse_args(const std::vector<std::string>& argv) {
  Args a;
  std::vector<std::string> positional;
  std::vector<std::string> options;  // command options, checked once the command is known
  std::set<std::string> given;
  for (std::size_t i = 0; i < argv.size(); i++) {
    std::string arg = argv[i];
    if (arg == "-h") arg = "--help";
    if (arg.size() < 2 || arg.compare(0, 2, "--") != 0 || arg == "--") {
      if (arg == "--") {
        positional.insert(positional.end(), argv.begin() + i + 1, argv.end());
        break;
      }
      if (!arg.empty() && arg[0] == '-' && arg.size() > 1 && positional.empty())
        throw UsageError("unknown option " + arg, Command::kNone);
      positional.push_back(arg);
      if (a.command == Command::kNone) {
        for (const auto& s : specs())
          if (arg == s.name) a.command = s.command;
        if (a.command == Command::kNone)
          throw UsageError("unknown command \"" + arg + "\"", Command::kNone);
      }
      continue;
    }
    std::string opt = arg, value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      opt = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (opt == "--help" || opt == "-h") {
      a.help = true;
      continue;
    }
    if (takes_value(opt) && !has_value) {
      if (i + 1 >= argv.size()) throw UsageError(opt + " needs a value", a.command);
      value = argv[++i];
    } else if (!takes_value(opt) && has_value) {
      throw UsageError(opt + " takes no value", a.command);
    }
    if (!given.insert(opt).second) throw UsageError(opt + " given twice", a.command);
    if (opt == "--db") {
      a.db = value;
    } else if (opt == "--output") {
      if (value == "human")
        a.output = OutputFormat::kHuman;
      else if (value == "json")
        a.output = OutputFormat::kJson;
      else
        throw UsageError("--output must be human or json, not \"" + value + "\"", a.command);
    } else {
      options.push_back(opt);
      if (opt == "--env")
        a.env = value;
      else if (opt == "--label")
        a.label = value;
      else if (opt == "--from-schema")
        a.from_schema = value;
      else if (opt == "--prune")
        a.prune = true;
      else if (opt == "--dry-run")
        a.dry_run = true;
      else if (opt == "--force")
        a.force = true;
      else if (opt == "--steps")
        a.steps = static_cast<int>(
            std::min<std::int64_t>(parse_positive(opt, value, a.command), 1 << 30));
      else if (opt == "--to")
        a.to_id = parse_positive(opt, value, a.command);
      else
        throw UsageError("unknown option " + opt, a.command);
    }
  }
  if (a.help) return a;  // --help wins over anything else wrong with the line
  const Command c = a.command;
  if (c == Command::kNone) throw UsageError("no command given", c);
  const CommandSpec* spec = find_spec(c);
  for (const auto& opt : options)
    if (!spec->options.count(opt))
      throw UsageError(std::string(spec->name) + " does not take " + opt, c);

  // positional[0] is the command itself.
  std::size_t max_positional = c == Command::kCall ? 3 : 1;
  if (positional.size() > max_positional)
    throw UsageError("unexpected argument \"" + positional[max_positional] + "\"", c);
  if (c == Command::kCall) {
    if (positional.size() < 2 || positional[1].empty())
      throw UsageError("call needs a function path", c);
    a.call_path = positional[1];
    if (positional.size() == 3) {
      a.call_args = nlohmann::json::parse(positional[2], nullptr, false);
      if (a.call_args.is_discarded())
        throw UsageError("json-args is not valid JSON: " + positional[2], c);
    }
  }
  if (a.steps && a.to_id) throw UsageError("--steps and --to exclude each other", c);
  if (a.from_schema && a.prune) throw UsageError("--prune does not apply to --from-schema", c);
  if (a.from_schema && a.from_schema->empty())
    throw UsageError("--from-schema needs a schema name", c);
  return a;
}

std::string conninfo(const Args& args, const char* stopgap_db) {
  if (args.db) return *args.db;
  if (stopgap_db != nullptr) return stopgap_db;
  return "";
}

}  // namespace stopgap::cli
