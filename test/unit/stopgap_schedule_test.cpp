// The pure part of schedules (extensions/stopgap/schedule_logic.cpp), without a server: schedule
// parsing, cron's next time on a time zone's wall clock, backoff, clamping, quota, options, the
// job state machine and the reading of a run's result.
#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <limits>
#include <set>

#include "extensions/stopgap/schedule_logic.h"

namespace stopgap::schedule {
namespace {

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// Microseconds since the epoch of a UTC civil time.
Micros utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<Micros>(timegm(&tm)) * kSecond;
}

UtcOffset fixed_zone(int64_t seconds) {
  return [seconds](Micros) { return seconds; };
}

// A European-style zone for 2024: +01:00, and +02:00 from 2024-03-31 01:00 UTC (wall clock 02:00
// jumps to 03:00) until 2024-10-27 01:00 UTC (wall clock 03:00 falls back to 02:00).
UtcOffset fake_dst_zone() {
  const Micros spring = utc(2024, 3, 31, 1);
  const Micros fall = utc(2024, 10, 27, 1);
  return [=](Micros u) -> int64_t { return u >= spring && u < fall ? 7200 : 3600; };
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ScheduleError& e) {
    return e.message;
  }
  return "(no error)";
}

std::set<int> members(const std::vector<bool>& v) {
  std::set<int> out;
  for (size_t i = 0; i < v.size(); i++) {
    if (v[i]) out.insert(static_cast<int>(i));
  }
  return out;
}

std::set<int> range(int lo, int hi, int step = 1) {
  std::set<int> out;
  for (int i = lo; i <= hi; i += step) out.insert(i);
  return out;
}

std::optional<Micros> next_cron(const std::string& expr, Micros after,
                                const UtcOffset& zone = utc_zone()) {
  return next_run(parse_schedule(expr), after, zone);
}

// ---- Intervals ----

TEST(ScheduleInterval, ParsesAnAmountAndAUnit) {
  EXPECT_EQ(parse_interval("30 seconds"), 30 * kSecond);
  EXPECT_EQ(parse_interval("5 min"), 5 * kMinute);
  EXPECT_EQ(parse_interval("1 hour"), kHour);
  EXPECT_EQ(parse_interval("2 days"), 2 * kDay);
  EXPECT_EQ(parse_interval("500 ms"), 500000);
  EXPECT_EQ(parse_interval("1.5 hours"), 90 * kMinute);
  EXPECT_EQ(parse_interval("90s"), 90 * kSecond);
  EXPECT_EQ(parse_interval("  2   H  "), 2 * kHour);
  EXPECT_EQ(parse_interval("1 MINUTE"), kMinute);
  EXPECT_EQ(parse_interval("3m"), 3 * kMinute);
  EXPECT_EQ(parse_interval("1 d"), kDay);
  EXPECT_EQ(parse_interval("1 millisecond"), 1000);
  EXPECT_EQ(parse_interval("250 milliseconds"), 250000);
  EXPECT_EQ(parse_interval("10 secs"), 10 * kSecond);
  EXPECT_EQ(parse_interval("1 sec"), kSecond);
  EXPECT_EQ(parse_interval("2 mins"), 2 * kMinute);
  EXPECT_EQ(parse_interval(".5 s"), kSecond / 2);
  EXPECT_EQ(parse_interval("1.001 s"), 1001000);
  EXPECT_EQ(parse_interval("007 s"), 7 * kSecond);
  EXPECT_EQ(parse_interval("0.25 days"), 6 * kHour);
  EXPECT_EQ(parse_interval("1.5 ms"), 1500);
  EXPECT_EQ(parse_interval("100000 days"), 100000 * kDay);
}

TEST(ScheduleInterval, RejectsWhatIsNotAPositiveAmountAndAUnit) {
  EXPECT_TRUE(Contains(error_of([] { parse_interval("30"); }), "no unit"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("30"); }), "invalid interval \"30\""));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("1.5"); }), "no unit"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval(""); }), "empty"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("   "); }), "empty"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("seconds"); }), "amount"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("0 seconds"); }), "positive"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("0.000 s"); }), "positive"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("-5 s"); }), "positive"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("3 weeks"); }), "unknown unit \"weeks\""));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("1 hour 30 minutes"); }), "amount and a unit"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("1e3 s"); }), "amount and a unit"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("1..5 s"); }), "amount and a unit"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("+5 s"); }), "amount"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("0.5 ms"); }), "shorter than 1 millisecond"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("0.00000001 days"); }), "shorter"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("9999999999999 days"); }), "too large"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("99999999999999999999999 s"); }), "too large"));
  EXPECT_TRUE(Contains(error_of([] { parse_interval("106751991167 days"); }), "too large"));
  EXPECT_EQ(parse_interval("106751991 days"), 106751991 * kDay);  // large but representable
}

// ---- Cron parsing ----

TEST(ScheduleCron, ParsesFieldsListsRangesAndSteps) {
  Cron c = parse_cron("*/15 9-17/2 1,15,31 * *");
  EXPECT_EQ(members(c.seconds), (std::set<int>{0}));
  EXPECT_EQ(members(c.minutes), (std::set<int>{0, 15, 30, 45}));
  EXPECT_EQ(members(c.hours), (std::set<int>{9, 11, 13, 15, 17}));
  EXPECT_EQ(members(c.mdays), (std::set<int>{1, 15, 31}));
  EXPECT_EQ(members(c.months), range(1, 12));
  EXPECT_EQ(members(c.wdays), range(0, 6));
  EXPECT_FALSE(c.mday_star);
  EXPECT_TRUE(c.wday_star);
  EXPECT_EQ(c.seconds.size(), 60u);
  EXPECT_EQ(c.minutes.size(), 60u);
  EXPECT_EQ(c.hours.size(), 24u);
  EXPECT_EQ(c.mdays.size(), 32u);
  EXPECT_EQ(c.months.size(), 13u);
  EXPECT_EQ(c.wdays.size(), 7u);

  c = parse_cron("5/20 0 * * *");  // a/n: from a through the end of the field
  EXPECT_EQ(members(c.minutes), (std::set<int>{5, 25, 45}));
  c = parse_cron("0-10/5,58 * * * *");
  EXPECT_EQ(members(c.minutes), (std::set<int>{0, 5, 10, 58}));
  c = parse_cron("* * * * *");
  EXPECT_EQ(members(c.minutes), range(0, 59));
  EXPECT_EQ(members(c.hours), range(0, 23));
  EXPECT_EQ(members(c.mdays), range(1, 31));
  EXPECT_TRUE(c.mday_star);
  EXPECT_TRUE(c.wday_star);
}

