#include "common/cron/cron.h"

#include <array>
#include <cctype>
#include <chrono>
#include <exception>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include "common/strings.h"

namespace zs::cron {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using Seconds = date::sys_seconds;

// Set when a field is `*` or `?` (a step of 1 keeps it): robfig's starBit,
// which decides whether day-of-month and day-of-week are ANDed or ORed.
constexpr uint64_t kStar = uint64_t{1} << 63;

struct Bounds {
  const char* field;
  unsigned min;
  unsigned max;
  std::array<const char*, 12> names;  // names[i] is value min+i (or i for dow)
  size_t name_count;
};

constexpr Bounds kMinute{"minute", 0, 59, {}, 0};
constexpr Bounds kHour{"hour", 0, 23, {}, 0};
constexpr Bounds kDom{"day of month", 1, 31, {}, 0};
constexpr Bounds kMonth{
    "month", 1, 12, {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}, 12};
constexpr Bounds kDow{"day of week", 0, 6, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}, 7};

absl::Status Invalid(std::string_view why) { return absl::InvalidArgumentError(std::string(why)); }

uint64_t Bits(unsigned lo, unsigned hi, unsigned step) {
  uint64_t bits = 0;
  for (unsigned i = lo; i <= hi; i += step) bits |= uint64_t{1} << i;
  return bits;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A number (leading zeros allowed) or, for month and day of week, a name.
absl::StatusOr<unsigned> Value(std::string_view text, const Bounds& b, std::string_view expr) {
  if (text.empty()) return Invalid(Cat(b.field, " field \"", expr, "\": a value is missing"));
  const std::string lower = Lower(text);
  for (size_t i = 0; i < b.name_count; ++i) {
    if (lower == b.names[i])
      return b.name_count == 12 ? static_cast<unsigned>(i + 1) : static_cast<unsigned>(i);
  }
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return Invalid(Cat(b.field, " field \"", expr, "\": \"", text, "\" is not a number",
                         b.name_count > 0 ? " or a name" : ""));
    }
    value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > 1000) value = 1000;  // out of every range; no overflow
  }
  if (value < b.min || value > b.max) {
    return Invalid(Cat(b.field, " field \"", expr, "\": ", text, " is outside ", b.min, "-", b.max));
  }
  return value;
}

// One list item: `*`, `?`, `v`, `a-b`, each optionally `/step` (not `?`).
absl::StatusOr<uint64_t> Term(std::string_view expr, const Bounds& b, bool question_allowed) {
  std::string_view range = expr;
  std::optional<std::string_view> step_text;
  if (size_t slash = expr.find('/'); slash != std::string_view::npos) {
    range = expr.substr(0, slash);
    step_text = expr.substr(slash + 1);
  }
  if (range == "?") {
    if (!question_allowed)
      return Invalid(Cat(b.field, " field \"", expr, "\": '?' is only for day of month or week"));
    if (step_text) return Invalid(Cat(b.field, " field \"", expr, "\": '?' takes no step"));
  }
  unsigned lo = b.min;
  unsigned hi = b.max;
  bool star = false;
  if (range == "*" || range == "?") {
    star = true;
  } else {
    const size_t dash = range.find('-');
    absl::StatusOr<unsigned> first = Value(range.substr(0, dash), b, expr);
    if (!first.ok()) return first.status();
    lo = *first;
    hi = step_text ? b.max : lo;  // "a/n" means a-max/n, as in robfig/cron
    if (dash != std::string_view::npos) {
      absl::StatusOr<unsigned> last = Value(range.substr(dash + 1), b, expr);
      if (!last.ok()) return last.status();
      hi = *last;
    }
    if (lo > hi) return Invalid(Cat(b.field, " field \"", expr, "\": the range starts after it ends"));
  }
  unsigned step = 1;
  if (step_text) {
    const std::string_view s = *step_text;
    size_t zeros = 0;
    while (zeros < s.size() && s[zeros] == '0') ++zeros;
    const std::string_view digits = s.substr(zeros);
    bool ok = !digits.empty() && digits.size() <= 2;
    for (char c : digits) ok = ok && c >= '0' && c <= '9';
    if (!ok) return Invalid(Cat(b.field, " field \"", expr, "\": the step must be a number from 1 to 99"));
    step = static_cast<unsigned>(std::stoi(std::string(digits)));
  }
  uint64_t bits = Bits(lo, hi, step);
  if (star && step == 1) bits |= kStar;
  return bits;
}

