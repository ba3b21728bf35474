#include "test/pg/pg_client.h"

#include <libpq-fe.h>

namespace pgtest {
namespace {

std::string state_of(const PGresult* r) {
  const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return s ? s : "";
}

}  // namespace

Connection::Connection(const std::string& options, const std::string& extra) {
  std::string conninfo = "application_name=plts_tests";
  if (!options.empty()) conninfo += " options='" + options + "'";
  if (!extra.empty()) conninfo += " " + extra;
  conn_ = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn_);
    PQfinish(conn_);
    throw std::runtime_error("connect: " + msg);
  }
}

Connection::~Connection() { PQfinish(conn_); }

std::vector<Row> Connection::query(const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* r = PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string state = state_of(r), msg = PQresultErrorMessage(r);
    PQclear(r);
    if (state.empty() && PQstatus(conn_) != CONNECTION_OK) state = "08006";
    throw SqlError(state, msg);
  }
  std::vector<Row> rows;
  for (int i = 0; i < PQntuples(r); i++) {
    Row row;
    for (int j = 0; j < PQnfields(r); j++) {
      if (PQgetisnull(r, i, j)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(r, i, j), PQgetlength(r, i, j)));
      }
    }
    rows.push_back(std::move(row));
  }
  PQclear(r);
  return rows;
}

std::string Connection::scalar(const std::string& sql, const std::vector<std::string>& params) {
  auto rows = query(sql, params);
  if (rows.empty() || rows[0].empty() || !rows[0][0]) {
    throw std::runtime_error("no scalar value from: " + sql);
  }
  return *rows[0][0];
}

std::string Connection::error_of(const std::string& sql) {
  try {
    query(sql);
    return "";
  } catch (const SqlError& e) {
    return e.sqlstate;
  }
}

void Connection::send(const std::string& sql) {
  if (!PQsendQuery(conn_, sql.c_str())) throw std::runtime_error(PQerrorMessage(conn_));
}

std::string Connection::finish() {
  std::string state;
  while (PGresult* r = PQgetResult(conn_)) {
    if (PQresultStatus(r) == PGRES_FATAL_ERROR) {
      state = state_of(r);
      if (state.empty()) state = "08006";
    }
    PQclear(r);
  }
  if (state.empty() && PQstatus(conn_) != CONNECTION_OK) state = "08006";
  return state;
}

bool Connection::busy() {
  if (!PQconsumeInput(conn_)) return false;  // the connection is gone: nothing runs any more
  return PQisBusy(conn_) != 0;
}

int Connection::backend_pid() { return PQbackendPID(conn_); }

std::vector<std::string> Connection::notifications(const std::string& channel) {
  std::vector<std::string> out;
  if (!PQconsumeInput(conn_)) return out;
  while (PGnotify* n = PQnotifies(conn_)) {
    if (channel == n->relname) out.emplace_back(n->extra);
    PQfreemem(n);
  }
  return out;
}

bool Connection::alive() {
  try {
    return scalar("select 1") == "1";
  } catch (...) {
    return false;
  }
}

std::string server_incarnation(Connection& c) {
  return c.scalar(
      "select pg_postmaster_start_time()::text || ' checkpointer ' || coalesce((select pid::text "
      "from pg_stat_activity where backend_type = 'checkpointer'), '?')");
}

}  // namespace pgtest