TEST(ScheduleCron, NamesAnyCaseAndSevenIsSunday) {
  Cron c = parse_cron("0 0 * jan,Mar,DEC mon-FRI");
  EXPECT_EQ(members(c.months), (std::set<int>{1, 3, 12}));
  EXPECT_EQ(members(c.wdays), range(1, 5));
  EXPECT_FALSE(c.wday_star);
  EXPECT_TRUE(c.mday_star);
  EXPECT_EQ(members(parse_cron("0 0 * * 7").wdays), (std::set<int>{0}));
  EXPECT_EQ(members(parse_cron("0 0 * * 0").wdays), (std::set<int>{0}));
  EXPECT_EQ(members(parse_cron("0 0 * * sun").wdays), (std::set<int>{0}));
  EXPECT_EQ(members(parse_cron("0 0 * * FRI-7").wdays), (std::set<int>{0, 5, 6}));
  EXPECT_EQ(members(parse_cron("0 0 * * */2").wdays), (std::set<int>{0, 2, 4, 6}));
  EXPECT_EQ(members(parse_cron("0 0 * Jun-aug *").months), (std::set<int>{6, 7, 8}));
  EXPECT_EQ(members(parse_cron("0 0 * */3 *").months), (std::set<int>{1, 4, 7, 10}));
  // Only a bare * leaves a day field unrestricted.
  EXPECT_FALSE(parse_cron("0 0 */2 * *").mday_star);
}

TEST(ScheduleCron, SixFieldsStartWithSeconds) {
  Cron c = parse_cron("*/10 30 2 * * *");
  EXPECT_EQ(members(c.seconds), (std::set<int>{0, 10, 20, 30, 40, 50}));
  EXPECT_EQ(members(c.minutes), (std::set<int>{30}));
  EXPECT_EQ(members(c.hours), (std::set<int>{2}));
  EXPECT_EQ(members(parse_cron("59 * * * * *").seconds), (std::set<int>{59}));
}

TEST(ScheduleCron, ErrorsNameTheFieldAndTheProblem) {
  EXPECT_EQ(error_of([] { parse_cron("0 24 * * *"); }),
            "cron field 2 (hour): 24 is out of range 0-23");
  EXPECT_TRUE(Contains(error_of([] { parse_cron("* * *"); }), "expected 5 or 6 fields, got 3"));
  EXPECT_TRUE(
      Contains(error_of([] { parse_cron("* * * * * * *"); }), "expected 5 or 6 fields, got 7"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron(""); }), "expected 5 or 6 fields, got 0"));
  EXPECT_EQ(error_of([] { parse_cron("60 * * * *"); }),
            "cron field 1 (minute): 60 is out of range 0-59");
  EXPECT_EQ(error_of([] { parse_cron("0 0 0 * *"); }),
            "cron field 3 (day-of-month): 0 is out of range 1-31");
  EXPECT_EQ(error_of([] { parse_cron("0 0 32 * *"); }),
            "cron field 3 (day-of-month): 32 is out of range 1-31");
  EXPECT_EQ(error_of([] { parse_cron("0 0 * 13 *"); }),
            "cron field 4 (month): 13 is out of range 1-12");
  EXPECT_EQ(error_of([] { parse_cron("0 0 * 0 *"); }),
            "cron field 4 (month): 0 is out of range 1-12");
  EXPECT_EQ(error_of([] { parse_cron("0 0 * * 8"); }),
            "cron field 5 (day-of-week): 8 is out of range 0-7");
  EXPECT_EQ(error_of([] { parse_cron("60 0 0 * * *"); }),
            "cron field 1 (second): 60 is out of range 0-59");
  EXPECT_EQ(error_of([] { parse_cron("0 0 24 * * *"); }),
            "cron field 3 (hour): 24 is out of range 0-23");
  EXPECT_TRUE(Contains(error_of([] { parse_cron("*/0 * * * *"); }),
                       "cron field 1 (minute): step must be at least 1"));
  EXPECT_TRUE(
      Contains(error_of([] { parse_cron("*/x * * * *"); }), "step \"x\" is not a positive number"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("*/ * * * *"); }), "step"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("*/-1 * * * *"); }), "step"));
  EXPECT_TRUE(
      Contains(error_of([] { parse_cron("*/61 * * * *"); }), "larger than the field's range"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("0 17-9 * * *"); }),
                       "cron field 2 (hour): range 17-9 goes backwards"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("0 0 * * SAT-MON"); }), "goes backwards"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("1,,2 * * * *"); }),
                       "cron field 1 (minute): empty list item"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("1, * * * *"); }), "empty list item"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("0 0 * foo *"); }),
                       "cron field 4 (month): \"foo\" is not a month"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("0 0 * * funday"); }),
                       "\"funday\" is not a day of the week"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("0 0 * * JAN"); }), "is not a day of the week"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("0 mon * * *"); }),
                       "cron field 2 (hour): \"mon\" is not a number"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("-5 * * * *"); }), "is not a number"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("1-2-3 * * * *"); }), "cron field 1"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("99999999999 * * * *"); }), "out of range 0-59"));
  EXPECT_TRUE(Contains(error_of([] { parse_cron("? * * * *"); }), "is not a number"));
}

