#include "extensions/stopgap/schedule_logic.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

namespace stopgap::schedule {
namespace {

constexpr Micros kMillisecond = 1000;
constexpr Micros kMaxMicros = std::numeric_limits<Micros>::max();
constexpr Micros kMinMicros = std::numeric_limits<Micros>::min();
// How far ahead next_run looks for a cron time before it gives up (30 February never comes).
constexpr int64_t kSearchDays = 5 * 366;

Micros sat_add(Micros a, Micros b) {
  Micros r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMaxMicros : kMinMicros;
  return r;
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n\f\v");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// ---- Civil calendar (proleptic Gregorian), days counted from 1970-01-01. ----

int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = floor_div(y, 400);
  const int64_t yoe = y - era * 400;                          // [0, 399]
  const int64_t mp = m > 2 ? m - 3 : m + 9;                   // March = 0
  const int64_t doy = (153 * mp + 2) / 5 + d - 1;             // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;  // [0, 146096]
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year;
  int month;  // 1-12
  int day;    // 1-31
};

Civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = floor_div(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

int weekday_from_days(int64_t z) {  // 0 = Sunday; 1970-01-01 was a Thursday
  return static_cast<int>(((z % 7) + 7 + 4) % 7);
}

// ---- Intervals ----

// Each unit and the names it goes by.
struct Unit {
  Micros micros;
  std::vector<const char*> names;
};
const std::vector<Unit>& units() {
  static const std::vector<Unit> kUnits = {
      {kMillisecond, {"ms", "msec", "msecs", "millisecond", "milliseconds"}},
      {kSecond, {"s", "sec", "secs", "second", "seconds"}},
      {kMinute, {"m", "min", "mins", "minute", "minutes"}},
      {kHour, {"h", "hr", "hrs", "hour", "hours"}},
      {kDay, {"d", "day", "days"}}};
  return kUnits;
}
constexpr const char* kUnitHint = "units: ms, s, min, h, d";

// The interval `text` names, or why it names none (`why` set, result 0).
Micros interval_or_reason(const std::string& text, std::string* why) {
  const std::string t = lower(trim(text));
  size_t i = 0;
  if (t.empty()) {
    *why = "it is empty";
    return 0;
  }
  if (t[0] == '-') {
    *why = "it must be positive";
    return 0;
  }
  std::string int_digits, frac_digits;
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) int_digits += t[i++];
  if (i < t.size() && t[i] == '.') {
    i++;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) frac_digits += t[i++];
  }
  if (int_digits.empty() && frac_digits.empty()) {
    *why = "it does not start with an amount (like '30 seconds')";
    return 0;
  }
  while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) i++;
  std::string unit;
  while (i < t.size() && std::isalpha(static_cast<unsigned char>(t[i]))) unit += t[i++];
  if (unit.empty()) {
    *why = i < t.size() ? "it is not an amount and a unit (like '30 seconds')"
                        : std::string("it has no unit (") + kUnitHint + ")";
    return 0;
  }
  if (i < t.size()) {
    *why = "it is not an amount and a unit (like '30 seconds')";
    return 0;
  }
  Micros unit_micros = 0;
  for (const Unit& u : units()) {
    for (const char* n : u.names) {
      if (unit == n) unit_micros = u.micros;
    }
  }
  if (unit_micros == 0) {
    *why = "unknown unit \"" + unit + "\" (" + kUnitHint + ")";
    return 0;
  }
  int_digits.erase(0, std::min(int_digits.find_first_not_of('0'), int_digits.size()));
  if (frac_digits.size() > 18) frac_digits.resize(18);
  Micros whole = 0;
  if (int_digits.size() > 18 ||
      __builtin_mul_overflow(std::stoll("0" + int_digits), unit_micros, &whole)) {
    *why = "it is too large";
    return 0;
  }
  Micros frac = 0;
  if (!frac_digits.empty()) {
    long double f = std::stold("0." + frac_digits);
    frac = static_cast<Micros>(std::llround(f * static_cast<long double>(unit_micros)));
  }
  Micros total;
  if (__builtin_add_overflow(whole, frac, &total)) {
    *why = "it is too large";
    return 0;
  }
  if (int_digits.empty() && frac_digits.find_first_not_of('0') == std::string::npos) {
    *why = "it must be positive";
    return 0;
  }
  if (total < kMillisecond) {
    *why = "it is shorter than 1 millisecond";
    return 0;
  }
  return total;
}

