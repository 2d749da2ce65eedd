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

TEST(Resources, GraceCoversTheExecutionTimeout) {
  api::Function fn = LoadFunction("tests/testdata/valid/full.yaml");
  for (int timeout : {1, 30, 900}) {
    fn.spec.timeout_seconds = timeout;
    EXPECT_GE(MakeDeployment(fn, std::nullopt)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
              timeout);
  }
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
