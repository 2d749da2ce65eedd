#include "controller/reconciler/function_reconciler.h"

#include <gtest/gtest.h>

#include "common/kube/resource.h"
#include "common/kube/testing/fake_kube_client.h"

namespace zs::controller {
namespace {

using nlohmann::json;

class RecordingEvents : public EventRecorder {
 public:
  void Record(const api::Function&, EventType type, const std::string& reason, const std::string&) override {
    reasons.push_back((type == EventType::kNormal ? "Normal/" : "Warning/") + reason);
  }
  std::vector<std::string> reasons;
};

Lister FromFake(kube::testing::FakeKubeClient& fake, const kube::ResourceRef& collection) {
  return [&fake, collection](const std::string& key) -> std::optional<json> {
    const auto slash = key.find('/');
    auto got = fake.Get(collection.In(key.substr(0, slash)).Named(key.substr(slash + 1)));
    if (!got.ok()) return std::nullopt;
    return *got;
  };
}

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest()
      : reconciler_(fake_, clock_, events_, FromFake(fake_, kube::kFunctions),
                    FromFake(fake_, kube::kDeployments), FromFake(fake_, kube::kServices),
                    [this](const std::string&) { return scaling_; }, {"http://activator.test"}) {}

  void SeedFunction(const json& spec) {
    fake_.Seed(kube::kFunctions.In("demo"),
               {{"apiVersion", "zeroscale.dev/v1alpha1"},
                {"kind", "Function"},
                {"metadata", {{"name", "hello"}, {"namespace", "demo"}, {"uid", "uid-1"}, {"generation", 1}}},
                {"spec", spec}});
  }
  json Get(const kube::ResourceRef& collection) {
    auto got = fake_.Get(collection.In("demo").Named("hello"));
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : json();
  }
  int Writes() const { return fake_.Calls("create") + fake_.Calls("update") + fake_.Calls("patch"); }

  kube::testing::FakeKubeClient fake_;
  ManualClock clock_;
  RecordingEvents events_;
  std::optional<ScalingStatus> scaling_;
  FunctionReconciler reconciler_;
};

TEST_F(ReconcilerTest, CreatesChildrenAndStatus) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}, {"scaling", {{"minReplicas", 1}, {"maxReplicas", 3}}}});
  auto result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, "success");
  json deployment = Get(kube::kDeployments);
  EXPECT_EQ(deployment["spec"]["replicas"], 1);
  EXPECT_EQ(deployment["metadata"]["ownerReferences"][0]["uid"], "uid-1");
  EXPECT_EQ(Get(kube::kServices)["spec"]["selector"]["zeroscale.dev/function"], "hello");
  json status = Get(kube::kFunctions)["status"];
  EXPECT_EQ(status["url"], "http://activator.test/fn/demo/hello/");
  EXPECT_EQ(status["observedGeneration"], 1);
  EXPECT_EQ(status["conditions"][0]["type"], "Ready");
  EXPECT_EQ(status["conditions"][0]["status"], "False");  // no ready replica yet
  EXPECT_EQ(status["replicaSummary"], "0/1");
  EXPECT_EQ(events_.reasons, (std::vector<std::string>{"Normal/DeploymentCreated", "Normal/ServiceCreated"}));
}

TEST_F(ReconcilerTest, SecondReconcileOfUnchangedFunctionWritesNothing) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  const int writes = Writes();
  clock_.Advance(std::chrono::seconds(30));
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(Writes(), writes);
}

TEST_F(ReconcilerTest, ImageChangeRollsTheDeploymentButKeepsReplicas) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  ASSERT_TRUE(fake_.PatchScale(kube::DeploymentRef("demo", "hello"), 4).ok());
  ASSERT_TRUE(
      fake_
          .MergePatch(kube::FunctionRef("demo", "hello"),
                      {{"metadata", {{"generation", 2}}}, {"spec", {{"image", "zeroscale/fn-echo:v2"}}}})
          .ok());
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  json deployment = Get(kube::kDeployments);
  EXPECT_EQ(deployment["spec"]["template"]["spec"]["containers"][0]["image"], "zeroscale/fn-echo:v2");
  EXPECT_EQ(deployment["spec"]["replicas"], 4);
  EXPECT_EQ(events_.reasons.back(), "Normal/DeploymentUpdated");
}

