// AutoscalerLoop against the in-memory apiserver:
// - its stop gate: once Stop() returned, nothing scales, not even a Wake
//   that was already in flight (a replica that stops leading releases its
//   Lease right after, and a standby may then scale the same Deployment);
// - the race with scale-to-zero (a conditional, serialised zero patch) and
//   per-Function state that lives and dies with its Function.
#include "controller/scaling/autoscaler_loop.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/json_util.h"
#include "common/kube/errors.h"
#include "common/kube/resource.h"
#include "common/kube/testing/fake_kube_client.h"

namespace zs::controller {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class NoEvents : public EventRecorder {
 public:
  void Record(const api::Function&, EventType, const std::string&, const std::string&) override {}
};

// Holds every Patch until Release().
class HoldingClient : public kube::ForwardingKubeClient {
 public:
  using ForwardingKubeClient::ForwardingKubeClient;
  absl::StatusOr<json> Patch(const kube::ResourceRef& ref, kube::PatchType type, const json& patch,
                             const kube::WriteOptions& options = {}) override {
    {
      std::unique_lock lock(mu_);
      ++held_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
    }
    patched_ = true;
    return target().Patch(ref, type, patch, options);
  }
  void AwaitHeld() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return held_ > 0; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::atomic<bool> patched_{false};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int held_ = 0;
  bool released_ = false;
};

class AutoscalerLoopTest : public ::testing::Test {
 protected:
  AutoscalerLoopTest()
      : client_(fake_),
        stats_(clock_),
        loop_(
            client_, clock_, stats_, Get(kube::kFunctions), Get(kube::kDeployments),
            [] { return std::vector<std::shared_ptr<const json>>(); }, events_, metrics_,
            [](const std::string&) {}, {}) {
    fake_.Seed(kube::kFunctions.In("demo"),
               {{"apiVersion", "zeroscale.dev/v1alpha1"},
                {"kind", "Function"},
                {"metadata", {{"name", "hello"}, {"namespace", "demo"}, {"uid", "uid-1"}}},
                {"spec", {{"image", "zeroscale/fn-echo:dev"}, {"scaling", {{"minReplicas", 0}}}}}});
    fake_.Seed(kube::kDeployments.In("demo"), {{"apiVersion", "apps/v1"},
                                               {"kind", "Deployment"},
                                               {"metadata",
                                                {{"name", "hello"},
                                                 {"namespace", "demo"},
                                                 {"ownerReferences",
                                                  {{{"apiVersion", "zeroscale.dev/v1alpha1"},
                                                    {"kind", "Function"},
                                                    {"name", "hello"},
                                                    {"uid", "uid-1"},
                                                    {"controller", true}}}}}},
                                               {"spec", {{"replicas", 0}}}});
  }
  Lister Get(const kube::ResourceRef& collection) {
    return [this, collection](const std::string& key) -> std::shared_ptr<const json> {
      auto got = fake_.Get(collection.In("demo").Named(key.substr(key.find('/') + 1)));
      if (!got.ok()) return nullptr;
      return std::make_shared<const json>(*std::move(got));
    };
  }
  int Replicas() {
    auto got = fake_.Get(kube::DeploymentRef("demo", "hello"));
    return got.ok() ? (*got)["spec"].value("replicas", -1) : -1;
  }

