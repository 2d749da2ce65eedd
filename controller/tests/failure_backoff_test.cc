// FailureBackoff on a ManualClock: the waits between failed child writes.
#include "controller/reconciler/failure_backoff.h"

#include <gtest/gtest.h>

namespace zs::controller {
namespace {

using namespace std::chrono_literals;

TEST(FailureBackoff, DoublesUpToTheCap) {
  ManualClock clock;
  FailureBackoff backoff(clock, {.initial = 1s, .max = 10s, .jitter = 0});
  std::vector<Duration> waits;
  waits.reserve(6);
  for (int i = 0; i < 6; ++i) waits.push_back(backoff.Failed("demo/hello", "uid-1/1"));
  EXPECT_EQ(waits, (std::vector<Duration>{1s, 2s, 4s, 8s, 10s, 10s}));
  EXPECT_EQ(backoff.Failures("demo/hello"), 6);
}

TEST(FailureBackoff, BlocksUntilTheWaitIsOver) {
  ManualClock clock;
  FailureBackoff backoff(clock, {.initial = 1s, .jitter = 0});
  EXPECT_FALSE(backoff.Blocked("demo/hello", "uid-1/1"));
  backoff.Failed("demo/hello", "uid-1/1");
  EXPECT_EQ(backoff.Blocked("demo/hello", "uid-1/1"), Duration(1s));
  clock.Advance(300ms);
  EXPECT_EQ(backoff.Blocked("demo/hello", "uid-1/1"), Duration(700ms));
  clock.Advance(700ms);
  EXPECT_FALSE(backoff.Blocked("demo/hello", "uid-1/1"));
  // Other Functions are not held up.
  backoff.Failed("demo/hello", "uid-1/1");
  EXPECT_FALSE(backoff.Blocked("demo/other", "uid-2/1"));
}

// An edit (new generation) or a recreated Function (new uid) may be the
// fix: tried at once, and counted from the start if it fails too.
TEST(FailureBackoff, AnotherTokenIsNotBlockedAndStartsAgain) {
  ManualClock clock;
  FailureBackoff backoff(clock, {.initial = 1s, .jitter = 0});
  backoff.Failed("demo/hello", "uid-1/1");
  backoff.Failed("demo/hello", "uid-1/1");
  EXPECT_TRUE(backoff.Blocked("demo/hello", "uid-1/1"));
  EXPECT_FALSE(backoff.Blocked("demo/hello", "uid-1/2"));
  EXPECT_FALSE(backoff.Blocked("demo/hello", "uid-9/1"));
  EXPECT_EQ(backoff.Failed("demo/hello", "uid-1/2"), Duration(1s));
}

TEST(FailureBackoff, ForgetStartsAfresh) {
  ManualClock clock;
  FailureBackoff backoff(clock, {.initial = 1s, .jitter = 0});
  backoff.Failed("demo/hello", "t");
  backoff.Failed("demo/hello", "t");
  backoff.Forget("demo/hello");
  EXPECT_EQ(backoff.size(), 0U);
  EXPECT_FALSE(backoff.Blocked("demo/hello", "t"));
  EXPECT_EQ(backoff.Failed("demo/hello", "t"), Duration(1s));
}

TEST(FailureBackoff, JitterStaysWithinItsBoundsAndTheCap) {
  ManualClock clock;
  FailureBackoff backoff(clock, {.initial = 1s, .max = 4s, .jitter = 0.1, .seed = 7});
  for (int i = 0; i < 200; ++i) {
    const std::string key = "demo/fn" + std::to_string(i);
    const Duration first = backoff.Failed(key, "t");
    EXPECT_GE(first, Duration(900ms));
    EXPECT_LE(first, Duration(1100ms));
    backoff.Failed(key, "t");
    backoff.Failed(key, "t");
    EXPECT_LE(backoff.Failed(key, "t"), Duration(4s));  // 8 s capped, jitter included
  }
}

}  // namespace
}  // namespace zs::controller
