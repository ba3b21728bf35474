// Who is calling: the role stopgap authorizes inside its SECURITY DEFINER functions.
//
// Inside a SECURITY DEFINER function current_user is the function's owner. PostgreSQL's "outer"
// user id is not changed by SECURITY DEFINER calls: it is the role of SET ROLE, or else the session
// user. stopgap checks that role (membership, schema USAGE, EXECUTE on the compiler), and
// PostgreSQL itself checks EXECUTE on stopgap.deploy/rollback/diff (granted to stopgap_deployer
// only) for whichever role makes the call, so both must be allowed.
#include "common/error_boundary.h"
#include "extensions/stopgap/settings.h"

// stopgap._calling_role() -> name
PGX_FUNCTION(stopgap_calling_role) {
  Datum d = 0;
  pgx::pg_guard([&] {
    char* role = GetUserNameFromId(GetOuterUserId(), false);
    d = DirectFunctionCall1(namein, CStringGetDatum(role));
  });
  return d;
}

// stopgap._live_schema_setting() -> text: the live schema a first deploy creates; refuses a
// value that stopgap.so could check only when it loaded (see settings.cpp).
PGX_FUNCTION(stopgap_live_schema_setting) {
  std::string live = stopgap::live_schema_setting();
  Datum d = 0;
  pgx::pg_guard([&] { d = PointerGetDatum(cstring_to_text_with_len(live.data(), live.size())); });
  return d;
}
