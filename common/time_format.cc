#include "common/time_format.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace zs {
namespace {

// Writes `value` as exactly `digits` decimal digits (zero-padded; higher
// digits dropped) at `out`.
char* PutDigits(char* out, int64_t value, int digits) {
  for (int i = digits - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + digits;
}

// The calendar from std::chrono, not gmtime_r: glibc's takes the time zone
// lock on every call, and billing formats a timestamp per request.
void AppendFormatted(std::string& out, SystemTime t, int fraction_digits) {
  using namespace std::chrono;
  const auto since = t.time_since_epoch();
  const auto day = floor<days>(since);
  const year_month_day date{sys_days(day)};
  const hh_mm_ss<microseconds> time(duration_cast<microseconds>(since - day));
  char buf[32];
  char* p = PutDigits(buf, static_cast<int>(date.year()), 4);
  *p++ = '-';
  p = PutDigits(p, static_cast<unsigned>(date.month()), 2);
  *p++ = '-';
  p = PutDigits(p, static_cast<unsigned>(date.day()), 2);
  *p++ = 'T';
  p = PutDigits(p, time.hours().count(), 2);
  *p++ = ':';
  p = PutDigits(p, time.minutes().count(), 2);
  *p++ = ':';
  p = PutDigits(p, time.seconds().count(), 2);
  const int64_t micros = time.subseconds().count();
  if (fraction_digits == 3) {
    *p++ = '.';
    p = PutDigits(p, micros / 1000, 3);
  } else if (fraction_digits == 6) {
    *p++ = '.';
    p = PutDigits(p, micros, 6);
  }
  *p++ = 'Z';
  out.append(buf, static_cast<size_t>(p - buf));
}

std::string Format(SystemTime t, int fraction_digits) {
  std::string out;
  AppendFormatted(out, t, fraction_digits);
  return out;
}
}  // namespace

std::string FormatRfc3339(SystemTime t) { return Format(t, 0); }
std::string FormatRfc3339Millis(SystemTime t) { return Format(t, 3); }
void AppendRfc3339Millis(std::string& out, SystemTime t) { AppendFormatted(out, t, 3); }
std::string FormatRfc3339Micros(SystemTime t) { return Format(t, 6); }

std::optional<SystemTime> ParseRfc3339(std::string_view text) {
  std::tm tm{};
  int consumed = 0;
  std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  long long micros = 0;
  size_t pos = static_cast<size_t>(consumed);
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) {
        micros = micros * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    while (digits++ < 6) micros *= 10;
  }
  long offset_seconds = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    long hh = 0, mm = 0;
    if (std::sscanf(s.c_str() + pos + 1, "%2ld:%2ld", &hh, &mm) != 2) return std::nullopt;
    offset_seconds = (hh * 3600 + mm * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const std::time_t tt = timegm(&tm) - offset_seconds;
  return SystemTime{} + std::chrono::seconds(tt) + std::chrono::microseconds(micros);
}

}  // namespace zs
