// Structural checks of deploy/crds: the CRD and common/api/function.h must
// agree on defaults and bounds, and every field must teach `kubectl explain`.
// The apiserver's own verdict is checked in tests/integration.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "common/api/function.h"
#include "common/yaml.h"

namespace zs {
namespace {

using nlohmann::json;

constexpr char kCrdPath[] = "deploy/crds/zeroscale.dev_functions.yaml";

json LoadCrd() {
  auto docs = YamlFileToJson(kCrdPath);
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok() || docs->size() != 1) return json::object();
  return (*docs)[0];
}

const json& Version(const json& crd) { return crd["spec"]["versions"][0]; }
const json& Schema(const json& crd) { return Version(crd)["schema"]["openAPIV3Schema"]; }
const json& Spec(const json& crd) { return Schema(crd)["properties"]["spec"]; }

void CollectUndescribed(const json& node, const std::string& path, std::vector<std::string>* out) {
  if (!node.is_object()) return;
  if (!node.contains("description") && path != "metadata") out->push_back(path.empty() ? "<root>" : path);
  if (auto it = node.find("properties"); it != node.end()) {
    for (auto p = it->begin(); p != it->end(); ++p) {
      CollectUndescribed(*p, path.empty() ? p.key() : path + "." + p.key(), out);
    }
  }
  if (auto it = node.find("items"); it != node.end()) CollectUndescribed(*it, path + "[]", out);
}

TEST(Crd, NamesAndVersion) {
  json crd = LoadCrd();
  EXPECT_EQ(crd["metadata"]["name"], "functions.zeroscale.dev");
  EXPECT_EQ(crd["spec"]["group"], api::kGroup);
  EXPECT_EQ(crd["spec"]["names"]["kind"], api::kKind);
  EXPECT_EQ(crd["spec"]["names"]["plural"], api::kPlural);
  EXPECT_EQ(crd["spec"]["names"]["shortNames"], json::array({"fn"}));
  EXPECT_EQ(crd["spec"]["scope"], "Namespaced");
  EXPECT_EQ(Version(crd)["name"], api::kVersion);
  EXPECT_TRUE(Version(crd)["subresources"].contains("status"));
}

TEST(Crd, PrinterColumns) {
  const json crd = LoadCrd();
  std::vector<std::string> names;
  for (const auto& c : Version(crd)["additionalPrinterColumns"]) names.push_back(c["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"Ready", "Replicas", "URL", "Age"}));
}

TEST(Crd, EveryFieldHasADescription) {
  std::vector<std::string> undescribed;
  const json crd = LoadCrd();
  CollectUndescribed(Schema(crd), "", &undescribed);
  EXPECT_TRUE(undescribed.empty()) << ::testing::PrintToString(undescribed);
}

struct IntField {
  std::vector<std::string> path;
  int64_t default_value;
  int64_t minimum;
  int64_t maximum;
};

TEST(Crd, DefaultsAndBoundsMatchTheCppType) {
  using api::Bounds;
  using api::Defaults;
  const json spec = Spec(LoadCrd());
  const std::vector<IntField> fields = {
      {{"port"}, Defaults::kPort, 1, 65535},
      {{"timeoutSeconds"}, Defaults::kTimeoutSeconds, 1, Bounds::kMaxTimeoutSeconds},
      {{"scaling", "minReplicas"}, Defaults::kMinReplicas, 0, Bounds::kMaxReplicasCap},
      {{"scaling", "maxReplicas"}, Defaults::kMaxReplicas, 1, Bounds::kMaxReplicasCap},
      {{"scaling", "targetConcurrency"}, Defaults::kTargetConcurrency, 1, Bounds::kMaxTargetConcurrency},
      {{"scaling", "maxConcurrency"}, Defaults::kMaxConcurrency, 0, Bounds::kMaxTargetConcurrency},
      {{"scaling", "scaleToZeroAfterSeconds"},
       Defaults::kScaleToZeroAfterSeconds,
       1,
       Bounds::kMaxScaleToZeroAfterSeconds},
      {{"buffer", "maxRequests"}, Defaults::kBufferMaxRequests, 1, Bounds::kMaxBufferRequests},
      {{"buffer", "timeoutSeconds"}, Defaults::kBufferTimeoutSeconds, 1, Bounds::kMaxBufferTimeoutSeconds},
  };
  for (const auto& f : fields) {
    const json* node = &spec;
    std::string name;
    for (const auto& part : f.path) {
      node = &(*node)["properties"][part];
      name += "." + part;
    }
    EXPECT_EQ((*node)["default"], f.default_value) << name;
    EXPECT_EQ((*node)["minimum"], f.minimum) << name;
    EXPECT_EQ((*node)["maximum"], f.maximum) << name;
  }
  // Nested objects default to their fields' defaults so that the CEL rules
  // see complete objects when the user leaves the whole object out.
  for (const char* object : {"scaling", "buffer"}) {
    const json& node = spec["properties"][object];
    json expected = json::object();
    for (auto it = node["properties"].begin(); it != node["properties"].end(); ++it) {
      expected[it.key()] = it.value()["default"];
    }
    EXPECT_EQ(node["default"], expected) << object;
  }
  EXPECT_EQ(spec["required"], json::array({"image"}));
}

TEST(Crd, CrossFieldRulesAreCel) {
  const json spec = Spec(LoadCrd());
  std::set<std::string> messages;
  for (const auto& r : spec["properties"]["scaling"]["x-kubernetes-validations"])
    messages.insert(r["message"]);
  EXPECT_TRUE(messages.count("minReplicas must be less than or equal to maxReplicas"));
  EXPECT_TRUE(messages.count("targetConcurrency must not exceed maxConcurrency when maxConcurrency is set"));
  const json env_rules = spec["properties"]["env"]["items"]["x-kubernetes-validations"];
  ASSERT_EQ(env_rules.size(), 1u);
  EXPECT_EQ(env_rules[0]["message"], "must set at most one of value and valueFrom");
}

// Every invalid example is refused by the C++ rules too (the integration test
// checks the apiserver's message for the same files); every valid one passes.
TEST(Crd, ExamplesAgreeWithCppValidation) {
  int invalid = 0, valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator("tests/testdata/invalid")) {
    auto docs = YamlFileToJson(entry.path());
    ASSERT_TRUE(docs.ok()) << entry.path() << ": " << docs.status();
    ASSERT_EQ(docs->size(), 1u);
    auto fn = api::DecodeFunction((*docs)[0]);
    const bool refused = !fn.ok() || !api::ValidateFunctionSpec(fn->spec).ok();
    EXPECT_TRUE(refused) << entry.path();
    ++invalid;
  }
  for (const auto& entry : std::filesystem::directory_iterator("tests/testdata/valid")) {
    auto docs = YamlFileToJson(entry.path());
    ASSERT_TRUE(docs.ok()) << docs.status();
    auto fn = api::DecodeFunction((*docs)[0]);
    ASSERT_TRUE(fn.ok()) << entry.path() << ": " << fn.status();
    EXPECT_TRUE(api::ValidateFunctionSpec(fn->spec).ok()) << entry.path();
    ++valid;
  }
  EXPECT_GE(invalid, 10);
  EXPECT_GE(valid, 2);
}

TEST(Yaml, ScalarTypes) {
  auto docs = YamlToJson("a: 1\nb: \"1\"\nc: true\nd: 1.5\ne: ~\nf: 128Mi\n---\n- x\n");
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0], json::parse(R"({"a":1,"b":"1","c":true,"d":1.5,"e":null,"f":"128Mi"})"));
  EXPECT_EQ((*docs)[1], json::array({"x"}));
  EXPECT_FALSE(YamlToJson("a: [1, 2").ok());
}

}  // namespace
}  // namespace zs