// ---- Cron ----

struct CronField {
  const char* name;
  int min, max;  // the values a field may name (weekday: 0-7, 7 = Sunday)
  int star_max;  // the last value * covers (weekday: 6)
};
constexpr CronField kSecondField{"second", 0, 59, 59};
constexpr CronField kMinuteField{"minute", 0, 59, 59};
constexpr CronField kHourField{"hour", 0, 23, 23};
constexpr CronField kMdayField{"day-of-month", 1, 31, 31};
constexpr CronField kMonthField{"month", 1, 12, 12};
constexpr CronField kWdayField{"day-of-week", 0, 7, 6};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

class FieldParser {
 public:
  FieldParser(const CronField& f, int position) : f_(f), position_(position) {}

  std::vector<bool> parse(const std::string& text) const {
    std::vector<bool> set(f_.max + 1, false);
    size_t start = 0;
    while (true) {
      size_t comma = text.find(',', start);
      std::string item =
          text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      add_item(item, &set);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return set;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw ScheduleError{"cron field " + std::to_string(position_) + " (" + f_.name + "): " + why};
  }

  static bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
  }

  int value(const std::string& s) const {
    if (all_digits(s)) {
      if (s.size() > 6) fail(s + " is out of range " + range_text());
      int v = std::stoi(s);
      if (v < f_.min || v > f_.max) fail(s + " is out of range " + range_text());
      return v;
    }
    const std::string l = lower(s);
    if (&f_ == &kMonthField) {
      for (int i = 0; i < 12; i++) {
        if (l == kMonthNames[i]) return i + 1;
      }
      fail("\"" + s + "\" is not a month (1-12 or JAN-DEC)");
    }
    if (&f_ == &kWdayField) {
      for (int i = 0; i < 7; i++) {
        if (l == kDayNames[i]) return i;
      }
      fail("\"" + s + "\" is not a day of the week (0-7 or SUN-SAT)");
    }
    fail("\"" + s + "\" is not a number");
  }

  std::string range_text() const { return std::to_string(f_.min) + "-" + std::to_string(f_.max); }

  void add_item(const std::string& item, std::vector<bool>* set) const {
    if (item.empty()) fail("empty list item");
    std::string base = item;
    int step = 1;
    size_t slash = item.find('/');
    bool stepped = slash != std::string::npos;
    if (stepped) {
      base = item.substr(0, slash);
      std::string s = item.substr(slash + 1);
      if (!all_digits(s)) fail("step \"" + s + "\" is not a positive number");
      if (s.size() > 6 || std::stoi(s) > f_.max - f_.min + 1) {
        fail("step " + s + " is larger than the field's range " + range_text());
      }
      step = std::stoi(s);
      if (step < 1) fail("step must be at least 1");
    }
    int lo, hi;
    if (base == "*") {
      lo = f_.min;
      hi = f_.star_max;
    } else {
      size_t dash = base.find('-', 1);
      if (dash != std::string::npos) {
        lo = value(base.substr(0, dash));
        hi = value(base.substr(dash + 1));
        if (lo > hi) fail("range " + base + " goes backwards");
      } else {
        lo = value(base);
        hi = stepped ? f_.star_max : lo;  // a/n: from a through the end of the field
        if (hi < lo) hi = lo;
      }
    }
    for (int v = lo; v <= hi; v += step) (*set)[v] = true;
  }

  const CronField& f_;
  int position_;
};

