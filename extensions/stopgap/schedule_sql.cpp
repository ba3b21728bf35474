// The scheduler's C functions for its SQL (sql/stopgap--0.3.0--0.4.0.sql): the clock, checking a
// schedule and its options, next run times in a time zone, and what a finished run does to its
// job. The decisions are schedule_logic's; this file converts between SQL values and its types.
#include <cmath>
#include <ctime>
#include <limits>

#include "common/error_boundary.h"
#include "extensions/stopgap/schedule_logic.h"
#include "extensions/stopgap/scheduler.h"
#include "extensions/stopgap/settings.h"

extern "C" {
#include "pgtime.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
}

namespace sched = stopgap::schedule;

namespace {

// PostgreSQL counts timestamps from 2000-01-01, the core from 1970-01-01.
constexpr int64_t kPgEpochInUnixMicros = int64_t{946684800} * 1000000;
sched::Micros to_unix(TimestampTz t) { return t + kPgEpochInUnixMicros; }
TimestampTz to_pg(sched::Micros m) { return m - kPgEpochInUnixMicros; }
// Within timestamptz's range (a next run past it is no next run).
bool valid(sched::Micros m) {
  return m <= std::numeric_limits<int64_t>::max() - kPgEpochInUnixMicros && IS_VALID_TIMESTAMP(to_pg(m));
}

std::optional<std::string> text_arg(FunctionCallInfo fcinfo, int i) {
  if (PG_ARGISNULL(i)) return std::nullopt;
  std::string out;
  pgx::pg_guard([&] {
    text* t = PG_GETARG_TEXT_PP(i);
    out.assign(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
  });
  return out;
}

std::optional<std::string> jsonb_arg(FunctionCallInfo fcinfo, int i) {
  if (PG_ARGISNULL(i)) return std::nullopt;
  std::string out;
  pgx::pg_guard([&] {
    Jsonb* j = PG_GETARG_JSONB_P(i);
    char* s = JsonbToCString(nullptr, &j->root, VARSIZE(j));
    out = s;
    pfree(s);
  });
  return out;
}

Datum jsonb_datum(const std::string& json) {
  Datum d = 0;
  pgx::pg_guard([&] { d = DirectFunctionCall1(jsonb_in, CStringGetDatum(json.c_str())); });
  return d;
}

// "2026-12-03T10:00:00.000000Z"
std::string iso_utc(sched::Micros m) {
  int64_t secs = m >= 0 ? m / sched::kSecond : -((-m + sched::kSecond - 1) / sched::kSecond);
  int64_t micros = m - secs * sched::kSecond;
  time_t t = static_cast<time_t>(secs);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(micros));
  return buf;
}

pgx::PgError invalid(const std::string& message, const std::string& hint = {}) {
  return pgx::PgError(ERRCODE_INVALID_PARAMETER_VALUE, message, "", hint);
}

sched::Schedule schedule_of(const std::string& text) {
  try {
    return sched::parse_schedule(text);
  } catch (const sched::ScheduleError& e) {
    throw invalid("invalid schedule \"" + text + "\": " + e.message,
                  "A schedule is an interval ('30 seconds', '5 minutes') or a cron expression of 5 "
                  "fields (minute hour day-of-month month day-of-week), or 6 with seconds first.");
  }
}

sched::ParsedOptions options_of(const std::string& json) {
  try {
    return sched::parse_options(json);
  } catch (const sched::ScheduleError& e) {
    throw invalid("invalid schedule options: " + e.message);
  }
}

// The zone's UTC offset at an instant, from PostgreSQL's time zone library.
sched::UtcOffset zone_of(const std::string& name) {
  pg_tz* tz = nullptr;
  pgx::pg_guard([&] { tz = pg_tzset(name.c_str()); });
  if (tz == nullptr)
    throw invalid("time zone \"" + name + "\" is not recognized",
                  "Use a name from pg_timezone_names, such as 'Europe/Berlin' or 'UTC'.");
  return [tz](sched::Micros utc) -> int64_t {
    pg_time_t t = static_cast<pg_time_t>(std::floor(static_cast<double>(utc) / sched::kSecond));
    struct pg_tm* tm = pg_localtime(&t, tz);
    return tm == nullptr ? 0 : tm->tm_gmtoff;
  };
}

TimestampTz clock_now() {
  TimestampTz now = 0;
  const char* fixed = stopgap::settings.scheduler_clock;
  if (fixed == nullptr || fixed[0] == '\0') return GetCurrentTimestamp();
  pgx::pg_guard([&] {
    now = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(fixed),
                                                  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
  });
  return now;
}

std::optional<sched::Micros> parse_time(const std::string& text) {
  try {
    TimestampTz t = 0;
    pgx::pg_guard([&] {
      t = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(text.c_str()),
                                                  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
    });
    if (TIMESTAMP_NOT_FINITE(t)) return std::nullopt;
    return to_unix(t);
  } catch (const pgx::PgError&) {
    return std::nullopt;
  }
}

}  // namespace

// stopgap._sched_now() -> timestamptz
PGX_FUNCTION(stopgap_sched_now) { return TimestampTzGetDatum(clock_now()); }

