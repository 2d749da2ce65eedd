// AutoscalerLoop's stop gate: once Stop() returned, nothing scales, not even
// a Wake that was already in flight (a replica that stops leading releases
// its Lease right after, and a standby may then scale the same Deployment).
#include "controller/scaling/autoscaler_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>

#include "common/kube/errors.h"
#include "common/kube/resource.h"
#include "common/kube/testing/fake_kube_client.h"

namespace zs::controller {
namespace {

using nlohmann::json;

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
            [] { return std::vector<json>(); }, events_, metrics_, [](const std::string&) {}, {}) {
    fake_.Seed(kube::kFunctions.In("demo"),
               {{"apiVersion", "zeroscale.dev/v1alpha1"},
                {"kind", "Function"},
                {"metadata", {{"name", "hello"}, {"namespace", "demo"}, {"uid", "uid-1"}}},
                {"spec", {{"image", "zeroscale/fn-echo:dev"}, {"scaling", {{"minReplicas", 0}}}}}});
    fake_.Seed(kube::kDeployments.In("demo"), {{"apiVersion", "apps/v1"},
                                               {"kind", "Deployment"},
                                               {"metadata", {{"name", "hello"}, {"namespace", "demo"}}},
                                               {"spec", {{"replicas", 0}}}});
  }
  Lister Get(const kube::ResourceRef& collection) {
    return [this, collection](const std::string& key) -> std::optional<json> {
      auto got = fake_.Get(collection.In("demo").Named(key.substr(key.find('/') + 1)));
      if (!got.ok()) return std::nullopt;
      return *got;
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

}  // namespace
}  // namespace zs::controller
