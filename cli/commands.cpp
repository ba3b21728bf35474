#include "cli/commands.h"

#include <ostream>

#include "cli/dev.h"
#include "cli/exit_codes.h"
#include "cli/init.h"
#include "cli/output.h"
#include "cli/project.h"
#include "cli/resolve.h"
#include "cli/types.h"

namespace stopgap::cli {
namespace {

using json = nlohmann::json;

std::string env_text(const Args& a) { return a.env ? *a.env : "the default environment"; }

void print(Io& io, const Args& a, const json& doc, const std::string& human) {
  if (a.output == OutputFormat::kJson)
    io.out << json_line(doc) << "\n";
  else
    io.out << human;
}

int cmd_init(const Args& a, Io& io) {
  InitResult r = init_project(io.fs, io.cwd);
  if (a.output == OutputFormat::kJson) {
    io.out << json_line({{"created", r.created},
                         {"package_json", r.package_json},
                         {"changed", r.changed()}})
           << "\n";
    return kExitOk;
  }
  for (const auto& path : r.created) io.out << "created " << path << "\n";
  if (r.package_json == "added")
    io.out << "added @stopgap/runtime to package.json devDependencies: run npm install\n";
  if (r.package_json == "missing")
    io.out << "note: no package.json here; for editor types run: npm init -y && npm install "
              "--save-dev " << runtime_dependency() << "\n";
  if (!r.changed()) io.out << "already a stopgap project: nothing changed\n";
  return kExitOk;
}

int cmd_deploy(const Args& a, const ApiFactory& api, Io& io) {
  if (a.from_schema) {
    if (a.dry_run) {
      json d = api(a).diff(a.env, *a.from_schema);
      print(io, a, d, format_diff(d));
      return kExitOk;
    }
    std::int64_t id = api(a).deploy(a.env, *a.from_schema, a.label, a.force);
    print(io, a, {{"env", a.env ? json(*a.env) : json()}, {"deployment_id", id}},
          "deployed " + *a.from_schema + " to " + env_text(a) + ": deployment " +
              std::to_string(id) + "\n");
    return kExitOk;
  }
  std::string root = find_project_root(io.fs, io.cwd);
  json project = build_project_payload(io.fs, root);
  if (a.output == OutputFormat::kHuman) {
    std::size_t npm = 0;
    for (auto& [key, _] : project["modules"].items())
      if (key.find("node_modules/") != std::string::npos) npm++;
    const std::size_t own = project["modules"].size() - npm;
    io.err << "sending " << own << (own == 1 ? " module" : " modules");
    if (npm) io.err << " and " << npm << (npm == 1 ? " npm file" : " npm files");
    io.err << " to " << env_text(a) << (a.dry_run ? " (dry run)" : "") << "\n";
  }
  json options = {{"force", a.force}, {"prune", a.prune}, {"dry_run", a.dry_run}};
  json report = api(a).deploy_project(a.env, project, a.label, options);
  print(io, a, report, a.output == OutputFormat::kHuman ? format_deploy_report(report) : "");
  // A dry run reports the problems a deploy would raise as data: shown, and the exit code is the
  // one that deploy would have had.
  int code = kExitOk;
  if (report.contains("errors") && report["errors"].is_array()) {
    for (const json& e : report["errors"]) {
      if (!e.is_object()) continue;
      ApiError err(e.value("sqlstate", std::string()), e.value("message", std::string()),
                   e.value("detail", std::string()), e.value("hint", std::string()));
      if (a.output == OutputFormat::kHuman) io.err << format_api_error(err);
      int c = exit_code_for(err, Command::kDeploy);
      if (code == kExitOk || c == kExitCompile) code = c;
    }
  }
  return code;
}

int cmd_diff(const Args& a, const ApiFactory& api, Io& io) {
  if (a.from_schema) {
    json d = api(a).diff(a.env, *a.from_schema);
    print(io, a, d, a.output == OutputFormat::kHuman ? format_diff(d) : "");
    return kExitOk;
  }
  Args dry = a;
  dry.dry_run = true;
  return cmd_deploy(dry, api, io);
}

int cmd_types(const Args& a, Io& io) {
  std::string root = find_project_root(io.fs, io.cwd);
  TypesResult r = write_api_types(io.fs, root);
  if (a.output == OutputFormat::kJson) {
    io.out << json_line({{"file", r.file}, {"changed", r.changed}, {"functions", r.functions}})
           << "\n";
    return kExitOk;
  }
  const std::size_t n = r.functions.size();
  io.out << (r.changed ? "wrote " : "unchanged: ") << r.file << " (" << n
         << (n == 1 ? " function" : " functions") << ")\n";
  return kExitOk;
}

int run_guarded(const Args& a, Io& io, const std::function<int()>& body);

int cmd_dev(const Args& a, const ApiFactory& api, Io& io, const DevHooks& hooks) {
  std::string root = find_project_root(io.fs, io.cwd);
  std::unique_ptr<Watcher> watcher;
  try {
    watcher = hooks.watcher ? hooks.watcher(path_join(root, "stopgap"))
                            : std::make_unique<InotifyWatcher>(path_join(root, "stopgap"));
  } catch (const WatchError& e) {
    io.err << "stopgap: " << e.what() << "\n";
    return kExitInternal;
  }
  Args deploy = a;
  deploy.command = Command::kDeploy;
  auto deploy_once = [&]() {
    int code = run_guarded(deploy, io, [&] { return cmd_deploy(deploy, api, io); });
    io.out.flush();
    if (code == kExitConnect && hooks.reconnect) hooks.reconnect();
    return code;
  };
  return run_dev_loop(*watcher, deploy_once, io.err);
}

int run_command(const Args& a, const ApiFactory& api, Io& io, const DevHooks& dev) {
  const bool human = a.output == OutputFormat::kHuman;
  switch (a.command) {
    case Command::kInit:
      return cmd_init(a, io);
    case Command::kDeploy:
      return cmd_deploy(a, api, io);
    case Command::kDiff:
      return cmd_diff(a, api, io);
    case Command::kRollback: {
      // Neither --steps nor --to: one step back (the server's own default; NULL would be refused).
      std::optional<int> steps = a.steps;
      if (!steps && !a.to_id) steps = 1;
      std::int64_t id = api(a).rollback(a.env, steps, a.to_id);
      print(io, a, {{"env", a.env ? json(*a.env) : json()}, {"deployment_id", id}},
            "rolled back " + env_text(a) + ": deployment " + std::to_string(id) + " is active\n");
      return kExitOk;
    }
    case Command::kStatus: {
      json s = api(a).status(a.env);
      print(io, a, s, human ? format_status(s) : "");
      return kExitOk;
    }
    case Command::kDeployments: {
      json d = api(a).deployments(a.env);
      print(io, a, d, human ? format_deployments(d) : "");
      return kExitOk;
    }
    case Command::kCall: {
      json r = api(a).call_fn(a.call_path, a.call_args, a.env);
      print(io, a, r, human ? format_call_result(r) : "");
      return kExitOk;
    }
    case Command::kTypes:
      return cmd_types(a, io);
    case Command::kDev:
      return cmd_dev(a, api, io, dev);
    case Command::kNone:
      break;
  }
  io.out << usage(Command::kNone);
  return kExitUsage;
}

}  // namespace

int exit_code_for(const ApiError& e, Command c) {
  if ((c == Command::kDeploy || c == Command::kDiff) &&
      (e.sqlstate == "42804" || e.sqlstate == "42601" || e.sqlstate == "42P17"))
    return kExitCompile;
  if (e.sqlstate.compare(0, 2, "08") == 0) return kExitConnect;  // connection lost mid-command
  return kExitSql;
}

int run_cli(const std::vector<std::string>& argv, const ApiFactory& api, Io& io,
            const DevHooks& dev) {
  Args a;
  try {
    a = parse_args(argv);
  } catch (const UsageError& e) {
    io.err << "stopgap: " << e.what() << "\n" << usage(e.command);
    return kExitUsage;
  }
  if (a.help) {
    io.out << usage(a.command);
    return kExitOk;
  }
  return run_guarded(a, io, [&] { return run_command(a, api, io, dev); });
}

namespace {

// Runs a command body, mapping each kind of failure to its message and exit code.
int run_guarded(const Args& a, Io& io, const std::function<int()>& body) {
  const bool json_out = a.output == OutputFormat::kJson;
  auto fail = [&](int code, const std::string& message) {
    io.err << "stopgap: " << message << "\n";
    if (json_out)
      io.out << json_line({{"error", {{"message", message}, {"exit_code", code}}}}) << "\n";
    return code;
  };
  try {
    return body();
  } catch (const ApiError& e) {
    int code = exit_code_for(e, a.command);
    io.err << format_api_error(e);
    if (json_out) {
      json doc = api_error_document(e);
      doc["error"]["exit_code"] = code;
      io.out << json_line(doc) << "\n";
    }
    return code;
  } catch (const ProjectError& e) {
    return fail(kExitProject, e.what());
  } catch (const ResolveError& e) {
    return fail(kExitProject, e.what());
  } catch (const FsError& e) {
    return fail(kExitProject, e.what());
  } catch (const ConnectError& e) {
    return fail(kExitConnect, std::string("cannot connect to the database: ") + e.what());
  } catch (const DecodeError& e) {
    return fail(kExitDecode, std::string("unexpected response from the server: ") + e.what());
  } catch (const nlohmann::json::exception& e) {
    return fail(kExitDecode, std::string("unexpected response from the server: ") + e.what());
  } catch (const std::exception& e) {
    return fail(kExitInternal, std::string("internal error: ") + e.what());
  }
}

}  // namespace

}  // namespace stopgap::cli
