#include "common/clock.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace zs
