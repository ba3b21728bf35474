#include "cli/pg_api.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <libpq-fe.h>

namespace stopgap::cli {
namespace {

using json = nlohmann::json;

std::string diag(const PGresult* r, int field) {
  const char* v = PQresultErrorField(r, field);
  return v ? v : "";
}

Opt bool_text(bool b) { return std::string(b ? "true" : "false"); }

}  // namespace

PgApi::~PgApi() {
  if (conn_) PQfinish(conn_);
}

PGconn* PgApi::connection() {
  if (conn_) return conn_;
  // application_name first: a URL that sets its own overrides it.
  const char* keys[] = {"application_name", "dbname", nullptr};
  const char* values[] = {"stopgap-cli", conninfo_.empty() ? nullptr : conninfo_.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, 1);
  if (c == nullptr) throw ConnectError("out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = PQerrorMessage(c);
    PQfinish(c);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    throw ConnectError(why);
  }
  // The server's progress (a NOTICE per deploy phase, "stopgap: deploy to environment ...") goes
  // to stderr as it arrives, without libpq's "NOTICE:  " prefix; warnings keep theirs.
  PQsetNoticeProcessor(
      c,
      [](void*, const char* message) {
        std::string m = message;
        if (m.rfind("NOTICE:  ", 0) == 0) m = m.substr(9);
        std::fputs(m.c_str(), stderr);
      },
      nullptr);
  conn_ = c;
  return conn_;
}

std::optional<std::string> PgApi::scalar(const char* sql, const std::vector<Opt>& params) {
  PGconn* c = connection();
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  std::unique_ptr<PGresult, void (*)(PGresult*)> r(
      PQexecParams(c, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                   nullptr, 0),
      PQclear);
  if (!r || PQstatus(c) != CONNECTION_OK) {
    std::string why = PQerrorMessage(c);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    if (PQstatus(c) != CONNECTION_OK) throw ConnectError("connection lost: " + why);
    throw ApiError("", why);
  }
  if (PQresultStatus(r.get()) == PGRES_FATAL_ERROR ||
      PQresultStatus(r.get()) == PGRES_NONFATAL_ERROR) {
    std::string message = diag(r.get(), PG_DIAG_MESSAGE_PRIMARY);
    if (message.empty()) message = PQresultErrorMessage(r.get());
    throw ApiError(diag(r.get(), PG_DIAG_SQLSTATE), message, diag(r.get(), PG_DIAG_MESSAGE_DETAIL),
                   diag(r.get(), PG_DIAG_MESSAGE_HINT));
  }
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1 ||
      PQnfields(r.get()) != 1)
    throw DecodeError(std::string("expected one value from ") + sql);
  if (PQgetisnull(r.get(), 0, 0)) return std::nullopt;
  return std::string(PQgetvalue(r.get(), 0, 0), PQgetlength(r.get(), 0, 0));
}

json PgApi::json_scalar(const char* sql, const std::vector<Opt>& params) {
  auto v = scalar(sql, params);
  if (!v) return json();
  json doc = json::parse(*v, nullptr, false);
  if (doc.is_discarded())
    throw DecodeError(std::string("not JSON from ") + sql + ": " + v->substr(0, 200));
  return doc;
}

std::int64_t PgApi::bigint_scalar(const char* sql, const std::vector<Opt>& params) {
  auto v = scalar(sql, params);
  if (!v)
    throw DecodeError(std::string("NULL from ") + sql + " where a deployment id was expected");
  errno = 0;
  char* end = nullptr;
  long long id = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE)
    throw DecodeError(std::string("not a bigint from ") + sql + ": " + *v);
  return id;
}

json PgApi::deploy_project(const Opt& env, const json& project, const Opt& label,
                           const json& options) {
  auto text = [](const json& j) {
    return Opt(j.dump(-1, ' ', false, json::error_handler_t::replace));
  };
  json report =
      json_scalar("SELECT stopgap.deploy_project($1::text, $2::jsonb, $3::text, $4::jsonb)",
                  {env, text(project), label, text(options)});
  if (!report.is_object()) throw DecodeError("stopgap.deploy_project returned " + report.dump());
  return report;
}

std::int64_t PgApi::deploy(const Opt& env, const std::string& from_schema, const Opt& label,
                           bool force) {
  return bigint_scalar("SELECT stopgap.deploy($1::text, $2::text, $3::text, $4::boolean)",
                       {env, from_schema, label, bool_text(force)});
}

json PgApi::diff(const Opt& env, const std::string& from_schema) {
  return json_scalar("SELECT stopgap.diff($1::text, $2::text)", {env, from_schema});
}

std::int64_t PgApi::rollback(const Opt& env, std::optional<int> steps,
                             std::optional<std::int64_t> to_id) {
  return bigint_scalar("SELECT stopgap.rollback($1::text, $2::int, $3::bigint)",
                       {env, steps ? Opt(std::to_string(*steps)) : std::nullopt,
                        to_id ? Opt(std::to_string(*to_id)) : std::nullopt});
}

json PgApi::status(const Opt& env) { return json_scalar("SELECT stopgap.status($1::text)", {env}); }

json PgApi::deployments(const Opt& env) {
  return json_scalar("SELECT stopgap.deployments($1::text)", {env});
}

json PgApi::call_fn(const std::string& path, const json& args, const Opt& env) {
  return json_scalar("SELECT stopgap.call_fn($1::text, $2::jsonb, $3::text)",
                     {path, args.dump(-1, ' ', false, json::error_handler_t::replace), env});
}

}  // namespace stopgap::cli
