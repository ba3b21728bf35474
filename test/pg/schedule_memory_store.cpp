#include "test/pg/schedule_memory_store.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace sgsched {

namespace sched = stopgap::schedule;
using sched::JobState;
using sched::RunStatus;

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard Hinnant's algorithms).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Reads `n` digits at s[i]; false when they are not all digits.
bool digits(const std::string& s, size_t& i, size_t n, int& out) {
  if (i + n > s.size()) return false;
  out = 0;
  for (size_t k = 0; k < n; k++, i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::string format_utc(Micros t) {
  const int64_t days = floor_div(t, sched::kDay);
  const Micros in_day = t - days * sched::kDay;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  const int64_t secs = in_day / sched::kSecond, frac = in_day % sched::kSecond;
  char buf[64];
  if (frac == 0) {
    snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02lld:%02lld:%02lld+00", static_cast<long long>(y),
             m, d, static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
             static_cast<long long>(secs % 60));
  } else {
    snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02lld:%02lld:%02lld.%06lld+00",
             static_cast<long long>(y), m, d, static_cast<long long>(secs / 3600),
             static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
             static_cast<long long>(frac));
  }
  return buf;
}

std::optional<Micros> parse_iso8601(const std::string& s) {
  size_t i = 0;
  int y, mo, d, h, mi, sec = 0;
  if (!digits(s, i, 4, y) || i >= s.size() || s[i++] != '-' || !digits(s, i, 2, mo) ||
      i >= s.size() || s[i++] != '-' || !digits(s, i, 2, d)) {
    return std::nullopt;
  }
  if (i >= s.size() || (s[i] != 'T' && s[i] != 't' && s[i] != ' ')) return std::nullopt;
  i++;
  if (!digits(s, i, 2, h) || i >= s.size() || s[i++] != ':' || !digits(s, i, 2, mi)) {
    return std::nullopt;
  }
  Micros frac = 0;
  if (i < s.size() && s[i] == ':') {
    i++;
    if (!digits(s, i, 2, sec)) return std::nullopt;
    if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
      i++;
      Micros scale = 100000;
      const size_t start = i;
      for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; i++) {
        frac += (s[i] - '0') * scale;
        scale /= 10;
      }
      if (i == start) return std::nullopt;
    }
  }
  int64_t offset_s = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i++] == '-' ? -1 : 1;
    int oh, om = 0;
    if (!digits(s, i, 2, oh)) return std::nullopt;
    if (i < s.size() && s[i] == ':') i++;
    if (i < s.size() && !digits(s, i, 2, om)) return std::nullopt;
    offset_s = sign * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;  // no zone: ambiguous, refused
  }
  if (i != s.size() || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60) {
    return std::nullopt;
  }
  const int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return days * sched::kDay + (int64_t{h} * 3600 + mi * 60 + sec - offset_s) * sched::kSecond +
         frac;
}

MemoryStore::Job& MemoryStore::find(const std::string& env, const std::string& name) {
  for (auto& [id, j] : jobs_) {
    if (j.env == env && j.name == name) return j;
  }
  throw UnknownSchedule("schedule \"" + name + "\" does not exist in environment \"" + env + "\"");
}

JobView MemoryStore::view(const Job& j) {
  return JobView{sched::to_string(j.progress.state), j.progress.next_run_at, j.progress.attempt,
                 j.progress.failures_in_row};
}

JobView MemoryStore::schedule(const std::string& env, const std::string& name,
                              const std::string& target, const std::string& schedule_text,
                              const std::string& args_json, const std::string& options_json,
                              Micros now) {
  sched::Schedule parsed = sched::parse_schedule(schedule_text);
  sched::ParsedOptions options = sched::parse_options(options_json);
  if (options.time_zone != "UTC") {
    throw sched::ScheduleError{"the memory store knows only the time zone UTC"};
  }
  Job* j = nullptr;
  for (auto& [id, candidate] : jobs_) {
    if (candidate.env == env && candidate.name == name) j = &candidate;
  }
  if (j == nullptr) {
    const int64_t id = next_job_id_++;
    j = &jobs_[id];
    j->id = id;
    j->env = env;
    j->name = name;
  }
  // Replacing a schedule starts it afresh (active, counters reset); a run in flight keeps its
  // lease and a pending run_now stays pending.
  j->target = target;
  j->schedule_text = schedule_text;
  j->args_json = args_json;
  j->schedule = parsed;
  j->options = options.options;
  j->progress = sched::JobProgress{};
  j->progress.next_run_at = sched::next_run(parsed, now, sched::utc_zone());
  return view(*j);
}