// stopgap._sched_parse(schedule text, options jsonb) -> jsonb {"kind", "options"}
PGX_FUNCTION(stopgap_sched_parse) {
  std::string text = text_arg(fcinfo, 0).value_or("");
  sched::Schedule s = schedule_of(text);
  sched::ParsedOptions p = options_of(jsonb_arg(fcinfo, 1).value_or("{}"));
  zone_of(p.time_zone);  // refuses an unknown zone
  const sched::Options& o = p.options;
  auto ms = [](sched::Micros m) { return m / 1000; };
  nlohmann::json out = {{"max_attempts", o.max_attempts},
                        {"backoff_base", ms(o.backoff_base)},
                        {"backoff_max", ms(o.backoff_max)},
                        {"min_interval", ms(o.min_interval)},
                        {"max_interval", ms(o.max_interval)},
                        {"max_runtime", ms(o.max_runtime)},
                        {"time_zone", p.time_zone}};
  if (p.run_as) out["run_as"] = *p.run_as;
  if (o.quota_budget >= 0)
    out["quota"] = {{o.quota_by_cost ? "cost" : "runs",
                     o.quota_by_cost ? nlohmann::json(o.quota_budget)
                                     : nlohmann::json(static_cast<int64_t>(o.quota_budget))},
                    {"per", ms(o.quota_window)},
                    {"scope", o.quota_per_function ? "function" : "schedule"}};
  nlohmann::json r = {{"kind", s.kind == sched::Schedule::Kind::kCron ? "cron" : "interval"},
                      {"options", out}};
  return jsonb_datum(r.dump());
}

// stopgap._sched_next(schedule text, time_zone text, after timestamptz) -> timestamptz
PGX_FUNCTION(stopgap_sched_next) {
  auto text = text_arg(fcinfo, 0);
  if (!text || PG_ARGISNULL(2)) PG_RETURN_NULL();
  sched::Schedule s = schedule_of(*text);
  sched::UtcOffset zone = zone_of(text_arg(fcinfo, 1).value_or("UTC"));
  const TimestampTz after = PG_GETARG_TIMESTAMPTZ(2);
  if (TIMESTAMP_NOT_FINITE(after)) PG_RETURN_NULL();
  std::optional<sched::Micros> next = sched::next_run(s, to_unix(after), zone);
  if (!next || !valid(*next)) PG_RETURN_NULL();
  return TimestampTzGetDatum(to_pg(*next));
}

// stopgap._sched_after_run(schedule, time_zone, options, state, attempt, failures_in_row, status,
// result, now, random01) -> jsonb {state, next_run_at, attempt, failures_in_row}
PGX_FUNCTION(stopgap_sched_after_run) {
  for (int i : {0, 2, 3, 4, 5, 6, 8})
    if (PG_ARGISNULL(i)) throw invalid("stopgap._sched_after_run: argument " + std::to_string(i + 1) + " is null");
  sched::Schedule s = schedule_of(*text_arg(fcinfo, 0));
  sched::UtcOffset zone = zone_of(text_arg(fcinfo, 1).value_or("UTC"));
  sched::ParsedOptions p = options_of(*jsonb_arg(fcinfo, 2));
  std::string state = *text_arg(fcinfo, 3), status = *text_arg(fcinfo, 6);
  sched::JobProgress before;
  auto js = sched::job_state_from(state);
  auto rs = sched::run_status_from(status);
  if (!js) throw invalid("unknown job state \"" + state + "\"");
  if (!rs || *rs == sched::RunStatus::kRunning) throw invalid("unknown run status \"" + status + "\"");
  before.state = *js;
  before.attempt = PG_GETARG_INT32(4);
  before.failures_in_row = PG_GETARG_INT32(5);
  if (TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(8))) throw invalid("stopgap._sched_after_run: now must be finite");
  const sched::Micros now = to_unix(PG_GETARG_TIMESTAMPTZ(8));
  double random01 = PG_ARGISNULL(9) ? 0.5 : PG_GETARG_FLOAT8(9);
  if (!(random01 >= 0 && random01 < 1)) random01 = 0.5;
  sched::Outcome outcome;
  outcome.status = *rs;
  if (*rs == sched::RunStatus::kOk) {
    auto result = jsonb_arg(fcinfo, 7);
    if (result) outcome.requested_next = sched::read_result(*result, now, parse_time).requested_next;
  }
  sched::JobProgress after = sched::after_run(before, outcome, s, p.options, now, zone, random01);
  // A next run past timestamptz's range is no next run.
  nlohmann::json next_json;
  const sched::Micros at = after.next_run_at.value_or(std::numeric_limits<int64_t>::max());
  if (valid(at)) next_json = iso_utc(at);
  nlohmann::json r = {{"state", sched::to_string(after.state)},
                      {"next_run_at", next_json},
                      {"attempt", after.attempt},
                      {"failures_in_row", after.failures_in_row}};
  return jsonb_datum(r.dump());
}

// stopgap._sched_wake() -> void: wake (or launch) the scheduler when this transaction commits.
PGX_FUNCTION(stopgap_sched_wake) {
  pgx::pg_guard([] { stopgap::scheduler::wake_at_commit(); });
  PG_RETURN_VOID();
}

// stopgap.start_scheduler() -> integer: how many workers it launched.
PGX_FUNCTION(stopgap_start_scheduler) {
  int launched = 0;
  pgx::pg_guard([&] { launched = stopgap::scheduler::ensure_workers(MyDatabaseId); });
  PG_RETURN_INT32(launched);
}
