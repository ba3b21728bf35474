// Helpers of the stopgap reliability suites (see stopgap_reliability.h).
#include "test/pg/stopgap_reliability.h"

#include <signal.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <fmt/format.h>
#include <gtest/gtest.h>

using pgtest::Connection;
using namespace std::chrono_literals;

namespace sgrel {

using Clock = std::chrono::steady_clock;

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (end && *end == 0 && n > 0) ? n : fallback;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string first_line(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  const std::string prefix = "ERROR:  ";
  if (line.rfind(prefix, 0) == 0) line = line.substr(prefix.size());
  return line;
}

// Problems stopgap.check() reports for env, or for every environment whose name starts with
// `prefix` (other suites leave environments whose live schemas they dropped), one line each.
std::vector<std::string> check_problems(Connection& c, const std::string& env,
                                        const std::string& prefix) {
  auto rows = prefix.empty()
                  ? c.query("select env, problem, detail::text from stopgap.check($1)", {env})
                  : c.query(
                        "select c.env, c.problem, c.detail::text from stopgap.environment e, "
                        "stopgap.check(e.env) c where starts_with(e.env, $1) order by 1, 2",
                        {prefix});
  std::vector<std::string> out;
  for (const auto& r : rows)
    out.push_back(
        fmt::format("{}: {} {}", r[0].value_or("-"), r[1].value_or("-"), r[2].value_or("")));
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// The postmaster and the checkpointer's pid: changes when the server restarts after a crash.
std::string incarnation() {
  Connection c;
  return pgtest::server_incarnation(c);
}

// A SIGKILL the test means: its pid goes to $PLTS_EXPECTED_KILLS before the signal, so the server
// log check can tell the restart it causes from a crash.
void sigkill_backend(int pid) {
  if (const char* path = std::getenv("PLTS_EXPECTED_KILLS"); path && *path) {
    std::ofstream f(path, std::ios::app);
    f << pid << "\n";
    f.flush();
    if (!f) ADD_FAILURE() << "cannot append to PLTS_EXPECTED_KILLS=" << path;
  }
  ASSERT_EQ(::kill(pid, SIGKILL), 0) << "kill -9 " << pid << ": " << std::strerror(errno)
                                     << " (the test must run as root or as the cluster's user)";
}

// Waits until the server accepts connections as an incarnation other than `before` (after a
// SIGKILL the postmaster ends every backend, recovers and starts again). Returns the new one, or
// "" after 60 s.
std::string wait_for_restart(const std::string& before) {
  const auto deadline = Clock::now() + 60s;
  while (Clock::now() < deadline) {
    try {
      std::string now = incarnation();
      if (now != before) return now;
    } catch (const std::exception&) {
      // Not accepting connections yet (recovery), or the connection was ended by the restart.
    }
    std::this_thread::sleep_for(20ms);
  }
  return "";
}

// Whether backend pid has ended (gone from pg_stat_activity).
bool backend_gone(Connection& c, int pid) {
  return c.scalar("select count(*) from pg_stat_activity where pid = $1", {std::to_string(pid)}) ==
         "0";
}

std::string pgbench_path() {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("PG_BINDIR"); d && *d) dirs.push_back(d);
  if (FILE* p = ::popen("pg_config --bindir 2>/dev/null", "r")) {
    char buf[512] = {0};
    if (std::fgets(buf, sizeof buf, p)) {
      std::string s(buf);
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
      if (!s.empty()) dirs.push_back(s);
    }
    ::pclose(p);
  }
  dirs.push_back("/usr/lib/postgresql/15/bin");
  for (const auto& d : dirs) {
    std::string path = d + "/pgbench";
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// Runs a shell command; returns its exit status and (stdout + stderr).
std::pair<int, std::string> run_command(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// No std::regex in these tests: GCC 12 warns inside <regex> under the sanitizer flags.
std::optional<long long> number_after(const std::string& text, const std::string& label) {
  size_t at = text.find(label);
  if (at == std::string::npos) return std::nullopt;
  at += label.size();
  while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) at++;
  size_t end = at;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) end++;
  if (end == at) return std::nullopt;
  return std::stoll(text.substr(at, end - at));
}

void report_figures(const std::string& line) {
  std::cout << line << std::endl;
  if (const char* path = std::getenv("PLTS_FIGURES"); path && *path) {
    std::ofstream f(path, std::ios::app);
    f << line << "\n";
  }
}

}  // namespace sgrel
