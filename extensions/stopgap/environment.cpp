#include "extensions/stopgap/environment.h"

#include <cctype>

#include "common/quote.h"
#include "extensions/stopgap/settings.h"

extern "C" {
#include "access/xlog.h"
}

namespace stopgap {

std::string calling_role() {
  std::string role;
  pgx::pg_guard([&] { role = GetUserNameFromId(GetOuterUserId(), false); });
  return role;
}

std::string env_name(const Value& env) {
  std::string e = env ? *env : (settings.default_env != nullptr ? settings.default_env : "prod");
  bool ok = !e.empty() && e.size() <= 63 && (isalnum(static_cast<unsigned char>(e[0])) || e[0] == '_');
  for (size_t i = 0; ok && i < e.size(); i++) {
    auto c = static_cast<unsigned char>(e[i]);
    ok = isascii(c) && (isalnum(c) || c == '_' || c == '.' || c == '-');
  }
  if (!ok)
    throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE, "invalid environment name \"" + e + "\"", "",
                       "Environment names are 1-63 letters, digits, '_', '.' or '-'.");
  return e;
}

void require_writable(const char* action) {
  bool recovery = false, read_only = false;
  pgx::pg_guard([&] {
    recovery = RecoveryInProgress();
    read_only = XactReadOnly;
  });
  if (recovery)
    throw pgx::PgError(ERRCODE_READ_ONLY_SQL_TRANSACTION,
                       std::string("cannot ") + action + " on a standby: this server is in recovery", "",
                       "Deploy and roll back on the primary; standbys see the result once they replay it.");
  if (read_only)
    throw pgx::PgError(ERRCODE_READ_ONLY_SQL_TRANSACTION,
                       std::string("cannot ") + action + " in a read-only transaction");
}

void authorize(const std::string& caller, const char* action, const std::optional<std::string>& from_schema) {
  Rows r = query(
      "SELECT pg_catalog.pg_has_role($1::name, 'stopgap_deployer', 'MEMBER'),"
      "       n.oid IS NOT NULL,"
      "       n.oid IS NOT NULL AND pg_catalog.has_schema_privilege($1::name, n.oid, 'USAGE'),"
      "       pg_catalog.has_function_privilege($1::name, 'plts.compile_and_store(text, jsonb)', 'EXECUTE'),"
      "       EXISTS (SELECT FROM stopgap.environment e WHERE e.live_schema = $2::name)"
      "  FROM (SELECT) x LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $2::name",
      {caller, from_schema});
  const Row& row = r.at(0);
  std::string a = action;
  if (row.str(0) != "t")
    throw pgx::PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       "role \"" + caller + "\" may not " + a + " with stopgap: it is not a member of stopgap_deployer",
                       "", "GRANT stopgap_deployer TO " + pgx::quote_ident(caller) + ";");
  if (!from_schema) return;
  const std::string& s = *from_schema;
  if (row.str(1) != "t")
    throw pgx::PgError(ERRCODE_INVALID_SCHEMA_NAME, "schema \"" + s + "\" does not exist");
  if (row.str(2) != "t")
    throw pgx::PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       "role \"" + caller + "\" may not " + a + " from schema \"" + s +
                           "\": it lacks USAGE on that schema",
                       "", "GRANT USAGE ON SCHEMA " + pgx::quote_ident(s) + " TO " + pgx::quote_ident(caller) + ";");
  if (row.str(3) != "t")
    throw pgx::PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       "role \"" + caller + "\" may not " + a + ": it lacks EXECUTE on plts.compile_and_store");
  if (row.str(4) == "t")
    throw pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                       "schema \"" + s + "\" is a live schema; deploy from the schema that holds the TypeScript source");
}

void lock_environment(const std::string& env) {
  query("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('stopgap'), pg_catalog.hashtext($1))", {env});
}

