// The Scheduler against the in-memory apiserver (FakeKubeClient, which
// honours resourceVersion preconditions), a ManualClock and an invoker that
// completes requests when the test says: each tick fires once, across two
// schedulers and across a "dead" leader; deadlines, concurrency policies and
// outcomes land in status.triggers and the metrics.
#include "triggers/schedule/scheduler.h"

#include <deque>

#include <gtest/gtest.h>

#include "common/kube/resource.h"
#include "common/kube/testing/fake_kube_client.h"
#include "common/time_format.h"

namespace zs::triggers {
namespace {

using nlohmann::json;

class FakeInvoker final : public Invoker {
 public:
  struct Call {
    Invocation invocation;
    Done done;
    std::shared_ptr<bool> cancelled = std::make_shared<bool>(false);
  };
  class Handle final : public InvocationHandle {
   public:
    explicit Handle(std::shared_ptr<bool> cancelled) : cancelled_(std::move(cancelled)) {}
    void Cancel() override { *cancelled_ = true; }

   private:
    std::shared_ptr<bool> cancelled_;
  };

  std::shared_ptr<InvocationHandle> Start(Invocation invocation, Done done) override {
    calls.push_back({std::move(invocation), std::move(done)});
    return std::make_shared<Handle>(calls.back().cancelled);
  }
  // Ends call i with `status` (or as cancelled when it was).
  void Finish(size_t i, int status) {
    InvocationResult r;
    if (*calls[i].cancelled) {
      r.cancelled = true;
      r.error = "cancelled";
    } else {
      r.status = status;
    }
    calls[i].done(r);
  }
  std::deque<Call> calls;
};

std::string Header(const Invocation& inv, const std::string& name) {
  for (const auto& [n, v] : inv.headers) {
    if (n == name) return v;
  }
  return "";
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SeedFunction(const json& schedule, const std::string& name = "backup") {
    json trigger = {{"name", "tick"},
                    {"schedule", schedule},
                    {"request", {{"method", "POST"}, {"path", "/run"}, {"body", "go"}}}};
    json fn = {{"apiVersion", "zeroscale.dev/v1alpha1"}, {"kind", "Function"}};
    fn["metadata"] = {{"name", name}, {"namespace", "demo"}};
    fn["spec"] = {{"image", "fn:1"}};
    fn["spec"]["triggers"] = json::array({trigger});
    fake_.Seed(kube::kFunctions.In("demo"), fn);
  }
  std::unique_ptr<Scheduler> Make(FakeInvoker& invoker, const std::string& identity) {
    return std::make_unique<Scheduler>(
        fake_, clock_, invoker, metrics_,
        [this] {
          auto list = fake_.List(kube::kFunctions.In("demo"), {});
          return list.ok() ? (*list)["items"].get<std::vector<json>>() : std::vector<json>{};
        },
        Scheduler::Options{"http://activator", identity});
  }
  json Status(const std::string& name = "backup") {
    auto fn = fake_.Get(kube::FunctionRef("demo", name));
    EXPECT_TRUE(fn.ok());
    return (*fn)["status"]["triggers"][0];
  }
  // Moves the clock to `seconds` past the next whole minute.
  void ToNextMinutePlus(int seconds) {
    const auto since_epoch =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.WallNow().time_since_epoch());
    const auto into_minute = since_epoch % std::chrono::minutes(1);
    clock_.Advance(std::chrono::minutes(1) - into_minute + std::chrono::seconds(seconds));
  }
  std::string LastMinute() {
    return FormatRfc3339(std::chrono::floor<std::chrono::minutes>(clock_.WallNow()));
  }
  double Events(const std::string& result) {
    for (const auto& family : metrics_.registry()->Collect()) {
      if (family.name != "zeroscale_trigger_events_total") continue;
      double sum = 0;
      for (const auto& m : family.metric) {
        for (const auto& l : m.label) {
          if (l.name == "result" && l.value == result) sum += m.counter.value;
        }
      }
      return sum;
    }
    return 0;
  }