TEST_F(ReconcilerTest, InvalidSpecIsTerminalAndCreatesNothing) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}, {"timeoutSeconds", 0}});
  auto result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, "invalid");
  EXPECT_FALSE(result->requeue_after.has_value());
  EXPECT_FALSE(fake_.Get(kube::DeploymentRef("demo", "hello")).ok());
  json ready = Get(kube::kFunctions)["status"]["conditions"][0];
  EXPECT_EQ(ready["reason"], "InvalidSpec");
  EXPECT_EQ(ready["message"], "spec.timeoutSeconds: must be between 1 and 900, got 0");
  EXPECT_EQ(events_.reasons, (std::vector<std::string>{"Warning/InvalidSpec"}));
}

// A name the CRD refuses (it cannot name a Service) that reached the
// controller anyway (an older CRD) is reported, not half-reconciled.
TEST_F(ReconcilerTest, NameThatIsNotADns1035LabelIsTerminalAndCreatesNothing) {
  fake_.Seed(kube::kFunctions.In("demo"),
             {{"apiVersion", "zeroscale.dev/v1alpha1"},
              {"kind", "Function"},
              {"metadata", {{"name", "my.fn"}, {"namespace", "demo"}, {"uid", "uid-2"}, {"generation", 1}}},
              {"spec", {{"image", "zeroscale/fn-echo:dev"}}}});
  auto result = reconciler_.Reconcile("demo/my.fn");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, "invalid");
  EXPECT_FALSE(fake_.Get(kube::DeploymentRef("demo", "my.fn")).ok());
  EXPECT_EQ(fake_.Calls("create"), 0);
  auto fn = fake_.Get(kube::FunctionRef("demo", "my.fn"));
  ASSERT_TRUE(fn.ok()) << fn.status();
  const std::string message = (*fn)["status"]["conditions"][0]["message"];
  EXPECT_TRUE(message.starts_with("metadata.name: must be a DNS-1035 label")) << message;
}

TEST_F(ReconcilerTest, ForeignDeploymentIsAConflict) {
  fake_.Seed(kube::kDeployments.In("demo"), {{"metadata", {{"name", "hello"}, {"namespace", "demo"}}}});
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  auto result = reconciler_.Reconcile("demo/hello");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(events_.reasons.back(), "Warning/DeploymentConflict");
}

TEST_F(ReconcilerTest, ApiErrorsAreReturnedForBackoff) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  fake_.FailNext("create", absl::UnavailableError("apiserver down"));
  EXPECT_FALSE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_TRUE(reconciler_.Reconcile("demo/hello").ok());
}

TEST_F(ReconcilerTest, DeletedFunctionIsANoOp) {
  auto result = reconciler_.Reconcile("demo/missing");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(Writes(), 0);
}

TEST_F(ReconcilerTest, ScalingStatusFlowsIntoStatus) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  scaling_ = ScalingStatus{3, clock_.WallNow(), clock_.WallNow(), "Serving", "3 requests in flight"};
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  json status = Get(kube::kFunctions)["status"];
  EXPECT_EQ(status["desiredReplicas"], 3);
  EXPECT_TRUE(status.contains("lastRequestTime"));
  EXPECT_TRUE(status.contains("lastScaleTime"));
  EXPECT_EQ(status["conditions"][2]["type"], "Active");
  EXPECT_EQ(status["conditions"][2]["reason"], "Serving");
  // A later request within the resolution does not cause a status write.
  const int writes = Writes();
  clock_.Advance(std::chrono::seconds(2));
  scaling_->last_request_time = clock_.WallNow();
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(Writes(), writes);
}

}  // namespace
}  // namespace zs::controller