// The first whole second at or after wall time `t` (microseconds, as if UTC) that `c` names, or
// nullopt past `limit`. Advances the coarsest field that does not match, so a year costs a few
// hundred steps at most.
std::optional<Micros> next_wall_match(const Cron& c, Micros t, Micros limit) {
  auto next_set = [](const std::vector<bool>& v, int from) {
    for (int i = from; i < static_cast<int>(v.size()); i++) {
      if (v[i]) return i;
    }
    return -1;
  };
  while (t <= limit) {
    const int64_t days = floor_div(t, kDay);
    const Micros tod = t - days * kDay;
    const Civil civ = civil_from_days(days);
    if (!c.months[civ.month]) {
      int m = next_set(c.months, civ.month + 1);
      t = m > 0 ? days_from_civil(civ.year, m, 1) * kDay
                : days_from_civil(civ.year + 1, next_set(c.months, 1), 1) * kDay;
      continue;
    }
    const bool mday_ok = c.mdays[civ.day];
    const bool wday_ok = c.wdays[weekday_from_days(days)];
    const bool day_ok = c.mday_star ? wday_ok : c.wday_star ? mday_ok : (mday_ok || wday_ok);
    if (!day_ok) {
      t = (days + 1) * kDay;
      continue;
    }
    const int h = static_cast<int>(tod / kHour);
    const int mi = static_cast<int>(tod % kHour / kMinute);
    const int s = static_cast<int>(tod % kMinute / kSecond);
    if (!c.hours[h]) {
      int nh = next_set(c.hours, h + 1);
      t = nh < 0 ? (days + 1) * kDay : days * kDay + nh * kHour;
      continue;
    }
    if (!c.minutes[mi]) {
      int nm = next_set(c.minutes, mi + 1);
      t = days * kDay + h * kHour + (nm < 0 ? kHour : nm * kMinute);
      continue;
    }
    if (!c.seconds[s]) {
      int ns = next_set(c.seconds, s + 1);
      t = days * kDay + h * kHour + mi * kMinute + (ns < 0 ? kMinute : ns * kSecond);
      continue;
    }
    return t;
  }
  return std::nullopt;
}

// The earliest UTC instant whose wall time in `zone` is `wall`, or nullopt when a DST jump skips
// it. The offsets to try are those in force around it (a day either side covers any real zone's
// transition) and those a fixed-point iteration from `wall` lands on.
std::optional<Micros> earliest_utc(Micros wall, const UtcOffset& zone) {
  const int64_t o1 = zone(sat_add(wall, -kDay));
  const int64_t o2 = zone(sat_add(wall, kDay));
  const int64_t o3 = zone(wall);
  const int64_t o4 = zone(sat_add(wall, -o3 * kSecond));
  std::optional<Micros> best;
  for (int64_t o : {o1, o2, o3, o4}) {
    const Micros u = sat_add(wall, -o * kSecond);
    if (sat_add(u, zone(u) * kSecond) == wall && (!best || u < *best)) best = u;
  }
  return best;
}

std::optional<Micros> next_cron(const Cron& c, Micros after, const UtcOffset& zone) {
  const Micros wall_after = sat_add(after, zone(after) * kSecond);
  const Micros limit = sat_add(wall_after, kSearchDays * kDay);
  Micros from = sat_add(floor_div(wall_after, kSecond) * kSecond, kSecond);
  while (true) {
    std::optional<Micros> wall = next_wall_match(c, from, limit);
    if (!wall) return std::nullopt;
    // A wall time that does not exist (a DST gap) is skipped; one that occurs twice runs at its
    // first occurrence only, so a first occurrence already past means this one is done.
    std::optional<Micros> u = earliest_utc(*wall, zone);
    if (u && *u > after) return u;
    from = *wall + kSecond;
  }
}

// ---- Options ----

constexpr const char* kKnownOptions =
    "backoff_base, backoff_max, max_attempts, max_interval, max_runtime, min_interval, quota, "
    "run_as, time_zone";

[[noreturn]] void option_error(const std::string& key, const std::string& why) {
  throw ScheduleError{"option \"" + key + "\" " + why};
}

Micros duration_option(const std::string& key, const nlohmann::json& v) {
  Micros us = 0;
  if (v.is_number()) {
    const double ms = v.get<double>();
    if (!std::isfinite(ms) || ms < 1) option_error(key, "must be at least 1 millisecond");
    if (ms > static_cast<double>(kMaxMicros / kMillisecond / 2)) option_error(key, "is too large");
    us = static_cast<Micros>(std::llround(ms)) * kMillisecond;
  } else if (v.is_string()) {
    std::string why;
    us = interval_or_reason(v.get<std::string>(), &why);
    if (!why.empty()) option_error(key, "is not a duration: " + why);
    if (us > kMaxMicros / 2) option_error(key, "is too large");
    // Whole milliseconds, as the catalog keeps them.
    us = (us + kMillisecond / 2) / kMillisecond * kMillisecond;
  } else {
    option_error(
        key, "must be a duration: a number of milliseconds or an interval text like '30 seconds'");
  }
  return us;
}

