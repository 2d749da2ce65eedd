// Cron parsing and Next() against robfig/cron v3 (Kubernetes CronJob):
// syntax, day-of-month/day-of-week semantics, and the daylight-saving cases
// docs/triggers.md promises, on fixed instants (no clock needed: Next is pure).
#include "common/cron/cron.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/time_format.h"

namespace zs::cron {
namespace {

using ::testing::HasSubstr;

SystemTime At(const std::string& rfc3339) {
  std::optional<SystemTime> t = ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t.value_or(SystemTime{});
}

// The first `n` activations after `from`, as UTC RFC 3339 strings.
std::vector<std::string> Activations(std::string_view cron, std::string_view zone, const std::string& from,
                                     int n) {
  absl::StatusOr<Schedule> s = Schedule::Parse(cron, zone);
  EXPECT_TRUE(s.ok()) << s.status();
  std::vector<std::string> out;
  if (!s.ok()) return out;
  SystemTime t = At(from);
  for (int i = 0; i < n; ++i) {
    std::optional<SystemTime> next = s->Next(t);
    if (!next) break;
    out.push_back(FormatRfc3339(*next));
    t = *next;
  }
  return out;
}

TEST(CronParse, AcceptsWhatCronJobAccepts) {
  for (const char* cron : {"* * * * *",
                           "0 3 * * *",
                           "*/15 * * * *",
                           "0-30/10 8-18 * * mon-fri",
                           "5,10,15 0 1,15 * *",
                           "0 0 ? * SUN",
                           "0 0 1 JAN,jul ?",
                           "0 12 * * 0",
                           "0 12 * * 6",
                           "30 2 * * *",
                           "7/20 * * * *",
                           "00 09 01 01 *",
                           "0  3 * * *",
                           "@yearly",
                           "@annually",
                           "@monthly",
                           "@weekly",
                           "@daily",
                           "@midnight",
                           "@hourly"}) {
    EXPECT_TRUE(ValidateCron(cron).ok()) << cron << ": " << ValidateCron(cron);
  }
}

TEST(CronParse, RefusesWithAReason) {
  struct Case {
    const char* cron;
    const char* why;
  };
  for (const Case& c : std::vector<Case>{
           {"", "must not be empty"},
           {"* * * *", "must have 5 fields"},
           {"0 * * * * *", "must have 5 fields"},
           {"60 * * * *", "minute field \"60\": 60 is outside 0-59"},
           {"* 24 * * *", "hour field"},
           {"* * 0 * *", "day of month field"},
           {"* * * 13 *", "month field"},
           {"* * * * 7", "day of week field \"7\": 7 is outside 0-6"},
           {"* * * foo *", "is not a number or a name"},
           {"5-3 * * * *", "the range starts after it ends"},
           {"*/0 * * * *", "the step must be a number from 1 to 99"},
           {"*/100 * * * *", "the step must be a number from 1 to 99"},
           {"1,,2 * * * *", "an empty list item"},
           {"? * * * *", "'?' is only for day of month or week"},
           {"@every 1h", "is not one of @yearly"},
           {"@reboot", "is not one of @yearly"},
           {"CRON_TZ=UTC 0 3 * * *", "set schedule.timeZone instead"},
           {"TZ=Europe/Paris 0 3 * * *", "set schedule.timeZone instead"},
       }) {
    absl::Status s = ValidateCron(c.cron);
    EXPECT_FALSE(s.ok()) << c.cron;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.why)) << c.cron;
  }
}

TEST(CronParse, TimeZones) {
  EXPECT_TRUE(ValidateTimeZone("").ok());
  EXPECT_TRUE(ValidateTimeZone("UTC").ok());
  EXPECT_TRUE(ValidateTimeZone("Europe/Paris").ok());
  EXPECT_TRUE(ValidateTimeZone("America/New_York").ok());
  EXPECT_THAT(std::string(ValidateTimeZone("Mars/Olympus").message()), HasSubstr("is not a time zone"));
  EXPECT_THAT(std::string(ValidateTimeZone("Local").message()), HasSubstr("\"Local\" is not allowed"));
  EXPECT_EQ(Schedule::Parse("@daily", "")->time_zone(), "UTC");
}