absl::StatusOr<uint64_t> Field(std::string_view text, const Bounds& b, bool question_allowed) {
  uint64_t bits = 0;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string_view item =
        text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    if (item.empty()) return Invalid(Cat(b.field, " field \"", text, "\": an empty list item"));
    absl::StatusOr<uint64_t> term = Term(item, b, question_allowed);
    if (!term.ok()) return term.status();
    bits |= *term;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return bits;
}

struct Fields {
  uint64_t minute, hour, dom, month, dow;
};

absl::StatusOr<Fields> ParseFields(std::string_view cron) {
  if (cron.empty()) return Invalid("must not be empty");
  if (cron.starts_with("TZ=") || cron.starts_with("CRON_TZ=")) {
    return Invalid("must not carry TZ= or CRON_TZ=; set schedule.timeZone instead");
  }
  if (cron.starts_with('@')) {
    const uint64_t all_dom = Bits(1, 31, 1) | kStar;
    const uint64_t all_month = Bits(1, 12, 1) | kStar;
    const uint64_t all_dow = Bits(0, 6, 1) | kStar;
    if (cron == "@yearly" || cron == "@annually") return Fields{1, 1, 1 << 1, 1 << 1, all_dow};
    if (cron == "@monthly") return Fields{1, 1, 1 << 1, all_month, all_dow};
    if (cron == "@weekly") return Fields{1, 1, all_dom, all_month, 1};
    if (cron == "@daily" || cron == "@midnight") return Fields{1, 1, all_dom, all_month, all_dow};
    if (cron == "@hourly") return Fields{1, Bits(0, 23, 1) | kStar, all_dom, all_month, all_dow};
    return Invalid(Cat("\"", cron,
                       "\" is not one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"));
  }
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < cron.size()) {
    while (i < cron.size() && cron[i] == ' ') ++i;
    if (i == cron.size()) break;
    size_t j = i;
    while (j < cron.size() && cron[j] != ' ') ++j;
    parts.push_back(cron.substr(i, j - i));
    i = j;
  }
  if (parts.size() != 5) {
    return Invalid(
        Cat("must have 5 fields (minute hour day-of-month month day-of-week) or be an @macro, found ",
            parts.size()));
  }
  Fields f{};
  const std::array<std::pair<const Bounds*, uint64_t*>, 5> order = {
      {{&kMinute, &f.minute}, {&kHour, &f.hour}, {&kDom, &f.dom}, {&kMonth, &f.month}, {&kDow, &f.dow}}};
  for (size_t k = 0; k < order.size(); ++k) {
    const Bounds& b = *order[k].first;
    absl::StatusOr<uint64_t> bits = Field(parts[k], b, &b == &kDom || &b == &kDow);
    if (!bits.ok()) return bits.status();
    *order[k].second = *bits;
  }
  return f;
}

absl::StatusOr<const date::time_zone*> Zone(std::string_view name) {
  if (name.empty()) name = kDefaultTimeZone;
  // "Local" would be whatever zone the pod happens to run in.
  if (name == "Local")
    return Invalid("\"Local\" is not allowed; name an IANA time zone such as Europe/Paris");
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return Invalid(Cat("\"", name, "\" is not a time zone of the IANA database, e.g. Europe/Paris or UTC"));
  }
}

// Time as robfig/cron's loop sees it: an instant plus the local fields in
// the schedule's zone. The helpers below are Go's time.Date, AddDate, Add
// and Truncate, so that the loop in Next() is robfig's step for step.
class ZonedClock {
 public:
  explicit ZonedClock(const date::time_zone* zone) : zone_(zone) {}

  struct Local {
    int year;
    unsigned month, day, hour, minute, second, weekday;
  };
  Local Fields(Seconds t) const {
    const date::local_seconds local = zone_->to_local(t);
    const date::local_days day = date::floor<date::days>(local);
    const date::year_month_day ymd(day);
    const date::hh_mm_ss<seconds> hms(local - day);
    return {int(ymd.year()),
            unsigned(ymd.month()),
            unsigned(ymd.day()),
            static_cast<unsigned>(hms.hours().count()),
            static_cast<unsigned>(hms.minutes().count()),
            static_cast<unsigned>(hms.seconds().count()),
            date::weekday(day).c_encoding()};
  }

