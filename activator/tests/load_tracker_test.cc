#include "activator/metering/load_tracker.h"

#include <gtest/gtest.h>

namespace zs::activator {
namespace {

using namespace std::chrono_literals;

TEST(LoadTracker, IntegratesInFlightOverTheWindow) {
  ManualClock clock;
  LoadTracker tracker(clock, "activator-0");
  const FunctionKey f{"ns", "f"};
  tracker.Collect();  // start a window now

  // 0 in flight for 250 ms, 2 for 500 ms, 1 for 250 ms: average 1.25, peak 2.
  clock.Advance(250ms);
  tracker.OnArrival(f);
  tracker.OnForwardStart(f);
  tracker.OnArrival(f);
  tracker.OnForwardStart(f);
  clock.Advance(500ms);
  tracker.OnForwardEnd(f);
  clock.Advance(250ms);
  const LoadReport r = tracker.Collect();
  EXPECT_EQ(r.activator_id, "activator-0");
  EXPECT_EQ(r.window, 1s);
  ASSERT_EQ(r.functions.size(), 1u);
  const FunctionLoad& load = r.functions[0];
  EXPECT_EQ(load.key, f);
  EXPECT_DOUBLE_EQ(load.average_concurrency, 1.25);
  EXPECT_DOUBLE_EQ(load.peak_concurrency, 2);
  EXPECT_EQ(load.requests, 2u);
  EXPECT_EQ(load.in_flight, 1u);
  ASSERT_TRUE(load.last_request_time.has_value());
  EXPECT_EQ(*load.last_request_time, r.window_end - 750ms);

  // Next window: the request still in flight counts fully; peak restarts
  // from the current in-flight count; arrivals restart from zero.
  clock.Advance(2s);
  const LoadReport next = tracker.Collect();
  EXPECT_EQ(next.window, 2s);
  ASSERT_EQ(next.functions.size(), 1u);
  EXPECT_DOUBLE_EQ(next.functions[0].average_concurrency, 1.0);
  EXPECT_DOUBLE_EQ(next.functions[0].peak_concurrency, 1);
  EXPECT_EQ(next.functions[0].requests, 0u);
  EXPECT_EQ(next.functions[0].last_request_time, load.last_request_time);  // kept
}

TEST(LoadTracker, ReportsQueuedAndKeepsIdleFunctionsUntilForgotten) {
  ManualClock clock;
  LoadTracker tracker(clock, "a");
  const FunctionKey f{"ns", "f"};
  const FunctionKey g{"aa", "g"};
  tracker.OnArrival(f);
  tracker.OnQueued(f, +1);
  tracker.OnQueued(f, +1);
  tracker.OnQueued(f, -1);
  tracker.OnArrival(g);
  clock.Advance(1s);
  LoadReport r = tracker.Collect();
  ASSERT_EQ(r.functions.size(), 2u);
  EXPECT_EQ(r.functions[0].key, g);  // sorted
  EXPECT_EQ(r.functions[1].queued, 1u);
  EXPECT_DOUBLE_EQ(r.functions[1].average_concurrency, 0);
  tracker.Forget(g);
  clock.Advance(1s);
  r = tracker.Collect();
  ASSERT_EQ(r.functions.size(), 1u);
  EXPECT_EQ(r.functions[0].key, f);
}

TEST(LoadTracker, ShortBurstInsideAWindowAverages) {
  ManualClock clock;
  LoadTracker tracker(clock, "a");
  const FunctionKey f{"ns", "f"};
  tracker.Collect();
  // 10 requests of 100 ms each, back to back: average 1 over 1 s.
  for (int i = 0; i < 10; ++i) {
    tracker.OnArrival(f);
    tracker.OnForwardStart(f);
    clock.Advance(100ms);
    tracker.OnForwardEnd(f);
  }
  const LoadReport r = tracker.Collect();
  EXPECT_NEAR(r.functions[0].average_concurrency, 1.0, 1e-9);
  EXPECT_EQ(r.functions[0].requests, 10u);
  EXPECT_EQ(r.functions[0].in_flight, 0u);
}

}  // namespace
}  // namespace zs::activator