  kube::testing::FakeKubeClient fake_;
  HoldingClient client_;
  ManualClock clock_;
  autoscaler::StatsAggregator stats_;
  NoEvents events_;
  ControllerMetrics metrics_;
  AutoscalerLoop loop_;
};

TEST_F(AutoscalerLoopTest, StopWaitsForAWakeInFlight) {
  auto wake = std::async(std::launch::async, [this] { return loop_.Wake("demo", "hello"); });
  client_.AwaitHeld();
  auto stop = std::async(std::launch::async, [this] { loop_.Stop(); });
  // The wake's patch is still held: Stop() may not return before it ends.
  EXPECT_EQ(stop.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  client_.Release();
  stop.get();
  auto woken = wake.get();
  ASSERT_TRUE(woken.ok()) << woken.status();
  EXPECT_EQ(*woken, AutoscalerLoop::WakeResult::kScaled);
  EXPECT_EQ(Replicas(), 1);
}

TEST_F(AutoscalerLoopTest, NoWakeAfterStop) {
  client_.Release();
  loop_.Stop();
  auto woken = loop_.Wake("demo", "hello");
  EXPECT_TRUE(absl::IsUnavailable(woken.status())) << woken.status();
  EXPECT_FALSE(client_.patched_);
  EXPECT_EQ(Replicas(), 0);
}

class RecordingEvents : public EventRecorder {
 public:
  void Record(const api::Function&, EventType type, const std::string& reason, const std::string&) override {
    reasons.push_back((type == EventType::kNormal ? "Normal/" : "Warning/") + reason);
  }
  std::vector<std::string> reasons;
};

const std::string kKey = "demo/hello";
const autoscaler::FunctionKey kFn{"demo", "hello"};

class AutoscalerLoopScalingTest : public ::testing::Test {
 protected:
  AutoscalerLoopScalingTest()
      : stats_(clock_, StatsOptions()),
        loop_(
            fake_, clock_, stats_,
            [this](const std::string& key) { return Shared(Get(kube::kFunctions, key)); },
            [this](const std::string& key) {
              // The informer's copy: the apiserver's, unless the test holds
              // a stale one (an informer lagging behind a write).
              if (stale_deployment_) return Shared(stale_deployment_);
              return Shared(Get(kube::kDeployments, key));
            },
            [this] {
              auto list = fake_.List(kube::kFunctions, {});
              std::vector<std::shared_ptr<const json>> items;
              if (list.ok()) {
                for (const json& item : (*list)["items"]) items.push_back(std::make_shared<const json>(item));
              }
              return items;
            },
            events_, metrics_, [](const std::string&) {}, {}) {}

  autoscaler::StatsAggregator::Options StatsOptions() {
    autoscaler::StatsAggregator::Options options;
    options.known = [this](const autoscaler::FunctionKey& key) {
      return Get(kube::kFunctions, key.String()).has_value();
    };
    return options;
  }

  static std::shared_ptr<const json> Shared(const std::optional<json>& object) {
    return object ? std::make_shared<const json>(*object) : nullptr;
  }

  std::optional<json> Get(const kube::ResourceRef& collection, const std::string& key) {
    const auto slash = key.find('/');
    auto got = fake_.Get(collection.In(key.substr(0, slash)).Named(key.substr(slash + 1)));
    if (!got.ok()) return std::nullopt;
    return *got;
  }

  void SeedFunction(const std::string& uid, int idle_seconds) {
    fake_.Seed(kube::kFunctions.In("demo"),
               {{"apiVersion", "zeroscale.dev/v1alpha1"},
                {"kind", "Function"},
                {"metadata", {{"name", "hello"}, {"namespace", "demo"}, {"uid", uid}, {"generation", 1}}},
                {"spec",
                 {{"image", "zeroscale/fn-echo:dev"},
                  {"scaling",
                   {{"minReplicas", 0}, {"maxReplicas", 3}, {"scaleToZeroAfterSeconds", idle_seconds}}}}}});
  }
  // The Function's Deployment (controlled by `owner_uid`; "" = no owner:
  // someone else's Deployment of the same name).
  void SeedDeployment(int replicas, const std::string& owner_uid = "uid-1",
                      const std::string& uid = "deployment-1") {
    json metadata = {{"name", "hello"}, {"namespace", "demo"}, {"uid", uid}};
    if (!owner_uid.empty()) {
      metadata["ownerReferences"] = {{{"apiVersion", "zeroscale.dev/v1alpha1"},
                                      {"kind", "Function"},
                                      {"name", "hello"},
                                      {"uid", owner_uid},
                                      {"controller", true}}};
    }
    fake_.Seed(kube::kDeployments.In("demo"),
               {{"apiVersion", "apps/v1"},
                {"kind", "Deployment"},
                {"metadata", metadata},
                {"spec", {{"replicas", replicas}}},
                {"status", {{"replicas", replicas}, {"readyReplicas", replicas}}}});
  }
  int32_t Replicas() { return Int32At(*Get(kube::kDeployments, kKey), "/spec/replicas"); }

  // One activator's report: `requests` arrived in the last second, with
  // `concurrency` in flight on average.
  void Report(uint64_t requests = 0, double concurrency = 0) {
    autoscaler::StatsReport report;
    report.activator_id = "activator-0";
    report.window_end = clock_.WallNow();
    autoscaler::FunctionLoad load;
    load.function = kFn;
    load.requests = requests;
    load.average_concurrency = concurrency;
    load.peak_concurrency = concurrency;
    load.in_flight = static_cast<uint32_t>(concurrency);
    if (requests > 0) load.last_request_time = clock_.WallNow();
    report.functions.push_back(load);
    stats_.Ingest(report);
  }
  // Time passes with the activator reporting (nothing) every second.
  void Idle(Duration d) {
    for (Duration passed = 0s; passed < d; passed += 1s) {
      clock_.Advance(1s);
      Report();
    }
  }

  kube::testing::FakeKubeClient fake_;
  ManualClock clock_;
  RecordingEvents events_;
  ControllerMetrics metrics_;
  autoscaler::StatsAggregator stats_;
  std::optional<json> stale_deployment_;
  AutoscalerLoop loop_;
};

// The race with scale-to-zero. The informer lags behind our own patch to 0;
// a request wakes the Function meanwhile. Wake must not trust the cache's
// stale "1 replica", and the next tick, deciding on that stale Deployment,
// must not undo the wake: its patch is conditioned on the resourceVersion
// it decided on, and the apiserver refuses it.
TEST_F(AutoscalerLoopScalingTest, ScaleToZeroIsConditionedOnTheDeploymentItWasDecidedOn) {
  SeedFunction("uid-1", 5);
  SeedDeployment(1);
  Report(1);
  Idle(5s);
  stale_deployment_ = Get(kube::kDeployments, kKey);  // replicas 1, as decided on
  loop_.Tick();
  ASSERT_EQ(Replicas(), 0);
  ASSERT_EQ(events_.reasons, std::vector<std::string>{"Normal/ScaledDown"});

  // The cache still says 1 replica. A request arrives and wakes it.
  auto woken = loop_.Wake("demo", "hello");
  ASSERT_TRUE(woken.ok()) << woken.status();
  EXPECT_EQ(*woken, AutoscalerLoop::WakeResult::kScaled);
  EXPECT_EQ(Replicas(), 1);

  // The next tick reads the same stale Deployment (its request not yet
  // reported) and decides 0 again: the apiserver refuses the patch.
  const int patches = fake_.Calls("patch");
  loop_.Tick();
  EXPECT_EQ(fake_.Calls("patch"), patches + 1);
  EXPECT_EQ(Replicas(), 1);
  EXPECT_EQ(events_.reasons, (std::vector<std::string>{"Normal/ScaledDown", "Normal/ScaledUp"}))
      << "an overtaken decision is neither a scale nor a failure";
  EXPECT_EQ(loop_.StatusOf(kKey)->desired_replicas, 1);

  // Once the cache has caught up, a decision on it stands again.
  stale_deployment_.reset();
  Idle(5s);
  loop_.Tick();
  EXPECT_EQ(Replicas(), 0);
  // And once the cache has shown that 0 to a tick, a Wake trusts the cache
  // again: no read of the Scale on the wake-up path.
  stale_deployment_ = Get(kube::kDeployments, kKey);
  loop_.Tick();
  const int gets = fake_.Calls("get");
  woken = loop_.Wake("demo", "hello");
  ASSERT_TRUE(woken.ok());
  EXPECT_EQ(*woken, AutoscalerLoop::WakeResult::kScaled);
  EXPECT_EQ(fake_.Calls("get") - gets, 1) << "only the Function, from its lister";
  EXPECT_EQ(Replicas(), 1);
}

TEST_F(AutoscalerLoopScalingTest, DeletedFunctionStateIsFreed) {
  SeedFunction("uid-1", 60);
  SeedDeployment(1);
  Report(3);
  loop_.Tick();
  EXPECT_EQ(loop_.TrackedFunctions(), std::vector<std::string>{kKey});
  EXPECT_EQ(stats_.Functions(), std::vector<autoscaler::FunctionKey>{kFn});
  EXPECT_TRUE(loop_.StatusOf(kKey).has_value());

  // Deleted: the informer's delete handler calls Forget().
  ASSERT_TRUE(fake_.Delete(kube::FunctionRef("demo", "hello")).ok());
  loop_.Forget(kKey);
  EXPECT_TRUE(loop_.TrackedFunctions().empty());
  EXPECT_TRUE(stats_.Functions().empty());
  EXPECT_FALSE(loop_.StatusOf(kKey).has_value());
  // An activator that still reports it, or wakes it, recreates nothing.
  Report(5);
  EXPECT_TRUE(stats_.Functions().empty());
  auto woken = loop_.Wake("demo", "hello");
  ASSERT_TRUE(woken.ok());
  EXPECT_EQ(*woken, AutoscalerLoop::WakeResult::kNotFound);
  EXPECT_TRUE(loop_.TrackedFunctions().empty());

  // Without the handler (a delete event missed): the next tick's sweep.
  SeedFunction("uid-2", 60);
  SeedDeployment(1, "uid-2", "deployment-2");
  Report(1);
  loop_.Tick();
  ASSERT_EQ(loop_.TrackedFunctions(), std::vector<std::string>{kKey});
  ASSERT_TRUE(fake_.Delete(kube::FunctionRef("demo", "hello")).ok());
  loop_.Tick();
  EXPECT_TRUE(loop_.TrackedFunctions().empty());
  EXPECT_TRUE(stats_.Functions().empty());
  EXPECT_FALSE(loop_.StatusOf(kKey).has_value());
}

// A Function deleted and created again under the same name (the informer
// may show it as an update: another uid) inherits nothing: not the old
// one's last request, not its decision state.
TEST_F(AutoscalerLoopScalingTest, RecreatedFunctionStartsFresh) {
  SeedFunction("uid-1", 60);
  SeedDeployment(1);
  Report(1);
  const MonotonicTime last_old_request = clock_.Now();
  loop_.Tick();
  ASSERT_TRUE(loop_.StatusOf(kKey)->last_request_time.has_value());
  Idle(30s);
  loop_.Tick();

  ASSERT_TRUE(fake_.Delete(kube::FunctionRef("demo", "hello")).ok());
  SeedFunction("uid-2", 60);
  SeedDeployment(1, "uid-2", "deployment-2");  // what the reconciler makes for it
  const MonotonicTime recreated = clock_.Now();
  loop_.Tick();
  EXPECT_FALSE(loop_.StatusOf(kKey)->last_request_time.has_value());
  EXPECT_FALSE(stats_.SamplesFor(kFn).last_request_time.has_value());

  // The old incarnation would have gone to zero 60 s after its request; the
  // new one has no request and waits a full period from when it was first
  // seen, as a Function this controller never saw before.
  Idle(last_old_request + 60s - clock_.Now());
  loop_.Tick();
  EXPECT_EQ(Replicas(), 1);
  Idle(recreated + 60s - clock_.Now());
  loop_.Tick();
  EXPECT_EQ(Replicas(), 0);
}

// A Deployment with the Function's name that the Function does not control
// (no owner reference, or another controller's) is never resized: not by
// a tick under load, not by a Wake, whether the cache has it or not.
TEST_F(AutoscalerLoopScalingTest, ForeignDeploymentIsNeverScaled) {
  SeedFunction("uid-1", 5);
  for (const std::string& owner : {std::string(), std::string("uid-of-another")}) {
    SeedDeployment(0, owner);
    Report(50, 25);
    loop_.Tick();
    EXPECT_EQ(fake_.Calls("patch"), 0);
    auto woken = loop_.Wake("demo", "hello");
    EXPECT_TRUE(absl::IsFailedPrecondition(woken.status())) << woken.status();
    Idle(10s);
    loop_.Tick();
    EXPECT_EQ(fake_.Calls("patch"), 0);
    EXPECT_EQ(Replicas(), 0);
  }
  // Not in the cache at all (it holds only labelled Deployments): Wake reads
  // it and still refuses.
  stale_deployment_.reset();
  SeedDeployment(0, "");
  auto woken = loop_.Wake("demo", "hello");
  EXPECT_TRUE(absl::IsFailedPrecondition(woken.status())) << woken.status();
  EXPECT_EQ(fake_.Calls("patch"), 0);
  EXPECT_TRUE(events_.reasons.empty());
  // The same load on the Function's own Deployment scales it.
  SeedDeployment(0);
  Report(50, 25);
  loop_.Tick();
  EXPECT_GT(Replicas(), 0);
}

// The scale patch names the Deployment it was decided on by uid: one
// replaced since (deleted, and a stranger's created under the name) is
// refused by the apiserver, even when the cache still shows ours.
TEST_F(AutoscalerLoopScalingTest, ScalePatchIsConditionedOnTheDeploymentUid) {
  SeedFunction("uid-1", 60);
  SeedDeployment(1);
  stale_deployment_ = Get(kube::kDeployments, kKey);
  SeedDeployment(1, "", "deployment-of-someone-else");
  Report(50, 25);
  loop_.Tick();
  EXPECT_EQ(Replicas(), 1);
  EXPECT_EQ(events_.reasons, std::vector<std::string>{"Warning/ScaleFailed"});
}

TEST_F(AutoscalerLoopScalingTest, WakeForAnUnknownNameCreatesNothing) {
  SeedDeployment(0);  // even a Deployment of that name, without its Function
  auto woken = loop_.Wake("demo", "hello");
  ASSERT_TRUE(woken.ok());
  EXPECT_EQ(*woken, AutoscalerLoop::WakeResult::kNotFound);
  EXPECT_TRUE(absl::IsNotFound(loop_.ScaleFromZero("demo", "hello").status()));
  EXPECT_EQ(fake_.Calls("patch"), 0);
  EXPECT_EQ(Replicas(), 0);
  EXPECT_TRUE(loop_.TrackedFunctions().empty());
  EXPECT_FALSE(stats_.NoteRequest(kFn));
  EXPECT_TRUE(stats_.Functions().empty());
  EXPECT_TRUE(events_.reasons.empty());
}

}  // namespace
}  // namespace zs::controller
