// The DROP guard: stopgap._drop_guard(), the ddl_command_start event trigger that refuses to drop
// stopgap while stopgap.environment has rows.
//
// Dropping the extension deletes its catalog (every deployment, function version and activation)
// while the pointer functions in the live schemas, which are not extension members, keep running:
// the history would be gone silently. stopgap.drop_environment() is the explicit path; this guard
// refuses every DROP that would take stopgap with it until the environments are gone: DROP
// EXTENSION naming stopgap (alone, in a list, IF EXISTS, CASCADE or not), and DROP EXTENSION or
// DROP SCHEMA ... CASCADE of an object stopgap depends on (plts, the schema stopgap or plts was
// created in). It reads the parse tree first, so any other statement returns at once.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/error_boundary.h"

extern "C" {
#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/tuptable.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

namespace {

constexpr const char* kExtension = "stopgap";
// Environments the error names; the rest are counted.
constexpr size_t kNamedEnvironments = 10;

// An object stopgap depends on through normal dependencies (so CASCADE of it drops stopgap).
struct Ancestor {
  Oid classid;
  Oid objid;
};
constexpr int kMaxAncestors = 32;

// Everything below runs inside pg_guard: PostgreSQL calls only, no C++ objects with destructors.

// stopgap's extension and, transitively, the extensions it requires and the schemas they live in.
int stopgap_ancestors(Oid stopgap, Ancestor* out) {
  int n = 0;
  out[n++] = {ExtensionRelationId, stopgap};
  Relation dep = table_open(DependRelationId, AccessShareLock);
  for (int i = 0; i < n; i++) {
    if (out[i].classid != ExtensionRelationId) continue;
    ScanKeyData key[2];
    ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(ExtensionRelationId));
    ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(out[i].objid));
    SysScanDesc scan = systable_beginscan(dep, DependDependerIndexId, true, nullptr, 2, key);
    HeapTuple tup;
    while (HeapTupleIsValid(tup = systable_getnext(scan))) {
      auto* d = reinterpret_cast<Form_pg_depend>(GETSTRUCT(tup));
      if (d->deptype != DEPENDENCY_NORMAL) continue;
      if (d->refclassid != ExtensionRelationId && d->refclassid != NamespaceRelationId) continue;
      bool seen = false;
      for (int j = 0; j < n; j++)
        seen = seen || (out[j].classid == d->refclassid && out[j].objid == d->refobjid);
      if (!seen && n < kMaxAncestors) out[n++] = {d->refclassid, d->refobjid};
    }
    systable_endscan(scan);
  }
  table_close(dep, AccessShareLock);
  return n;
}

// The name of the first object of stmt whose drop takes stopgap with it, or nullptr.
const char* drop_reaches_stopgap(DropStmt* stmt) {
  Oid stopgap = get_extension_oid(kExtension, true);
  if (!OidIsValid(stopgap)) return nullptr;
  Ancestor ancestors[kMaxAncestors];
  int n = 0;
  if (stmt->behavior == DROP_CASCADE) n = stopgap_ancestors(stopgap, ancestors);
  ListCell* lc;
  foreach (lc, stmt->objects) {
    const char* name = strVal(lfirst(lc));
    Oid classid = stmt->removeType == OBJECT_EXTENSION ? ExtensionRelationId : NamespaceRelationId;
    Oid oid = classid == ExtensionRelationId ? get_extension_oid(name, true)
                                             : get_namespace_oid(name, true);
    if (!OidIsValid(oid)) continue;
    if (classid == ExtensionRelationId && oid == stopgap) return name;
    for (int i = 0; i < n; i++)
      if (ancestors[i].classid == classid && ancestors[i].objid == oid) return name;
  }
  return nullptr;
}