std::string string_option(const std::string& key, const nlohmann::json& v) {
  if (!v.is_string() || v.get<std::string>().empty())
    option_error(key, "must be a non-empty string");
  return v.get<std::string>();
}

void parse_quota(const nlohmann::json& q, Options* o) {
  if (!q.is_object()) {
    option_error("quota", "must be an object like {\"runs\": 10, \"per\": \"1 hour\"}");
  }
  for (const auto& [k, v] : q.items()) {
    if (k != "runs" && k != "cost" && k != "per" && k != "scope") {
      option_error("quota", "has an unknown key \"" + k + "\"; known keys: cost, per, runs, scope");
    }
  }
  const bool has_runs = q.contains("runs") && !q["runs"].is_null();
  const bool has_cost = q.contains("cost") && !q["cost"].is_null();
  if (has_runs == has_cost) option_error("quota", "needs exactly one of \"runs\" and \"cost\"");
  if (has_runs) {
    const auto& r = q["runs"];
    if (!r.is_number_integer() || r.get<int64_t>() < 1) {
      option_error("quota", "\"runs\" must be a positive integer");
    }
    o->quota_budget = static_cast<double>(r.get<int64_t>());
    o->quota_by_cost = false;
  } else {
    const auto& c = q["cost"];
    if (!c.is_number() || !std::isfinite(c.get<double>()) || c.get<double>() <= 0) {
      option_error("quota", "\"cost\" must be a number greater than 0");
    }
    o->quota_budget = c.get<double>();
    o->quota_by_cost = true;
  }
  if (!q.contains("per") || q["per"].is_null()) {
    option_error("quota", "needs \"per\", the window (like \"1 hour\")");
  }
  o->quota_window = duration_option("quota.per", q["per"]);
  if (q.contains("scope") && !q["scope"].is_null()) {
    const auto& s = q["scope"];
    if (!s.is_string() || (s != "schedule" && s != "function")) {
      option_error("quota", "\"scope\" must be \"schedule\" or \"function\"");
    }
    o->quota_per_function = s == "function";
  }
}

}  // namespace

Micros parse_interval(const std::string& text) {
  std::string why;
  Micros us = interval_or_reason(text, &why);
  if (!why.empty()) throw ScheduleError{"invalid interval \"" + text + "\": " + why};
  return us;
}

Cron parse_cron(const std::string& text) {
  const std::vector<std::string> f = split_ws(text);
  if (f.size() != 5 && f.size() != 6) {
    throw ScheduleError{"cron expression \"" + trim(text) + "\": expected 5 or 6 fields, got " +
                        std::to_string(f.size())};
  }
  const size_t k = f.size() == 6 ? 1 : 0;  // index of the minute field
  Cron c;
  c.seconds = k ? FieldParser(kSecondField, 1).parse(f[0]) : std::vector<bool>(60, false);
  if (!k) c.seconds[0] = true;
  c.minutes = FieldParser(kMinuteField, k + 1).parse(f[k]);
  c.hours = FieldParser(kHourField, k + 2).parse(f[k + 1]);
  c.mdays = FieldParser(kMdayField, k + 3).parse(f[k + 2]);
  c.months = FieldParser(kMonthField, k + 4).parse(f[k + 3]);
  std::vector<bool> w = FieldParser(kWdayField, k + 5).parse(f[k + 4]);
  if (w[7]) w[0] = true;  // 7 is Sunday too
  w.resize(7);
  c.wdays = w;
  // Only a bare * leaves a day field unrestricted ("*/2" restricts, as written).
  c.mday_star = f[k + 2] == "*";
  c.wday_star = f[k + 4] == "*";
  return c;
}