TEST(ScheduleParse, IntervalOrCronAndWhyNeither) {
  Schedule s = parse_schedule("30 seconds");
  EXPECT_EQ(s.kind, Schedule::Kind::kInterval);
  EXPECT_EQ(s.interval, 30 * kSecond);
  s = parse_schedule("*/5 * * * *");
  EXPECT_EQ(s.kind, Schedule::Kind::kCron);
  EXPECT_EQ(members(s.cron.minutes), range(0, 55, 5));
  EXPECT_EQ(parse_schedule("0 0 0 * * *").kind, Schedule::Kind::kCron);
  // Five or six fields: the text is meant as cron, so its cron error alone.
  EXPECT_EQ(error_of([] { parse_schedule("0 24 * * *"); }),
            "cron field 2 (hour): 24 is out of range 0-23");
  // Otherwise both readings say what is wrong.
  std::string e = error_of([] { parse_schedule("0 seconds"); });
  EXPECT_TRUE(Contains(e, "neither an interval (it must be positive)"));
  EXPECT_TRUE(Contains(e, "expected 5 or 6 fields, got 2"));
  EXPECT_TRUE(
      Contains(error_of([] { parse_schedule("every hour"); }), "expected 5 or 6 fields, got 2"));
  EXPECT_TRUE(
      Contains(error_of([] { parse_schedule("5 fortnights"); }), "unknown unit \"fortnights\""));
  EXPECT_TRUE(Contains(error_of([] { parse_schedule("* * *"); }), "expected 5 or 6 fields, got 3"));
  EXPECT_TRUE(Contains(error_of([] { parse_schedule(""); }), "empty"));
}

// ---- next_run ----

TEST(ScheduleNextRun, IntervalIsAfterPlusInterval) {
  Schedule s = parse_schedule("90 seconds");
  EXPECT_EQ(next_run(s, utc(2024, 1, 1), utc_zone()), utc(2024, 1, 1, 0, 1, 30));
  EXPECT_EQ(next_run(s, 123, fixed_zone(3600)), 123 + 90 * kSecond);  // a zone changes nothing
}

TEST(ScheduleNextRun, CronIsStrictlyAfter) {
  EXPECT_EQ(next_cron("*/15 * * * *", utc(2024, 5, 1, 10, 7, 30)), utc(2024, 5, 1, 10, 15));
  EXPECT_EQ(next_cron("*/15 * * * *", utc(2024, 5, 1, 10, 15)), utc(2024, 5, 1, 10, 30));
  EXPECT_EQ(next_cron("*/15 * * * *", utc(2024, 5, 1, 10, 15) - 1), utc(2024, 5, 1, 10, 15));
  EXPECT_EQ(next_cron("*/15 * * * *", utc(2024, 5, 1, 10, 15) + 1), utc(2024, 5, 1, 10, 30));
  EXPECT_EQ(next_cron("* * * * *", utc(2024, 5, 1, 10, 7, 30)), utc(2024, 5, 1, 10, 8));
  EXPECT_EQ(next_cron("45 23 * * *", utc(2024, 12, 31, 23, 50)), utc(2025, 1, 1, 23, 45));
  EXPECT_EQ(next_cron("0 0 1 1 *", utc(2024, 6, 1)), utc(2025, 1, 1));
  EXPECT_EQ(next_cron("0 0 1 DEC *", utc(2024, 12, 15)), utc(2025, 12, 1));
  EXPECT_EQ(next_cron("0 0 31 * *", utc(2024, 1, 31)), utc(2024, 3, 31));  // Feb has none
  EXPECT_EQ(next_cron("0 0 31 * *", utc(2024, 4, 1)), utc(2024, 5, 31));   // nor April
  EXPECT_EQ(next_cron("0 9-17/4 * * *", utc(2024, 5, 1, 13)), utc(2024, 5, 1, 17));
  EXPECT_EQ(next_cron("0 9-17/4 * * *", utc(2024, 5, 1, 17)), utc(2024, 5, 2, 9));
  EXPECT_EQ(next_cron("59 23 31 12 *", utc(2024, 1, 1)), utc(2024, 12, 31, 23, 59));
  // Before 1970 works too (floor division).
  EXPECT_EQ(next_cron("0 12 * * *", utc(1969, 12, 31, 13)), utc(1970, 1, 1, 12));
  EXPECT_EQ(next_cron("0 0 1 3 *", utc(1900, 2, 28)), utc(1900, 3, 1));
}

TEST(ScheduleNextRun, WeekdaysAndTheEitherDayRule) {
  // 2024-05-01 is a Wednesday.
  EXPECT_EQ(next_cron("0 12 * * 7", utc(2024, 5, 1)), utc(2024, 5, 5, 12));
  EXPECT_EQ(next_cron("0 12 * * SUN", utc(2024, 5, 1)), utc(2024, 5, 5, 12));
  EXPECT_EQ(next_cron("0 9 * * mon-fri", utc(2024, 5, 3, 10)), utc(2024, 5, 6, 9));  // Fri -> Mon
  // Day-of-month only.
  EXPECT_EQ(next_cron("0 0 13 * *", utc(2024, 5, 1)), utc(2024, 5, 13));
  // Both restricted: the 13th or a Friday, whichever comes first.
  EXPECT_EQ(next_cron("0 0 13 * FRI", utc(2024, 5, 1)), utc(2024, 5, 3));
  EXPECT_EQ(next_cron("0 0 13 * FRI", utc(2024, 5, 10)), utc(2024, 5, 13));
  EXPECT_EQ(next_cron("0 0 13 * FRI", utc(2024, 5, 13)), utc(2024, 5, 17));
  // A restricted step in day-of-month also takes the either rule.
  EXPECT_EQ(next_cron("0 0 */10 * MON", utc(2024, 5, 1)), utc(2024, 5, 6));   // Monday first
  EXPECT_EQ(next_cron("0 0 */10 * MON", utc(2024, 5, 6)), utc(2024, 5, 11));  // then the 11th
}