  kube::testing::FakeKubeClient fake_;
  ManualClock clock_;
  TriggerMetrics metrics_;
};

// The scheduler writes status.triggers whole; the entries of broker
// triggers, which the consumers write, pass through its writes untouched.
TEST_F(SchedulerTest, CarriesTheEntriesOfBrokerTriggers) {
  SeedFunction({{"cron", "* * * * *"}});
  json fn = *fake_.Get(kube::FunctionRef("demo", "backup"));
  fn["spec"]["triggers"].push_back(
      {{"name", "orders"}, {"redis", {{"address", "r:6379"}, {"stream", "orders"}}}});
  ASSERT_TRUE(fake_.Update(kube::FunctionRef("demo", "backup"), fn).ok());
  const json orders = {{"name", "orders"},  {"fired", 9},   {"succeeded", 8},
                       {"failed", 1},       {"missed", 0},  {"interrupted", 0},
                       {"deadLettered", 1}, {"pending", 4}, {"connected", "True"}};
  ASSERT_TRUE(
      fake_.PatchStatus(kube::FunctionRef("demo", "backup"), {{"status", {{"triggers", {orders}}}}}).ok());
  FakeInvoker invoker;
  auto scheduler = Make(invoker, "a");
  scheduler->Pass();
  const json triggers = (*fake_.Get(kube::FunctionRef("demo", "backup")))["status"]["triggers"];
  ASSERT_EQ(triggers.size(), 2u) << triggers;
  EXPECT_EQ(triggers[0]["name"], "tick");
  EXPECT_TRUE(triggers[0].contains("startTime"));
  EXPECT_EQ(triggers[1], orders);
}

TEST_F(SchedulerTest, FiresEachTickOnceThroughTheActivatorAndRecordsTheOutcome) {
  SeedFunction({{"cron", "* * * * *"}, {"timeZone", "UTC"}, {"concurrencyPolicy", "Allow"}});
  FakeInvoker invoker;
  auto scheduler = Make(invoker, "a");
  scheduler->Pass();
  EXPECT_TRUE(Status().contains("startTime")) << Status();
  EXPECT_TRUE(invoker.calls.empty()) << "nothing is due before the first tick after the trigger was seen";

  ToNextMinutePlus(2);
  scheduler->Pass();
  ASSERT_EQ(invoker.calls.size(), 1u);
  const Invocation& inv = invoker.calls[0].invocation;
  EXPECT_EQ(inv.url, "http://activator/fn/demo/backup/run");
  EXPECT_EQ(inv.method, "POST");
  EXPECT_EQ(inv.body, "go");
  EXPECT_EQ(Header(inv, "X-Zeroscale-Trigger"), "tick");
  EXPECT_EQ(Header(inv, "X-Zeroscale-Schedule-Time"), LastMinute());
  EXPECT_TRUE(Header(inv, "X-Request-Id").starts_with("trigger-demo-backup-tick-"));
  EXPECT_EQ(inv.timeout, std::chrono::seconds(60 + 30 + 5));
  EXPECT_EQ(Status()["fired"], 1);
  EXPECT_EQ(Status()["lastScheduleTime"], LastMinute());
  EXPECT_EQ(Status()["activeTick"], LastMinute());
  EXPECT_EQ(Status()["activeHolder"], "a");

  scheduler->Pass();
  EXPECT_EQ(invoker.calls.size(), 1u) << "a claimed tick is not sent again";

  invoker.Finish(0, 200);
  scheduler->Pass();
  EXPECT_EQ(Status()["succeeded"], 1);
  EXPECT_EQ(Status()["lastSuccessfulTime"], LastMinute());
  EXPECT_FALSE(Status().contains("activeTick"));
  EXPECT_EQ(Events("success"), 1);
  EXPECT_EQ(scheduler->InFlight(), 0);

  ToNextMinutePlus(0);
  scheduler->Pass();
  ASSERT_EQ(invoker.calls.size(), 2u);
  invoker.Finish(1, 500);
  scheduler->Pass();
  EXPECT_EQ(Status()["failed"], 1);
  EXPECT_EQ(Events("failure"), 1);
}

// Another writer claims between our read and our write: the claim gets 409,
// the pass reads again, sees the tick claimed and sends nothing.
class InterleavingClient final : public kube::ForwardingKubeClient {
 public:
  using ForwardingKubeClient::ForwardingKubeClient;
  absl::StatusOr<json> Patch(const kube::ResourceRef& ref, kube::PatchType type, const json& patch,
                             const kube::WriteOptions& options) override {
    if (before_patch) {
      auto hook = std::move(before_patch);
      before_patch = nullptr;
      hook();
    }
    return ForwardingKubeClient::Patch(ref, type, patch, options);
  }
  std::function<void()> before_patch;
};

TEST_F(SchedulerTest, TwoSchedulersRacingForATickFireItOnce) {
  SeedFunction({{"cron", "* * * * *"}, {"timeZone", "UTC"}, {"concurrencyPolicy", "Allow"}});
  FakeInvoker invoker_a, invoker_b;
  InterleavingClient client_a(fake_);
  Scheduler a(
      client_a, clock_, invoker_a, metrics_,
      [this] { return (*fake_.List(kube::kFunctions.In("demo"), {}))["items"].get<std::vector<json>>(); },
      Scheduler::Options{"http://activator", "a"});
  auto b = Make(invoker_b, "b");
  b->Pass();  // startTime
  ToNextMinutePlus(1);
  client_a.before_patch = [&] { b->Pass(); };  // b claims while a is between GET and PATCH
  a.Pass();
  EXPECT_EQ(invoker_a.calls.size() + invoker_b.calls.size(), 1u);
  EXPECT_EQ(invoker_b.calls.size(), 1u);
  EXPECT_EQ(Status()["fired"], 1);
  for (int i = 0; i < 3; ++i) {
    a.Pass();
    b->Pass();
  }
  EXPECT_EQ(invoker_a.calls.size() + invoker_b.calls.size(), 1u);
  double conflicts = 0;
  for (const auto& family : metrics_.registry()->Collect()) {
    if (family.name != "zeroscale_trigger_status_writes_total") continue;
    for (const auto& m : family.metric) {
      if (m.label[0].value == "conflict") conflicts += m.counter.value;
    }
  }
  EXPECT_GE(conflicts, 1);
}

// The leader claims a tick and dies before sending it; the next leader
// counts it interrupted (never sends it twice), then fires the tick that came
// due while nobody led, late but within startingDeadlineSeconds.
TEST_F(SchedulerTest, FailoverNeitherRepeatsAClaimedTickNorLosesAnUnclaimedOne) {
  SeedFunction({{"cron", "* * * * *"},
                {"timeZone", "UTC"},
                {"concurrencyPolicy", "Allow"},
                {"startingDeadlineSeconds", 60}});
  FakeInvoker invoker_a, invoker_b;
  auto a = Make(invoker_a, "a");
  a->Pass();
  ToNextMinutePlus(0);
  a->Pass();
  ASSERT_EQ(invoker_a.calls.size(), 1u);
  const std::string claimed = LastMinute();
  a.reset();  // killed: its invocation's outcome is never recorded

  ToNextMinutePlus(30);  // the next tick passed 30 s ago, unclaimed
  auto b = Make(invoker_b, "b");
  b->Pass();
  EXPECT_EQ(Status()["interrupted"], 1);
  ASSERT_EQ(invoker_b.calls.size(), 1u);
  EXPECT_EQ(Header(invoker_b.calls[0].invocation, "X-Zeroscale-Schedule-Time"), LastMinute());
  EXPECT_NE(LastMinute(), claimed);
  EXPECT_EQ(Status()["fired"], 2);
  EXPECT_EQ(Status()["missed"], 0);
  EXPECT_EQ(Events("interrupted"), 1);
  b->Pass();
  EXPECT_EQ(invoker_b.calls.size(), 1u);
}

TEST_F(SchedulerTest, TicksPastTheStartingDeadlineAreSkippedAndCounted) {
  SeedFunction({{"cron", "* * * * *"},
                {"timeZone", "UTC"},
                {"concurrencyPolicy", "Allow"},
                {"startingDeadlineSeconds", 10}});
  FakeInvoker invoker;
  auto scheduler = Make(invoker, "a");
  scheduler->Pass();
  ToNextMinutePlus(0);
  clock_.Advance(std::chrono::minutes(2) + std::chrono::seconds(30));  // three ticks, the last 30 s ago
  scheduler->Pass();
  EXPECT_TRUE(invoker.calls.empty());
  EXPECT_EQ(Status()["missed"], 3);
  EXPECT_EQ(Events("missed"), 3);
  scheduler->Pass();
  EXPECT_EQ(Status()["missed"], 3) << "a missed tick is counted once";
}

TEST_F(SchedulerTest, CatchUpFiresEveryTickWithinTheDeadlineOldestFirst) {
  SeedFunction({{"cron", "* * * * *"},
                {"timeZone", "UTC"},
                {"concurrencyPolicy", "Allow"},
                {"startingDeadlineSeconds", 300}});
  FakeInvoker invoker;
  auto scheduler = Make(invoker, "a");
  scheduler->Pass();
  ToNextMinutePlus(0);
  clock_.Advance(std::chrono::minutes(2) + std::chrono::seconds(5));
  for (int i = 0; i < 4; ++i) scheduler->Pass();
  ASSERT_EQ(invoker.calls.size(), 3u);
  std::vector<std::string> ticks;
  for (const auto& c : invoker.calls) ticks.push_back(Header(c.invocation, "X-Zeroscale-Schedule-Time"));
  EXPECT_LT(ticks[0], ticks[1]);
  EXPECT_LT(ticks[1], ticks[2]);
  EXPECT_EQ(Status()["fired"], 3);
}

TEST_F(SchedulerTest, ForbidHoldsTheTickUntilThePreviousEnds) {
  SeedFunction({{"cron", "* * * * *"},
                {"timeZone", "UTC"},
                {"concurrencyPolicy", "Forbid"},
                {"startingDeadlineSeconds", 30}});
  FakeInvoker invoker;
  auto scheduler = Make(invoker, "a");
  scheduler->Pass();
  ToNextMinutePlus(0);
  scheduler->Pass();
  ASSERT_EQ(invoker.calls.size(), 1u);
  ToNextMinutePlus(5);
  scheduler->Pass();
  EXPECT_EQ(invoker.calls.size(), 1u) << "held while the previous runs";
  invoker.Finish(0, 200);
  scheduler->Pass();  // records the outcome and fires the held tick, 5 s late
  ASSERT_EQ(invoker.calls.size(), 2u);
  EXPECT_EQ(Header(invoker.calls[1].invocation, "X-Zeroscale-Schedule-Time"), LastMinute());
  // Held past the deadline: missed.
  ToNextMinutePlus(0);
  clock_.Advance(std::chrono::seconds(40));
  scheduler->Pass();
  invoker.Finish(1, 200);
  scheduler->Pass();
  EXPECT_EQ(invoker.calls.size(), 2u);
  EXPECT_EQ(Status()["missed"], 1);
}

TEST_F(SchedulerTest, ReplaceCancelsTheRunningInvocation) {
  SeedFunction({{"cron", "* * * * *"}, {"timeZone", "UTC"}, {"concurrencyPolicy", "Replace"}});
  FakeInvoker invoker;
  auto scheduler = Make(invoker, "a");
  scheduler->Pass();
  ToNextMinutePlus(0);
  scheduler->Pass();
  ToNextMinutePlus(0);
  scheduler->Pass();
  ASSERT_EQ(invoker.calls.size(), 2u);
  EXPECT_TRUE(*invoker.calls[0].cancelled);
  invoker.Finish(0, 0);
  invoker.Finish(1, 204);
  scheduler->Pass();
  EXPECT_EQ(Events("replaced"), 1);
  EXPECT_EQ(Events("success"), 1);
  EXPECT_EQ(Status()["failed"], 1);
  EXPECT_EQ(Status()["succeeded"], 1);
}

TEST_F(SchedulerTest, AllowRunsOverlappingInvocations) {
  SeedFunction({{"cron", "* * * * *"}, {"timeZone", "UTC"}, {"concurrencyPolicy", "Allow"}});
  FakeInvoker invoker;
  auto scheduler = Make(invoker, "a");
  scheduler->Pass();
  ToNextMinutePlus(0);
  scheduler->Pass();
  ToNextMinutePlus(0);
  scheduler->Pass();
  ASSERT_EQ(invoker.calls.size(), 2u);
  EXPECT_FALSE(*invoker.calls[0].cancelled);
  EXPECT_EQ(scheduler->InFlight(), 2);
}

TEST_F(SchedulerTest, RemovedTriggersLeaveStatusAndDeletedFunctionsLeaveState) {
  SeedFunction({{"cron", "* * * * *"}, {"timeZone", "UTC"}, {"concurrencyPolicy", "Allow"}});
  FakeInvoker invoker;
  auto scheduler = Make(invoker, "a");
  scheduler->Pass();
  auto fn = *fake_.Get(kube::FunctionRef("demo", "backup"));
  fn["spec"].erase("triggers");
  ASSERT_TRUE(fake_.Update(kube::FunctionRef("demo", "backup"), fn).ok());
  scheduler->Pass();
  EXPECT_TRUE((*fake_.Get(kube::FunctionRef("demo", "backup")))["status"]["triggers"].empty());
}

}  // namespace
}  // namespace zs::triggers
