#include "extensions/stopgap/plan.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/quote.h"
#include "extensions/stopgap/environment.h"
#include "extensions/stopgap/settings.h"
#include "extensions/stopgap/spi.h"

namespace stopgap {

namespace {

const char* kOpts = "{\"source_map\": true}";

int sqlstate_code(const std::string& s) {
  return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
}

nlohmann::json parse_json(const Value& v) {
  return v ? nlohmann::json::parse(*v) : nlohmann::json();
}

// Adds a problem: a dry run keeps it, a deploy raises it.
void report(bool dry_run, std::vector<Problem>& into, Problem p) {
  if (!dry_run) raise_problem(p);
  into.push_back(std::move(p));
}

// The first error among TypeScript diagnostics, as a problem of function `fn`.
std::optional<Problem> first_error(const nlohmann::json& diags, const std::string& diags_text,
                                   const std::string& qualified,
                                   const std::string& fn, const char* what) {
  for (const auto& d : diags) {
    if (d.value("category", "") != "error") continue;
    Problem p;
    p.function = fn;
    p.sqlstate = "42601";
    auto num = [](const nlohmann::json& v) { return v.is_number() ? std::optional<int>(v.get<int>()) : std::nullopt; };
    p.line = num(d.value("line", nlohmann::json()));
    p.column = num(d.value("column", nlohmann::json()));
    std::string at = p.line ? " at line " + std::to_string(*p.line) + ", column " +
                                  (p.column ? std::to_string(*p.column) : std::string("?"))
                            : "";
    p.diagnostic = d.value("message", "");
    p.message = "cannot deploy " + qualified + ": " + what + at + ": " + p.diagnostic;
    p.detail = "diagnostics: " + diags_text;
    p.hint = "Nothing was deployed. Fix the function and deploy again.";
    return p;
  }
  return std::nullopt;
}

std::string json_array(const std::vector<std::string>& v) { return nlohmann::json(v).dump(); }

}  // namespace

void raise_problem(const Problem& p) {
  throw pgx::PgError(sqlstate_code(p.sqlstate), p.message, p.detail, p.hint);
}

PlannedFn* Plan::find(const std::string& name) {
  for (PlannedFn& f : fns)
    if (f.fn_name == name) return &f;
  return nullptr;
}

std::vector<RecordedFn> recorded_functions(long long id, std::string* source_schema) {
  std::vector<RecordedFn> out;
  for (const Row& r : query("SELECT v.fn_name, v.routine, v.identity_types, v.arguments, v.clauses, v.artifact_hash,"
                            "       v.source_sha256, v.result, v.comment, v.import_map::text, v.signature, d.source_schema,"
                            // to_jsonb: the catalog of stopgap 0.2.0 (before ALTER EXTENSION UPDATE) has no such columns
                            "       pg_catalog.to_jsonb(v)->>'path', pg_catalog.to_jsonb(v)->>'module',"
                            "       pg_catalog.to_jsonb(v)->>'export_name'"
                            "  FROM stopgap.fn_version v JOIN stopgap.deployment d ON d.id = v.deployment_id"
                            " WHERE v.deployment_id = $1::bigint ORDER BY v.fn_name",
                            {std::to_string(id)})) {
    RecordedFn f;
    f.fn_name = r.str(0);
    f.routine = r.str(1);
    f.identity_types = r.str(2);
    f.arguments = r.str(3);
    f.clauses = r.str(4);
    f.artifact_hash = r.str(5);
    f.source_sha256 = r.str(6);
    f.result = r[7];
    f.comment = r[8];
    f.import_map = nlohmann::json::parse(r.str(9)).get<std::map<std::string, std::string>>();
    f.signature = r.str(10);
    if (source_schema != nullptr) *source_schema = r.str(11);  // "" for a project's
    f.path = r.str(12);
    f.module = r.str(13);
    f.export_name = r.str(14);
    out.push_back(std::move(f));
  }
  return out;
}

Plan build_plan(const std::string& schema, bool dry_run) {
  Plan plan;
  plan.schema = schema;
  const std::string prefix = "@stopgap/" + schema + "/";
  const std::string qschema = pgx::quote_ident(schema);

  Rows rows = query(
      "SELECT p.proname, p.prokind, p.prosecdef, p.prosrc,"
      "       pg_catalog.pg_get_function_identity_arguments(p.oid),"
      "       pg_catalog.pg_get_function_arguments(p.oid), pg_catalog.pg_get_function_result(p.oid),"
      "       pg_catalog.obj_description(p.oid, 'pg_proc'),"
      "       CASE WHEN p.prokind IN ('f', 'w', 'p') THEN pg_catalog.pg_get_functiondef(p.oid) END,"
      "       (SELECT coalesce(pg_catalog.string_agg(pg_catalog.format_type(a.t, NULL), ',' ORDER BY a.o), '')"
      "          FROM pg_catalog.unnest(p.proargtypes) WITH ORDINALITY AS a(t, o)),"
      "       pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p.prosrc, 'UTF8')), 'hex')"
      "  FROM pg_catalog.pg_proc p"
      "  JOIN pg_catalog.pg_language l ON l.oid = p.prolang AND l.lanname = 'plts'"
      "  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
      " WHERE n.nspname = $1::name ORDER BY p.proname, p.oid",
      {schema});

  // Overloads: one function per name (its live pointer and its import specifier are by name).
  std::map<std::string, int> count;
  for (const Row& r : rows) count[r.str(0)]++;
  std::vector<std::string> overloaded;
  for (const Row& r : rows)
    if (count[r.str(0)] > 1) overloaded.push_back(r.str(0) + "(" + r.str(4) + ")");
  if (!overloaded.empty()) {
    std::string list;
    for (const auto& o : overloaded) list += (list.empty() ? "" : ", ") + o;
    report(dry_run, plan.problems,
           Problem{"", "schema \"" + schema + "\" has overloaded plts functions: " + list, "",
                   "stopgap deploys one function per name; rename or drop the overloads.", "42725"});
  }

  Rows opts = query("SELECT plts.compiler_fingerprint(o), plts._effective_opts(o)::text FROM (SELECT $1::jsonb o) x",
                    {std::string(kOpts)});
  plan.fingerprint = opts[0].str(0);
  const std::string effective = opts[0].str(1);

  for (const Row& r : rows) {
    const std::string name = r.str(0), kind = r.str(1);
    if (count[name] > 1) continue;
    const std::string qualified = schema + "." + name;
    const char* routine = kind == "f" ? "function" : kind == "w" ? "window" : kind == "p" ? "procedure" : nullptr;
    PlannedFn f;
    f.fn_name = name;
    f.source = r.str(3);
    f.signature = name + "(" + r.str(4) + ")";
    f.arguments = r.str(5);
    f.result = r[6];
    f.comment = r[7];
    f.identity_types = r.str(9);
    f.source_sha256 = r.str(10);
    if (routine == nullptr) {
      report(dry_run, f.problems,
             Problem{name, "cannot deploy " + qualified + ": stopgap deploys functions, window functions and "
                               "procedures, not routines of kind \"" + kind + "\"", "", "", "0A000"});
      plan.fns.push_back(std::move(f));
      continue;
    }
    f.routine = routine;
    const char* keyword = kind == "p" ? "PROCEDURE" : "FUNCTION";
    if (r.str(2) == "t")
      report(dry_run, f.problems,
             Problem{name, "cannot deploy " + qualified + ": it is SECURITY DEFINER",
                     "Live functions are owned by stopgap_owner and run as their caller.",
                     std::string("ALTER ") + keyword + " " + qschema + "." + pgx::quote_ident(name) + "(" +
                         r.str(4) + ") SECURITY INVOKER;",
                     "0A000"});
    const std::string& src = f.source;
    size_t first = src.find_first_not_of(" \t\r\n\f\v");
    if (first != std::string::npos && src[first] == '{' && src.find("\"artifact_ptr\"") != std::string::npos &&
        src.find("\"kind\"") != std::string::npos)
      report(dry_run, f.problems,
             Problem{name, "cannot deploy " + qualified + ": its body is a pointer stub, not TypeScript", "",
                     "Deploy from the schema that holds the TypeScript source.", "22023"});
    // The live function's clauses are the source's, as pg_get_functiondef prints them (it quotes
    // SET values correctly): everything between the signature and the body.
    const Value& def = r[8];
    // The list is read with the statement's snapshot, definitions from the current catalog: a
    // function dropped or replaced by a concurrent transaction no longer agrees. Deploying it would
    // mix two versions: refused as a serialization failure.
    if (!def || r.null(5) || (r.null(6) && kind != "p") || r.null(4) || def->find(src) == std::string::npos) {
      report(dry_run, f.problems,
             Problem{name, "cannot deploy " + qualified + ": it was dropped or replaced by another transaction during the deploy",
                     "", "Nothing was deployed. Deploy again once the source schema stopped changing.", "40001"});
      plan.fns.push_back(std::move(f));
      continue;
    }
    std::optional<std::string> clauses =
        definition_clauses(*def, definition_head(keyword, qschema + "." + pgx::quote_ident(name), f.arguments), src);
    if (!clauses) throw pgx::PgError(ERRCODE_INTERNAL_ERROR, "unexpected definition of " + qualified);
    f.clauses = *clauses;
    plan.fns.push_back(std::move(f));
  }
  if (plan.fns.empty() && plan.problems.empty())
    report(dry_run, plan.problems,
           Problem{"", "schema \"" + schema + "\" has no LANGUAGE plts functions to deploy", "", "", "22023"});

  // The deployed imports of each function. A source deployed before from this schema with this
  // compiler compiled then, and its imports are recorded: no transpile for it. (Manifest format 2
  // marks deployments whose imports are the runtime imports: 0.1.0 also counted type-only ones,
  // which could make a cycle of what is none.)
  std::vector<std::string> shas;
  for (const PlannedFn& f : plan.fns) shas.push_back(f.source_sha256);
  std::map<std::string, std::vector<std::string>> known;
  for (const Row& k : query(
           "SELECT DISTINCT ON (v.source_sha256) v.source_sha256, pg_catalog.to_jsonb(v.imports)::text"
           "  FROM stopgap.fn_version v JOIN stopgap.deployment d ON d.id = v.deployment_id"
           "  JOIN plts.artifact a ON a.artifact_hash = v.artifact_hash"
           " WHERE v.source_sha256 IN (SELECT pg_catalog.jsonb_array_elements_text($1::jsonb))"
           "   AND d.source_schema = $2::name AND a.compiler_fingerprint = $3"
           // format 2 (0.2.0): imports are the runtime imports only (0.1.0 counted type-only ones)
           "   AND (d.manifest->>'format')::int >= 2",
           {json_array(shas), schema, plan.fingerprint}))
    known[k.str(0)] = nlohmann::json::parse(k.str(1)).get<std::vector<std::string>>();

  for (PlannedFn& f : plan.fns) {
    if (!f.problems.empty() || f.routine.empty()) continue;
    const std::string qualified = schema + "." + f.fn_name;
    pause_point("compile");
    auto k = known.find(f.source_sha256);
    if (k != known.end()) {
      f.imports = k->second;
      f.compiled = true;
      plan.reused++;
      continue;
    }
    Rows tr = query("SELECT r::text, (r->'diagnostics')::text FROM plts._transpile($1, $2::jsonb) r",
                    {f.source, effective});
    nlohmann::json t = parse_json(tr.at(0)[0]);
    plan.transpiled++;
    if (auto p = first_error(t["diagnostics"], tr[0].str(1), qualified, f.fn_name, "TypeScript error")) {
      report(dry_run, f.problems, *p);
      continue;
    }
    f.compiled = true;
    std::vector<std::string> foreign;
    f.imports = deployed_imports(t.value("imports", std::vector<std::string>()), prefix, &foreign);
    if (!foreign.empty()) {
      std::string list;
      for (const auto& s : foreign) list += (list.empty() ? "\"" : ", \"") + s + "\"";
      report(dry_run, f.problems,
             Problem{f.fn_name,
                     "cannot deploy " + qualified + ": it imports " + list +
                         ", which is neither @stopgap/runtime nor a function of schema \"" + schema + "\"",
                     "Deployed functions import each other as \"" + prefix +
                         "<function>\", with the schema and function names exactly as in the catalog (case and quotes included).",
                     "", "42883"});
    }
  }

  // Imports of functions the schema lacks, then the order; a cycle cannot be baked.
  std::map<std::string, std::vector<std::string>> graph;
  for (PlannedFn& f : plan.fns) {
    if (!f.problems.empty() || f.routine.empty()) continue;
    std::string missing;
    for (const std::string& i : f.imports)
      if (plan.find(i) == nullptr) missing += (missing.empty() ? "\"" : ", \"") + prefix + i + "\"";
    if (!missing.empty()) {
      report(dry_run, f.problems,
             Problem{f.fn_name, "cannot deploy " + schema + "." + f.fn_name + ": it imports " + missing +
                                    ", which schema \"" + schema + "\" has no plts function for",
                     "", "", "42883"});
      continue;
    }
    graph[f.fn_name] = f.imports;
  }
  // A function importing one that cannot be planned cannot be planned either (dry runs only).
  for (bool changed = true; changed;) {
    changed = false;
    for (auto it = graph.begin(); it != graph.end();) {
      auto bad = std::find_if(it->second.begin(), it->second.end(),
                              [&](const std::string& i) { return graph.count(i) == 0; });
      if (bad != it->second.end()) {
        plan.find(it->first)->problems.push_back(
            Problem{it->first, "cannot deploy " + schema + "." + it->first + ": it imports \"" + prefix + *bad +
                                   "\", which cannot be deployed",
                    "", "", "42P17"});
        it = graph.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
  }
  std::vector<std::string> cyclic;
  std::vector<std::string> order = dependency_order(graph, &cyclic);
  if (!cyclic.empty()) {
    std::string list;
    for (const auto& c : cyclic) list += (list.empty() ? "" : ", ") + c;
    report(dry_run, plan.problems,
           Problem{"", "cannot deploy from schema \"" + schema + "\": import cycle among " + list,
                   "A deployed function's artifact names the artifacts it imports, so imports between "
                   "deployed functions must not form a cycle.",
                   "Move the code they share into one function (or an artifact) that both import.", "42P17"});
  }

  // Bake each module's map (dependencies first) and hash it.
  std::map<std::string, std::string> hashes;
  for (const std::string& name : order) {
    PlannedFn& f = *plan.find(name);
    for (const std::string& i : f.imports) f.import_map[prefix + i] = "plts+artifact:" + hashes.at(i);
    try {
      f.baked = bake_import_map(f.source, f.import_map, schema + "." + name);
    } catch (Problem& p) {
      p.function = name;
      report(dry_run, f.problems, p);
      continue;
    }
    f.artifact_hash = *scalar("SELECT plts._artifact_hash($1, $2::jsonb, $3)", {plan.fingerprint, effective, f.baked});
    hashes[name] = f.artifact_hash;
  }
  return plan;
}

void store_artifacts(Plan& plan) {
  std::vector<std::string> hashes;
  for (const PlannedFn& f : plan.fns) hashes.push_back(f.artifact_hash);
  std::set<std::string> present;
  for (const Row& r : query("SELECT a.artifact_hash FROM plts.artifact a"
                            " WHERE a.artifact_hash IN (SELECT pg_catalog.jsonb_array_elements_text($1::jsonb))",
                            {json_array(hashes)}))
    present.insert(r.str(0));
  std::map<std::string, const PlannedFn*> to_store;  // hash order: see store_artifacts' comment
  for (const PlannedFn& f : plan.fns)
    if (present.count(f.artifact_hash) == 0) to_store.emplace(f.artifact_hash, &f);
  if (to_store.empty()) pause_point("store");
  for (const auto& [hash, f] : to_store) {
    Value got = scalar("SELECT plts.compile_and_store($1, $2::jsonb)", {f->baked, std::string(kOpts)});
    if (got != hash)
      throw pgx::PgError(ERRCODE_INTERNAL_ERROR, "stopgap: storing artifact " + hash + " gave another hash");
    plan.stored++;
    pause_point("store");
  }
  // Type-check results are a function of the artifact (its hash covers the source, the compiler
  // and, through the baked map, every module it imports): kept for the next deploy of the same
  // code. After the artifacts and in hash order too, so concurrent deploys wait in one order.
  if (!plan.typecheck_results.empty()) {
    nlohmann::json rows = nlohmann::json::object();
    for (const auto& [hash, diags] : plan.typecheck_results) rows[hash] = nlohmann::json::parse(diags);
    query("INSERT INTO stopgap.typecheck_cache (artifact_hash, diagnostics)"
          " SELECT r.key, r.value FROM pg_catalog.jsonb_each($1::jsonb) r ORDER BY r.key COLLATE \"C\""
          " ON CONFLICT (artifact_hash) DO NOTHING",
          {rows.dump()});
  }
}

}  // namespace stopgap
