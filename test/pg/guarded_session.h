// A session for tests that provoke crashes and hangs on purpose (conversion matrix, unkillable
// code): every statement runs under a hang guard that escalates cancel -> terminate -> kill -9
// from outside, and a lost connection is told apart from a cluster restart
// (pg_postmaster_start_time() changes). After either, the session reconnects and goes on, so one
// bad case never hides the rest.
//
// kill -9 needs the backend on this machine and the right to signal it (the tests run as root or as
// the cluster's user, as scripts/test.sh does).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "test/pg/pg_client.h"

namespace pgtest {

// What one guarded statement did.
struct Outcome {
  enum class Kind { kValue, kError, kConnectionLost };
  Kind kind = Kind::kValue;
  std::string sqlstate;  // "" on success
  std::string message;   // the error message (first line of libpq's text)
  std::vector<Row> rows;
  double seconds = 0;
  // The escalation the hang guard had to use: "", "cancel", "terminate" or "kill -9".
  std::string guard;
  bool server_restarted = false;  // the postmaster restarted (some backend crashed)
  // After an error the session is checked with "select 1": its SQLSTATE and message when that
  // failed although the connection survived (e.g. 25P02 outside any transaction block). The
  // session reconnects then.
  std::string broken_after;
  int backend_pid = 0;

  bool ok() const { return kind == Kind::kValue; }
  // The first cell, or nullopt (also for SQL NULL).
  std::optional<std::string> value() const {
    if (rows.empty() || rows[0].empty()) return std::nullopt;
    return rows[0][0];
  }
};

// Escalation delays of the hang guard, counted from the start of a statement.
struct GuardTimes {
  std::chrono::milliseconds cancel_after{10000};
  std::chrono::milliseconds terminate_after{13000};
  std::chrono::milliseconds kill_after{16000};
};

class GuardedSession {
 public:
  using DuringFn = std::function<void(int, const std::atomic<bool>&)>;
  // setup: statements run on every (re)connection, e.g. "set search_path = ...".
  explicit GuardedSession(std::vector<std::string> setup = {}, GuardTimes times = {});

  // Runs sql (one statement, no parameters unless given) under the hang guard.
  Outcome run(const std::string& sql, const std::vector<std::string>& params = {});
  // Like run, but `during(pid, done)` (e.g. a pg_cancel_backend from elsewhere) runs on another
  // thread while the statement runs; `done` turns true when the statement has ended.
  template <class During>
  Outcome run_with(const std::string& sql, During&& during);

  Connection& conn() { return *conn_; }
  int backend_pid() const { return pid_; }
  // Reconnects now (e.g. to get a fresh backend).
  void reconnect();
  // Counts of what happened over the session's life.
  int connections_lost() const { return lost_; }
  int server_restarts() const { return restarts_; }
  const std::string& postmaster_start() const { return started_; }

  // Waits (up to `limit`) until a new connection succeeds; returns the postmaster start time or ""
  // when the server did not come back.
  static std::string wait_for_server(std::chrono::seconds limit = std::chrono::seconds(90));

 private:
  Outcome run_impl(const std::string& sql, const std::vector<std::string>& params,
                   const DuringFn* during);
  void after_loss(Outcome& o);

  std::vector<std::string> setup_;
  GuardTimes times_;
  std::unique_ptr<Connection> conn_;
  int pid_ = 0;
  std::string started_;
  int lost_ = 0;
  int restarts_ = 0;
};

template <class During>
Outcome GuardedSession::run_with(const std::string& sql, During&& during) {
  GuardedSession::DuringFn f = std::forward<During>(during);
  return run_impl(sql, {}, &f);
}

// Is this message one a user should never see (empty, "[object Object]", C++/nlohmann internals)?
// Returns the reason or "".
std::string unreadable_message(const std::string& message);

// SQLSTATEs that mean an internal failure rather than a user error: XX*** and 58***.
inline bool internal_sqlstate(const std::string& s) {
  return s.rfind("XX", 0) == 0 || s.rfind("58", 0) == 0;
}

// Lines of the server log (when PLTS_SERVER_LOG names it, as the scripts' CLUSTER_LOG) that show
// a crashed backend or a cluster restart, after byte offset `from`.
std::vector<std::string> server_log_crashes(long from = 0);
long server_log_size();

}  // namespace pgtest