TEST(CronNext, EveryMinuteIsStrictlyAfter) {
  EXPECT_EQ(
      Activations("* * * * *", "UTC", "2026-05-01T10:00:00Z", 3),
      (std::vector<std::string>{"2026-05-01T10:01:00Z", "2026-05-01T10:02:00Z", "2026-05-01T10:03:00Z"}));
  EXPECT_EQ(Activations("* * * * *", "UTC", "2026-05-01T10:00:59.999Z", 1),
            (std::vector<std::string>{"2026-05-01T10:01:00Z"}));
}

TEST(CronNext, StepsRangesListsAndNames) {
  EXPECT_EQ(Activations("*/20 * * * *", "UTC", "2026-05-01T10:05:00Z", 4),
            (std::vector<std::string>{"2026-05-01T10:20:00Z", "2026-05-01T10:40:00Z", "2026-05-01T11:00:00Z",
                                      "2026-05-01T11:20:00Z"}));
  // 2026-05-01 is a Friday: next weekday 09:00 slots skip the weekend.
  EXPECT_EQ(
      Activations("0 9,17 * * mon-fri", "UTC", "2026-05-01T12:00:00Z", 3),
      (std::vector<std::string>{"2026-05-01T17:00:00Z", "2026-05-04T09:00:00Z", "2026-05-04T17:00:00Z"}));
  EXPECT_EQ(Activations("0 0 1 jan,JUL *", "UTC", "2026-05-01T00:00:00Z", 2),
            (std::vector<std::string>{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}));
  EXPECT_EQ(
      Activations("7/20 * * * *", "UTC", "2026-05-01T10:00:00Z", 3),
      (std::vector<std::string>{"2026-05-01T10:07:00Z", "2026-05-01T10:27:00Z", "2026-05-01T10:47:00Z"}));
}

TEST(CronNext, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  // Vixie/robfig: "13th or a Friday"; with either field `*`, both must match.
  EXPECT_EQ(
      Activations("0 0 13 * fri", "UTC", "2026-05-01T00:00:00Z", 3),
      (std::vector<std::string>{"2026-05-08T00:00:00Z", "2026-05-13T00:00:00Z", "2026-05-15T00:00:00Z"}));
  EXPECT_EQ(Activations("0 0 13 * *", "UTC", "2026-05-01T00:00:00Z", 1),
            (std::vector<std::string>{"2026-05-13T00:00:00Z"}));
  EXPECT_EQ(Activations("0 0 ? * fri", "UTC", "2026-05-01T00:00:00Z", 1),
            (std::vector<std::string>{"2026-05-08T00:00:00Z"}));
}

TEST(CronNext, Macros) {
  const std::string from = "2026-05-13T10:30:00Z";  // a Wednesday
  EXPECT_EQ(Activations("@hourly", "UTC", from, 1), (std::vector<std::string>{"2026-05-13T11:00:00Z"}));
  EXPECT_EQ(Activations("@daily", "UTC", from, 1), (std::vector<std::string>{"2026-05-14T00:00:00Z"}));
  EXPECT_EQ(Activations("@weekly", "UTC", from, 1), (std::vector<std::string>{"2026-05-17T00:00:00Z"}));
  EXPECT_EQ(Activations("@monthly", "UTC", from, 1), (std::vector<std::string>{"2026-06-01T00:00:00Z"}));
  EXPECT_EQ(Activations("@yearly", "UTC", from, 1), (std::vector<std::string>{"2027-01-01T00:00:00Z"}));
}

TEST(CronNext, NeverIsNone) {
  absl::StatusOr<Schedule> s = Schedule::Parse("0 0 30 2 *", "UTC");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->Next(At("2026-01-01T00:00:00Z")).has_value());
  // The 29th of February exists, once in four years.
  EXPECT_EQ(Activations("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 1),
            (std::vector<std::string>{"2028-02-29T00:00:00Z"}));
}

