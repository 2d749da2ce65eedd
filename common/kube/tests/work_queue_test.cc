#include "common/kube/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "common/kube/tests/test_util.h"

namespace zs::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(WorkQueueTest, DeduplicatesQueuedKeys) {
  ManualClock clock;
  WorkQueue queue(clock);
  queue.Add("a");
  queue.Add("b");
  queue.Add("a");
  EXPECT_EQ(queue.Len(), 2u);
  EXPECT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.Get(), "b");
  EXPECT_EQ(queue.TryGet(), std::nullopt);
}

TEST(WorkQueueTest, KeyBeingProcessedIsRequeuedOnDoneNotHandedOutTwice) {
  ManualClock clock;
  WorkQueue queue(clock);
  queue.Add("a");
  auto key = queue.Get();
  ASSERT_EQ(key, "a");
  queue.Add("a");  // dirty while processing
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_EQ(queue.TryGet(), std::nullopt);
  queue.Add("a");  // still one pending re-run
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 1u);
  EXPECT_EQ(queue.Get(), "a");
  queue.Done("a");
  EXPECT_EQ(queue.Len(), 0u);
}

TEST(WorkQueueTest, ConcurrentWorkersNeverShareAKey) {
  ManualClock clock;
  WorkQueue queue(clock);
  std::atomic<int> in_flight{0};
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  workers.reserve(4);
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = queue.Get()) {
        if (in_flight.fetch_add(1) != 0) overlap = true;
        std::this_thread::yield();
        in_flight.fetch_sub(1);
        ++processed;
        queue.Done(*key);
      }
    });
  }
  for (int i = 0; i < 2000; ++i) queue.Add("same");
  EXPECT_TRUE(Eventually([&] { return queue.Len() == 0 && processed.load() > 0; }));
  queue.ShutDown();
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap.load());
}

TEST(WorkQueueTest, AddAfterWaitsForTheClock) {
  ManualClock clock;
  WorkQueue queue(clock);
  queue.AddAfter("a", seconds(10));
  EXPECT_EQ(queue.NumDelayed(), 1u);
  clock.Advance(seconds(9));
  // Give the delay thread a chance to (wrongly) promote it.
  EXPECT_FALSE(Eventually([&] { return queue.Len() > 0; }, milliseconds(100)));
  clock.Advance(seconds(1));
  EXPECT_TRUE(Eventually([&] { return queue.Len() == 1; }));
  EXPECT_EQ(queue.Get(), "a");
  EXPECT_EQ(queue.NumDelayed(), 0u);
}

TEST(WorkQueueTest, AddAfterKeepsEarliestTime) {
  ManualClock clock;
  WorkQueue queue(clock);
  queue.AddAfter("a", seconds(10));
  queue.AddAfter("a", seconds(2));
  queue.AddAfter("a", seconds(5));
  EXPECT_EQ(queue.NumDelayed(), 1u);
  clock.Advance(seconds(2));
  EXPECT_TRUE(Eventually([&] { return queue.Len() == 1; }));
  EXPECT_EQ(queue.NumDelayed(), 0u);
}

TEST(WorkQueueTest, AddAfterZeroAddsNow) {
  ManualClock clock;
  WorkQueue queue(clock);
  queue.AddAfter("a", Duration::zero());
  EXPECT_EQ(queue.Len(), 1u);
}

TEST(WorkQueueTest, RateLimitedBackoffIsPerKeyExponentialAndForgettable) {
  ManualClock clock;
  WorkQueue queue(clock, RateLimiterOptions{milliseconds(10), seconds(1)});
  // Failures 1..3: 10ms, 20ms, 40ms.
  for (int i = 0; i < 3; ++i) {
    queue.AddRateLimited("a");
    const milliseconds expected(10 << i);
    clock.Advance(expected - milliseconds(1));
    EXPECT_FALSE(Eventually([&] { return queue.Len() > 0; }, milliseconds(60)));
    clock.Advance(milliseconds(1));
    EXPECT_TRUE(Eventually([&] { return queue.Len() == 1; }));
    auto key = queue.Get();
    queue.Done(*key);
  }
  EXPECT_EQ(queue.NumRequeues("a"), 3);
  EXPECT_EQ(queue.NumRequeues("b"), 0);
  queue.Forget("a");
  EXPECT_EQ(queue.NumRequeues("a"), 0);
  queue.AddRateLimited("a");
  clock.Advance(milliseconds(10));
  EXPECT_TRUE(Eventually([&] { return queue.Len() == 1; }));
}

TEST(WorkQueueTest, RateLimitIsCapped) {
  ManualClock clock;
  WorkQueue queue(clock, RateLimiterOptions{milliseconds(10), milliseconds(50)});
  for (int i = 0; i < 100; ++i) {
    queue.AddRateLimited("a");
    clock.Advance(milliseconds(50));
    ASSERT_TRUE(Eventually([&] { return queue.Len() == 1; })) << i;
    queue.Done(*queue.Get());
  }
}

TEST(WorkQueueTest, ShutDownWakesGettersAndIgnoresAdds) {
  ManualClock clock;
  WorkQueue queue(clock);
  auto getter = std::async(std::launch::async, [&] { return queue.Get(); });
  queue.ShutDown();
  EXPECT_EQ(getter.get(), std::nullopt);
  queue.Add("a");
  EXPECT_EQ(queue.Len(), 0u);
  EXPECT_TRUE(queue.ShuttingDown());
}

// Records what the queue reports, as the controller's Prometheus adapter sees it.
class RecordingMetrics : public WorkQueueMetrics {
 public:
  void Added() override { ++adds; }
  void Depth(size_t d) override { depth = d; }
  void Started(Duration waited) override { waits.push_back(waited); }
  void Finished(Duration worked) override { works.push_back(worked); }
  void Retried() override { ++retries; }
  int adds = 0;
  size_t depth = 0;
  std::vector<Duration> waits;
  std::vector<Duration> works;
  int retries = 0;
};

TEST(WorkQueueTest, ReportsAddsDepthLatencyWorkAndRetries) {
  ManualClock clock;
  RecordingMetrics m;
  WorkQueue queue(clock, {}, &m);
  queue.Add("a");
  queue.Add("b");
  queue.Add("a");  // already waiting: not an add
  EXPECT_EQ(m.adds, 2);
  EXPECT_EQ(m.depth, 2u);
  clock.Advance(milliseconds(30));
  ASSERT_EQ(queue.Get(), "a");
  EXPECT_EQ(m.depth, 1u);
  ASSERT_EQ(m.waits.size(), 1u);
  EXPECT_EQ(m.waits[0], milliseconds(30));
  clock.Advance(milliseconds(7));
  queue.Done("a");
  ASSERT_EQ(m.works.size(), 1u);
  EXPECT_EQ(m.works[0], milliseconds(7));
  queue.AddRateLimited("a");
  queue.AddRateLimited("a");
  EXPECT_EQ(m.retries, 2);
  ASSERT_EQ(queue.Get(), "b");
  EXPECT_EQ(m.depth, 0u);
  queue.Add("b");  // dirty while processing: counted, queued again on Done
  EXPECT_EQ(m.adds, 3);
  EXPECT_EQ(m.depth, 0u);
  queue.Done("b");
  EXPECT_EQ(m.depth, 1u);
}

TEST(WorkQueueTest, DestroysWithPendingDelayedKeysOnManualClock) {
  ManualClock clock;
  auto queue = std::make_unique<WorkQueue>(clock);
  queue->AddAfter("a", std::chrono::hours(1));
  queue.reset();  // must not wait for the clock
}

}  // namespace
}  // namespace zs::kube