TEST(ScheduleNextRun, LeapYearsAndImpossibleDates) {
  EXPECT_EQ(next_cron("0 0 29 2 *", utc(2023, 1, 1)), utc(2024, 2, 29));
  EXPECT_EQ(next_cron("0 0 29 2 *", utc(2024, 3, 1)), utc(2028, 2, 29));
  EXPECT_EQ(next_cron("0 0 29 2 *", utc(2099, 3, 1)), utc(2104, 2, 29));  // 2100 is not leap
  EXPECT_EQ(next_cron("0 0 29 2 *", utc(2096, 3, 1)), std::nullopt);      // 2104 is past 5 years
  EXPECT_EQ(next_cron("0 0 29 2 *", utc(1999, 3, 1)), utc(2000, 2, 29));  // 2000 is
  EXPECT_EQ(next_cron("0 0 30 2 *", utc(2024, 1, 1)), std::nullopt);
  EXPECT_EQ(next_cron("0 0 31 4,6,9,11 *", utc(2024, 1, 1)), std::nullopt);
  EXPECT_EQ(next_cron("0 0 30 2 *", utc(2024, 1, 1), fake_dst_zone()), std::nullopt);
  // Feb 30 restricted by weekday too runs on the weekday (either rule).
  EXPECT_EQ(next_cron("0 0 30 2 MON", utc(2024, 1, 1)), utc(2024, 2, 5));
}

TEST(ScheduleNextRun, SixFieldCronRunsOnSeconds) {
  EXPECT_EQ(next_cron("*/10 * * * * *", utc(2024, 5, 1, 0, 0, 5)), utc(2024, 5, 1, 0, 0, 10));
  EXPECT_EQ(next_cron("*/10 * * * * *", utc(2024, 5, 1, 0, 0, 50)), utc(2024, 5, 1, 0, 1, 0));
  EXPECT_EQ(next_cron("* * * * * *", utc(2024, 5, 1, 0, 0, 5) + 1), utc(2024, 5, 1, 0, 0, 6));
  EXPECT_EQ(next_cron("30 0 12 * * *", utc(2024, 5, 1, 12, 0, 30)), utc(2024, 5, 2, 12, 0, 30));
  // Walking every second of a day lands on each one in order.
  Schedule s = parse_schedule("* * * * * *");
  Micros t = utc(2024, 5, 1);
  for (int i = 0; i < 3600; i++) {
    auto n = next_run(s, t, utc_zone());
    ASSERT_TRUE(n);
    ASSERT_EQ(*n, t + kSecond);
    t = *n;
  }
}

TEST(ScheduleNextRun, FixedOffsetZonesUseTheWallClock) {
  // 09:00 at +05:30 is 03:30 UTC.
  EXPECT_EQ(next_cron("0 9 * * *", utc(2024, 5, 1), fixed_zone(5 * 3600 + 1800)),
            utc(2024, 5, 1, 3, 30));
  EXPECT_EQ(next_cron("0 9 * * *", utc(2024, 5, 1, 3, 30), fixed_zone(5 * 3600 + 1800)),
            utc(2024, 5, 2, 3, 30));
  // 22:00 at -05:00 is 03:00 UTC the next day; the weekday is the wall clock's.
  EXPECT_EQ(next_cron("0 22 * * *", utc(2024, 5, 1), fixed_zone(-5 * 3600)), utc(2024, 5, 1, 3));
  EXPECT_EQ(next_cron("0 22 * * WED", utc(2024, 5, 1, 4), fixed_zone(-5 * 3600)),
            utc(2024, 5, 2, 3));
  EXPECT_EQ(next_cron("0 0 1 * *", utc(2024, 5, 1), fixed_zone(14 * 3600)), utc(2024, 5, 31, 10));
}

TEST(ScheduleNextRun, SpringForwardSkipsTheMissingWallTime) {
  const UtcOffset z = fake_dst_zone();
  // 2024-03-31 02:30 does not exist on this wall clock: the next 02:30 is on April 1st (+02:00).
  EXPECT_EQ(next_cron("30 2 * * *", utc(2024, 3, 30, 12), z), utc(2024, 4, 1, 0, 30));
  // The day before, 02:30 at +01:00.
  EXPECT_EQ(next_cron("30 2 * * *", utc(2024, 3, 29, 12), z), utc(2024, 3, 30, 1, 30));
  // Every minute: 01:59 (+01:00) is followed by 03:00 (+02:00), one real minute later.
  EXPECT_EQ(next_cron("* * * * *", utc(2024, 3, 31, 0, 59), z), utc(2024, 3, 31, 1, 0));
  // Hourly: 01:00 local, then 03:00 local (02:00 is skipped) — an hour of real time.
  EXPECT_EQ(next_cron("0 * * * *", utc(2024, 3, 31, 0, 0), z), utc(2024, 3, 31, 1, 0));
  EXPECT_EQ(next_cron("0 * * * *", utc(2024, 3, 31, 1, 0), z), utc(2024, 3, 31, 2, 0));
  // A run named only inside the gap on a date that has only that day: next year's.
  EXPECT_EQ(next_cron("30 2 31 3 *", utc(2024, 3, 1), z),
            utc(2025, 3, 31, 1, 30));  // 2025: no DST in the fake zone
}

TEST(ScheduleNextRun, FallBackRunsARepeatedWallTimeOnce) {
  const UtcOffset z = fake_dst_zone();
  // 2024-10-27 02:30 occurs at 00:30 UTC (+02:00) and at 01:30 UTC (+01:00): it runs at the first.
  EXPECT_EQ(next_cron("30 2 * * *", utc(2024, 10, 26, 12), z), utc(2024, 10, 27, 0, 30));
  EXPECT_EQ(next_cron("30 2 * * *", utc(2024, 10, 27, 0, 30), z), utc(2024, 10, 28, 1, 30));
  EXPECT_EQ(next_cron("30 2 * * *", utc(2024, 10, 27, 1, 0), z), utc(2024, 10, 28, 1, 30));
  // Every 30 minutes: 02:00 and 02:30 (first pass), then 03:00 (+01:00); the second pass's
  // 02:00 and 02:30 are not run again.
  EXPECT_EQ(next_cron("*/30 * * * *", utc(2024, 10, 26, 23, 45), z), utc(2024, 10, 27, 0, 0));
  EXPECT_EQ(next_cron("*/30 * * * *", utc(2024, 10, 27, 0, 0), z), utc(2024, 10, 27, 0, 30));
  EXPECT_EQ(next_cron("*/30 * * * *", utc(2024, 10, 27, 0, 30), z), utc(2024, 10, 27, 2, 0));
  EXPECT_EQ(next_cron("*/30 * * * *", utc(2024, 10, 27, 1, 10), z), utc(2024, 10, 27, 2, 0));
  // A wall time just after the repeated hour exists once.
  EXPECT_EQ(next_cron("0 3 * * *", utc(2024, 10, 26, 12), z), utc(2024, 10, 27, 2, 0));
}