TEST(CronNext, TimeZoneShiftsTheWallClock) {
  // 03:00 in Paris is 01:00Z in summer (CEST, +2) and 02:00Z in winter (CET, +1).
  EXPECT_EQ(Activations("0 3 * * *", "Europe/Paris", "2026-07-01T00:00:00Z", 1),
            (std::vector<std::string>{"2026-07-01T01:00:00Z"}));
  EXPECT_EQ(Activations("0 3 * * *", "Europe/Paris", "2026-12-01T00:00:00Z", 1),
            (std::vector<std::string>{"2026-12-01T02:00:00Z"}));
}

// Spring forward: in Paris on 2026-03-29 the clock goes 02:00 CET -> 03:00
// CEST, so 02:30 does not exist that day. CronJob skips it: no run that day
// (not at 03:30, not at 03:00); the next run is 02:30 the day after.
TEST(CronDst, SpringForwardSkipsTheMissingTime) {
  EXPECT_EQ(Activations("30 2 * * *", "Europe/Paris", "2026-03-28T00:00:00Z", 3),
            (std::vector<std::string>{"2026-03-28T01:30:00Z",  // 02:30 CET
                                      "2026-03-30T00:30:00Z",  // 02:30 CEST, the 29th skipped
                                      "2026-03-31T00:30:00Z"}));
  // Hourly runs keep following real hours: 01:00 CET then 03:00 CEST.
  EXPECT_EQ(Activations("0 * * * *", "Europe/Paris", "2026-03-28T23:30:00Z", 3),
            (std::vector<std::string>{"2026-03-29T00:00:00Z",  // 01:00 CET
                                      "2026-03-29T01:00:00Z",  // 03:00 CEST
                                      "2026-03-29T02:00:00Z"}));
  // New York: 2026-03-08 02:00 EST -> 03:00 EDT.
  EXPECT_EQ(Activations("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2),
            (std::vector<std::string>{"2026-03-09T06:30:00Z",  // 02:30 EDT; the 8th had none
                                      "2026-03-10T06:30:00Z"}));
}

// Fall back: in Paris on 2026-10-25 the clock goes 03:00 CEST -> 02:00 CET,
// so 02:00-02:59 happens twice. CronJob (robfig/cron) runs a schedule that
// names that hour in both: 02:30 CEST and, an hour later, 02:30 CET.
TEST(CronDst, FallBackRunsTheRepeatedHourTwice) {
  EXPECT_EQ(Activations("30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z", 3),
            (std::vector<std::string>{"2026-10-25T00:30:00Z",  // 02:30 CEST
                                      "2026-10-25T01:30:00Z",  // 02:30 CET, the same wall time again
                                      "2026-10-26T01:30:00Z"}));
  EXPECT_EQ(Activations("0 * * * *", "Europe/Paris", "2026-10-24T23:30:00Z", 4),
            (std::vector<std::string>{"2026-10-25T00:00:00Z",  // 02:00 CEST
                                      "2026-10-25T01:00:00Z",  // 02:00 CET
                                      "2026-10-25T02:00:00Z",  // 03:00 CET
                                      "2026-10-25T03:00:00Z"}));
  // A time outside the repeated hour runs once.
  EXPECT_EQ(Activations("0 3 * * *", "Europe/Paris", "2026-10-24T12:00:00Z", 2),
            (std::vector<std::string>{"2026-10-25T02:00:00Z", "2026-10-26T02:00:00Z"}));
}

// Where midnight itself is skipped (Santiago, first Sunday of September:
// 00:00 -> 01:00), a daily schedule at 00:00 does not run that day either,
// and a schedule at 01:00 runs once.
TEST(CronDst, MissingMidnight) {
  EXPECT_EQ(Activations("0 1 * * *", "America/Santiago", "2026-09-05T12:00:00Z", 2).size(), 2u);
  std::vector<std::string> daily = Activations("@daily", "America/Santiago", "2026-09-04T12:00:00Z", 3);
  ASSERT_EQ(daily.size(), 3u);
  EXPECT_EQ(daily[0], "2026-09-05T04:00:00Z");  // 00:00 -04
  EXPECT_EQ(daily[1], "2026-09-07T03:00:00Z");  // 00:00 -03 on the 7th; the 6th had none
}

}  // namespace
}  // namespace zs::cron