Schedule parse_schedule(const std::string& text) {
  Schedule s;
  std::string why;
  Micros us = interval_or_reason(text, &why);
  if (why.empty()) {
    s.kind = Schedule::Kind::kInterval;
    s.interval = us;
    return s;
  }
  if (trim(text).empty()) throw ScheduleError{"schedule is empty"};
  const size_t fields = split_ws(text).size();
  try {
    s.kind = Schedule::Kind::kCron;
    s.cron = parse_cron(text);
    return s;
  } catch (const ScheduleError& e) {
    if (fields == 5 || fields == 6) throw;
    throw ScheduleError{"schedule \"" + trim(text) + "\" is neither an interval (" + why +
                        ") nor a cron expression (expected 5 or 6 fields, got " +
                        std::to_string(fields) + ")"};
  }
}

std::optional<Micros> next_run(const Schedule& s, Micros after, const UtcOffset& zone) {
  if (s.kind == Schedule::Kind::kInterval) return sat_add(after, s.interval);
  return next_cron(s.cron, after, zone);
}

Micros backoff_delay(int attempt, Micros base, Micros cap, double random01) {
  if (base <= 0 || cap <= 0) return 0;
  Micros d = std::min(base, cap);
  for (int i = 1; i < attempt && d < cap; i++) d = d > cap / 2 ? cap : d * 2;
  if (!(random01 >= 0)) random01 = 0;  // NaN too
  const Micros half = d / 2;
  const Micros rest = d - half;
  Micros jitter = static_cast<Micros>(static_cast<long double>(rest) * random01);
  if (jitter >= rest) jitter = rest > 0 ? rest - 1 : 0;
  return half + jitter;
}

Micros clamp_next_run(Micros requested, Micros now, Micros min_interval, Micros max_interval) {
  const Micros lo = sat_add(now, min_interval);
  const Micros hi = std::max(lo, sat_add(now, max_interval));
  return std::clamp(requested, lo, hi);
}

bool quota_allows(double used, double budget) { return budget < 0 || used < budget; }

ParsedOptions parse_options(const std::string& json_text) {
  nlohmann::json j;
  if (!trim(json_text).empty()) {
    j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw ScheduleError{"options are not valid JSON"};
  }
  if (j.is_null()) j = nlohmann::json::object();
  if (!j.is_object()) throw ScheduleError{"options must be a JSON object"};
  ParsedOptions p;
  Options& o = p.options;
  for (const auto& [key, v] : j.items()) {
    if (v.is_null()) continue;  // null: the default
    if (key == "time_zone") {
      p.time_zone = string_option(key, v);
    } else if (key == "run_as") {
      p.run_as = string_option(key, v);
    } else if (key == "max_attempts") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 1000) {
        option_error(key, "must be an integer from 1 to 1000");
      }
      o.max_attempts = static_cast<int>(v.get<int64_t>());
    } else if (key == "backoff_base") {
      o.backoff_base = duration_option(key, v);
    } else if (key == "backoff_max") {
      o.backoff_max = duration_option(key, v);
    } else if (key == "min_interval") {
      o.min_interval = duration_option(key, v);
    } else if (key == "max_interval") {
      o.max_interval = duration_option(key, v);
    } else if (key == "max_runtime") {
      o.max_runtime = duration_option(key, v);
      if (o.max_runtime > kDay) option_error(key, "must be at most 1 day");
    } else if (key == "quota") {
      parse_quota(v, &o);
    } else {
      throw ScheduleError{"unknown option \"" + key + "\"; known options: " + kKnownOptions};
    }
  }
  if (o.min_interval > o.max_interval) {
    throw ScheduleError{"option \"min_interval\" must not be greater than \"max_interval\""};
  }
  if (o.backoff_base > o.backoff_max) {
    throw ScheduleError{"option \"backoff_base\" must not be greater than \"backoff_max\""};
  }
  auto ms = [](Micros us) { return us / kMillisecond; };
  nlohmann::json quota;  // null: none
  if (o.quota_budget >= 0) {
    quota = {{"per", ms(o.quota_window)},
             {"scope", o.quota_per_function ? "function" : "schedule"}};
    if (o.quota_by_cost) {
      quota["cost"] = o.quota_budget;
    } else {
      quota["runs"] = static_cast<int64_t>(o.quota_budget);
    }
  }
  nlohmann::json n = {{"time_zone", p.time_zone},
                      {"run_as", p.run_as ? nlohmann::json(*p.run_as) : nlohmann::json()},
                      {"max_attempts", o.max_attempts},
                      {"backoff_base", ms(o.backoff_base)},
                      {"backoff_max", ms(o.backoff_max)},
                      {"min_interval", ms(o.min_interval)},
                      {"max_interval", ms(o.max_interval)},
                      {"max_runtime", ms(o.max_runtime)},
                      {"quota", quota}};
  p.normalized_json = n.dump();
  return p;
}