// ---- Backoff, clamp, quota ----

TEST(ScheduleBackoff, GrowsDoublesAndCaps) {
  const Micros base = kSecond, cap = 10 * kSecond;
  EXPECT_EQ(backoff_delay(1, base, cap, 0), 500000);
  EXPECT_EQ(backoff_delay(2, base, cap, 0), kSecond);
  EXPECT_EQ(backoff_delay(3, base, cap, 0), 2 * kSecond);
  EXPECT_EQ(backoff_delay(4, base, cap, 0), 4 * kSecond);
  EXPECT_EQ(backoff_delay(5, base, cap, 0), 5 * kSecond);  // 16 s capped at 10 s, halved
  EXPECT_EQ(backoff_delay(60, base, cap, 0), 5 * kSecond);
  EXPECT_EQ(backoff_delay(1000000, base, cap, 0), 5 * kSecond);  // no overflow
  EXPECT_EQ(backoff_delay(100, kSecond, std::numeric_limits<Micros>::max(), 0),
            std::numeric_limits<Micros>::max() / 2);
  EXPECT_EQ(backoff_delay(1, base, cap, 0.5), 750000);
  EXPECT_EQ(backoff_delay(0, base, cap, 0), 500000);  // attempt < 1 counts as the first
  EXPECT_EQ(backoff_delay(1, 20 * kSecond, cap, 0), 5 * kSecond);  // base above the cap
}

TEST(ScheduleBackoff, EqualJitterStaysWithinHalfToFull) {
  const Micros base = 100000, cap = kMinute;
  for (int attempt = 1; attempt <= 12; attempt++) {
    Micros full = std::min<Micros>(base << (attempt - 1), cap);
    for (double r : {0.0, 1e-9, 0.25, 0.5, 0.75, 0.999999, 0.9999999999999999}) {
      Micros d = backoff_delay(attempt, base, cap, r);
      EXPECT_GE(d, full / 2) << attempt << " " << r;
      EXPECT_LT(d, full) << attempt << " " << r;
    }
    EXPECT_LT(backoff_delay(attempt, base, cap, 0.25), backoff_delay(attempt, base, cap, 0.75));
  }
  // Out-of-range randomness is pulled into [0, 1).
  EXPECT_EQ(backoff_delay(1, kSecond, kMinute, -3), kSecond / 2);
  EXPECT_EQ(backoff_delay(1, kSecond, kMinute, std::nan("")), kSecond / 2);
  EXPECT_LT(backoff_delay(1, kSecond, kMinute, 1.0), kSecond);
  EXPECT_LT(backoff_delay(1, kSecond, kMinute, 7.0), kSecond);
}

TEST(ScheduleClamp, KeepsARequestWithinTheBounds) {
  const Micros now = utc(2024, 5, 1), lo = kSecond, hi = kHour;
  EXPECT_EQ(clamp_next_run(now + kMinute, now, lo, hi), now + kMinute);
  EXPECT_EQ(clamp_next_run(now + 10, now, lo, hi), now + kSecond);
  EXPECT_EQ(clamp_next_run(now - kDay, now, lo, hi), now + kSecond);  // the past
  EXPECT_EQ(clamp_next_run(now + kDay, now, lo, hi), now + kHour);
  EXPECT_EQ(clamp_next_run(now + kSecond, now, lo, hi), now + kSecond);
  EXPECT_EQ(clamp_next_run(now + kHour, now, lo, hi), now + kHour);
  const Micros max = std::numeric_limits<Micros>::max();
  EXPECT_EQ(clamp_next_run(max, now, lo, max), max);  // saturates, no overflow
}

TEST(ScheduleQuota, AllowsWhileBelowTheBudget) {
  EXPECT_TRUE(quota_allows(0, -1));
  EXPECT_TRUE(quota_allows(1e9, -1));
  EXPECT_TRUE(quota_allows(0, 2));
  EXPECT_TRUE(quota_allows(1, 2));
  EXPECT_FALSE(quota_allows(2, 2));
  EXPECT_FALSE(quota_allows(3, 2));
  EXPECT_TRUE(quota_allows(2.4, 2.5));
  EXPECT_FALSE(quota_allows(2.5, 2.5));
  EXPECT_FALSE(quota_allows(0, 0));
}

// ---- Options ----

TEST(ScheduleOptions, DefaultsAndTheirNormalizedForm) {
  for (const char* text : {"{}", "", "null", "  {}  "}) {
    ParsedOptions p = parse_options(text);
    EXPECT_EQ(p.options.max_attempts, 3);
    EXPECT_EQ(p.options.backoff_base, kSecond);
    EXPECT_EQ(p.options.backoff_max, 5 * kMinute);
    EXPECT_EQ(p.options.min_interval, kSecond);
    EXPECT_EQ(p.options.max_interval, kDay);
    EXPECT_EQ(p.options.max_runtime, 60 * kSecond);
    EXPECT_LT(p.options.quota_budget, 0);
    EXPECT_EQ(p.time_zone, "UTC");
    EXPECT_FALSE(p.run_as);
    EXPECT_EQ(p.normalized_json,
              "{\"backoff_base\":1000,\"backoff_max\":300000,\"max_attempts\":3,"
              "\"max_interval\":86400000,\"max_runtime\":60000,\"min_interval\":1000,"
              "\"quota\":null,\"run_as\":null,\"time_zone\":\"UTC\"}")
        << text;
  }
}

