#include "extensions/stopgap/materialize.h"

#include <set>
#include <vector>

#include "common/quote.h"
#include "extensions/stopgap/environment.h"
#include "extensions/stopgap/plan_logic.h"
#include "extensions/stopgap/settings.h"
#include "extensions/stopgap/spi.h"

extern "C" {
#include "utils/resowner.h"
}

namespace stopgap {

namespace {

// Runs sql in a subtransaction: true when it worked, else *error holds why and nothing it did
// is left (PL/pgSQL's exception blocks do the same).
bool run_in_subtransaction(const std::string& sql, pgx::PgError* error) {
  MemoryContext cxt = CurrentMemoryContext;
  ResourceOwner owner = CurrentResourceOwner;
  pgx::pg_guard([&] {
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(cxt);
  });
  try {
    run(sql);
  } catch (const pgx::PgError& e) {
    pgx::pg_guard([&] {
      RollbackAndReleaseCurrentSubTransaction();
      MemoryContextSwitchTo(cxt);
      CurrentResourceOwner = owner;
    });
    *error = e;
    return false;
  }
  pgx::pg_guard([&] {
    ReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(cxt);
    CurrentResourceOwner = owner;
  });
  return true;
}

struct Version {
  std::string fn_name, identity_types, routine, arguments, clauses, pointer;
  Value result, comment;
};

struct LiveRoutine {
  std::string oid, regproc, fn_name, identity_types, routine, arguments, prosrc, definition;
  Value result, comment;
  bool owned = false, privileges_ok = false;
};

const char* kLiveRoutines =
    "SELECT p.oid::text, p.oid::pg_catalog.regprocedure::text, p.proname,"
    "       (SELECT coalesce(pg_catalog.string_agg(pg_catalog.format_type(a.t, NULL), ',' ORDER BY a.o), '')"
    "          FROM pg_catalog.unnest(p.proargtypes) WITH ORDINALITY AS a(t, o)),"
    "       CASE p.prokind WHEN 'f' THEN 'function' WHEN 'w' THEN 'window' WHEN 'p' THEN 'procedure' END,"
    "       pg_catalog.pg_get_function_arguments(p.oid), pg_catalog.pg_get_function_result(p.oid),"
    "       p.prosrc, CASE WHEN p.prokind IN ('f', 'w', 'p') THEN pg_catalog.pg_get_functiondef(p.oid) END,"
    "       pg_catalog.obj_description(p.oid, 'pg_proc'),"
    "       p.proowner = 'stopgap_owner'::pg_catalog.regrole,"
    // EXECUTE for its owner and app_user, nothing else (stopgap._privilege_drift, inlined)
    "       (SELECT count(*) = 2 AND bool_and(a.privilege_type = 'EXECUTE' AND NOT a.is_grantable"
    "               AND a.grantor = p.proowner AND a.grantee IN (p.proowner, 'app_user'::pg_catalog.regrole))"
    "          FROM pg_catalog.aclexplode(p.proacl) a)"
    "  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
    " WHERE n.nspname = $1::name AND ($2::jsonb IS NULL OR $2::jsonb ? p.proname)"
    " ORDER BY p.proname, p.oid";

// The routines of the live schema (only those named in `names`, when given).
std::vector<LiveRoutine> live_routines(const std::string& live, const Value& names = std::nullopt) {
  std::vector<LiveRoutine> out;
  for (const Row& r : query(kLiveRoutines, {live, names})) {
    LiveRoutine l;
    l.oid = r.str(0);
    l.regproc = r.str(1);
    l.fn_name = r.str(2);
    l.identity_types = r.str(3);
    l.routine = r.str(4);
    l.arguments = r.str(5);
    l.result = r[6];
    l.prosrc = r.str(7);
    l.definition = r.str(8);
    l.comment = r[9];
    l.owned = r.str(10) == "t";
    l.privileges_ok = r.str(11) == "t";
    out.push_back(std::move(l));
  }
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

std::map<std::string, std::string> materialize(const std::string& live, long long deployment_id,
                                               const char* action, int* replaced) {
  std::vector<Version> versions;
  for (const Row& r : query("SELECT v.fn_name, v.identity_types, v.routine, v.arguments, v.clauses, v.pointer,"
                            "       v.result, v.comment"
                            "  FROM stopgap.fn_version v WHERE v.deployment_id = $1::bigint ORDER BY v.fn_name",
                            {std::to_string(deployment_id)}))
    versions.push_back({r.str(0), r.str(1), r.str(2), r.str(3), r.str(4), r.str(5), r[6], r[7]});
  std::vector<LiveRoutine> routines = live_routines(live);
  const std::string qlive = pgx::quote_ident(live);
  std::set<std::string> touched;  // fn_names created or replaced

  for (const Version& v : versions) {
    const LiveRoutine* same = nullptr;
    for (const LiveRoutine& l : routines) {
      if (l.fn_name != v.fn_name) continue;
      if (l.identity_types == v.identity_types && l.routine == v.routine && l.arguments == v.arguments &&
          l.result == v.result) {
        same = &l;
        continue;
      }
      // CREATE OR REPLACE keeps a live routine's oid, so what uses it (a trigger, an event
      // trigger, a view) goes on using it. It cannot change argument names, types or defaults,
      // the result type or the kind: a live routine of this name with another shape is dropped
      // first. Never with CASCADE: when objects depend on it, the deploy fails (2BP01) and changes
      // nothing, rather than silently drop a user's trigger or view.
      pgx::PgError error(ERRCODE_INTERNAL_ERROR, "");
      if (run_in_subtransaction("DROP ROUTINE " + l.regproc, &error)) continue;
      if (error.sqlerrcode() != ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST) throw error;
      std::string why = l.routine != v.routine
                            ? "it changes from a " + l.routine + " to a " + v.routine
                        : (l.identity_types != v.identity_types || l.arguments != v.arguments)
                            ? "its arguments change from (" + l.arguments + ") to (" + v.arguments + ")"
                            : "its result changes from " + l.result.value_or("") + " to " + v.result.value_or("");
      throw pgx::PgError(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
                         std::string("cannot ") + action + ": live " + l.routine + " " + l.regproc +
                             " must be dropped and re-created because " + why + ", and other objects depend on it",
                         error.detail(),
                         "Nothing was changed: stopgap never drops dependent objects. Drop them and re-create "
                         "them around the deploy in one transaction, or keep this function's arguments, result "
                         "type and kind and give the new shape another name.");
    }
    const char* keyword = v.routine == "procedure" ? "PROCEDURE" : "FUNCTION";
    const std::string name = qlive + "." + pgx::quote_ident(v.fn_name);
    bool current = same != nullptr && same->prosrc == v.pointer && same->owned && same->privileges_ok &&
                   same->comment == v.comment &&
                   definition_clauses(same->definition, definition_head(keyword, name, v.arguments), same->prosrc) ==
                       v.clauses;
    if (!current) {
      run(definition_head(keyword, name, v.arguments) + v.clauses + "\nAS " + literal(v.pointer));
      touched.insert(v.fn_name);
    }
    pause_point("materialize");
  }

  std::map<std::string, std::string> defs;
  std::vector<LiveRoutine> remade;  // the touched routines as they are now
  if (!touched.empty()) remade = live_routines(live, nlohmann::json(touched).dump());
  std::vector<std::string> made;  // regprocedure texts of the routines created or replaced
  for (const Version& v : versions) {
    for (const LiveRoutine& l : touched.count(v.fn_name) > 0 ? remade : routines) {
      if (l.fn_name != v.fn_name || l.identity_types != v.identity_types) continue;
      if (touched.count(v.fn_name) > 0) {
        made.push_back(l.regproc);
        if (!l.owned) run("ALTER ROUTINE " + l.regproc + " OWNER TO stopgap_owner");
        if (l.comment != v.comment)
          run("COMMENT ON ROUTINE " + l.regproc + " IS " + (v.comment ? literal(*v.comment) : std::string("NULL")));
      }
      defs[v.fn_name] = l.definition;
    }
  }
  if (!made.empty()) {
    // Privileges are stopgap's too: a replaced routine keeps its ACL, so grants made by hand since
    // the last activation are revoked, whoever they went to.
    std::string list = join(made, ", ");
    run("REVOKE ALL ON ROUTINE " + list + " FROM PUBLIC CASCADE");
    for (const Row& g : query("SELECT DISTINCT a.grantee::pg_catalog.regrole::text"
                              "  FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a"
                              " WHERE p.oid IN (SELECT pg_catalog.jsonb_array_elements_text($1::jsonb)::pg_catalog.regprocedure)"
                              "   AND a.grantee NOT IN (0, p.proowner)",
                              {nlohmann::json(made).dump()}))
      run("REVOKE ALL ON ROUTINE " + list + " FROM " + g.str(0) + " CASCADE");
    run("GRANT EXECUTE ON ROUTINE " + list + " TO app_user");
    // Owner and ACL changes do not change pg_get_functiondef; the definitions read above hold.
  }
  if (replaced != nullptr) *replaced = static_cast<int>(touched.size());
  return defs;
}

nlohmann::json prune(const std::string& live, long long deployment_id) {
  nlohmann::json dropped = nlohmann::json::array(), skipped = nlohmann::json::array();
  if (!settings.prune) return {{"enabled", false}, {"dropped", dropped}, {"skipped", skipped}};
  Rows rows = query(
      "SELECT p.oid::pg_catalog.regprocedure::text,"
      "       pg_catalog.format('%s(%s)', p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)),"
      "       (SELECT pg_catalog.jsonb_agg(DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid))::text"
      "          FROM pg_catalog.pg_depend d"
      "         WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.refobjid = p.oid)"
      "  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
      " WHERE n.nspname = $1::name AND p.prokind IN ('f', 'w', 'p')"
      "   AND NOT EXISTS (SELECT FROM stopgap.fn_version v"
      "                    WHERE v.deployment_id = $2::bigint AND v.fn_name = p.proname"
      "                      AND v.identity_types = stopgap._identity_types(p.oid))"
      " ORDER BY p.proname, p.oid",
      {live, std::to_string(deployment_id)});
  for (const Row& r : rows) {
    if (!r.null(2)) {
      skipped.push_back({{"function", r.str(1)}, {"dependents", nlohmann::json::parse(r.str(2))}});
    } else {
      run("DROP ROUTINE " + r.str(0));
      dropped.push_back(r.str(1));
    }
  }
  return {{"enabled", true}, {"dropped", dropped}, {"skipped", skipped}};
}

}  // namespace stopgap
