#include "common/time_format.h"

#include <cstdio>
#include <ctime>

namespace zs {
namespace {
std::string Format(SystemTime t, int fraction_digits) {
  using namespace std::chrono;
  const auto since = t.time_since_epoch();
  const auto secs = floor<seconds>(since);
  const auto micros = duration_cast<microseconds>(since - secs).count();
  std::time_t tt = secs.count();
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (fraction_digits == 3) {
    std::snprintf(buf, sizeof(buf), ".%03lld", static_cast<long long>(micros / 1000));
    out += buf;
  } else if (fraction_digits == 6) {
    std::snprintf(buf, sizeof(buf), ".%06lld", static_cast<long long>(micros));
    out += buf;
  }
  out += 'Z';
  return out;
}
}  // namespace

std::string FormatRfc3339(SystemTime t) { return Format(t, 0); }
std::string FormatRfc3339Millis(SystemTime t) { return Format(t, 3); }
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
