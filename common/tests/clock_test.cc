#include "common/clock.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <thread>

#include "common/time_format.h"

namespace zs {
namespace {

using namespace std::chrono_literals;

TEST(ManualClock, SleeperWakesOnlyWhenAdvancedPastDeadline) {
  ManualClock clock;
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.SleepFor(10s);
    woke = true;
  });
  ASSERT_TRUE(clock.AwaitSleepers(1, 5s));
  clock.Advance(9s);
  EXPECT_FALSE(woke.load());
  EXPECT_EQ(clock.sleepers(), 1);
  clock.Advance(1s);
  sleeper.join();
  EXPECT_TRUE(woke.load());
}

TEST(ManualClock, WallAndMonotonicMoveTogether) {
  ManualClock clock;
  auto m = clock.Now();
  auto w = clock.WallNow();
  clock.Advance(1500ms);
  EXPECT_EQ(clock.Now() - m, 1500ms);
  EXPECT_EQ(clock.WallNow() - w, 1500ms);
}

TEST(TimeFormat, RoundTrips) {
  SystemTime t = SystemTime{} + std::chrono::seconds(1'780'000'000) + 123456us;
  EXPECT_EQ(FormatRfc3339(t), "2026-05-28T20:26:40Z");
  EXPECT_EQ(FormatRfc3339Millis(t), "2026-05-28T20:26:40.123Z");
  EXPECT_EQ(FormatRfc3339Micros(t), "2026-05-28T20:26:40.123456Z");
  EXPECT_EQ(ParseRfc3339(FormatRfc3339Micros(t)), t);
  EXPECT_EQ(ParseRfc3339("2026-05-28T22:26:40.123456+02:00"), t);
  EXPECT_FALSE(ParseRfc3339("yesterday").has_value());
  EXPECT_FALSE(ParseRfc3339("2026-05-28T20:26:40").has_value());
}

// The formatter computes the calendar itself (no gmtime_r and its lock):
// it must agree with the C library on every kind of day, leap days and
// year ends included, and appending must write the same text.
TEST(TimeFormat, CalendarAgreesWithGmtime) {
  int checked = 0;
  for (int64_t secs = 0; secs < int64_t{4'102'444'800}; secs += 86'400 * 11 + 3'607) {
    for (const int64_t extra : {int64_t{0}, int64_t{86'399}}) {
      const std::time_t tt = static_cast<std::time_t>(secs + extra);
      std::tm tm{};
      ASSERT_NE(gmtime_r(&tt, &tm), nullptr);
      char expected[40];
      const size_t n = std::strftime(expected, sizeof(expected), "%Y-%m-%dT%H:%M:%S", &tm);
      const SystemTime t = SystemTime{} + std::chrono::seconds(secs + extra) + 7'009us;
      ASSERT_EQ(FormatRfc3339(t), std::string(expected, n) + "Z");
      std::string appended = "x";
      AppendRfc3339Millis(appended, t);
      ASSERT_EQ(appended, "x" + std::string(expected, n) + ".007Z");
      ++checked;
    }
  }
  EXPECT_GT(checked, 7'000);
  // 2024-02-29 and 2000-02-29 (a leap century), 2100-03-01 (no leap day).
  EXPECT_EQ(FormatRfc3339(SystemTime{} + std::chrono::seconds(1'709'164'800)), "2024-02-29T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(SystemTime{} + std::chrono::seconds(951'782'400)), "2000-02-29T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(SystemTime{} + std::chrono::seconds(4'107'542'400)), "2100-03-01T00:00:00Z");
}

}  // namespace
}  // namespace zs
