#include "extensions/stopgap/settings.h"

#include <cstring>

#include "common/log_level.h"
#include "common/pg.h"

namespace stopgap {

Settings settings;

namespace {

// GUC check hooks run inside PostgreSQL's GUC machinery: plain C, no exceptions.

bool check_live_schema(char** newval, void**, GucSource) {
  const char* s = *newval;
  if (s == nullptr || s[0] == '\0') {
    GUC_check_errdetail("The live schema name must not be empty.");
    return false;
  }
  if (strlen(s) >= NAMEDATALEN) {
    GUC_check_errdetail("The live schema name must be shorter than %d bytes.", NAMEDATALEN);
    return false;
  }
  if (strncmp(s, "pg_", 3) == 0 || strcmp(s, "stopgap") == 0 || strcmp(s, "plts") == 0 ||
      strcmp(s, "public") == 0 || strcmp(s, "information_schema") == 0) {
    GUC_check_errdetail("\"%s\" is reserved; choose a schema that only stopgap writes to.", s);
    return false;
  }
  return true;
}

bool check_env_name(char** newval, void**, GucSource) {
  const char* s = *newval;
  size_t n = s == nullptr ? 0 : strlen(s);
  bool ok = n > 0 && n < NAMEDATALEN && s[0] != '.' && s[0] != '-';
  for (size_t i = 0; ok && i < n; i++) {
    char c = s[i];
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
  }
  if (!ok) GUC_check_errdetail("Environment names are 1-63 letters, digits, '_', '.' or '-'.");
  return ok;
}

}  // namespace

void define_settings() {
  DefineCustomStringVariable(
      "stopgap.live_schema", "Live schema of an environment created by its first deploy.",
      "Read once, when stopgap.deploy creates the environment; the environment keeps it.",
      &settings.live_schema, "live_deployment", PGC_USERSET, 0, check_live_schema, nullptr,
      nullptr);
  DefineCustomStringVariable(
      "stopgap.default_env", "Environment used when stopgap functions are given env => NULL.",
      nullptr, &settings.default_env, "prod", PGC_USERSET, 0, check_env_name, nullptr, nullptr);
  DefineCustomBoolVariable("stopgap.prune",
                           "Whether activating a deployment drops live functions it lacks.",
                           "Functions that other objects depend on (pg_depend) are kept and "
                           "reported as skipped.",
                           &settings.prune, false, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomEnumVariable("stopgap.log_level", "Lowest level of stopgap's own log lines.",
                           "Activations are logged at log, their details at debug.",
                           &settings.log_level, LOG, pgx::log_level_options, PGC_SUSET, 0, nullptr,
                           nullptr, nullptr);
  MarkGUCPrefixReserved("stopgap");
}

}  // namespace stopgap