bool MemoryStore::unschedule(const std::string& env, const std::string& name) {
  for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
    if (it->second.env != env || it->second.name != name) continue;
    const int64_t id = it->first;
    jobs_.erase(it);
    for (auto r = runs_.begin(); r != runs_.end();) {
      r = r->second.job_id == id ? runs_.erase(r) : std::next(r);
    }
    return true;
  }
  return false;
}

JobView MemoryStore::pause(const std::string& env, const std::string& name, Micros) {
  Job& j = find(env, name);
  if (j.progress.state == JobState::kActive) j.progress.state = JobState::kPaused;
  return view(j);
}

JobView MemoryStore::resume(const std::string& env, const std::string& name, Micros now) {
  Job& j = find(env, name);
  if (j.progress.state == JobState::kPaused || j.progress.state == JobState::kDead) {
    j.progress.state = JobState::kActive;
    j.progress.attempt = 0;
    j.progress.failures_in_row = 0;
    j.progress.next_run_at = sched::next_run(j.schedule, now, sched::utc_zone());
  }
  return view(j);
}

JobView MemoryStore::run_now(const std::string& env, const std::string& name, Micros) {
  Job& j = find(env, name);
  j.run_requested = true;
  return view(j);
}

double MemoryStore::quota_used(const Job& j, Micros now) const {
  double used = 0;
  for (const auto& [id, r] : runs_) {
    if (r.status == RunStatus::kSkipped || !r.started_at) continue;
    if (*r.started_at <= now - j.options.quota_window) continue;
    const Job& owner = jobs_.at(r.job_id);
    const bool counts = j.options.quota_per_function
                            ? owner.env == j.env && owner.target == j.target
                            : owner.id == j.id;
    if (!counts) continue;
    used += j.options.quota_by_cost ? r.cost.value_or(0) : 1;
  }
  return used;
}

void MemoryStore::settle(Run& run, RunStatus status, std::optional<Micros> requested_next,
                         double random01, Micros now) {
  run.status = status;
  run.finished_at = now;
  Job& j = jobs_.at(run.job_id);
  j.claimed_by.reset();
  j.claim_until.reset();
  j.progress = sched::after_run(j.progress, sched::Outcome{status, requested_next}, j.schedule,
                                j.options, now, sched::utc_zone(), random01);
}