TEST(ScheduleOptions, ReadsEveryOption) {
  ParsedOptions p = parse_options(R"({
    "time_zone": "Europe/Berlin", "run_as": "job_runner", "max_attempts": 5,
    "backoff_base": "100 ms", "backoff_max": 60000, "min_interval": "0.5 s",
    "max_interval": "2 hours", "max_runtime": 1500.4,
    "quota": {"runs": 10, "per": "1 hour", "scope": "function"}})");
  EXPECT_EQ(p.time_zone, "Europe/Berlin");
  EXPECT_EQ(p.run_as, "job_runner");
  EXPECT_EQ(p.options.max_attempts, 5);
  EXPECT_EQ(p.options.backoff_base, 100 * 1000);
  EXPECT_EQ(p.options.backoff_max, kMinute);
  EXPECT_EQ(p.options.min_interval, kSecond / 2);
  EXPECT_EQ(p.options.max_interval, 2 * kHour);
  EXPECT_EQ(p.options.max_runtime, 1500 * 1000);  // whole milliseconds
  EXPECT_EQ(p.options.quota_budget, 10);
  EXPECT_EQ(p.options.quota_window, kHour);
  EXPECT_FALSE(p.options.quota_by_cost);
  EXPECT_TRUE(p.options.quota_per_function);
  EXPECT_EQ(p.normalized_json,
            "{\"backoff_base\":100,\"backoff_max\":60000,\"max_attempts\":5,"
            "\"max_interval\":7200000,\"max_runtime\":1500,\"min_interval\":500,"
            "\"quota\":{\"per\":3600000,\"runs\":10,\"scope\":\"function\"},"
            "\"run_as\":\"job_runner\",\"time_zone\":\"Europe/Berlin\"}");
  // Normalized options read back to the same thing.
  EXPECT_EQ(parse_options(p.normalized_json).normalized_json, p.normalized_json);

  p = parse_options(R"({"quota": {"cost": 2.5, "per": 60000}, "run_as": null})");
  EXPECT_EQ(p.options.quota_budget, 2.5);
  EXPECT_TRUE(p.options.quota_by_cost);
  EXPECT_FALSE(p.options.quota_per_function);
  EXPECT_EQ(p.options.quota_window, kMinute);
  EXPECT_FALSE(p.run_as);
  EXPECT_TRUE(
      Contains(p.normalized_json, "\"quota\":{\"cost\":2.5,\"per\":60000,\"scope\":\"schedule\"}"));
  EXPECT_EQ(parse_options(p.normalized_json).normalized_json, p.normalized_json);
  EXPECT_EQ(parse_options(R"({"max_attempts": 1})").options.max_attempts, 1);
  EXPECT_EQ(parse_options(R"({"max_attempts": 1000})").options.max_attempts, 1000);
  EXPECT_EQ(parse_options(R"({"max_runtime": "1 day"})").options.max_runtime, kDay);
  EXPECT_EQ(
      parse_options(R"({"min_interval": "1 hour", "max_interval": "1 hour"})").options.min_interval,
      kHour);
  EXPECT_EQ(parse_options(R"({"backoff_base": 1})").options.backoff_base, 1000);
}

TEST(ScheduleOptions, RejectsUnknownKeysAndBadValues) {
  auto err = [](const std::string& json) { return error_of([&] { parse_options(json); }); };
  EXPECT_EQ(err(R"({"retries": 3})"),
            "unknown option \"retries\"; known options: backoff_base, backoff_max, max_attempts, "
            "max_interval, max_runtime, min_interval, quota, run_as, time_zone");
  EXPECT_TRUE(Contains(err("[1]"), "must be a JSON object"));
  EXPECT_TRUE(Contains(err("\"x\""), "must be a JSON object"));
  EXPECT_TRUE(Contains(err("{nope"), "not valid JSON"));
  for (const char* bad : {"0", "1001", "-1", "2.5", "\"3\"", "true"}) {
    EXPECT_TRUE(Contains(err(std::string(R"({"max_attempts": )") + bad + "}"),
                         "\"max_attempts\" must be an integer from 1 to 1000"))
        << bad;
  }
  for (const char* key :
       {"backoff_base", "backoff_max", "min_interval", "max_interval", "max_runtime"}) {
    std::string k = key;
    EXPECT_TRUE(
        Contains(err("{\"" + k + "\": 0}"), "\"" + k + "\" must be at least 1 millisecond"));
    EXPECT_TRUE(Contains(err("{\"" + k + "\": -5}"), "at least 1 millisecond"));
    EXPECT_TRUE(Contains(err("{\"" + k + "\": 0.5}"), "at least 1 millisecond"));
    EXPECT_TRUE(Contains(err("{\"" + k + "\": \"0.5 ms\"}"), "shorter than 1 millisecond"));
    EXPECT_TRUE(Contains(err("{\"" + k + "\": \"soon\"}"), "\"" + k + "\" is not a duration"));
    EXPECT_TRUE(Contains(err("{\"" + k + "\": true}"), "must be a duration"));
    EXPECT_TRUE(Contains(err("{\"" + k + "\": {}}"), "must be a duration"));
    EXPECT_TRUE(Contains(err("{\"" + k + "\": 1e300}"), "too large"));
  }
  EXPECT_TRUE(
      Contains(err(R"({"max_runtime": "25 hours"})"), "\"max_runtime\" must be at most 1 day"));
  EXPECT_TRUE(Contains(err(R"({"max_runtime": 86400001})"), "at most 1 day"));
  EXPECT_TRUE(Contains(err(R"({"min_interval": "2 hours", "max_interval": "1 hour"})"),
                       "\"min_interval\" must not be greater than \"max_interval\""));
  EXPECT_TRUE(
      Contains(err(R"({"min_interval": "2 days"})"), "min_interval"));  // above the default max
  EXPECT_TRUE(Contains(err(R"({"backoff_base": "10 minutes"})"),
                       "\"backoff_base\" must not be greater than \"backoff_max\""));
  EXPECT_TRUE(Contains(err(R"({"time_zone": ""})"), "\"time_zone\" must be a non-empty string"));
  EXPECT_TRUE(Contains(err(R"({"time_zone": 5})"), "\"time_zone\" must be a non-empty string"));
  EXPECT_TRUE(Contains(err(R"({"run_as": ""})"), "\"run_as\" must be a non-empty string"));
  EXPECT_TRUE(Contains(err(R"({"run_as": ["a"]})"), "\"run_as\" must be a non-empty string"));
  // Quota.
  EXPECT_TRUE(Contains(err(R"({"quota": 5})"), "\"quota\" must be an object"));
  EXPECT_TRUE(
      Contains(err(R"({"quota": {"per": "1 hour"}})"), "exactly one of \"runs\" and \"cost\""));
  EXPECT_TRUE(
      Contains(err(R"({"quota": {"runs": 1, "cost": 1, "per": "1 hour"}})"), "exactly one"));
  EXPECT_TRUE(Contains(err(R"({"quota": {"runs": 0, "per": "1 hour"}})"),
                       "\"runs\" must be a positive integer"));
  EXPECT_TRUE(Contains(err(R"({"quota": {"runs": 1.5, "per": "1 hour"}})"), "positive integer"));
  EXPECT_TRUE(Contains(err(R"({"quota": {"runs": "2", "per": "1 hour"}})"), "positive integer"));
  EXPECT_TRUE(Contains(err(R"({"quota": {"cost": 0, "per": "1 hour"}})"),
                       "\"cost\" must be a number greater than 0"));
  EXPECT_TRUE(Contains(err(R"({"quota": {"cost": -2, "per": "1 hour"}})"), "greater than 0"));
  EXPECT_TRUE(Contains(err(R"({"quota": {"runs": 2}})"), "needs \"per\""));
  EXPECT_TRUE(Contains(err(R"({"quota": {"runs": 2, "per": "often"}})"),
                       "\"quota.per\" is not a duration"));
  EXPECT_TRUE(Contains(err(R"({"quota": {"runs": 2, "per": 0}})"),
                       "\"quota.per\" must be at least 1 millisecond"));
  EXPECT_TRUE(Contains(err(R"({"quota": {"runs": 2, "per": "1 hour", "scope": "env"}})"),
                       "\"scope\" must be \"schedule\" or \"function\""));
  EXPECT_TRUE(Contains(err(R"({"quota": {"runs": 2, "per": "1 hour", "scope": 1}})"), "\"scope\""));
  EXPECT_TRUE(Contains(err(R"({"quota": {"runs": 2, "per": "1 hour", "window": 3}})"),
                       "unknown key \"window\""));
}

