// A small libpq client for integration tests: one connection, queries return text cells, errors
// carry their SQLSTATE.
#pragma once

#include <chrono>
#include <optional>
#include <thread>
#include <stdexcept>
#include <string>
#include <vector>

struct pg_conn;

namespace pgtest {

struct SqlError : std::runtime_error {
  SqlError(std::string sqlstate, const std::string& message)
      : std::runtime_error(message), sqlstate(std::move(sqlstate)) {}
  std::string sqlstate;
};

using Row = std::vector<std::optional<std::string>>;

class Connection {
 public:
  // Connects with the PG* environment (PGHOST, PGPORT, PGDATABASE, PGUSER set by scripts/test.sh).
  // conninfo: libpq keywords that override it, e.g. "host=/tmp/x port=5433" for another server.
  explicit Connection(const std::string& options = "", const std::string& conninfo = "");
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  std::vector<Row> query(const std::string& sql, const std::vector<std::string>& params = {});
  // The first column of the first row; throws when there is none or it is NULL.
  std::string scalar(const std::string& sql, const std::vector<std::string>& params = {});
  // Runs sql and returns the SQLSTATE of the error it raised, or "" when it succeeded.
  std::string error_of(const std::string& sql);
  // Sends sql without waiting (for cancel/terminate tests); collect with finish().
  void send(const std::string& sql);
  std::string finish();  // SQLSTATE of the sent query's error, or ""
  // Whether a query sent with send() is still running (reads what has arrived, never blocks).
  bool busy();
  int backend_pid();
  bool alive();
  // NOTIFY payloads received so far on `channel` (reads what has arrived, never blocks), in order.
  std::vector<std::string> notifications(const std::string& channel);

 private:
  pg_conn* conn_;
};

// Names one incarnation of the server: pg_postmaster_start_time() does not change when the
// postmaster restarts its children after a backend crash; the checkpointer's pid does (it is
// restarted with every other child). Equal before and after a test = no crash restart.
std::string server_incarnation(Connection& c);

// Polls cond every 10 ms until it holds or `limit` passes; returns whether it held.
template <class Cond>
bool eventually(Cond&& cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace pgtest
