// Schedules' pure core (extensions/stopgap/schedule_logic.cpp) over untrusted schedule texts,
// options and function results. The input is split at \x1e (ASCII record separator) into
//   0 a schedule | 1 options (JSON text) | 2 a run's result (JSON text) | 3 8 bytes: the instant
// Nothing but ScheduleError is thrown (and only by the parsers); what is accepted keeps the rules
// the scheduler relies on: a next run is strictly later, within 5 years, on a wall time the cron
// expression names; options are in range and survive their normalized form; backoff stays in
// [d/2, d]; a finished run moves its job as documented.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "extensions/stopgap/schedule_logic.h"
#include "test/fuzz/fuzz_check.h"

namespace {

namespace sc = stopgap::schedule;
using sc::Micros;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Fields of a wall-clock instant (microseconds since 1970 on the wall clock).
struct Wall {
  int second, minute, hour, mday, month, wday;
};
Wall wall_of(Micros wall) {
  int64_t secs = floor_div(wall, sc::kSecond);
  int64_t days = floor_div(secs, 86400);
  int64_t sod = secs - days * 86400;
  Wall w{};
  w.second = static_cast<int>(sod % 60);
  w.minute = static_cast<int>(sod / 60 % 60);
  w.hour = static_cast<int>(sod / 3600);
  w.wday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
  // civil from days (the well-known era algorithm)
  int64_t z = days + 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  w.mday = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  w.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return w;
}

bool cron_names(const sc::Cron& c, const Wall& w) {
  if (!c.seconds.at(w.second) || !c.minutes.at(w.minute) || !c.hours.at(w.hour) || !c.months.at(w.month))
    return false;
  bool md = c.mdays.at(w.mday), wd = c.wdays.at(w.wday);
  if (c.mday_star && c.wday_star) return true;
  if (c.mday_star) return wd;
  if (c.wday_star) return md;
  return md || wd;
}

// Zones: UTC, a fixed offset, and a fake daylight-saving rule (+1 h for the second half of every
// 10-day block, with gaps and overlaps at its edges).
std::vector<sc::UtcOffset> zones() {
  return {sc::utc_zone(), [](Micros) { return int64_t{-5 * 3600 - 1800}; },
          [](Micros utc) {
            int64_t block = floor_div(utc, 10 * sc::kDay);
            Micros in_block = utc - block * 10 * sc::kDay;
            return int64_t{3600} + (in_block >= 5 * sc::kDay ? 3600 : 0);
          }};
}

void check_schedule(const std::string& text, Micros after) {
  sc::Schedule s;
  try {
    s = sc::parse_schedule(text);
  } catch (const sc::ScheduleError& e) {
    FUZZ_CHECK(!e.message.empty());
    return;
  }
  if (s.kind == sc::Schedule::Kind::kInterval) FUZZ_CHECK(s.interval >= 1000);
  for (const sc::UtcOffset& zone : zones()) {
    std::optional<Micros> next = sc::next_run(s, after, zone);
    if (s.kind == sc::Schedule::Kind::kInterval) {
      FUZZ_CHECK(next.has_value() && *next > after);
      continue;
    }
    if (!next) continue;
    FUZZ_CHECK(*next > after);
    FUZZ_CHECK(*next - after <= (5 * 366 + 2) * sc::kDay);
    FUZZ_CHECK(*next % sc::kSecond == 0);
    FUZZ_CHECK(cron_names(s.cron, wall_of(*next + zone(*next) * sc::kSecond)));
  }
}

void check_options(const std::string& json) {
  sc::ParsedOptions p;
  try {
    p = sc::parse_options(json);
  } catch (const sc::ScheduleError& e) {
    FUZZ_CHECK(!e.message.empty());
    return;
  }
  const sc::Options& o = p.options;
  FUZZ_CHECK(o.max_attempts >= 1 && o.max_attempts <= 1000);
  FUZZ_CHECK(o.min_interval >= 1000 && o.min_interval <= o.max_interval);
  FUZZ_CHECK(o.backoff_base >= 1000 && o.backoff_base <= o.backoff_max);
  FUZZ_CHECK(o.max_runtime >= 1000 && o.max_runtime <= sc::kDay);
  FUZZ_CHECK(o.quota_budget < 0 || o.quota_window >= 1000);
  FUZZ_CHECK(!p.time_zone.empty());
  // The catalog keeps the normalized form and parses it again at every run.
  sc::ParsedOptions again = sc::parse_options(p.normalized_json);
  FUZZ_CHECK(again.normalized_json == p.normalized_json);
  FUZZ_CHECK(again.options.max_attempts == o.max_attempts && again.options.min_interval == o.min_interval &&
             again.options.quota_budget == o.quota_budget);
  for (int attempt = 1; attempt <= 70; attempt += 23) {
    for (double r : {0.0, 0.5, 0.999999}) {
      Micros d = sc::backoff_delay(attempt, o.backoff_base, o.backoff_max, r);
      FUZZ_CHECK(d >= o.backoff_base / 2 && d <= o.backoff_max);
    }
  }
  // A finished run moves an active job as documented.
  sc::Schedule every_minute;
  every_minute.interval = sc::kMinute;
  const Micros now = 1900000000 * sc::kSecond;
  sc::JobProgress before;
  before.attempt = o.max_attempts - 1;
  before.failures_in_row = 7;
  sc::Outcome fail{sc::RunStatus::kError, std::nullopt};
  sc::JobProgress failed = sc::after_run(before, fail, every_minute, o, now, sc::utc_zone(), 0.3);
  FUZZ_CHECK(failed.attempt == o.max_attempts && failed.failures_in_row == 8);
  FUZZ_CHECK(failed.state == sc::JobState::kDead && !failed.next_run_at);
  sc::Outcome ok{sc::RunStatus::kOk, now + 3 * sc::kDay};
  sc::JobProgress done = sc::after_run(before, ok, every_minute, o, now, sc::utc_zone(), 0.3);
  FUZZ_CHECK(done.attempt == 0 && done.failures_in_row == 0 && done.state == sc::JobState::kActive);
  FUZZ_CHECK(done.next_run_at && *done.next_run_at >= now + o.min_interval && *done.next_run_at <= now + o.max_interval);
}

void check_result(const std::string& json, Micros now) {
  sc::ResultHints h = sc::read_result(json, now, [](const std::string& t) -> std::optional<Micros> {
    if (t.size() == 1 && t[0] >= '0' && t[0] <= '9') return (t[0] - '0') * sc::kSecond;
    return std::nullopt;
  });
  if (h.cost) FUZZ_CHECK(*h.cost >= 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts = fuzz::split(input, '\x1e');
  while (parts.size() < 4) parts.emplace_back();
  uint64_t raw = 0;
  std::memcpy(&raw, parts[3].data(), std::min<size_t>(parts[3].size(), sizeof raw));
  // An instant between 1970 and 2100.
  const Micros after = static_cast<Micros>(raw % (130ULL * 366 * 86400 * 1000000ULL));
  check_schedule(parts[0], after);
  check_options(parts[1]);
  check_result(parts[2], after);
  return 0;
}
