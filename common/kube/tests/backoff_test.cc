#include "common/kube/backoff.h"

#include <gtest/gtest.h>

#include <future>

namespace zs::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(BackoffTest, DoublesUpToMaxWithoutJitter) {
  ManualClock clock;
  Backoff backoff(clock, BackoffOptions{milliseconds(100), seconds(1), 2.0, 0.0, std::chrono::minutes(2), 1});
  EXPECT_EQ(backoff.Next(), milliseconds(100));
  EXPECT_EQ(backoff.Next(), milliseconds(200));
  EXPECT_EQ(backoff.Next(), milliseconds(400));
  EXPECT_EQ(backoff.Next(), milliseconds(800));
  EXPECT_EQ(backoff.Next(), seconds(1));
  EXPECT_EQ(backoff.Next(), seconds(1));
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), milliseconds(100));
}

TEST(BackoffTest, JitterStaysInBounds) {
  ManualClock clock;
  Backoff backoff(clock,
                  BackoffOptions{milliseconds(100), seconds(10), 2.0, 0.5, std::chrono::minutes(2), 42});
  Duration first = backoff.Next();
  EXPECT_GE(first, milliseconds(50));
  EXPECT_LE(first, milliseconds(150));
  for (int i = 0; i < 50; ++i) EXPECT_LE(backoff.Next(), seconds(10));
}

TEST(BackoffTest, QuietPeriodResets) {
  ManualClock clock;
  Backoff backoff(clock, BackoffOptions{milliseconds(100), seconds(10), 2.0, 0.0, seconds(60), 1});
  backoff.Next();
  backoff.Next();
  EXPECT_EQ(backoff.Next(), milliseconds(400));
  clock.Advance(seconds(61));
  EXPECT_EQ(backoff.Next(), milliseconds(100));
}

TEST(StopSignalTest, WaitEndsWhenClockAdvances) {
  ManualClock clock;
  StopSignal signal;
  auto waiter = std::async(std::launch::async, [&] { return signal.WaitFor(clock, seconds(30)); });
  EXPECT_EQ(waiter.wait_for(milliseconds(100)), std::future_status::timeout);
  clock.Advance(seconds(30));
  EXPECT_TRUE(waiter.get());
}

TEST(StopSignalTest, StopInterruptsWaitOnFrozenClock) {
  ManualClock clock;
  StopSignal signal;
  auto waiter = std::async(std::launch::async, [&] { return signal.WaitFor(clock, std::chrono::hours(1)); });
  signal.Stop();
  EXPECT_FALSE(waiter.get());
  EXPECT_TRUE(signal.stopped());
  EXPECT_FALSE(signal.WaitFor(clock, seconds(1)));
}

}  // namespace
}  // namespace zs::kube