// ---- States ----

TEST(ScheduleStates, NamesRoundTrip) {
  for (JobState s : {JobState::kActive, JobState::kPaused, JobState::kDead, JobState::kMissing}) {
    EXPECT_EQ(job_state_from(to_string(s)), s);
  }
  for (RunStatus s : {RunStatus::kRunning, RunStatus::kOk, RunStatus::kError, RunStatus::kTimeout,
                      RunStatus::kSkipped, RunStatus::kLost}) {
    EXPECT_EQ(run_status_from(to_string(s)), s);
  }
  EXPECT_STREQ(to_string(JobState::kMissing), "missing");
  EXPECT_STREQ(to_string(RunStatus::kLost), "lost");
  EXPECT_FALSE(job_state_from("Active"));
  EXPECT_FALSE(job_state_from(""));
  EXPECT_FALSE(run_status_from("failed"));
}

class ScheduleAfterRun : public ::testing::Test {
 protected:
  Schedule every_minute_ = parse_schedule("1 minute");
  Options options_;  // max_attempts 3, backoff 1 s .. 5 min, min 1 s, max 1 day
  Micros now_ = utc(2024, 5, 1, 12);

  JobProgress run(const JobProgress& before, RunStatus status, std::optional<Micros> requested = {},
                  double random01 = 0.5) {
    return after_run(before, Outcome{status, requested}, every_minute_, options_, now_, utc_zone(),
                     random01);
  }
};

TEST_F(ScheduleAfterRun, OkResetsCountersAndTakesTheScheduleOrTheClampedRequest) {
  JobProgress before{JobState::kActive, now_ - kSecond, 2, 7};
  JobProgress p = run(before, RunStatus::kOk);
  EXPECT_EQ(p.state, JobState::kActive);
  EXPECT_EQ(p.attempt, 0);
  EXPECT_EQ(p.failures_in_row, 0);
  EXPECT_EQ(p.next_run_at, now_ + kMinute);
  EXPECT_EQ(run(before, RunStatus::kOk, now_ + 5 * kSecond).next_run_at, now_ + 5 * kSecond);
  EXPECT_EQ(run(before, RunStatus::kOk, now_ + 10).next_run_at, now_ + kSecond);
  EXPECT_EQ(run(before, RunStatus::kOk, now_ + 3 * kDay).next_run_at, now_ + kDay);
  // A cron schedule's next time after now.
  p = after_run(before, Outcome{RunStatus::kOk, {}}, parse_schedule("0 * * * *"), options_,
                now_ + 5 * kMinute, utc_zone(), 0);
  EXPECT_EQ(p.next_run_at, now_ + kHour);
  // A schedule that names no further time leaves next_run_at empty.
  p = after_run(before, Outcome{RunStatus::kOk, {}}, parse_schedule("0 0 30 2 *"), options_, now_,
                utc_zone(), 0);
  EXPECT_EQ(p.state, JobState::kActive);
  EXPECT_FALSE(p.next_run_at);
}

TEST_F(ScheduleAfterRun, FailuresRetryWithBackoffThenTheJobDies) {
  for (RunStatus failure : {RunStatus::kError, RunStatus::kTimeout, RunStatus::kLost}) {
    JobProgress p{JobState::kActive, now_, 0, 4};
    p = run(p, failure, {}, 0);
    EXPECT_EQ(p.state, JobState::kActive) << to_string(failure);
    EXPECT_EQ(p.attempt, 1);
    EXPECT_EQ(p.failures_in_row, 5);
    EXPECT_EQ(p.next_run_at, now_ + kSecond / 2);  // backoff_delay(1, 1 s, ..., 0)
    p = run(p, failure, {}, 0.999);
    EXPECT_EQ(p.attempt, 2);
    EXPECT_GE(*p.next_run_at, now_ + kSecond);  // backoff_delay(2): [1 s, 2 s)
    EXPECT_LT(*p.next_run_at, now_ + 2 * kSecond);
    EXPECT_EQ(p.next_run_at, now_ + backoff_delay(2, kSecond, 5 * kMinute, 0.999));
    p = run(p, failure);
    EXPECT_EQ(p.state, JobState::kDead) << to_string(failure);
    EXPECT_EQ(p.attempt, 3);
    EXPECT_EQ(p.failures_in_row, 7);
    EXPECT_FALSE(p.next_run_at);
  }
  // One attempt allowed: the first failure kills.
  options_.max_attempts = 1;
  EXPECT_EQ(run(JobProgress{}, RunStatus::kError).state, JobState::kDead);
  // A success in between resets the occurrence's attempts.
  options_.max_attempts = 2;
  JobProgress p = run(JobProgress{}, RunStatus::kError);
  p = run(p, RunStatus::kOk);
  p = run(p, RunStatus::kError);
  EXPECT_EQ(p.state, JobState::kActive);
  EXPECT_EQ(p.attempt, 1);
  EXPECT_EQ(p.failures_in_row, 1);
}

