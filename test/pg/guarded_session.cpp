#include "test/pg/guarded_session.h"

#include <signal.h>

#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace pgtest {
namespace {

using Clock = std::chrono::steady_clock;

std::string first_line(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  const std::string prefix = "ERROR:  ";
  if (line.rfind(prefix, 0) == 0) line = line.substr(prefix.size());
  return line;
}

// Escalates against a statement that does not end: cancel, terminate, then SIGKILL.
class HangGuard {
 public:
  HangGuard(int pid, const GuardTimes& times) : pid_(pid), times_(times), t0_(Clock::now()) {
    thread_ = std::thread([this] { watch(); });
  }
  ~HangGuard() {
    {
      std::lock_guard<std::mutex> lk(m_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  std::string action() {
    std::lock_guard<std::mutex> lk(m_);
    return action_;
  }

 private:
  bool wait_until(std::chrono::milliseconds at) {
    std::unique_lock<std::mutex> lk(m_);
    return cv_.wait_until(lk, t0_ + at, [this] { return done_; });
  }
  void set_action(const char* a) {
    std::lock_guard<std::mutex> lk(m_);
    action_ = a;
  }
  void signal_via_sql(const char* fn) {
    try {
      Connection c;
      c.query(std::string("select ") + fn + "($1)", {std::to_string(pid_)});
    } catch (...) {
      // The server may be down already; the next stage follows.
    }
  }
  void watch() {
    if (wait_until(times_.cancel_after)) return;
    set_action("cancel");
    signal_via_sql("pg_cancel_backend");
    if (wait_until(times_.terminate_after)) return;
    set_action("terminate");
    signal_via_sql("pg_terminate_backend");
    if (wait_until(times_.kill_after)) return;
    set_action("kill -9");
    ::kill(pid_, SIGKILL);
  }

  int pid_;
  GuardTimes times_;
  Clock::time_point t0_;
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string action_;
  std::thread thread_;
};

}  // namespace

GuardedSession::GuardedSession(std::vector<std::string> setup, GuardTimes times)
    : setup_(std::move(setup)), times_(times) {
  reconnect();
  started_ = server_incarnation(*conn_);
}

void GuardedSession::reconnect() {
  conn_.reset();
  conn_ = std::make_unique<Connection>();
  pid_ = conn_->backend_pid();
  for (const auto& s : setup_) conn_->query(s);
}

std::string GuardedSession::wait_for_server(std::chrono::seconds limit) {
  std::string inc;
  eventually(
      [&] {
        try {
          Connection c;
          inc = server_incarnation(c);
          return true;
        } catch (...) {
          return false;  // refused, or "the database system is in recovery mode"
        }
      },
      limit);
  return inc;
}

void GuardedSession::after_loss(Outcome& o) {
  o.kind = Outcome::Kind::kConnectionLost;
  lost_++;
  conn_.reset();
  // A crashed backend makes the postmaster end every other one and restart its children; give it
  // a moment to notice before a new connection is taken as proof that the server is fine.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::string inc = wait_for_server();
  if (inc.empty()) throw std::runtime_error("the server did not come back after a lost connection");
  if (inc != started_) {
    o.server_restarted = true;
    restarts_++;
    started_ = inc;
  }
  // The server may still be restarting (a crash is noticed a moment after the connection drops).
  eventually(
      [&] {
        try {
          reconnect();
          return true;
        } catch (...) {
          return false;
        }
      },
      std::chrono::seconds(90));
  if (!conn_) throw std::runtime_error("could not reconnect after a lost connection");
  inc = wait_for_server();
  if (inc != started_ && !o.server_restarted) {
    o.server_restarted = true;
    restarts_++;
  }
  started_ = inc;
}

Outcome GuardedSession::run(const std::string& sql, const std::vector<std::string>& params) {
  return run_impl(sql, params, nullptr);
}

Outcome GuardedSession::run_impl(const std::string& sql, const std::vector<std::string>& params,
                                 const DuringFn* during) {
  if (!conn_) reconnect();
  Outcome o;
  o.backend_pid = pid_;
  const auto t0 = Clock::now();
  std::atomic<bool> done{false};
  std::thread side;
  if (during) side = std::thread([&, pid = pid_] { (*during)(pid, done); });
  {
    HangGuard guard(pid_, times_);
    try {
      o.rows = conn_->query(sql, params);
    } catch (const SqlError& e) {
      o.kind = Outcome::Kind::kError;
      o.sqlstate = e.sqlstate.empty() ? "(none)" : e.sqlstate;
      o.message = first_line(e.what());
    }
    o.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    o.guard = guard.action();
  }  // the guard is disarmed before waiting for `during`
  done = true;
  if (side.joinable()) side.join();
  if (o.kind == Outcome::Kind::kError) {
    try {
      conn_->query("select 1");
    } catch (const SqlError& e) {
      const bool lost =
          e.sqlstate == "08006" || e.sqlstate.rfind("57P", 0) == 0 || e.sqlstate.empty();
      if (lost) {
        after_loss(o);
      } else {
        o.broken_after = e.sqlstate + " " + first_line(e.what());
        reconnect();
      }
    }
  }
  return o;
}

std::string unreadable_message(const std::string& message) {
  if (message.empty()) return "empty message";
  for (const char* bad : {"[object Object]", "nlohmann", "json.exception", "basic_json",
                          "type_error.", "parse_error.", "std::", "what():", "terminate called"}) {
    if (message.find(bad) != std::string::npos) return std::string("message contains ") + bad;
  }
  return "";
}

long server_log_size() {
  const char* path = std::getenv("PLTS_SERVER_LOG");
  if (!path) return 0;
  std::ifstream f(path, std::ios::ate | std::ios::binary);
  return f ? static_cast<long>(f.tellg()) : 0;
}

std::vector<std::string> server_log_crashes(long from) {
  std::vector<std::string> out;
  const char* path = std::getenv("PLTS_SERVER_LOG");
  if (!path) return out;
  std::ifstream f(path, std::ios::binary);
  if (!f) return out;
  f.seekg(from);
  std::string line;
  while (std::getline(f, line)) {
    for (const char* pat : {"terminated by signal", "was terminated by exception", "PANIC",
                            "all server processes terminated", "exited with exit code"}) {
      if (line.find(pat) != std::string::npos &&
          !(std::string(pat) == "exited with exit code" &&
            line.find("exited with exit code 1") != std::string::npos)) {
        out.push_back(line);
        break;
      }
    }
  }
  return out;
}

}  // namespace pgtest
