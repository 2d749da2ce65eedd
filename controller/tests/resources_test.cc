#include "controller/resources/resources.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/yaml.h"

namespace zs::controller::resources {
namespace {

using nlohmann::json;

api::Function LoadFunction(const std::string& path) {
  auto docs = YamlFileToJson(path);
  EXPECT_TRUE(docs.ok()) << docs.status();
  json object = (*docs)[0];
  object["metadata"]["namespace"] = "demo";
  object["metadata"]["uid"] = "0d5c6c9e-1111-4222-8333-444455556666";
  auto fn = api::DecodeFunction(object);
  EXPECT_TRUE(fn.ok()) << fn.status();
  return *fn;
}

// Compares with a golden file; ZS_UPDATE_GOLDEN=1 rewrites it.
void ExpectGolden(const json& actual, const std::string& path) {
  const std::string text = actual.dump(2) + "\n";
  if (std::getenv("ZS_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path) << text;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing golden file " << path << " (run with ZS_UPDATE_GOLDEN=1)";
  std::stringstream golden;
  golden << in.rdbuf();
  EXPECT_EQ(text, golden.str()) << "golden " << path << " differs; rerun with ZS_UPDATE_GOLDEN=1 if intended";
}

TEST(Resources, DeploymentGoldenFull) {
  ExpectGolden(MakeDeployment(LoadFunction("tests/testdata/valid/full.yaml"), 0),
               "controller/tests/testdata/deployment-full.golden.json");
}

TEST(Resources, DeploymentGoldenMinimal) {
  ExpectGolden(MakeDeployment(LoadFunction("tests/testdata/valid/minimal.yaml"), std::nullopt),
               "controller/tests/testdata/deployment-minimal.golden.json");
}

TEST(Resources, ServiceGolden) {
  ExpectGolden(MakeService(LoadFunction("tests/testdata/valid/full.yaml")),
               "controller/tests/testdata/service-full.golden.json");
}

TEST(Resources, DeploymentGoldenPodSettings) {
  ExpectGolden(MakeDeployment(LoadFunction("tests/testdata/valid/pod-settings.yaml"), std::nullopt),
               "controller/tests/testdata/deployment-pod-settings.golden.json");
}

// An invocation forwarded during the preStop sleep still has its whole
// timeout before SIGKILL; the sleep itself fits in the grace period (the
// apiserver refuses a sleep longer than it).
TEST(Resources, GraceCoversThePreStopSleepAndTheExecutionTimeout) {
  api::Function fn = LoadFunction("tests/testdata/valid/full.yaml");
  for (int timeout : {1, 30, 900}) {
    fn.spec.timeout_seconds = timeout;
    const json pod = MakeDeployment(fn, std::nullopt)["spec"]["template"]["spec"];
    const json sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"];
    EXPECT_EQ(sleep, kPreStopSleepSeconds);
    EXPECT_EQ(pod["terminationGracePeriodSeconds"],
              timeout + kPreStopSleepSeconds + kTerminationSlackSeconds);
    EXPECT_GE(pod["terminationGracePeriodSeconds"].get<int>(), sleep.get<int>() + timeout);
  }
}

// Pod Security "restricted" with nothing set: what a namespace enforcing it
// requires of every pod and container.
TEST(Resources, RestrictedByDefault) {
  const json pod = MakeDeployment(LoadFunction("tests/testdata/valid/minimal.yaml"),
                                  std::nullopt)["spec"]["template"]["spec"];
  EXPECT_EQ(pod["securityContext"],
            json::parse(R"({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})"));
  EXPECT_EQ(pod["containers"][0]["securityContext"],
            json::parse(R"({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})"));
  EXPECT_EQ(pod["automountServiceAccountToken"], false);
  EXPECT_EQ(pod["serviceAccountName"], "default");
  for (const char* absent : {"imagePullSecrets", "nodeSelector", "tolerations", "affinity", "volumes"}) {
    EXPECT_FALSE(pod.contains(absent)) << absent;
  }
  EXPECT_FALSE(pod["containers"][0].contains("envFrom"));
  EXPECT_FALSE(pod["containers"][0].contains("volumeMounts"));
}

api::Function WithSetting(const char* field, const json& value) {
  api::Function fn = LoadFunction("tests/testdata/valid/minimal.yaml");
  fn.spec.pod[field] = value;
  EXPECT_TRUE(api::ValidateFunctionSpec(fn.spec).ok()) << api::ValidateFunctionSpec(fn.spec);
  return fn;
}

// A field the Function sets replaces the default of that field only.
TEST(Resources, SecurityContextOverridesFieldByField) {
  json pod =
      PodSecurityContext(WithSetting("securityContext", {{"runAsUser", 1000}, {"runAsNonRoot", false}}).spec);
  EXPECT_EQ(
      pod,
      json::parse(
          R"({"runAsNonRoot": false, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}})"));
  json container = ContainerSecurityContext(
      WithSetting(
          "containerSecurityContext",
          json::parse(R"({"capabilities": {"add": ["NET_BIND_SERVICE"]}, "readOnlyRootFilesystem": true})"))
          .spec);
  EXPECT_EQ(container, json::parse(R"({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                       "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}})"));
  container = ContainerSecurityContext(
      WithSetting("containerSecurityContext",
                  json::parse(R"({"capabilities": {"drop": []}, "allowPrivilegeEscalation": true})"))
          .spec);
  EXPECT_EQ(container, json::parse(R"({"allowPrivilegeEscalation": true, "capabilities": {"drop": []}})"));
}

// Kubernetes refuses allowPrivilegeEscalation false beside privileged or an
// added SYS_ADMIN: the default steps aside so that the namespace's Pod
// Security (not a 422) decides.
TEST(Resources, PrivilegedDropsTheEscalationDefault) {
  EXPECT_FALSE(ContainerSecurityContext(WithSetting("containerSecurityContext", {{"privileged", true}}).spec)
                   .contains("allowPrivilegeEscalation"));
  EXPECT_FALSE(
      ContainerSecurityContext(
          WithSetting("containerSecurityContext", json::parse(R"({"capabilities": {"add": ["SYS_ADMIN"]}})"))
              .spec)
          .contains("allowPrivilegeEscalation"));
}

// Each pod setting lands in the Deployment as the Function has it, and goes
// when the Function drops it (server-side apply removes what an apply omits).
TEST(Resources, PodSettingsPassedExactly) {
  const api::Function fn = LoadFunction("tests/testdata/valid/pod-settings.yaml");
  const json deployment = MakeDeployment(fn, std::nullopt);
  const json& pod = deployment["spec"]["template"]["spec"];
  const json& container = pod["containers"][0];
  for (const char* field :
       {"serviceAccountName", "imagePullSecrets", "nodeSelector", "tolerations", "affinity", "volumes"}) {
    EXPECT_EQ(pod[field], fn.spec.pod[field]) << field;
  }
  EXPECT_EQ(pod["automountServiceAccountToken"], true) << "a named ServiceAccount gets its token";
  EXPECT_EQ(container["envFrom"], fn.spec.pod["envFrom"]);
  ASSERT_EQ(container["volumeMounts"].size(), 2u);
  for (const json& mount : container["volumeMounts"]) EXPECT_EQ(mount["readOnly"], true) << mount;
  EXPECT_EQ(deployment["spec"]["template"]["metadata"]["annotations"], fn.spec.pod["podAnnotations"]);
  EXPECT_EQ(deployment["spec"]["template"]["metadata"]["labels"]["team"], "payments");
  EXPECT_FALSE(deployment["metadata"]["labels"].contains("team")) << "pod labels stay on pods";
  EXPECT_FALSE(deployment["metadata"].contains("annotations"));

  api::Function bare = fn;
  bare.spec.pod = json::object();
  const json stripped = MakeDeployment(bare, std::nullopt);
  const std::string text = stripped.dump();
  for (const char* gone :
       {R"("serviceAccountName":"holidays")", "imagePullSecrets", "nodeSelector", "tolerations", "affinity",
        "envFrom", "volumes", "volumeMounts", "annotations", "payments", "readOnlyRootFilesystem", "10001"}) {
    EXPECT_EQ(text.find(gone), std::string::npos) << gone;
  }
}

// Validation refuses podLabels that name zeroscale's labels; a Function
// that got past it anyway still cannot move its pods out of its selector.
TEST(Resources, PodLabelsNeverReplaceZeroscales) {
  api::Function fn = LoadFunction("tests/testdata/valid/minimal.yaml");
  fn.spec.pod["podLabels"] = {{"zeroscale.dev/function", "other"}, {"app.kubernetes.io/managed-by", "helm"}};
  EXPECT_FALSE(api::ValidateFunctionSpec(fn.spec).ok());
  const json labels = MakeDeployment(fn, std::nullopt)["spec"]["template"]["metadata"]["labels"];
  EXPECT_EQ(labels["zeroscale.dev/function"], "minimal");
  EXPECT_EQ(labels["app.kubernetes.io/managed-by"], "zeroscale");
}

TEST(Resources, ReplicasOnlyWhenAsked) {
  api::Function fn = LoadFunction("tests/testdata/valid/minimal.yaml");
  EXPECT_FALSE(MakeDeployment(fn, std::nullopt)["spec"].contains("replicas"));
  EXPECT_EQ(MakeDeployment(fn, 2)["spec"]["replicas"], 2);
}

TEST(Resources, UserPortEnvWins) {
  api::Function fn = LoadFunction("tests/testdata/valid/minimal.yaml");
  fn.spec.env.push_back({"PORT", "9999", nullptr});
  json env = MakeDeployment(fn, std::nullopt)["spec"]["template"]["spec"]["containers"][0]["env"];
  ASSERT_EQ(env.size(), 1u);
  EXPECT_EQ(env[0]["value"], "9999");
}

TEST(Resources, Url) {
  api::Function fn = LoadFunction("tests/testdata/valid/minimal.yaml");
  EXPECT_EQ(FunctionUrl("http://act.local:8000/", fn), "http://act.local:8000/fn/demo/minimal/");
}

TEST(IsSubset, IgnoresDefaultedFieldsButNotChanges) {
  json desired = json::parse(R"({"a": {"b": 1, "c": [{"x": 1}]}})");
  EXPECT_TRUE(IsSubset(desired, json::parse(R"({"a": {"b": 1.0, "c": [{"x": 1, "y": 2}], "d": 3}})")));
  EXPECT_FALSE(IsSubset(desired, json::parse(R"({"a": {"b": 2, "c": [{"x": 1}]}})")));
  EXPECT_FALSE(IsSubset(desired, json::parse(R"({"a": {"b": 1, "c": [{"x": 1}, {"x": 2}]}})")));
  EXPECT_FALSE(IsSubset(desired, json::parse(R"({"a": {"b": 1}})")));
}

// The apiserver drops an empty list or map (Go's omitempty): a Function with
// `tolerations: []` must not be re-applied at every reconcile.
TEST(IsSubset, EmptyCollectionsMatchAbsence) {
  EXPECT_TRUE(IsSubset(json::parse(R"({"a": [], "b": {}, "c": 1})"), json::parse(R"({"c": 1})")));
  EXPECT_FALSE(IsSubset(json::parse(R"({"a": [1]})"), json::parse(R"({})")));
  EXPECT_FALSE(IsSubset(json::parse(R"({"a": ""})"), json::parse(R"({})")));
}

// The apiserver writes quantities in canonical form; under `resources` they
// are compared by value, elsewhere a string is a string.
TEST(IsSubset, QuantitiesUnderResourcesCompareByValue) {
  const json desired = json::parse(R"({"resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"}}})");
  EXPECT_TRUE(IsSubset(desired, json::parse(R"({"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}})")));
  EXPECT_FALSE(IsSubset(desired, json::parse(R"({"resources": {"limits": {"cpu": "2", "memory": "1Gi"}}})")));
  EXPECT_FALSE(
      IsSubset(json::parse(R"({"env": [{"value": "1000m"}]})"), json::parse(R"({"env": [{"value": "1"}]})")));
}

TEST(AppliedHash, FollowsTheConfigurationOnly) {
  const json a = {{"metadata", {{"name", "hello"}}}, {"spec", {{"x", 1}}}};
  const json hashed = WithAppliedHash(a);
  const std::string hash = AppliedHashOf(hashed);
  EXPECT_EQ(hash.size(), 16U);
  EXPECT_EQ(AppliedHashOf(WithAppliedHash(hashed)), hash) << "the annotation itself is not hashed";
  EXPECT_NE(AppliedHashOf(WithAppliedHash({{"metadata", {{"name", "hello"}}}, {"spec", {{"x", 2}}}})), hash);
  EXPECT_EQ(AppliedHashOf(a), "");
  json annotated = a;
  annotated["metadata"]["annotations"] = {{"other", "kept"}};
  EXPECT_EQ(WithAppliedHash(annotated)["metadata"]["annotations"]["other"], "kept");
}

}  // namespace
}  // namespace zs::controller::resources
