#include "controller/reconciler/function_reconciler.h"

#include <gtest/gtest.h>

#include "common/kube/errors.h"
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
  return [&fake, collection](const std::string& key) -> std::shared_ptr<const json> {
    const auto slash = key.find('/');
    auto got = fake.Get(collection.In(key.substr(0, slash)).Named(key.substr(slash + 1)));
    if (!got.ok()) return nullptr;
    return std::make_shared<const json>(*std::move(got));
  };
}

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest()
      : reconciler_(fake_, clock_, events_, FromFake(fake_, kube::kFunctions),
                    FromFake(fake_, kube::kDeployments), FromFake(fake_, kube::kServices),
                    [this](const std::string&) { return scaling_; },
                    {.activator_url = "http://activator.test", .backoff = {.jitter = 0}, .pods = nullptr}) {}

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
  int Writes() const {
    return fake_.Calls("create") + fake_.Calls("update") + fake_.Calls("patch") + fake_.Calls("apply");
  }
  // A new generation of the Function with `spec` merged in.
  void Edit(const json& spec) {
    json fn = Get(kube::kFunctions);
    ASSERT_TRUE(fake_
                    .MergePatch(kube::FunctionRef("demo", "hello"),
                                {{"metadata", {{"generation", fn["metadata"].value("generation", 1) + 1}}},
                                 {"spec", spec}})
                    .ok());
  }
  json Container() { return Get(kube::kDeployments)["spec"]["template"]["spec"]["containers"][0]; }
  json Ready() {
    const json fn = Get(kube::kFunctions);
    for (const json& c : fn.value(json::json_pointer("/status/conditions"), json::array())) {
      if (c["type"] == "Ready") return c;
    }
    return json();
  }

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