const char* to_string(JobState s) {
  switch (s) {
    case JobState::kActive:
      return "active";
    case JobState::kPaused:
      return "paused";
    case JobState::kDead:
      return "dead";
    case JobState::kMissing:
      return "missing";
  }
  return "active";
}

std::optional<JobState> job_state_from(const std::string& s) {
  for (JobState v : {JobState::kActive, JobState::kPaused, JobState::kDead, JobState::kMissing}) {
    if (s == to_string(v)) return v;
  }
  return std::nullopt;
}

const char* to_string(RunStatus s) {
  switch (s) {
    case RunStatus::kRunning:
      return "running";
    case RunStatus::kOk:
      return "ok";
    case RunStatus::kError:
      return "error";
    case RunStatus::kTimeout:
      return "timeout";
    case RunStatus::kSkipped:
      return "skipped";
    case RunStatus::kLost:
      return "lost";
  }
  return "running";
}

std::optional<RunStatus> run_status_from(const std::string& s) {
  for (RunStatus v : {RunStatus::kRunning, RunStatus::kOk, RunStatus::kError, RunStatus::kTimeout,
                      RunStatus::kSkipped, RunStatus::kLost}) {
    if (s == to_string(v)) return v;
  }
  return std::nullopt;
}

JobProgress after_run(const JobProgress& before, const Outcome& outcome, const Schedule& schedule,
                      const Options& options, Micros now, const UtcOffset& zone, double random01) {
  JobProgress p = before;
  switch (outcome.status) {
    case RunStatus::kRunning:
      return before;  // not finished: nothing moves
    case RunStatus::kOk:
      p.attempt = 0;
      p.failures_in_row = 0;
      p.next_run_at =
          outcome.requested_next
              ? std::optional<Micros>(clamp_next_run(*outcome.requested_next, now,
                                                     options.min_interval, options.max_interval))
              : next_run(schedule, now, zone);
      break;
    case RunStatus::kError:
    case RunStatus::kTimeout:
    case RunStatus::kLost:
      p.attempt = before.attempt + 1;
      p.failures_in_row = before.failures_in_row + 1;
      if (p.attempt >= options.max_attempts) {
        p.state = JobState::kDead;
        p.next_run_at.reset();
      } else {
        p.next_run_at = sat_add(
            now, backoff_delay(p.attempt, options.backoff_base, options.backoff_max, random01));
      }
      break;
    case RunStatus::kSkipped:
      p.next_run_at = next_run(schedule, now, zone);
      break;
  }
  // Paused (or dead, or missing) while the run was in flight: the user's or the deploy's word
  // stands over what the run would have done.
  if (before.state != JobState::kActive) p.state = before.state;
  return p;
}

ResultHints read_result(
    const std::string& json_text, Micros now,
    const std::function<std::optional<Micros>(const std::string&)>& parse_time) {
  ResultHints h;
  if (json_text.empty()) return h;
  const nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return h;
  auto finite_non_negative = [](const nlohmann::json& v) {
    return v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() >= 0;
  };
  if (auto it = j.find("next_run_in_ms"); it != j.end() && finite_non_negative(*it)) {
    const long double us = static_cast<long double>(it->get<double>()) * kMillisecond;
    h.requested_next = us >= static_cast<long double>(kMaxMicros / 2)
                           ? kMaxMicros
                           : sat_add(now, static_cast<Micros>(std::llround(us)));
  } else if (auto at = j.find("next_run_at"); at != j.end() && at->is_string() && parse_time) {
    h.requested_next = parse_time(at->get<std::string>());
  }
  if (auto it = j.find("cost"); it != j.end() && finite_non_negative(*it))
    h.cost = it->get<double>();
  return h;
}

}  // namespace stopgap::schedule
