#include "extensions/stopgap/project.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <vector>

#include "common/quote.h"
#include "extensions/stopgap/activate.h"
#include "extensions/stopgap/environment.h"
#include "extensions/stopgap/log.h"
#include "extensions/stopgap/materialize.h"
#include "extensions/stopgap/plan.h"
#include "extensions/stopgap/project_logic.h"
#include "extensions/stopgap/settings.h"

extern "C" {
#include "access/xact.h"
#include "utils/resowner.h"
}

namespace stopgap {

namespace {

namespace pj = stopgap::project;
using nlohmann::json;

const char* kOpts = "{\"source_map\": true}";
// A live function of a project: one jsonb argument (the args object), a jsonb result.
const char* kArguments = "args jsonb DEFAULT '{}'::jsonb";
const char* kClauses = " RETURNS jsonb\n LANGUAGE plts";

struct Module {
  std::string key, source, sha256, hash;
  bool package = false;
  std::vector<std::string> specifiers;         // its runtime imports as written
  std::map<std::string, std::string> targets;  // specifier -> file key (relative and bare imports)
};

// Problems: a deploy raises the first, a dry run reports them all.
struct Problems {
  bool dry_run = false;
  std::vector<Problem> list;
  void add(Problem p) {
    if (!dry_run) raise_problem(p);
    list.push_back(std::move(p));
  }
};

Problem problem(const std::string& sqlstate, const std::string& message, const std::string& detail = "",
                const std::string& hint = "") {
  Problem p;
  p.sqlstate = sqlstate;
  p.message = message;
  p.detail = detail;
  p.hint = hint;
  return p;
}

[[noreturn]] void bad_project(const std::string& message, const std::string& hint = "") {
  throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE, "invalid project: " + message, "",
                     hint.empty() ? "A project is {\"modules\": {\"<file under stopgap/>\": \"<source>\", ...}, "
                                    "\"resolve\": {\"<file>\": {\"<bare import>\": \"<file>\"}}} (docs/CLI.md)."
                                  : hint);
}

// Where a file is, for people: relative to the project's root (modules live in stopgap/).
std::string shown(const std::string& key) {
  return pj::is_package_file(key) ? key : "stopgap/" + key;
}

// "stopgap/users/profile.ts:12:7: error TS2322: <message>"
std::string diagnostic_line(const std::string& key, const json& d) {
  std::string s = shown(key);
  if (d.value("line", json()).is_number()) {
    s += ":" + std::to_string(d["line"].get<int>());
    if (d.value("column", json()).is_number()) s += ":" + std::to_string(d["column"].get<int>());
  }
  return s + ": " + d.value("category", std::string("error")) + " TS" + std::to_string(d.value("code", 0)) + ": " +
         d.value("message", std::string());
}

// Diagnostics lines as one problem: the first in the message, all in the detail.
Problem diagnostics_problem(const std::vector<std::string>& lines, const char* what, const std::string& sqlstate,
                            const std::string& hint) {
  std::string detail;
  for (const auto& l : lines) detail += (detail.empty() ? "" : "\n") + l;
  std::string count = lines.size() > 1 ? " (" + std::to_string(lines.size()) + " " + what + "s)" : "";
  return problem(sqlstate, "cannot deploy: " + std::string(what) + count + ": " + lines.front(), detail, hint);
}

std::map<std::string, Module> read_project(const json& project) {
  if (!project.is_object()) bad_project("it must be a JSON object, not " + std::string(project.type_name()));
  for (auto& [k, v] : project.items())
    if (k != "modules" && k != "resolve") bad_project("unknown field \"" + k + "\"");
  auto mods = project.find("modules");
  if (mods == project.end() || !mods->is_object() || mods->empty())
    bad_project("\"modules\" must be a non-empty object of file key -> source");
  std::map<std::string, Module> out;
  for (auto& [key, source] : mods->items()) {
    if (std::optional<std::string> why = pj::key_problem(key)) bad_project("module \"" + key + "\": " + *why);
    if (!source.is_string()) bad_project("module \"" + key + "\" must be a string (its source)");
    Module m;
    m.key = key;
    m.source = source.get<std::string>();
    if (m.source.find('\0') != std::string::npos) bad_project("module \"" + key + "\" contains a NUL character");
    m.package = pj::is_package_file(key);
    out.emplace(key, std::move(m));
  }
  return out;
}

std::map<std::string, std::map<std::string, std::string>> read_resolve(const json& project,
                                                                       const std::map<std::string, Module>& modules) {
  std::map<std::string, std::map<std::string, std::string>> out;
  auto r = project.find("resolve");
  if (r == project.end() || r->is_null()) return out;
  if (!r->is_object()) bad_project("\"resolve\" must be an object");
  for (auto& [key, specs] : r->items()) {
    if (modules.count(key) == 0) bad_project("\"resolve\" names \"" + key + "\", which is not a module of the project");
    if (!specs.is_object()) bad_project("\"resolve\".\"" + key + "\" must be an object of specifier -> file key");
    for (auto& [spec, target] : specs.items()) {
      if (!target.is_string())
        bad_project("\"resolve\".\"" + key + "\".\"" + spec + "\" must be a string (a file key)");
      out[key][spec] = target.get<std::string>();
    }
  }
  return out;
}

// Artifact hashes and source digests of every module, in one statement.
void hash_modules(std::map<std::string, Module>& modules, const std::string& fingerprint, const std::string& effective) {
  json sources = json::object();
  for (const auto& [key, m] : modules) sources[key] = m.source;
  for (const Row& r : query("SELECT m.key, pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(m.value, 'UTF8')), 'hex'),"
                            "       plts._artifact_hash($2, $3::jsonb, m.value)"
                            "  FROM pg_catalog.jsonb_each_text($1::jsonb) m",
                            {sources.dump(), fingerprint, effective})) {
    Module& m = modules.at(r.str(0));
    m.sha256 = r.str(1);
    m.hash = r.str(2);
  }
}

// The runtime imports of every module: known from an earlier deployment of the same artifact, or
// from the compiler (one statement for all the others). Syntax errors are problems.
void find_imports(std::map<std::string, Module>& modules, const std::string& effective, Problems& problems) {
  std::vector<std::string> hashes;
  for (const auto& [key, m] : modules) hashes.push_back(m.hash);
  std::map<std::string, std::vector<std::string>> known;
  for (const Row& r : query("SELECT DISTINCT ON (m.artifact_hash) m.artifact_hash, m.imports::text"
                            "  FROM stopgap.module_version m"
                            " WHERE m.artifact_hash IN (SELECT pg_catalog.jsonb_array_elements_text($1::jsonb))",
                            {json(hashes).dump()})) {
    std::vector<std::string> specs;
    const json imports = json::parse(r.str(1));
    for (auto& [spec, unused] : imports.items()) specs.push_back(spec);
    known[r.str(0)] = specs;
  }
  json todo = json::object();
  for (auto& [key, m] : modules) {
    auto k = known.find(m.hash);
    if (k != known.end())
      m.specifiers = k->second;
    else
      todo[key] = m.source;
  }
  if (todo.empty()) return;
  std::vector<std::string> errors;
  for (const Row& r : query("SELECT m.key, plts._transpile(m.value, $2::jsonb)::text"
                            "  FROM pg_catalog.jsonb_each_text($1::jsonb) m ORDER BY m.key COLLATE \"C\"",
                            {todo.dump(), effective})) {
    const json t = json::parse(r.str(1));
    const json diags = t.value("diagnostics", json::array());
    for (const auto& d : diags)
      if (d.value("category", "") == "error") errors.push_back(diagnostic_line(r.str(0), d));
    modules.at(r.str(0)).specifiers = t.value("imports", std::vector<std::string>());
  }
  if (!errors.empty())
    problems.add(diagnostics_problem(errors, "syntax error", "42601", "Nothing was deployed. Fix the code and deploy again."));
}

// Relative imports against the project's files, bare ones through "resolve"; Node built-ins and
// what resolves to nothing are problems.
void link_modules(std::map<std::string, Module>& modules,
                  const std::map<std::string, std::map<std::string, std::string>>& resolve, Problems& problems) {
  std::map<std::string, std::vector<std::string>> imports;
  for (const auto& [key, m] : modules) {
    auto& v = imports[key];
    for (const std::string& s : m.specifiers)
      // plts resolves these itself: its runtime, data: URLs and artifacts named by hash
      if (s != "@stopgap/runtime" && s.rfind("data:", 0) != 0 && s.rfind("plts+artifact:", 0) != 0 &&
          s.rfind("sha256:", 0) != 0)
        v.push_back(s);
  }
  pj::Link link = pj::link_files(imports, resolve);
  for (auto& [key, targets] : link.targets) modules.at(key).targets = targets;
  std::vector<std::string> builtins, unresolved;
  for (const auto& [key, messages] : link.problems)
    for (const std::string& msg : messages)
      (msg.find("Node.js built-in") != std::string::npos ? builtins : unresolved).push_back(shown(key) + ": " + msg);
  if (!builtins.empty())
    problems.add(diagnostics_problem(builtins, "unsupported import", "0A000",
                                     "plts has no filesystem, network or process: use a package that does not need "
                                     "Node.js built-ins, or do that work outside the database."));
  if (!unresolved.empty())
    problems.add(diagnostics_problem(unresolved, "unresolved import", "42883",
                                     "Relative imports name files under stopgap/; packages are installed in the "
                                     "project's node_modules/ (npm install) and resolved by the stopgap CLI."));
}

// Two files with the same text (so one artifact) whose imports lead to different files cannot
// share the artifact: its imports are mapped by artifact. The later ones (by key) get a comment
// naming them, which makes their artifacts their own.
void separate_identical(std::map<std::string, Module>& modules, const std::string& fingerprint,
                        const std::string& effective) {
  std::map<std::string, std::vector<Module*>> by_hash;
  for (auto& [key, m] : modules) by_hash[m.hash].push_back(&m);
  for (auto& [hash, group] : by_hash) {
    if (group.size() < 2) continue;
    for (size_t i = 1; i < group.size(); i++) {
      Module& m = *group[i];
      if (m.targets == group[0]->targets) continue;
      m.source += "\n// stopgap: module " + m.key + "\n";
      m.hash = *scalar("SELECT plts._artifact_hash($1, $2::jsonb, $3)", {fingerprint, effective, m.source});
    }
  }
}

// The import map of a live function whose module is `root`: for every module it reaches, each
// import scoped to that module's artifact ("<hash> <specifier>" -> its target's artifact).
std::map<std::string, std::string> closure_map(const std::map<std::string, Module>& modules, const std::string& root,
                                               std::vector<std::string>* reached) {
  std::map<std::string, std::string> map;
  std::set<std::string> seen{root};
  std::vector<std::string> todo{root};
  while (!todo.empty()) {
    const Module& m = modules.at(todo.back());
    todo.pop_back();
    for (const auto& [spec, target] : m.targets) {
      map[m.hash + " " + spec] = "plts+artifact:" + modules.at(target).hash;
      if (seen.insert(target).second) todo.push_back(target);
    }
  }
  seen.erase(root);
  if (reached != nullptr) reached->assign(seen.begin(), seen.end());
  return map;
}

// Type-checks the project's own modules together (npm files are JavaScript without types: what
// they export is `any` to the check).
void typecheck_project(const std::map<std::string, Module>& modules, Problems& problems) {
  if (settings.typecheck == kTypecheckOff) return;
  json set = json::object();
  std::vector<std::string> check;
  for (const auto& [key, m] : modules) {
    if (m.package) continue;
    json imports = json::object();
    for (const auto& [spec, target] : m.targets)
      if (!pj::is_package_file(target)) imports[spec] = target;
    set[key] = {{"source", m.source}, {"imports", imports}};
    check.push_back(key);
  }
  if (check.empty()) return;
  // The result is a function of the set (sources and how their imports resolve) and the compiler:
  // kept in stopgap.typecheck_cache under "project:<sha256 of both>", so an unchanged project is
  // not checked again.
  Rows cached = query(
      "SELECT k.key, c.diagnostics::text FROM (SELECT 'project:' || pg_catalog.encode(pg_catalog.sha256("
      "         pg_catalog.convert_to($1 || plts.compiler_fingerprint('{\"source_map\": true}'), 'UTF8')), 'hex') AS key) k"
      "  LEFT JOIN stopgap.typecheck_cache c ON c.artifact_hash = k.key",
      {set.dump() + json(check).dump()});
  const std::string cache_key = cached.at(0).str(0);
  json result;
  if (!cached[0].null(1)) {
    result = json::parse(cached[0].str(1));
  } else {
    result = json::parse(*scalar(
        "SELECT plts._typecheck_modules($1::jsonb, ARRAY(SELECT pg_catalog.jsonb_array_elements_text($2::jsonb)),"
        " '{\"source_map\": true}'::jsonb)::text",
        {set.dump(), json(check).dump()}));
    if (!problems.dry_run)
      query("INSERT INTO stopgap.typecheck_cache (artifact_hash, diagnostics) VALUES ($1, $2::jsonb)"
            " ON CONFLICT (artifact_hash) DO NOTHING",
            {cache_key, result.dump()});
  }
  std::vector<std::string> errors;
  for (const std::string& key : check) {
    const Module& m = modules.at(key);
    std::set<std::string> packages;  // bare imports of npm files: untyped here
    for (const auto& [spec, target] : m.targets)
      if (pj::is_package_file(target)) packages.insert(spec);
    auto it = result.find(key);
    if (it == result.end()) continue;
    for (const auto& d : *it) {
      if (d.value("category", "") != "error") continue;
      const std::string msg = d.value("message", "");
      const int code = d.value("code", 0);
      bool untyped = false;
      if (code == 2307 || code == 2792 || code == 7016)
        for (const std::string& p : packages)
          if (msg.find("'" + p + "'") != std::string::npos) untyped = true;
      if (!untyped) errors.push_back(diagnostic_line(key, d));
    }
  }
  if (errors.empty()) return;
  if (settings.typecheck == kTypecheckWarn && !problems.dry_run) {
    for (const std::string& e : errors)
      pgx::pg_guard([&] { ereport(WARNING, (errmsg_internal("stopgap: type error: %s", e.c_str()))); });
    return;
  }
  problems.add(diagnostics_problem(errors, "type error", "42804",
                                   "Nothing was deployed. Fix the type errors, or SET stopgap.typecheck = warn "
                                   "(deploys and reports them) or off."));
}

// Stores the artifacts plts.artifact lacks, in hash order (concurrent deploys cannot deadlock).
int store_modules(const std::map<std::string, Module>& modules) {
  std::vector<std::string> hashes;
  for (const auto& [key, m] : modules) hashes.push_back(m.hash);
  std::set<std::string> present;
  for (const Row& r : query("SELECT a.artifact_hash FROM plts.artifact a"
                            " WHERE a.artifact_hash IN (SELECT pg_catalog.jsonb_array_elements_text($1::jsonb))",
                            {json(hashes).dump()}))
    present.insert(r.str(0));
  std::map<std::string, const Module*> to_store;
  for (const auto& [key, m] : modules)
    if (present.count(m.hash) == 0) to_store.emplace(m.hash, &m);
  for (const auto& [hash, m] : to_store) {
    Value got = scalar("SELECT plts.compile_and_store($1, $2::jsonb)", {m->source, std::string(kOpts)});
    if (got != hash)
      throw pgx::PgError(ERRCODE_INTERNAL_ERROR, "stopgap: storing artifact " + hash + " gave another hash");
    pause_point("store");
  }
  return static_cast<int>(to_store.size());
}

// The functions of the project: every named export of its own modules made with query(...) or
// mutation(...), with what its live function is made of.
std::vector<PlannedFn> project_functions(const std::map<std::string, Module>& modules, Problems& problems) {
  std::vector<PlannedFn> fns;
  std::map<std::string, std::vector<std::string>> exports;
  for (const auto& [key, m] : modules) {
    if (m.package) continue;
    std::vector<std::string> reached;
    std::map<std::string, std::string> map = closure_map(modules, key, &reached);
    json kinds = module_exports(m.hash, json(map).dump(), shown(key));
    pause_point("load");
    for (auto& [name, kind] : kinds.items()) {
      if (name == "default" || !kind.is_string()) continue;
      const std::string k = kind.get<std::string>();
      if (k != "query" && k != "mutation") continue;
      exports[key].push_back(name);
      PlannedFn f;
      f.path = pj::function_path(key, name);
      f.module = key;
      f.export_name = name;
      f.fn_name = pj::live_function_name(key, name);
      if (std::optional<std::string> why = pj::live_name_problem(f.fn_name)) {
        problems.add(problem("42622", "cannot deploy " + f.path + ": " + *why, "",
                             "Shorten the module's path or the export's name."));
        continue;
      }
      f.signature = f.fn_name + "(args jsonb)";
      f.identity_types = "jsonb";
      f.arguments = kArguments;
      f.result = "jsonb";
      f.clauses = kClauses;
      f.routine = "function";
      f.kind = k;
      f.artifact_hash = m.hash;
      f.source_sha256 = m.sha256;
      f.import_map = map;
      f.imports = reached;
      f.comment = f.path;
      f.source = m.source;
      f.compiled = true;
      fns.push_back(std::move(f));
    }
  }
  for (const std::string& c : pj::live_name_collisions(exports))
    problems.add(problem("42710", "cannot deploy: " + c, "", "Rename a module or an export."));
  std::sort(fns.begin(), fns.end(), [](const PlannedFn& a, const PlannedFn& b) { return a.fn_name < b.fn_name; });
  if (fns.empty() && problems.list.empty())
    problems.add(problem("22023", "cannot deploy: no module of the project exports a query or mutation",
                         "A function is a named export made with query(...) or mutation(...) from @stopgap/runtime "
                         "in a module under stopgap/.",
                         "export const get = query({ args: {}, handler: async (ctx, args) => ... });"));
  return fns;
}

// Runs body in a subtransaction that is always rolled back: a dry run stores and loads modules to
// learn their exports and leaves nothing behind.
template <typename F>
void rolled_back(F&& body) {
  MemoryContext cxt = CurrentMemoryContext;
  ResourceOwner owner = CurrentResourceOwner;
  pgx::pg_guard([&] {
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(cxt);
  });
  auto undo = [&] {
    pgx::pg_guard([&] {
      RollbackAndReleaseCurrentSubTransaction();
      MemoryContextSwitchTo(cxt);
      CurrentResourceOwner = owner;
    });
  };
  try {
    body();
  } catch (...) {
    undo();
    throw;
  }
  undo();
}

// The functions' changes against the active deployment's.
json changes(const std::vector<PlannedFn>& planned, const std::vector<RecordedFn>& active, json* summary) {
  std::map<std::string, const RecordedFn*> by_name;
  for (const RecordedFn& a : active) by_name[a.fn_name] = &a;
  json fns = json::array();
  int added = 0, changed = 0, unchanged = 0, removed = 0;
  for (const PlannedFn& f : planned) {
    json j = {{"path", f.path}, {"fn_name", f.fn_name}, {"module", f.module}, {"export", f.export_name},
              {"kind", f.kind}, {"reasons", json::array()}};
    auto it = by_name.find(f.fn_name);
    if (it == by_name.end()) {
      j["change"] = "added";
      added++;
    } else {
      std::vector<std::string> reasons = change_reasons(f, *it->second);
      if (reasons.empty() && f.comment != it->second->comment) reasons.push_back("attributes");
      j["change"] = reasons.empty() ? "unchanged" : "changed";
      j["reasons"] = reasons;
      (reasons.empty() ? unchanged : changed)++;
      by_name.erase(it);
    }
    fns.push_back(std::move(j));
  }
  for (const auto& [name, a] : by_name) {
    fns.push_back({{"path", a->path.empty() ? json() : json(a->path)}, {"fn_name", name}, {"change", "removed"},
                   {"reasons", json::array()}});
    removed++;
  }
  *summary = {{"added", added}, {"changed", changed}, {"removed", removed}, {"unchanged", unchanged}};
  return fns;
}

bool option(const json& options, const char* name) {
  auto it = options.find(name);
  if (it == options.end() || it->is_null()) return false;
  if (!it->is_boolean())
    throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                       std::string("option \"") + name + "\" must be true or false, not " + it->dump());
  return it->get<bool>();
}

}  // namespace