// TriggersReady follows what the trigger component writes in status.triggers
// for broker triggers; Functions with only schedules have no such condition.
TEST_F(ReconcilerTest, TriggersReadyFollowsTheBrokerConsumers) {
  auto condition = [this](const std::string& type) {
    for (const json& c :
         Get(kube::kFunctions).value(json::json_pointer("/status/conditions"), json::array())) {
      if (c["type"] == type) return c;
    }
    return json();
  };
  auto report = [this](const json& triggers) {
    ASSERT_TRUE(
        fake_.PatchStatus(kube::FunctionRef("demo", "hello"), {{"status", {{"triggers", triggers}}}}).ok());
    ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  };
  SeedFunction({{"image", "zeroscale/fn-echo:dev"},
                {"triggers",
                 {{{"name", "nightly"}, {"schedule", {{"cron", "0 3 * * *"}}}},
                  {{"name", "orders"}, {"redis", {{"address", "redis:6379"}, {"stream", "orders"}}}}}}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(condition("TriggersReady")["status"], "Unknown");
  EXPECT_EQ(condition("TriggersReady")["reason"], "Pending");

  report({{{"name", "nightly"}, {"fired", 3}},
          {{"name", "orders"},
           {"connected", "False"},
           {"reason", "BrokerUnavailable"},
           {"message", "redis redis:6379: connection refused"}}});
  EXPECT_EQ(condition("TriggersReady")["status"], "False");
  EXPECT_EQ(condition("TriggersReady")["reason"], "BrokerUnavailable");
  EXPECT_EQ(condition("TriggersReady")["message"], "trigger orders: redis redis:6379: connection refused");
  // The controller's status write leaves the trigger component's entries be.
  EXPECT_EQ(Get(kube::kFunctions)["status"]["triggers"][0]["fired"], 3);

  report({{{"name", "nightly"}, {"fired", 3}}, {{"name", "orders"}, {"connected", "True"}}});
  EXPECT_EQ(condition("TriggersReady")["status"], "True");
  EXPECT_EQ(condition("TriggersReady")["reason"], "Connected");
  EXPECT_EQ(condition("TriggersReady")["message"], "1 broker trigger connected");
}

TEST_F(ReconcilerTest, SchedulesAloneHaveNoTriggersReady) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"},
                {"triggers", {{{"name", "nightly"}, {"schedule", {{"cron", "0 3 * * *"}}}}}}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  for (const json& c : Get(kube::kFunctions)["status"]["conditions"]) EXPECT_NE(c["type"], "TriggersReady");
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

// Children are applied: what the Function no longer says is gone from the
// Deployment, and replicas are the autoscaler's throughout.
TEST_F(ReconcilerTest, FieldsRemovedFromTheFunctionAreRemovedFromTheDeployment) {
  SeedFunction(
      {{"image", "zeroscale/fn-echo:dev"},
       {"command", {"/fn"}},
       {"args", {"--verbose"}},
       {"env", {{{"name", "GREETING"}, {"value", "hi"}}}},
       {"resources", {{"requests", {{"cpu", "100m"}}}, {"limits", {{"cpu", "1000m"}, {"memory", "64Mi"}}}}},
       {"scaling", {{"minReplicas", 0}}}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  ASSERT_EQ(Container()["args"], json({"--verbose"}));
  ASSERT_EQ(Get(kube::kDeployments)["spec"]["replicas"], 0);

  // json merge patch: null removes the key from the Function.
  Edit({{"args", nullptr}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_FALSE(Container().contains("args"));
  EXPECT_EQ(Container()["command"], json({"/fn"}));
  Edit({{"command", nullptr}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_FALSE(Container().contains("command"));
  Edit({{"env", nullptr}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(Container()["env"], json::parse(R"([{"name": "PORT", "value": "8080"}])"));
  Edit({{"resources", {{"limits", nullptr}}}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(Container()["resources"], json::parse(R"({"requests": {"cpu": "100m"}})"));
  // Created at minReplicas 0 and never scaled: still 0 after four applies
  // that leave replicas out (without the hand-over it would default to 1).
  EXPECT_EQ(Get(kube::kDeployments)["spec"]["replicas"], 0);
}

// The pod settings too: each removed from the Function is removed from the
// Deployment, and the restricted defaults come back when an override goes.
TEST_F(ReconcilerTest, PodSettingsRemovedFromTheFunctionAreRemovedFromTheDeployment) {
  SeedFunction(json::parse(R"({
    "image": "zeroscale/fn-echo:dev",
    "serviceAccountName": "fn-sa",
    "nodeSelector": {"pool": "functions"},
    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
    "envFrom": [{"secretRef": {"name": "db"}}],
    "volumes": [{"name": "tls", "secret": {"secretName": "tls"}}],
    "volumeMounts": [{"name": "tls", "mountPath": "/etc/tls"}],
    "podLabels": {"team": "a"},
    "podAnnotations": {"prometheus.io/scrape": "true"},
    "securityContext": {"runAsNonRoot": false}})"));
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  json pod = Get(kube::kDeployments)["spec"]["template"];
  ASSERT_EQ(pod["spec"]["serviceAccountName"], "fn-sa");
  ASSERT_EQ(pod["spec"]["securityContext"]["runAsNonRoot"], false);
  ASSERT_EQ(pod["metadata"]["labels"]["team"], "a");
  ASSERT_EQ(Container()["volumeMounts"][0]["readOnly"], true);

  Edit(json::parse(R"({"serviceAccountName": null, "nodeSelector": null, "tolerations": null, "envFrom": null,
                       "volumes": null, "volumeMounts": null, "podLabels": null, "podAnnotations": null,
                       "securityContext": null})"));
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  pod = Get(kube::kDeployments)["spec"]["template"];
  EXPECT_EQ(pod["spec"]["serviceAccountName"], "default");
  for (const char* gone : {"nodeSelector", "tolerations", "volumes"}) {
    EXPECT_FALSE(pod["spec"].contains(gone)) << gone;
  }
  EXPECT_FALSE(Container().contains("envFrom"));
  EXPECT_FALSE(Container().contains("volumeMounts"));
  EXPECT_FALSE(pod["metadata"]["labels"].contains("team"));
  EXPECT_FALSE(pod["metadata"].contains("annotations"));
  EXPECT_EQ(pod["spec"]["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(pod["spec"]["automountServiceAccountToken"], false);
}

// Empty lists and maps, which Kubernetes drops, are no difference either.
TEST_F(ReconcilerTest, EmptyPodSettingsCauseNoWrite) {
  SeedFunction(json::parse(R"({"image": "zeroscale/fn-echo:dev", "tolerations": [], "nodeSelector": {},
                                "containerSecurityContext": {"capabilities": {"add": []}}})"));
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  json deployment = Get(kube::kDeployments);
  json& pod = deployment["spec"]["template"]["spec"];
  pod.erase("tolerations");
  pod.erase("nodeSelector");
  pod["containers"][0]["securityContext"]["capabilities"].erase("add");
  fake_.Seed(kube::kDeployments.In("demo"), deployment);
  const int writes = Writes();
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(Writes(), writes);
}

// The apiserver stores quantities in canonical form: "1000m" reads back as
// "1". That is no difference, so no apply.
TEST_F(ReconcilerTest, NormalisedQuantitiesCauseNoWrite) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"},
                {"resources", {{"requests", {{"cpu", "1000m"}, {"memory", "1024Mi"}}}}}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  json deployment = Get(kube::kDeployments);
  json& requests = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"];
  requests = {{"cpu", "1"}, {"memory", "1Gi"}};
  fake_.Seed(kube::kDeployments.In("demo"), deployment);
  const int writes = Writes();
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(Writes(), writes);
}

// The replicas hand-over is conditioned on the cached resourceVersion; a
// cache behind the Deployment loses that race, which is neither reported nor
// backed off from (the newer Deployment's event brings the next try).
TEST_F(ReconcilerTest, AStaleCacheIsARaceNotAFailure) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  Edit({{"image", "zeroscale/fn-echo:v2"}});
  fake_.FailNext("apply", kube::StatusFromHttp(409, R"({"kind":"Status","code":409,"reason":"Conflict",
      "message":"the object has been modified"})"));
  auto result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->outcome, "error");
  EXPECT_EQ(reconciler_.backoff().Failures("demo/hello"), 0);
  EXPECT_NE(Ready()["reason"], "Conflict");
  result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->outcome, "success");
  EXPECT_EQ(Container()["image"], "zeroscale/fn-echo:v2");
}

// After a start or a relist the cache holds LIST items, which carry no
// apiVersion or kind: still no difference.
TEST_F(ReconcilerTest, ListedChildrenWithoutKindCauseNoWrite) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  for (const kube::ResourceRef& collection : {kube::kDeployments, kube::kServices}) {
    json child = Get(collection);
    child.erase("apiVersion");
    child.erase("kind");
    fake_.Seed(collection.In("demo"), child);
  }
  const int writes = Writes();
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(Writes(), writes);
}

// A child changed behind the controller's back (a field it applied) is
// applied again, keeping the autoscaler's replicas.
TEST_F(ReconcilerTest, DriftIsAppliedAway) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  ASSERT_TRUE(fake_.PatchScale(kube::DeploymentRef("demo", "hello"), 3).ok());
  json deployment = Get(kube::kDeployments);
  deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "someone/else:1";
  fake_.Seed(kube::kDeployments.In("demo"), deployment);
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(Container()["image"], "zeroscale/fn-echo:dev");
  EXPECT_EQ(Get(kube::kDeployments)["spec"]["replicas"], 3);
}

// A Deployment of the same name that is someone else's: never written, the
// reason in Ready, retried with backoff, and taken up once it is gone.
TEST_F(ReconcilerTest, ForeignDeploymentIsReportedAndRetriedWithBackoff) {
  fake_.Seed(kube::kDeployments.In("demo"),
             {{"metadata", {{"name", "hello"}, {"namespace", "demo"}}}, {"spec", {{"replicas", 2}}}});
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  auto result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, "error");
  EXPECT_EQ(result->requeue_after, std::chrono::milliseconds(1000));
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["reason"], "DeploymentNotOwned");
  EXPECT_TRUE(
      Ready()["message"].get<std::string>().starts_with("Deployment hello exists and is not controlled"));
  EXPECT_EQ(events_.reasons, (std::vector<std::string>{"Warning/DeploymentNotOwned"}));
  EXPECT_EQ(fake_.Calls("apply"), 0);
  EXPECT_FALSE(Get(kube::kDeployments)["metadata"].contains("ownerReferences"));

  // Events and resyncs before the backoff is over write nothing.
  const int writes = Writes();
  clock_.Advance(std::chrono::milliseconds(600));
  result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->outcome, "backoff");
  EXPECT_EQ(result->requeue_after, std::chrono::milliseconds(400));
  EXPECT_EQ(Writes(), writes);
  // The next attempt fails again: twice the wait, no second Event for the
  // same message, no status write (nothing changed).
  clock_.Advance(std::chrono::milliseconds(400));
  result = reconciler_.Reconcile("demo/hello");
  EXPECT_EQ(result->outcome, "error");
  EXPECT_EQ(result->requeue_after, std::chrono::milliseconds(2000));
  EXPECT_EQ(events_.reasons.size(), 1U);
  EXPECT_EQ(Writes(), writes);

  ASSERT_TRUE(fake_.Delete(kube::DeploymentRef("demo", "hello")).ok());
  clock_.Advance(std::chrono::seconds(2));
  result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->outcome, "success");
  EXPECT_EQ(Get(kube::kDeployments)["metadata"]["ownerReferences"][0]["uid"], "uid-1");
  EXPECT_EQ(reconciler_.backoff().Failures("demo/hello"), 0);
}

TEST_F(ReconcilerTest, ForeignServiceIsReported) {
  fake_.Seed(kube::kServices.In("demo"), {{"metadata", {{"name", "hello"}, {"namespace", "demo"}}}});
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  auto result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->outcome, "error");
  EXPECT_EQ(Ready()["reason"], "ServiceNotOwned");
  EXPECT_FALSE(Get(kube::kServices)["metadata"].contains("ownerReferences"));
}

// The apiserver's refusals keep their meaning in the reason.
TEST_F(ReconcilerTest, RefusedWritesGiveTheirReason) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  fake_.FailNext("apply", kube::StatusFromHttp(422, R"({"kind":"Status","code":422,"reason":"Invalid",
      "message":"Deployment.apps \"hello\" is invalid: spec.template.spec.containers[0].image: Required value"})"));
  auto result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->outcome, "error");
  EXPECT_EQ(Ready()["reason"], "ChildInvalid");
  EXPECT_EQ(Ready()["message"],
            "creating Deployment hello: HTTP 422: Deployment.apps \"hello\" is invalid: "
            "spec.template.spec.containers[0].image: Required value");

  Edit({{"image", "zeroscale/fn-echo:v2"}});  // an edit is tried at once
  fake_.FailNext("apply", kube::StatusFromHttp(403, R"({"kind":"Status","code":403,"reason":"Forbidden",
      "message":"deployments.apps is forbidden: User \"zs\" cannot patch resource \"deployments\""})"));
  result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->outcome, "error");
  EXPECT_EQ(Ready()["reason"], "Forbidden");
  EXPECT_EQ(events_.reasons, (std::vector<std::string>{"Warning/ChildInvalid", "Warning/Forbidden"}));

  clock_.Advance(std::chrono::seconds(1));
  result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->outcome, "success");
  EXPECT_NE(Ready()["reason"], "Forbidden");
}

