// The pure part of schedules: parsing a schedule (a cron expression or an interval), the next run
// time in a time zone, retry backoff with jitter, adaptive cadence clamped to a schedule's bounds,
// the quota rule, and what a finished run does to its job (the state machine). No PostgreSQL here:
// GoogleTest covers it without a server (test/unit/stopgap_schedule_test.cpp), and the same
// decisions drive both implementations of the scheduler's store: the catalog through SPI
// (schedule_store.cpp) and the in-memory one the contract tests run beside it
// (test/pg/schedule_memory_store.h, test/pg/schedule_contract_test.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace stopgap::schedule {

// Microseconds since 1970-01-01 00:00:00 UTC (PostgreSQL's timestamptz counts from 2000: the
// SPI side converts).
using Micros = int64_t;
constexpr Micros kSecond = 1000000;
constexpr Micros kMinute = 60 * kSecond;
constexpr Micros kHour = 60 * kMinute;
constexpr Micros kDay = 24 * kHour;

// A schedule the user wrote that cannot be used; message says why, for an ERROR (22023).
struct ScheduleError {
  std::string message;
};

// A cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first).
// Each field: *, a number, a range a-b, a step (*/n, a-b/n, a/n), or a comma list of those;
// months JAN-DEC and weekdays SUN-SAT by name (any case); weekday 7 is Sunday. When both
// day-of-month and day-of-week are restricted, a day matching either runs (as cron does).
struct Cron {
  std::vector<bool> seconds, minutes, hours, mdays, months, wdays;  // sizes 60, 60, 24, 32, 13, 7
  bool mday_star = true, wday_star = true;
};

// What a schedule is: every `interval` microseconds (from when it was created or last ran), or
// at the times a cron expression names, in a time zone.
struct Schedule {
  enum class Kind { kInterval, kCron } kind = Kind::kInterval;
  Micros interval = 0;
  Cron cron;
};

// '30 seconds', '5 min', '1 hour', '2 days', '500 ms', '1.5 hours', '90s' (an amount and a unit;
// units: ms|millisecond(s), s|sec(s)|second(s), m|min(s)|minute(s), h|hour(s), d|day(s)).
// Throws ScheduleError for anything else, and for zero or negative amounts.
Micros parse_interval(const std::string& text);
Cron parse_cron(const std::string& text);
// An interval when the text parses as one, otherwise a cron expression. Throws ScheduleError
// naming what is wrong with it as cron when it is neither.
Schedule parse_schedule(const std::string& text);

// A time zone: the UTC offset (seconds east of UTC) in force at a UTC instant. The SPI side
// answers it with PostgreSQL's time zone library; tests pass fixed offsets or a fake DST rule.
using UtcOffset = std::function<int64_t(Micros utc)>;
inline UtcOffset utc_zone() {
  return [](Micros) { return int64_t{0}; };
}

// The first time strictly after `after` that the schedule names. For an interval: after +
// interval. For cron: evaluated on the wall clock of `zone`; a wall time a DST jump skips is
// skipped, a wall time that occurs twice runs at its first occurrence. nullopt when a cron
// expression names no time within 5 years (e.g. 30 February).
std::optional<Micros> next_run(const Schedule& s, Micros after, const UtcOffset& zone);

// The delay before retry number `attempt` (1 = the first retry after one failure): base * 2^(attempt-1)
// capped at `cap`, then "equal jitter": half of it fixed, half scaled by random01 in [0, 1).
Micros backoff_delay(int attempt, Micros base, Micros cap, double random01);

// An adaptive run's request for its next run, clamped to [now + min_interval, now + max_interval].
Micros clamp_next_run(Micros requested, Micros now, Micros min_interval, Micros max_interval);

// The quota rule, checked before a run: allowed while what was used in the window is below the
// budget (budget < 0: unlimited). Check-then-record: a claimed run counts from its claim (a cost
// from when it finishes), so claims checked concurrently may each pass (docs/SCHEDULES.md: the bound).
bool quota_allows(double used, double budget);