json deploy_project(const std::string& caller, const Value& env_arg, const json& project, const Value& label,
                    const json& options) {
  auto started = std::chrono::steady_clock::now();
  if (!options.is_object()) throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE, "options must be a JSON object");
  for (auto& [k, v] : options.items())
    if (k != "force" && k != "prune" && k != "dry_run")
      throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE, "unknown option \"" + k + "\"",
                         "deploy_project's options are force, prune and dry_run.");
  const bool force = option(options, "force"), prune_opt = option(options, "prune"),
             dry_run = option(options, "dry_run");
  if (!dry_run) require_writable("deploy");
  authorize(caller, "deploy", std::nullopt);
  const std::string env = env_name(env_arg);
  std::map<std::string, Module> modules = read_project(project);
  const auto resolve = read_resolve(project, modules);

  std::optional<Environment> er;
  if (dry_run) {
    er = find_environment(env, false);
  } else {
    lock_environment(env);
    er = environment(env, true, caller);
  }
  const std::optional<long long> prev = er ? er->active_deployment_id : std::nullopt;

  Problems problems;
  problems.dry_run = dry_run;
  Rows opts = query("SELECT plts.compiler_fingerprint(o), plts._effective_opts(o)::text FROM (SELECT $1::jsonb o) x",
                    {std::string(kOpts)});
  const std::string fingerprint = opts.at(0).str(0), effective = opts.at(0).str(1);
  size_t own = 0;
  for (const auto& [key, m] : modules) own += m.package ? 0 : 1;
  if (!dry_run)
    progress(env, "compiling " + plural(modules.size(), "module", "modules") + " (" + std::to_string(own) +
                      " of the project, " + std::to_string(modules.size() - own) + " from node_modules)");
  hash_modules(modules, fingerprint, effective);
  find_imports(modules, effective, problems);
  if (problems.list.empty()) link_modules(modules, resolve, problems);
  if (problems.list.empty()) separate_identical(modules, fingerprint, effective);
  if (problems.list.empty()) {
    if (!dry_run) progress(env, "type-checking " + plural(own, "module", "modules"));
    typecheck_project(modules, problems);
  }

  Plan plan;  // schema "": a project
  for (const auto& [key, m] : modules) plan.modules[key] = m.hash;
  int stored = 0;
  if (problems.list.empty()) {
    if (dry_run) {
      rolled_back([&] {
        store_modules(modules);
        try {
          plan.fns = project_functions(modules, problems);
        } catch (const pgx::PgError& e) {
          problems.list.push_back(problem(unpack_sql_state(e.sqlerrcode()), e.message(), e.detail(), e.hint()));
        }
      });
    } else {
      progress(env, "storing and loading " + plural(modules.size(), "module", "modules"));
      stored = store_modules(modules);
      plan.fns = project_functions(modules, problems);
    }
  }

  std::vector<RecordedFn> active;
  if (prev) active = recorded_functions(*prev);
  json summary = {{"added", 0}, {"changed", 0}, {"removed", 0}, {"unchanged", 0}};
  json fns = json::array();
  if (problems.list.empty()) fns = changes(plan.fns, active, &summary);
  json report = {{"env", env},
                 {"label", label ? json(*label) : json()},
                 {"dry_run", dry_run},
                 {"deployment_id", nullptr},
                 {"unchanged", false},
                 // active after the call (a deploy that records replaces it below); previous: before
                 {"active_deployment", prev ? json(*prev) : json()},
                 {"previous_deployment", prev ? json(*prev) : json()},
                 {"summary", summary},
                 {"functions", fns},
                 {"modules", modules.size()}};
  if (dry_run) {
    json errors = json::array();
    for (const Problem& p : problems.list) errors.push_back(p.to_json());
    report["errors"] = errors;
    if (prev && problems.list.empty()) {
      std::vector<FnShape> a(active.begin(), active.end()), p(plan.fns.begin(), plan.fns.end());
      report["unchanged"] = same_deployment(p, a);
    }
    return report;
  }

  const bool saved_prune = settings.prune;
  if (prune_opt) settings.prune = true;
  struct Restore {
    bool saved;
    ~Restore() { settings.prune = saved; }
  } restore{saved_prune};

  if (prev && !force) {
    std::vector<FnShape> a(active.begin(), active.end()), p(plan.fns.begin(), plan.fns.end());
    if (same_deployment(p, a) && live_schema_current(er->live_schema, *prev)) {
      progress(env, "nothing changed since the active deployment, which stays active; nothing was recorded "
                    "(force deploys anyway)");
      report["unchanged"] = true;
      return report;
    }
  }

  const long long id = insert_deployment(env, label, std::nullopt, caller);
  record_versions(id, plan);
  json rows = json::array();
  for (const auto& [key, m] : modules) {
    json imports = json::object();
    for (const std::string& s : m.specifiers) {
      auto t = m.targets.find(s);
      imports[s] = t == m.targets.end() ? s : t->second;
    }
    rows.push_back({{"module", key}, {"artifact_hash", m.hash}, {"source_sha256", m.sha256}, {"imports", imports}});
  }
  query("INSERT INTO stopgap.module_version (deployment_id, module, artifact_hash, source_sha256, imports)"
        " SELECT $1::bigint, r.module, r.artifact_hash, r.source_sha256, r.imports"
        "   FROM pg_catalog.jsonb_to_recordset($2::jsonb) AS r(module text, artifact_hash text, source_sha256 text,"
        "        imports jsonb)",
        {std::to_string(id), rows.dump()});

  progress(env, "materializing " + plural(plan.fns.size(), "live function", "live functions") + " in schema \"" +
                    er->live_schema + "\"");
  int replaced = 0;
  std::map<std::string, std::string> defs = materialize(er->live_schema, id, "deploy", &replaced);
  query("UPDATE stopgap.fn_version v SET definition = d.value"
        "  FROM pg_catalog.jsonb_each_text($2::jsonb) d WHERE v.deployment_id = $1::bigint AND v.fn_name = d.key",
        {std::to_string(id), json(defs).dump()});
  json pruned = prune(er->live_schema, id);
  query("UPDATE stopgap.deployment SET manifest = $2::jsonb, status = 'sealed' WHERE id = $1::bigint",
        {std::to_string(id), manifest(env, er->live_schema, plan, pruned).dump()});
  size_t dropped = pruned["dropped"].size();
  progress(env, "activating" + (settings.prune ? " (pruned " + plural(dropped, "live function", "live functions") + ")"
                                                : std::string()));
  activate(env, prev, id, "deploy", caller,
           {{"functions", plan.fns.size()}, {"modules", modules.size()}, {"prune", pruned}});
  stopgap_log(LOG, "stopgap: environment " + env + ": deployment " + std::to_string(id) +
                       (label ? " \"" + *label + "\"" : "") + " (" + std::to_string(plan.fns.size()) +
                       " functions from a project of " + std::to_string(modules.size()) + " modules) activated by " +
                       caller + ", replacing " + (prev ? std::to_string(*prev) : std::string("nothing")) +
                       "; pruned " + std::to_string(dropped));
  stopgap_log(DEBUG1, "stopgap: environment " + env + ": deployment " + std::to_string(id) + ": stored " +
                          std::to_string(stored) + " artifacts, replaced " + std::to_string(replaced) +
                          " live functions, in " + std::to_string(elapsed_ms(started)) + " ms");
  report["deployment_id"] = id;
  report["active_deployment"] = id;
  report["pruned"] = pruned["dropped"];
  return report;
}

}  // namespace stopgap