TEST_F(ReconcilerTest, ApiErrorsAreRetriedAfterTheBackoff) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  fake_.FailNext("apply", absl::UnavailableError("apiserver down"), 3);
  std::vector<std::chrono::milliseconds> waits;
  for (int i = 0; i < 3; ++i) {
    auto result = reconciler_.Reconcile("demo/hello");
    ASSERT_TRUE(result.ok());
    ASSERT_EQ(result->outcome, "error");
    EXPECT_EQ(Ready()["reason"], "ChildWriteFailed");
    waits.push_back(*result->requeue_after);
    clock_.Advance(*result->requeue_after);
  }
  EXPECT_EQ(waits, (std::vector<std::chrono::milliseconds>{std::chrono::seconds(1), std::chrono::seconds(2),
                                                           std::chrono::seconds(4)}));
  auto result = reconciler_.Reconcile("demo/hello");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->outcome, "success");
}

TEST_F(ReconcilerTest, BackoffStateDiesWithTheFunction) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}});
  fake_.FailNext("apply", absl::UnavailableError("apiserver down"));
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(reconciler_.backoff().size(), 1U);
  ASSERT_TRUE(fake_.Delete(kube::FunctionRef("demo", "hello")).ok());
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(reconciler_.backoff().size(), 0U);
}