  // Go's time.Date: fields out of range are normalised (month 13 is January
  // of the next year); a local time that does not exist or exists twice is
  // resolved with the offset Go's lookup finds.
  Seconds Date(int year, int month, int day, int hour, int minute, int second) const {
    const int months = year * 12 + (month - 1);
    const int y = months >= 0 ? months / 12 : (months - 11) / 12;
    const unsigned m = static_cast<unsigned>(months - y * 12 + 1);
    const date::sys_days first = date::year{y} / date::month{m} / date::day{1};
    const Seconds as_utc = first + date::days{day - 1} + hours{hour} + minutes{minute} + seconds{second};
    date::sys_info info = zone_->get_info(as_utc);
    const Seconds utc = as_utc - info.offset;
    if (utc < info.begin || utc >= info.end) info = zone_->get_info(utc);
    return as_utc - info.offset;
  }

 private:
  const date::time_zone* zone_;
};

bool DayMatches(uint64_t dom, uint64_t dow, const ZonedClock::Local& l) {
  const bool dom_match = (uint64_t{1} << l.day & dom) != 0;
  const bool dow_match = (uint64_t{1} << l.weekday & dow) != 0;
  if ((dom & kStar) != 0 || (dow & kStar) != 0) return dom_match && dow_match;
  return dom_match || dow_match;
}

}  // namespace

absl::Status ValidateCron(std::string_view cron) { return ParseFields(cron).status(); }

absl::Status ValidateTimeZone(std::string_view time_zone) { return Zone(time_zone).status(); }

absl::StatusOr<Schedule> Schedule::Parse(std::string_view cron, std::string_view time_zone) {
  absl::StatusOr<Fields> fields = ParseFields(cron);
  if (!fields.ok()) return fields.status();
  absl::StatusOr<const date::time_zone*> zone = Zone(time_zone);
  if (!zone.ok()) return zone.status();
  Schedule s;
  s.minute_ = fields->minute;
  s.hour_ = fields->hour;
  s.dom_ = fields->dom;
  s.month_ = fields->month;
  s.dow_ = fields->dow;
  s.zone_ = *zone;
  s.time_zone_ = time_zone.empty() ? kDefaultTimeZone : std::string(time_zone);
  return s;
}

std::optional<SystemTime> Schedule::Next(SystemTime after) const {
  // robfig/cron v3's SpecSchedule.Next with its seconds field fixed at 0.
  const ZonedClock zc(zone_);
  Seconds t = date::floor<seconds>(after) + seconds{1};
  bool added = false;
  ZonedClock::Local l = zc.Fields(t);
  const int year_limit = l.year + 5;
wrap:
  l = zc.Fields(t);
  if (l.year > year_limit) return std::nullopt;
  while ((uint64_t{1} << l.month & month_) == 0) {
    if (!added) {
      added = true;
      t = zc.Date(l.year, static_cast<int>(l.month), 1, 0, 0, 0);
      l = zc.Fields(t);
    }
    t = zc.Date(l.year, static_cast<int>(l.month) + 1, static_cast<int>(l.day), static_cast<int>(l.hour),
                static_cast<int>(l.minute), static_cast<int>(l.second));
    l = zc.Fields(t);
    if (l.month == 1) goto wrap;
  }
  while (!DayMatches(dom_, dow_, l)) {
    if (!added) {
      added = true;
      t = zc.Date(l.year, static_cast<int>(l.month), static_cast<int>(l.day), 0, 0, 0);
      l = zc.Fields(t);
    }
    t = zc.Date(l.year, static_cast<int>(l.month), static_cast<int>(l.day) + 1, static_cast<int>(l.hour),
                static_cast<int>(l.minute), static_cast<int>(l.second));
    l = zc.Fields(t);
    // Where midnight does not exist (a DST change at 00:00), come back to it.
    if (l.hour != 0) {
      t += l.hour > 12 ? hours{24 - l.hour} : -hours{l.hour};
      l = zc.Fields(t);
    }
    if (l.day == 1) goto wrap;
  }
  while ((uint64_t{1} << l.hour & hour_) == 0) {
    if (!added) {
      added = true;
      t = zc.Date(l.year, static_cast<int>(l.month), static_cast<int>(l.day), static_cast<int>(l.hour), 0, 0);
    }
    t += hours{1};
    l = zc.Fields(t);
    if (l.hour == 0) goto wrap;
  }
  while ((uint64_t{1} << l.minute & minute_) == 0) {
    if (!added) {
      added = true;
      t = date::floor<minutes>(t);
    }
    t += minutes{1};
    l = zc.Fields(t);
    if (l.minute == 0) goto wrap;
  }
  if (l.second != 0) {
    // robfig adds one second at a time until the seconds read 0: the next
    // whole minute (zones' offsets are whole minutes), in one step.
    added = true;
    t = date::floor<minutes>(t) + minutes{1};
    goto wrap;
  }
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(t.time_since_epoch()));
}

}  // namespace zs::cron