// A job's options, normalized (durations in microseconds).
struct Options {
  int max_attempts = 3;                // failures of one occurrence before the job goes dead
  Micros backoff_base = kSecond;
  Micros backoff_max = 5 * kMinute;
  Micros min_interval = kSecond;        // bounds of an adaptive run's own next run
  Micros max_interval = kDay;
  Micros max_runtime = 60 * kSecond;    // plts.max_runtime_ms of a run
  Micros lease_grace = 30 * kSecond;    // a claim's lease: max_runtime + lease_grace
  // Quota: at most `quota_budget` runs (quota_by_cost false) or cost units (true) per
  // `quota_window`, counted over this schedule's runs, or over every schedule of the same target
  // function in the environment (quota_per_function). budget < 0: no quota.
  double quota_budget = -1;
  Micros quota_window = 0;
  bool quota_by_cost = false;
  bool quota_per_function = false;
};

// A schedule's options as the user wrote them (a JSON object, see docs/SCHEDULES.md), checked and
// normalized. Durations are a number (milliseconds) or an interval text ('30 seconds'). Keys:
// time_zone, run_as, max_attempts, backoff_base, backoff_max, min_interval, max_interval,
// max_runtime, quota {runs | cost, per, scope: "schedule" | "function"}. Throws ScheduleError for
// an unknown key, a value of the wrong type or out of range (min_interval > max_interval, ...).
struct ParsedOptions {
  Options options;
  std::string time_zone = "UTC";
  std::optional<std::string> run_as;
  std::string normalized_json;  // every option with its value (durations in ms), for the catalog
};
ParsedOptions parse_options(const std::string& json_text);

// The states of a job. kMissing: the environment's active deployment has no function at its
// target (a deploy dropped it); the job waits, and runs again once a deploy or rollback brings the
// target back.
enum class JobState { kActive, kPaused, kDead, kMissing };
const char* to_string(JobState s);
std::optional<JobState> job_state_from(const std::string& s);

// How a run ended. kSkipped: it did not run (quota); kLost: its worker died or its lease expired.
enum class RunStatus { kRunning, kOk, kError, kTimeout, kSkipped, kLost };
const char* to_string(RunStatus s);
std::optional<RunStatus> run_status_from(const std::string& s);

// What a job is between runs.
struct JobProgress {
  JobState state = JobState::kActive;
  std::optional<Micros> next_run_at;
  int attempt = 0;          // failed attempts of the current occurrence
  int failures_in_row = 0;  // failed runs since the last success
};

// A finished run: its status and, for kOk, the next run it asked for (adaptive cadence), already
// read from its result ({next_run_in_ms} or {next_run_at}).
struct Outcome {
  RunStatus status = RunStatus::kOk;
  std::optional<Micros> requested_next;
};

// What a finished run does to its job at `now`:
// - kOk: attempt and failures_in_row reset; next run = the requested one clamped to
//   [min_interval, max_interval], else the schedule's next time after now.
// - kError, kTimeout, kLost: attempt + 1 and failures_in_row + 1; after the max_attempts-th failed
//   attempt the job goes kDead (no next run); otherwise it retries after backoff_delay(attempt).
// - kSkipped: nothing but the next run (the schedule's next time after now).
// A job that was paused (or dead) while the run was in flight keeps that state; its counters
// still move. A schedule that names no further time leaves next_run_at empty.
JobProgress after_run(const JobProgress& before, const Outcome& outcome, const Schedule& schedule,
                      const Options& options, Micros now, const UtcOffset& zone, double random01);

// A run's result as the scheduler reads it (the function's jsonb result as JSON text, or "" for
// SQL NULL): the next run it asks for ({"next_run_in_ms": n} -> now + n ms; {"next_run_at":
// "<ISO 8601>"} parsed with `parse_time`, which returns nullopt for text it cannot read) and the
// cost it reports ({"cost": n}). Anything else in the result is ignored.
struct ResultHints {
  std::optional<Micros> requested_next;
  std::optional<double> cost;
};
ResultHints read_result(const std::string& json_text, Micros now,
                        const std::function<std::optional<Micros>(const std::string&)>& parse_time);

}  // namespace stopgap::schedule
