#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/kube/resource.h"
#include "common/kube/testing/fake_kube_client.h"
#include "controller/event_correlator.h"
#include "controller/events.h"

namespace zs::controller {
namespace {

using nlohmann::json;
using std::chrono::minutes;
using std::chrono::seconds;
using Action = EventCorrelator::Action;

EventRecord Rec(const std::string& name, std::string message, std::string reason = "ScaledUp") {
  return {"demo", name, "uid-" + name, "Normal", std::move(reason), std::move(message)};
}

TEST(EventCorrelatorTest, ARepeatBumpsTheCountOfTheEventCreatedFirst) {
  ManualClock clock;
  EventCorrelator c;
  auto first = c.Observe(Rec("fn", "from 0 to 1"), clock.Now(), clock.WallNow());
  ASSERT_EQ(first.action, Action::kCreate);
  c.Created(Rec("fn", "from 0 to 1"), "fn.abc");
  const SystemTime first_wall = clock.WallNow();
  for (int i = 2; i <= 5; ++i) {
    clock.Advance(seconds(30));
    auto v = c.Observe(Rec("fn", "from 0 to 1"), clock.Now(), clock.WallNow());
    ASSERT_EQ(v.action, Action::kBump);
    EXPECT_EQ(v.event_name, "fn.abc");
    EXPECT_EQ(v.count, i);
    EXPECT_EQ(v.first, first_wall);
  }
  EXPECT_EQ(c.series(), 1u);
}

TEST(EventCorrelatorTest, AnotherMessageReasonOrFunctionIsAnotherEvent) {
  ManualClock clock;
  EventCorrelator c;
  for (const EventRecord& e :
       {Rec("fn", "a"), Rec("fn", "b"), Rec("fn", "a", "ScaledDown"), Rec("other", "a")}) {
    auto v = c.Observe(e, clock.Now(), clock.WallNow());
    EXPECT_EQ(v.action, Action::kCreate) << e.name << " " << e.reason << " " << e.message;
    c.Created(e, e.name + "." + e.reason + e.message);
  }
  EXPECT_EQ(c.series(), 4u);
}

TEST(EventCorrelatorTest, ARepeatAfterTheWindowStartsANewEvent) {
  ManualClock clock;
  EventCorrelator c({.window = minutes(10)});
  c.Observe(Rec("fn", "m"), clock.Now(), clock.WallNow());
  c.Created(Rec("fn", "m"), "fn.1");
  clock.Advance(minutes(10) + seconds(1));
  auto v = c.Observe(Rec("fn", "m"), clock.Now(), clock.WallNow());
  EXPECT_EQ(v.action, Action::kCreate);
  EXPECT_EQ(v.count, 1);
}

TEST(EventCorrelatorTest, AnUnconfirmedOrForgottenCreateIsCreatedAgain) {
  ManualClock clock;
  EventCorrelator c;
  EXPECT_EQ(c.Observe(Rec("fn", "m"), clock.Now(), clock.WallNow()).action, Action::kCreate);
  // The create failed: no name was confirmed.
  EXPECT_EQ(c.Observe(Rec("fn", "m"), clock.Now(), clock.WallNow()).action, Action::kCreate);
  c.Created(Rec("fn", "m"), "fn.1");
  EXPECT_EQ(c.Observe(Rec("fn", "m"), clock.Now(), clock.WallNow()).action, Action::kBump);
  c.Forget(Rec("fn", "m"));  // could not be written
  EXPECT_EQ(c.Observe(Rec("fn", "m"), clock.Now(), clock.WallNow()).action, Action::kCreate);
}

TEST(EventCorrelatorTest, AnExpiredEventRestartsItsSeriesWithoutASecondToken) {
  ManualClock clock;
  EventCorrelator c({.burst = 2});
  EXPECT_EQ(c.Observe(Rec("fn", "m"), clock.Now(), clock.WallNow()).action, Action::kCreate);
  c.Created(Rec("fn", "m"), "fn.1");
  EXPECT_EQ(c.Observe(Rec("fn", "m"), clock.Now(), clock.WallNow()).action, Action::kBump);
  // The bump found fn.1 gone: the same Event is created anew as the first of a new series.
  c.Restart(Rec("fn", "m"), clock.Now(), clock.WallNow());
  c.Created(Rec("fn", "m"), "fn.2");
  EXPECT_EQ(c.series(), 1u);
  // Both tokens were spent by the two Observe calls, none by the restart.
  EXPECT_EQ(c.Observe(Rec("fn", "m"), clock.Now(), clock.WallNow()).action, Action::kDrop);
  clock.Advance(std::chrono::minutes(5));
  auto v = c.Observe(Rec("fn", "m"), clock.Now(), clock.WallNow());
  EXPECT_EQ(v.action, Action::kBump);
  EXPECT_EQ(v.event_name, "fn.2");
  EXPECT_EQ(v.count, 2);
}

TEST(EventCorrelatorTest, EachFunctionHasItsOwnTokenBucket) {
  ManualClock clock;
  EventCorrelator c({.burst = 3, .refill_every = minutes(5)});
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(c.Observe(Rec("hot", std::to_string(i)), clock.Now(), clock.WallNow()).action, Action::kDrop);
  }
  // Repeats and new messages alike are dropped once the bucket is empty.
  EXPECT_EQ(c.Observe(Rec("hot", "3"), clock.Now(), clock.WallNow()).action, Action::kDrop);
  EXPECT_EQ(c.Observe(Rec("hot", "0"), clock.Now(), clock.WallNow()).action, Action::kDrop);
  // Another Function is not held back by the hot one.
  EXPECT_EQ(c.Observe(Rec("calm", "0"), clock.Now(), clock.WallNow()).action, Action::kCreate);
  // One token per refill period comes back, never more than the burst.
  clock.Advance(minutes(5));
  EXPECT_NE(c.Observe(Rec("hot", "4"), clock.Now(), clock.WallNow()).action, Action::kDrop);
  EXPECT_EQ(c.Observe(Rec("hot", "5"), clock.Now(), clock.WallNow()).action, Action::kDrop);
  clock.Advance(minutes(60));
  for (int i = 0; i < 3; ++i) {
    EXPECT_NE(c.Observe(Rec("hot", "x" + std::to_string(i)), clock.Now(), clock.WallNow()).action,
              Action::kDrop);
  }
  EXPECT_EQ(c.Observe(Rec("hot", "y"), clock.Now(), clock.WallNow()).action, Action::kDrop);
}

TEST(EventCorrelatorTest, MemoryIsBoundedBySeriesCount) {
  ManualClock clock;
  EventCorrelator c({.max_series = 8});
  for (int i = 0; i < 100; ++i) {
    const EventRecord e = Rec("fn" + std::to_string(i), "m");
    c.Observe(e, clock.Now(), clock.WallNow());
    c.Created(e, "x");
  }
  EXPECT_LE(c.series(), 8u);
}

api::Function Fn(const std::string& name) {
  api::Function fn;
  fn.metadata.namespace_ = "demo";
  fn.metadata.name = name;
  fn.metadata.uid = "uid-" + name;
  return fn;
}

std::vector<json> EventsIn(kube::testing::FakeKubeClient& fake) {
  auto list = fake.List(kube::kCoreEvents.In("demo"), {});
  EXPECT_TRUE(list.ok());
  return list.ok() ? (*list)["items"].get<std::vector<json>>() : std::vector<json>{};
}

TEST(KubeEventRecorderTest, RepeatsBecomeOneEventWithACount) {
  kube::testing::FakeKubeClient fake;
  ManualClock clock;
  std::vector<std::string> results;
  KubeEventRecorder::Options options;
  options.count = [&results](const std::string& r) { results.push_back(r); };
  KubeEventRecorder recorder(fake, clock, "test", options);
  for (int i = 0; i < 5; ++i) recorder.Record(Fn("fn"), EventType::kWarning, "ScaleFailed", "apiserver down");
  recorder.Record(Fn("fn"), EventType::kNormal, "ScaledUp", "from 0 to 1");
  recorder.Flush();
  std::vector<json> events = EventsIn(fake);
  ASSERT_EQ(events.size(), 2u);
  int counted = 0;
  for (const json& e : events) {
    if (e["reason"] == "ScaleFailed") {
      EXPECT_EQ(e["count"], 5);
      EXPECT_EQ(e["type"], "Warning");
      EXPECT_EQ(e["involvedObject"]["uid"], "uid-fn");
      ++counted;
    } else {
      EXPECT_EQ(e["count"], 1);
    }
  }
  EXPECT_EQ(counted, 1);
  EXPECT_EQ(fake.Calls("create"), 2);
  EXPECT_EQ(fake.Calls("patch"), 4);
  EXPECT_EQ(std::count(results.begin(), results.end(), "aggregated"), 4);
}

TEST(KubeEventRecorderTest, AHotFunctionIsRateLimitedAndNoOtherIs) {
  kube::testing::FakeKubeClient fake;
  ManualClock clock;
  int limited = 0;
  KubeEventRecorder::Options options;
  options.correlator.burst = 5;
  options.count = [&limited](const std::string& r) { limited += r == "rate_limited" ? 1 : 0; };
  KubeEventRecorder recorder(fake, clock, "test", options);
  for (int i = 0; i < 50; ++i) {
    recorder.Record(Fn("hot"), EventType::kWarning, "ChildWriteFailed", "attempt " + std::to_string(i));
  }
  recorder.Record(Fn("calm"), EventType::kNormal, "DeploymentCreated", "created");
  recorder.Flush();
  EXPECT_EQ(EventsIn(fake).size(), 6u);
  EXPECT_EQ(limited, 45);
}

TEST(KubeEventRecorderTest, RecordNeverWaitsOnTheApiserver) {
  kube::testing::FakeKubeClient fake;
  ManualClock clock;
  std::mutex gate;
  std::unique_lock held(gate);
  KubeEventRecorder::Options options;
  // The "apiserver" hangs until the test lets it go.
  options.may_post = [&gate] {
    std::lock_guard wait(gate);
    return true;
  };
  KubeEventRecorder recorder(fake, clock, "test", options);
  for (int i = 0; i < 10; ++i) recorder.Record(Fn("fn"), EventType::kNormal, "ScaledUp", "m");
  EXPECT_EQ(fake.Calls("create"), 0);  // Record returned with the writer stuck
  held.unlock();
  recorder.Flush();
  EXPECT_EQ(EventsIn(fake).size(), 1u);
}

TEST(KubeEventRecorderTest, NotLeadingWritesNothingAndDiscardDropsTheQueue) {
  kube::testing::FakeKubeClient fake;
  ManualClock clock;
  std::atomic<bool> leading{false};
  KubeEventRecorder::Options options;
  options.may_post = [&leading] { return leading.load(); };
  KubeEventRecorder recorder(fake, clock, "test", options);
  recorder.Record(Fn("fn"), EventType::kNormal, "ScaledUp", "m");
  recorder.Flush();
  EXPECT_EQ(fake.Calls("create"), 0);
  leading = true;
  recorder.Discard();
  recorder.Record(Fn("fn"), EventType::kNormal, "ScaledUp", "m2");
  recorder.Flush();
  EXPECT_EQ(fake.Calls("create"), 1);
}

TEST(KubeEventRecorderTest, AnExpiredEventIsCreatedAgain) {
  kube::testing::FakeKubeClient fake;
  ManualClock clock;
  KubeEventRecorder recorder(fake, clock, "test");
  recorder.Record(Fn("fn"), EventType::kNormal, "ScaledUp", "m");
  recorder.Flush();
  std::vector<json> events = EventsIn(fake);
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(fake.Delete(kube::kCoreEvents.In("demo").Named(events[0]["metadata"]["name"])).ok());
  recorder.Record(Fn("fn"), EventType::kNormal, "ScaledUp", "m");
  recorder.Flush();
  events = EventsIn(fake);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["count"], 1);
}

}  // namespace
}  // namespace zs::controller