std::optional<Environment> find_environment(const std::string& env, bool lock) {
  Rows r = lock ? query("SELECT e.env, e.live_schema, e.active_deployment_id FROM stopgap.environment e"
                        " WHERE e.env = $1 FOR UPDATE",
                        {env})
                : query("SELECT e.env, e.live_schema, e.active_deployment_id FROM stopgap.environment e"
                        " WHERE e.env = $1",
                        {env});
  if (r.empty()) return std::nullopt;
  Environment e{r[0].str(0), r[0].str(1), std::nullopt};
  if (!r[0].null(2)) e.active_deployment_id = std::stoll(r[0].str(2));
  return e;
}

namespace {

// The live schema: created (owned by stopgap_owner, USAGE for app_user) when missing; refused when
// someone else owns it, since stopgap would then write into a schema it does not control.
void ensure_live_schema(const std::string& env, const std::string& live) {
  Rows r = query(
      "SELECT n.nspowner = 'stopgap_owner'::pg_catalog.regrole, n.nspowner::pg_catalog.regrole::text,"
      "       pg_catalog.has_schema_privilege('app_user', n.oid, 'USAGE')"
      "  FROM pg_catalog.pg_namespace n WHERE n.nspname = $1::name",
      {live});
  std::string q = pgx::quote_ident(live);
  if (r.empty()) {
    run("CREATE SCHEMA " + q + " AUTHORIZATION stopgap_owner");
    run("GRANT USAGE ON SCHEMA " + q + " TO app_user");
    run("COMMENT ON SCHEMA " + q + " IS " + literal("stopgap live schema of environment " + env));
    return;
  }
  if (r[0].str(0) != "t")
    throw pgx::PgError(
        ERRCODE_INSUFFICIENT_PRIVILEGE,
        "live schema \"" + live + "\" of environment \"" + env + "\" is not managed by stopgap: it is owned by " +
            r[0].str(1),
        "",
        "stopgap writes only into schemas owned by stopgap_owner: ALTER SCHEMA " + q +
            " OWNER TO stopgap_owner, or SET stopgap.live_schema to a new schema before the first deploy.");
  if (r[0].str(2) != "t") run("GRANT USAGE ON SCHEMA " + q + " TO app_user");
}

}  // namespace

Environment environment(const std::string& env, bool create, const std::string& caller,
                        const std::optional<std::string>& live) {
  std::optional<Environment> e = find_environment(env, true);
  if (!e) {
    if (!create)
      throw pgx::PgError(ERRCODE_UNDEFINED_OBJECT, "environment \"" + env + "\" does not exist", "",
                         "An environment is created by stopgap.create_environment or its first stopgap.deploy.");
    std::string schema = live ? *live : live_schema_setting();
    Value other = scalar("SELECT e.env FROM stopgap.environment e WHERE e.live_schema = $1::name", {schema});
    if (other)
      throw pgx::PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                         "live schema \"" + schema + "\" already belongs to environment \"" + *other + "\"", "",
                         "SET stopgap.live_schema to another schema before the first deploy to \"" + env + "\".");
    // Under the environment lock nobody else inserts it in READ COMMITTED; under REPEATABLE READ a
    // row committed after this transaction's snapshot makes ON CONFLICT fail with 40001 (retry).
    query("INSERT INTO stopgap.environment (env, live_schema, created_by) VALUES ($1, $2::name, $3::name)"
          " ON CONFLICT ON CONSTRAINT environment_pkey DO NOTHING",
          {env, schema, caller});
    e = find_environment(env, true);
    if (!e) throw pgx::PgError(ERRCODE_T_R_SERIALIZATION_FAILURE, "environment \"" + env + "\" changed concurrently");
  }
  ensure_live_schema(e->env, e->live_schema);
  return *e;
}

void pause_point(const char* phase) {
  static const char* phases[] = {"", "compile", "store", "load", "materialize", "activate"};
  if (settings.pause_at <= 0 || settings.pause_at >= 6 || strcmp(phases[settings.pause_at], phase) != 0) return;
  query("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('stopgap.pause_at'), pg_catalog.hashtext($1))",
        {std::string(phase)});
}

}  // namespace stopgap