// stopgap.environment's env values, as palloc'd C strings. Takes the lock the DROP itself would
// take, so no deploy creates an environment between this check and the drop; reads the latest
// committed rows (also under REPEATABLE READ), which is what the drop would delete.
int environment_names(char*** names_out) {
  *names_out = nullptr;
  Oid nsp = get_namespace_oid(kExtension, true);
  Oid rel_id = OidIsValid(nsp) ? get_relname_relid("environment", nsp) : InvalidOid;
  if (!OidIsValid(rel_id)) return 0;
  Relation rel = table_open(rel_id, AccessExclusiveLock);
  AttrNumber env_att = get_attnum(rel_id, "env");
  Snapshot snap = RegisterSnapshot(GetLatestSnapshot());
  TableScanDesc scan = table_beginscan(rel, snap, 0, nullptr);
  TupleTableSlot* slot = table_slot_create(rel, nullptr);
  int n = 0, cap = 16;
  char** names = static_cast<char**>(palloc(sizeof(char*) * cap));
  while (table_scan_getnextslot(scan, ForwardScanDirection, slot)) {
    bool isnull = false;
    Datum d = slot_getattr(slot, env_att, &isnull);
    if (isnull) continue;
    if (n == cap) {
      cap *= 2;
      names = static_cast<char**>(repalloc(names, sizeof(char*) * cap));
    }
    names[n++] = TextDatumGetCString(d);
  }
  ExecDropSingleTupleTableSlot(slot);
  table_endscan(scan);
  UnregisterSnapshot(snap);
  table_close(rel, NoLock);
  *names_out = names;
  return n;
}

std::string name_list(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::string out;
  for (size_t i = 0; i < names.size() && i < kNamedEnvironments; i++)
    out += (i > 0 ? ", \"" : "\"") + names[i] + "\"";
  if (names.size() > kNamedEnvironments)
    out += " and " + std::to_string(names.size() - kNamedEnvironments) + " more";
  return out;
}

}  // namespace

// stopgap._drop_guard() -> event_trigger, on ddl_command_start for DROP EXTENSION and DROP SCHEMA.
PGX_FUNCTION(stopgap_drop_guard) {
  if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
    throw pgx::PgError(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED,
                       "stopgap._drop_guard() must be called as an event trigger");
  Node* parsetree = reinterpret_cast<EventTriggerData*>(fcinfo->context)->parsetree;
  if (parsetree == nullptr || !IsA(parsetree, DropStmt)) PG_RETURN_VOID();
  auto* stmt = reinterpret_cast<DropStmt*>(parsetree);
  // Without CASCADE only naming stopgap itself drops it; a schema's RESTRICT drop fails on its own.
  bool named = false;
  if (stmt->removeType == OBJECT_EXTENSION) {
    ListCell* lc;
    foreach (lc, stmt->objects) named = named || strcmp(strVal(lfirst(lc)), kExtension) == 0;
  } else if (stmt->removeType != OBJECT_SCHEMA) {
    PG_RETURN_VOID();
  }
  if (!named && stmt->behavior != DROP_CASCADE) PG_RETURN_VOID();

  const char* via = nullptr;
  char** names = nullptr;
  int n = 0;
  pgx::pg_guard([&] {
    via = drop_reaches_stopgap(stmt);
    if (via != nullptr) n = environment_names(&names);
  });
  if (n == 0) PG_RETURN_VOID();
  std::vector<std::string> envs(names, names + n);

  const bool direct = stmt->removeType == OBJECT_EXTENSION && strcmp(via, kExtension) == 0;
  const std::string what = stmt->removeType == OBJECT_EXTENSION ? "extension" : "schema";
  std::string message =
      direct
          ? std::string("cannot drop extension stopgap while environments exist: ")
          : "cannot drop " + what + " " + via + " with CASCADE while stopgap environments exist: ";
  message += name_list(envs);
  std::string detail =
      direct ? ""
             : "Dropping " + what + " " + via + " with CASCADE would also drop extension stopgap. ";
  detail += "Dropping stopgap deletes the deployment history of " + std::to_string(n) +
            (n == 1 ? " environment" : " environments") +
            " (deployments, function versions, activations), while the functions in their live "
            "schemas go on running.";
  throw pgx::PgError(
      ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST, message, detail,
      "Drop each environment first with stopgap.drop_environment(env), which drops its live "
      "schema and its history (every one: SELECT stopgap.drop_environment(env) FROM "
      "stopgap.environment;), then drop the extension.");
}