// Pods that cannot be made, or a rollout past its deadline, make the
// Function not Ready, with the Deployment's reason.
TEST_F(ReconcilerTest, DeploymentFailureConditionsMakeTheFunctionNotReady) {
  SeedFunction({{"image", "zeroscale/fn-echo:dev"}, {"scaling", {{"minReplicas", 1}}}});
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  json deployment = Get(kube::kDeployments);
  deployment["status"] = {
      {"observedGeneration", 1},
      {"replicas", 0},
      {"conditions",
       {{{"type", "Progressing"}, {"status", "True"}, {"reason", "ReplicaSetUpdated"}},
        {{"type", "ReplicaFailure"},
         {"status", "True"},
         {"reason", "FailedCreate"},
         {"message", "pods \"hello-1\" is forbidden: violates PodSecurity \"restricted:latest\""}}}}};
  fake_.Seed(kube::kDeployments.In("demo"), deployment);
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["reason"], "FailedCreate");
  EXPECT_TRUE(Ready()["message"].get<std::string>().starts_with("Deployment ReplicaFailure: pods"))
      << Ready();

  deployment["status"] = {{"observedGeneration", 1},
                          {"replicas", 1},
                          {"readyReplicas", 1},
                          {"updatedReplicas", 0},
                          {"conditions",
                           {{{"type", "Progressing"},
                             {"status", "False"},
                             {"reason", "ProgressDeadlineExceeded"},
                             {"message", "ReplicaSet \"hello-2\" has timed out progressing."}}}}};
  fake_.Seed(kube::kDeployments.In("demo"), deployment);
  ASSERT_TRUE(reconciler_.Reconcile("demo/hello").ok());
  EXPECT_EQ(Ready()["status"], "False");
  EXPECT_EQ(Ready()["reason"], "ProgressDeadlineExceeded");
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