TickResult MemoryStore::tick(int worker_pid, int max_claims,
                             const std::optional<std::vector<int>>& alive_pids, Micros now) {
  TickResult out;
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  // 1) Reap: a run whose lease expired or whose worker is gone is lost; its job retries or dies.
  for (auto& [id, r] : runs_) {
    if (r.status != RunStatus::kRunning) continue;
    const bool expired = r.lease_until && *r.lease_until < now;
    const bool orphaned = alive_pids && std::find(alive_pids->begin(), alive_pids->end(),
                                                  r.worker_pid) == alive_pids->end();
    if (!expired && !orphaned) continue;
    settle(r, RunStatus::kLost, std::nullopt, jitter(rng_), now);
    out.reaped++;
  }
  // 2) Claim the due jobs: active ones whose next run has come, and those run_now asked for
  // whatever their state. Requested ones first, then the oldest next run (none sorts last, as
  // NULLS LAST does), then the oldest job.
  std::vector<Job*> due;
  for (auto& [id, j] : jobs_) {
    if (j.claim_until && *j.claim_until >= now) continue;  // leased
    const bool active_due = j.progress.state == JobState::kActive && j.progress.next_run_at &&
                            *j.progress.next_run_at <= now;
    if (active_due || (j.run_requested && j.progress.state != JobState::kMissing)) {
      due.push_back(&j);
    }
  }
  std::stable_sort(due.begin(), due.end(), [](const Job* a, const Job* b) {
    if (a->run_requested != b->run_requested) return a->run_requested;
    const auto& x = a->progress.next_run_at;
    const auto& y = b->progress.next_run_at;
    if (x.has_value() != y.has_value()) return x.has_value();
    return x.has_value() && *x < *y;
  });
  // A LIMIT over the candidates: a job skipped for its quota takes one of the max_claims slots.
  if (max_claims < 0) max_claims = 0;
  if (due.size() > static_cast<size_t>(max_claims)) due.resize(static_cast<size_t>(max_claims));
  for (Job* j : due) {
    Run r;
    r.id = next_run_id_++;
    r.job_id = j->id;
    r.attempt = j->progress.attempt + 1;
    r.scheduled_for = j->progress.next_run_at;
    r.started_at = now;
    r.worker_pid = worker_pid;
    j->run_requested = false;
    if (j->options.quota_budget >= 0 &&
        !sched::quota_allows(quota_used(*j, now), j->options.quota_budget)) {
      r.status = RunStatus::kSkipped;
      r.reason = "quota";
      r.finished_at = now;
      j->progress = sched::after_run(j->progress, sched::Outcome{RunStatus::kSkipped, std::nullopt},
                                     j->schedule, j->options, now, sched::utc_zone(), 0.0);
      runs_[r.id] = r;
      out.skipped++;
      continue;
    }
    r.status = RunStatus::kRunning;
    r.lease_until = now + j->options.max_runtime + j->options.lease_grace;
    j->claimed_by = worker_pid;
    j->claim_until = r.lease_until;
    runs_[r.id] = r;
    out.claims.push_back(Claim{r.id, j->name, r.attempt});
  }
  return out;
}

std::optional<JobView> MemoryStore::finish(int64_t run_id, const std::string& outcome_json,
                                           std::optional<double> random01, Micros now) {
  const nlohmann::json outcome = nlohmann::json::parse(outcome_json);
  const std::string status_text = outcome.value("status", std::string());
  const std::optional<RunStatus> status = sched::run_status_from(status_text);
  if (!status || (*status != RunStatus::kOk && *status != RunStatus::kError &&
                  *status != RunStatus::kTimeout)) {
    throw std::invalid_argument("outcome status must be ok, error or timeout, not \"" +
                                status_text + "\"");
  }
  auto it = runs_.find(run_id);
  if (it == runs_.end() || it->second.status != RunStatus::kRunning) return std::nullopt;
  Run& run = it->second;
  std::string result_text;
  if (outcome.contains("result") && !outcome["result"].is_null()) {
    result_text = outcome["result"].dump();
    run.result_json = result_text;
  }
  if (outcome.contains("message") && outcome["message"].is_string()) {
    run.message = outcome["message"].get<std::string>();
  }
  if (outcome.contains("sqlstate") && outcome["sqlstate"].is_string()) {
    run.sqlstate = outcome["sqlstate"].get<std::string>();
  }
  const sched::ResultHints hints = sched::read_result(result_text, now, parse_iso8601);
  run.cost = hints.cost;
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  settle(run, *status, *status == RunStatus::kOk ? hints.requested_next : std::nullopt,
         random01 ? *random01 : jitter(rng_), now);
  return view(jobs_.at(run.job_id));
}

std::optional<JobView> MemoryStore::job(const std::string& env, const std::string& name) const {
  for (const auto& [id, j] : jobs_) {
    if (j.env == env && j.name == name) return view(j);
  }
  return std::nullopt;
}

std::vector<RunView> MemoryStore::runs(const std::string& env, const std::string& name) const {
  std::vector<RunView> out;
  for (const auto& [id, r] : runs_) {
    const Job& j = jobs_.at(r.job_id);
    if (j.env != env || j.name != name) continue;
    out.push_back(RunView{sched::to_string(r.status), r.reason, r.attempt, r.cost});
  }
  return out;
}

}  // namespace sgsched