TEST_F(ScheduleAfterRun, SkippedMovesOnlyTheNextRun) {
  JobProgress before{JobState::kActive, now_ - kSecond, 1, 2};
  JobProgress p = run(before, RunStatus::kSkipped, now_ + 5 * kSecond);
  EXPECT_EQ(p.state, JobState::kActive);
  EXPECT_EQ(p.attempt, 1);
  EXPECT_EQ(p.failures_in_row, 2);
  EXPECT_EQ(p.next_run_at, now_ + kMinute);  // the schedule's, not a request
}

TEST_F(ScheduleAfterRun, PausedOrDeadWhileRunningKeepsThatState) {
  JobProgress paused{JobState::kPaused, now_, 0, 0};
  JobProgress p = run(paused, RunStatus::kOk);
  EXPECT_EQ(p.state, JobState::kPaused);
  EXPECT_EQ(p.next_run_at, now_ + kMinute);
  p = run(JobProgress{JobState::kPaused, now_, 2, 2}, RunStatus::kError);
  EXPECT_EQ(p.state, JobState::kPaused);  // not dead: the pause stands
  EXPECT_EQ(p.attempt, 3);                // counters still move
  EXPECT_EQ(p.failures_in_row, 3);
  p = run(JobProgress{JobState::kPaused, now_, 0, 0}, RunStatus::kError);
  EXPECT_EQ(p.state, JobState::kPaused);
  EXPECT_EQ(p.attempt, 1);
  p = run(JobProgress{JobState::kDead, std::nullopt, 3, 3}, RunStatus::kOk);
  EXPECT_EQ(p.state, JobState::kDead);
  EXPECT_EQ(p.attempt, 0);
  p = run(JobProgress{JobState::kMissing, now_, 0, 0}, RunStatus::kLost);
  EXPECT_EQ(p.state, JobState::kMissing);
  EXPECT_EQ(p.attempt, 1);
}

TEST_F(ScheduleAfterRun, RunningIsNotAnOutcome) {
  JobProgress before{JobState::kActive, now_, 1, 1};
  JobProgress p = run(before, RunStatus::kRunning);
  EXPECT_EQ(p.state, before.state);
  EXPECT_EQ(p.next_run_at, before.next_run_at);
  EXPECT_EQ(p.attempt, 1);
  EXPECT_EQ(p.failures_in_row, 1);
}

// ---- Results ----

TEST(ScheduleResult, ReadsNextRunAndCostAndIgnoresTheRest) {
  const Micros now = utc(2024, 5, 1);
  auto parse_time = [](const std::string& s) -> std::optional<Micros> {
    if (s == "2024-05-01T01:00:00Z") return utc(2024, 5, 1, 1);
    return std::nullopt;
  };
  auto read = [&](const std::string& json) { return read_result(json, now, parse_time); };
  for (const char* nothing : {"", "null", "[1,2]", "42", "\"next_run_in_ms\"", "not json", "{",
                              "{}", R"({"other": 1})"}) {
    ResultHints h = read(nothing);
    EXPECT_FALSE(h.requested_next) << nothing;
    EXPECT_FALSE(h.cost) << nothing;
  }
  EXPECT_EQ(read(R"({"next_run_in_ms": 1500})").requested_next, now + 1500000);
  EXPECT_EQ(read(R"({"next_run_in_ms": 0})").requested_next, now);
  EXPECT_EQ(read(R"({"next_run_in_ms": 0.5})").requested_next, now + 500);
  EXPECT_FALSE(read(R"({"next_run_in_ms": -1})").requested_next);
  EXPECT_FALSE(read(R"({"next_run_in_ms": "100"})").requested_next);
  EXPECT_FALSE(read(R"({"next_run_in_ms": true})").requested_next);
  EXPECT_FALSE(read(R"({"next_run_in_ms": null})").requested_next);
  EXPECT_FALSE(read(R"({"next_run_in_ms": 1e999})").requested_next);
  EXPECT_EQ(read(R"({"next_run_in_ms": 1e300})").requested_next,
            std::numeric_limits<Micros>::max());
  EXPECT_EQ(read(R"({"next_run_at": "2024-05-01T01:00:00Z"})").requested_next, utc(2024, 5, 1, 1));
  EXPECT_FALSE(read(R"({"next_run_at": "tomorrow"})").requested_next);
  EXPECT_FALSE(read(R"({"next_run_at": 5})").requested_next);
  EXPECT_EQ(read(R"({"next_run_in_ms": 10, "next_run_at": "2024-05-01T01:00:00Z"})").requested_next,
            now + 10000);
  EXPECT_EQ(read(R"({"cost": 2.5})").cost, 2.5);
  EXPECT_EQ(read(R"({"cost": 0})").cost, 0.0);
  EXPECT_FALSE(read(R"({"cost": -1})").cost);
  EXPECT_FALSE(read(R"({"cost": "3"})").cost);
  EXPECT_FALSE(read(R"({"cost": 1e999})").cost);
  ResultHints both =
      read(R"({"ok": true, "cost": 3, "next_run_in_ms": 2000, "nested": {"cost": 9}})");
  EXPECT_EQ(both.cost, 3.0);
  EXPECT_EQ(both.requested_next, now + 2 * kSecond);
  // No parse_time given: next_run_at is ignored.
  EXPECT_FALSE(
      read_result(R"({"next_run_at": "2024-05-01T01:00:00Z"})", now, nullptr).requested_next);
}

}  // namespace
}  // namespace stopgap::schedule