// A deployment as the apiserver reports it: `replicas` asked, `ready` ready.
json DeploymentWith(int replicas, int ready) {
  return {{"metadata", {{"name", "hello"}, {"namespace", "demo"}, {"generation", 1}}},
          {"spec", {{"replicas", replicas}}},
          {"status",
           {{"observedGeneration", 1},
            {"replicas", replicas},
            {"readyReplicas", ready},
            {"updatedReplicas", replicas}}}};
}

const api::Condition* ReadyOf(const api::FunctionStatus& s) { return s.FindCondition("Ready"); }

TEST_F(ReconcilerTest, PodsThatCannotStartMakeTheFunctionNotReadyAndStaySoAtZero) {
  api::Function fn;
  fn.metadata.namespace_ = "demo";
  fn.metadata.name = "hello";
  fn.metadata.generation = 4;
  const json pulling = {
      {"metadata", {{"name", "hello-abc"}}},
      {"status",
       {{"containerStatuses",
         json::array({{{"name", "function"},
                       {"state",
                        {{"waiting", {{"reason", "ImagePullBackOff"}, {"message", "no such image"}}}}}}})}}}};
  // One replica asked, its pod cannot pull the image.
  json one = DeploymentWith(1, 0);
  api::FunctionStatus failing = reconciler_.ComputeStatus(fn, &one, nullptr, std::nullopt, {pulling});
  ASSERT_NE(ReadyOf(failing), nullptr);
  EXPECT_EQ(ReadyOf(failing)->status, "False");
  EXPECT_EQ(ReadyOf(failing)->reason, "ImagePullBackOff");
  EXPECT_NE(ReadyOf(failing)->message.find("no such image"), std::string::npos);

  // Scaled to zero: the pod is gone, the verdict is kept for this generation.
  fn.status = failing;
  json zero = DeploymentWith(0, 0);
  api::FunctionStatus at_zero = reconciler_.ComputeStatus(fn, &zero, nullptr, std::nullopt, {});
  EXPECT_EQ(ReadyOf(at_zero)->status, "False");
  EXPECT_EQ(ReadyOf(at_zero)->reason, "ImagePullBackOff");
  EXPECT_NE(ReadyOf(at_zero)->message.find("scaled to zero since"), std::string::npos);
  // Written again, the message does not grow.
  fn.status = at_zero;
  EXPECT_EQ(ReadyOf(reconciler_.ComputeStatus(fn, &zero, nullptr, std::nullopt, {}))->message,
            ReadyOf(at_zero)->message);

  // An edit (a new generation) may be the fix: Ready at zero again.
  fn.metadata.generation = 5;
  api::FunctionStatus edited = reconciler_.ComputeStatus(fn, &zero, nullptr, std::nullopt, {});
  EXPECT_EQ(ReadyOf(edited)->status, "True");
  EXPECT_EQ(ReadyOf(edited)->reason, "ScaledToZero");

  // Or a replica that became ready: then zero is Ready again.
  fn.metadata.generation = 4;
  fn.status = at_zero;
  json up = DeploymentWith(1, 1);
  fn.status = reconciler_.ComputeStatus(fn, &up, nullptr, std::nullopt, {});
  EXPECT_EQ(ReadyOf(fn.status)->reason, "AllReplicasReady");
  EXPECT_EQ(ReadyOf(reconciler_.ComputeStatus(fn, &zero, nullptr, std::nullopt, {}))->reason, "ScaledToZero");
}

TEST_F(ReconcilerTest, AFunctionThatNeverFailedIsReadyAtZero) {
  api::Function fn;
  fn.metadata.generation = 1;
  json zero = DeploymentWith(0, 0);
  EXPECT_EQ(ReadyOf(reconciler_.ComputeStatus(fn, &zero, nullptr, std::nullopt, {}))->status, "True");
}

}  // namespace
}  // namespace zs::controller
