// Structural checks of deploy/crds: the CRD and common/api/function.h must
// agree on defaults and bounds, and every field must teach `kubectl explain`.
// The apiserver's own verdict is checked in tests/integration.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "common/api/crd_schema.h"
#include "common/api/function.h"
#include "common/api/quantity.h"
#include "common/cron/cron.h"
#include "common/strings.h"
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
  EXPECT_EQ(names, (std::vector<std::string>{"Ready", "Reason", "Replicas", "URL", "Age", "Message"}));
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
  const json value_from_rules =
      spec["properties"]["env"]["items"]["properties"]["valueFrom"]["x-kubernetes-validations"];
  ASSERT_EQ(value_from_rules.size(), 1u);
  EXPECT_EQ(value_from_rules[0]["message"],
            "must set exactly one of fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef");
  std::vector<std::string> resource_messages;
  for (const auto& r : spec["properties"]["resources"]["x-kubernetes-validations"]) {
    resource_messages.push_back(r["message"]);
  }
  EXPECT_EQ(resource_messages,
            (std::vector<std::string>{"requests.cpu must be less than or equal to limits.cpu",
                                      "requests.memory must be less than or equal to limits.memory"}));
}

// The C++ validator reads quantities with the CRD's pattern: the same regex,
// run by std::regex here (ECMAScript agrees with Go's RE2 on this one),
// accepts exactly what ParseQuantity accepts, minus the '-' that C++ reads so
// as to say "must not be negative".
TEST(Crd, QuantityPatternMatchesParseQuantity) {
  const json spec = Spec(LoadCrd());
  const json& resources = spec["properties"]["resources"]["properties"];
  std::set<std::string> patterns;
  for (const char* list : {"requests", "limits"}) {
    for (const char* name : {"cpu", "memory"}) {
      const json& field = resources[list]["properties"][name];
      patterns.insert(field["pattern"].get<std::string>());
      EXPECT_EQ(field["minimum"], 0) << list << "." << name;
    }
  }
  patterns.insert(spec["properties"]["env"]["items"]["properties"]["valueFrom"]["properties"]
                      ["resourceFieldRef"]["properties"]["divisor"]["pattern"]
                          .get<std::string>());
  ASSERT_EQ(patterns.size(), 1u) << "every quantity field has the same pattern";
  const std::regex pattern(*patterns.begin());
  for (const char* text :
       {"1",     "0",    "+1",    ".5",     "5.",   "1.5",  "128Mi", "1Ki",   "1Ei",  "500m", "1n",   "1u",
        "1k",    "1M",   "1G",    "1T",     "1P",   "1E",   "1e3",   "1E3",   "1e+3", "1e-3", "1e99", "1e1.5",
        "1e100", "1e",   "1e+",   "",       ".",    "+",    "-1",    "1K",    "1mi",  "1 Mi", " 1",   "1Mi ",
        "lots",  "0x10", "1.2.3", "1e-1.5", "1.e3", ".5e2", "Mi",    "1.5Gi", "1Gi5"}) {
    const bool matches = std::regex_match(text, pattern);
    EXPECT_EQ(matches, api::ParseQuantity(text).has_value() && text[0] != '-') << '"' << text << '"';
  }
}

// The CRD refuses bad cron syntax with one CEL regex; the C++ parser walks
// the fields. Both must agree on every string, except a range whose start is
// after its end ("5-3"), which a regex cannot compare: the C++ validator
// alone refuses it (docs/triggers.md says so). The regex is run here by
// std::regex (ECMAScript agrees with RE2 on it: no backslashes, no flags).
TEST(Crd, CronRuleMatchesTheCppParser) {
  const json cron =
      Spec(LoadCrd())["properties"]["triggers"]["items"]["properties"]["schedule"]["properties"]["cron"];
  const std::string rule = cron["x-kubernetes-validations"][0]["rule"];
  const std::string open = "self.matches('";
  ASSERT_TRUE(rule.starts_with(open) && rule.ends_with("')")) << rule;
  const std::regex pattern(rule.substr(open.size(), rule.size() - open.size() - 2));
  EXPECT_EQ(cron["maxLength"], api::Bounds::kMaxCronBytes);
  for (const char* text : {"* * * * *",
                           "0 3 * * *",
                           "*/15 * * * *",
                           "0-30/10 8-18 * * mon-fri",
                           "5,10,15 0 1,15 * *",
                           "0 0 ? * SUN",
                           "0 0 1 JAN,jul ?",
                           "0 12 * * 0",
                           "0 12 * * 6",
                           "7/20 * * * *",
                           "00 09 01 01 *",
                           "0  3 * * *",
                           " 0 3 * * * ",
                           "59 23 31 12 6",
                           "0 0 1-31/2 1-12/3 0-6/2",
                           "0 0 ? * *",
                           "0 0 * * ?",
                           "@yearly",
                           "@annually",
                           "@monthly",
                           "@weekly",
                           "@daily",
                           "@midnight",
                           "@hourly",
                           "",
                           "* * * *",
                           "0 * * * * *",
                           "60 * * * *",
                           "* 24 * * *",
                           "* * 0 * *",
                           "* * 32 * *",
                           "* * * 0 *",
                           "* * * 13 *",
                           "* * * * 7",
                           "* * * foo *",
                           "*/0 * * * *",
                           "*/100 * * * *",
                           "*/99 * * * *",
                           "*/007 * * * *",
                           "1,,2 * * * *",
                           ",1 * * * *",
                           "1, * * * *",
                           "? * * * *",
                           "* ? * * *",
                           "* * * ? *",
                           "?/2 * * * *",
                           "*-5 * * * *",
                           "-5 * * * *",
                           "5- * * * *",
                           "1-2-3 * * * *",
                           "1//2 * * * *",
                           "@every 1h",
                           "@reboot",
                           "@Daily",
                           " @daily",
                           "@daily ",
                           "CRON_TZ=UTC 0 3 * * *",
                           "TZ=UTC 0 3 * * *",
                           "0\t3 * * *",
                           "0 3 * * *\n",
                           "0 3 * * mon-",
                           "0 3 * * sunday",
                           "0 3 * JANUARY *",
                           "0 3 * * MON-FRI",
                           "0 3 * * Sat,sun",
                           "000000000000000000005 * * * *",
                           "0000000000000000000060 * * * *",
                           "5/5 * * * *"}) {
    EXPECT_EQ(std::regex_match(text, pattern), cron::ValidateCron(text).ok())
        << '"' << text << "\": " << cron::ValidateCron(text);
  }
  EXPECT_TRUE(std::regex_match("5-3 * * * *", pattern));
  EXPECT_FALSE(cron::ValidateCron("5-3 * * * *").ok());
}

// The table of tests/testdata: every manifest under invalid/ is refused by
// the C++ validator with the message its "# cpp:" line names, every one under
// valid/ passes. tests/integration/crd_apply.sh puts the same files through
// the real apiserver and requires the same verdict from both.
std::string CommentValue(const std::filesystem::path& file, std::string_view key) {
  std::ifstream in(file);
  const std::string prefix = "# " + std::string(key) + ": ";
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) return line.substr(prefix.size());
  }
  return "";
}

absl::Status CppVerdict(const std::filesystem::path& file) {
  auto docs = YamlFileToJson(file);
  EXPECT_TRUE(docs.ok()) << file << ": " << docs.status();
  if (!docs.ok()) return docs.status();
  EXPECT_EQ(docs->size(), 1u) << file;
  return api::ValidateFunctionObject((*docs)[0]);
}

TEST(Crd, TableAgreesWithCppValidation) {
  int invalid = 0, valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator("tests/testdata/invalid")) {
    const std::string cpp = CommentValue(entry.path(), "cpp");
    EXPECT_FALSE(cpp.empty()) << entry.path() << " has no \"# cpp:\" line";
    EXPECT_FALSE(CommentValue(entry.path(), "expect").empty())
        << entry.path() << " has no \"# expect:\" line";
    const absl::Status verdict = CppVerdict(entry.path());
    EXPECT_FALSE(verdict.ok()) << entry.path() << " was accepted";
    EXPECT_NE(std::string(verdict.message()).find(cpp), std::string::npos)
        << entry.path() << ": expected \"" << cpp << "\", got: " << verdict.message();
    ++invalid;
  }
  for (const auto& entry : std::filesystem::directory_iterator("tests/testdata/valid")) {
    const absl::Status verdict = CppVerdict(entry.path());
    EXPECT_TRUE(verdict.ok()) << entry.path() << ": " << verdict;
    ++valid;
  }
  // The rows the Function API's contract names: names, quantities, env,
  // valueFrom, images, requests above limits (a renamed file fails here).
  for (const char* row : {"name-dot", "name-digit-first", "name-too-long", "quantity-fractional-exponent",
                          "quantity-negative-integer", "env-name-equals", "env-value-from-empty",
                          "image-inner-space", "cpu-request-above-limit", "memory-request-above-limit"}) {
    EXPECT_TRUE(std::filesystem::exists(Cat("tests/testdata/invalid/", row, ".yaml"))) << row;
  }
  EXPECT_GE(invalid, 30);
  EXPECT_GE(valid, 8);
}

// The name rule is the CRD root's CEL rule: a DNS-1035 label of at most 63.
TEST(Crd, NameRuleIsCelOnTheRoot) {
  const json rules = Schema(LoadCrd())["x-kubernetes-validations"];
  ASSERT_EQ(rules.size(), 1u);
  const std::string rule = rules[0]["rule"];
  EXPECT_NE(rule.find("<= 63"), std::string::npos) << rule;
  EXPECT_NE(rule.find("^[a-z]([-a-z0-9]*[a-z0-9])?$"), std::string::npos) << rule;
  EXPECT_TRUE(api::ValidateFunctionName("a").ok());
  EXPECT_TRUE(api::ValidateFunctionName(std::string(63, 'a')).ok());
  EXPECT_FALSE(api::ValidateFunctionName(std::string(64, 'a')).ok());
  for (const char* bad : {"", "my.fn", "1fn", "-fn", "fn-", "Fn", "f_n", "f n"}) {
    EXPECT_FALSE(api::ValidateFunctionName(bad).ok()) << bad;
  }
  // The same sentence; the CEL message names the field itself because a
  // root rule's fieldPath cannot point into metadata.
  const std::string message = rules[0]["message"];
  ASSERT_TRUE(message.starts_with("metadata.name ")) << message;
  EXPECT_EQ(std::string(api::ValidateFunctionName("my.fn").message()),
            "metadata.name: " + message.substr(std::string("metadata.name ").size()));
}

// The validator reads the pod settings' schema from the CRD compiled into
// it: that copy must be the file's (CMake re-embeds it when it changes).
TEST(Crd, EmbeddedSchemaIsTheFile) {
  EXPECT_EQ(api::CrdSpecSchema(), Spec(LoadCrd()));
  ASSERT_FALSE(api::CrdSpecSchema().empty());
}

// Decoding a Function reads the properties on every autoscaler tick: they
// are the schema's own, not a copy made per call.
TEST(Crd, SpecPropertiesAreTheSchemasOwn) {
  ASSERT_TRUE(api::CrdSpecSchema().contains("properties"));
  EXPECT_EQ(&api::CrdSpecProperties(), &api::CrdSpecSchema().at("properties"));
  EXPECT_EQ(&api::CrdSpecProperties(), &api::CrdSpecProperties());
}

void CollectPodSchema(const json& node, const std::string& path, std::set<std::string>* keywords,
                      std::vector<std::pair<std::string, std::string>>* rules) {
  if (!node.is_object()) return;
  for (auto it = node.begin(); it != node.end(); ++it) keywords->insert(it.key());
  if (auto it = node.find("x-kubernetes-validations"); it != node.end()) {
    for (const json& rule : *it) rules->emplace_back(path, rule.value("message", ""));
  }
  if (auto it = node.find("properties"); it != node.end()) {
    for (auto p = it->begin(); p != it->end(); ++p)
      CollectPodSchema(*p, path + "." + p.key(), keywords, rules);
  }
  if (auto it = node.find("items"); it != node.end()) CollectPodSchema(*it, path + "[]", keywords, rules);
  if (auto it = node.find("additionalProperties"); it != node.end())
    CollectPodSchema(*it, path + "{}", keywords, rules);
}

// Every CEL rule of the pod settings has a C++ twin (by its message), and
// their schemas use only the keywords CheckSchema understands: a rule or a
// keyword added to the CRD without its C++ counterpart fails here.
TEST(Crd, PodSettingsAreCheckedByTheSchemaAndCelTwins) {
  const json spec = Spec(LoadCrd());
  std::set<std::string> keywords;
  std::vector<std::pair<std::string, std::string>> rules;
  for (const char* field : api::kPodSettingFields) {
    ASSERT_TRUE(spec["properties"].contains(field)) << field;
    CollectPodSchema(spec["properties"][field], field, &keywords, &rules);
  }
  EXPECT_GE(rules.size(), 15u);
  for (const auto& [path, message] : rules) EXPECT_TRUE(api::HasCelTwin(message)) << path << ": " << message;
  for (const std::string& keyword : keywords) EXPECT_TRUE(api::IsUnderstoodKeyword(keyword)) << keyword;
  // The one rule across two pod settings sits on spec; the C++ has it by hand.
  bool mount_rule = false;
  for (const json& rule : spec["x-kubernetes-validations"]) {
    mount_rule =
        mount_rule || rule["message"] == "every volumeMounts[].name must be the name of one of spec.volumes";
  }
  EXPECT_TRUE(mount_rule);
}

TEST(CheckSchema, RefusesWhatItDoesNotUnderstand) {
  const absl::Status s =
      api::CheckSchema(json::parse(R"({"type": "string", "format": "x", "oneOf": []})"), "a", "spec.x");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  const absl::Status cel = api::CheckSchema(
      json::parse(
          R"({"type": "string", "x-kubernetes-validations": [{"rule": "true", "message": "new rule"}]})"),
      "a", "spec.x");
  EXPECT_EQ(cel.code(), absl::StatusCode::kInternal) << cel;
}

TEST(CheckSchema, PrunesUnknownFieldsAsTheApiserver) {
  const json& tolerations = api::CrdSpecSchema()["properties"]["tolerations"];
  EXPECT_EQ(api::PruneToSchema(tolerations,
                               json::parse(R"([{"key": "a", "operator": "Exists", "colour": "red"}])")),
            json::parse(R"([{"key": "a", "operator": "Exists"}])"));
  const json& labels = api::CrdSpecSchema()["properties"]["podLabels"];
  EXPECT_EQ(api::PruneToSchema(labels, json::parse(R"({"any": "key"})")), json::parse(R"({"any": "key"})"));
}

TEST(CheckSchema, PathsNameTheField) {
  const json& schema = api::CrdSpecSchema()["properties"]["affinity"];
  const absl::Status s = api::CheckSchema(
      schema,
      json::parse(
          R"({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": 7}]}})"),
      "spec.affinity");
  EXPECT_EQ(std::string(s.message()),
            "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: must "
            "be a string");
  EXPECT_EQ(std::string(api::CheckSchema(api::CrdSpecSchema()["properties"]["securityContext"],
                                         json::parse(R"({"runAsUser": 1.5})"), "spec.securityContext")
                            .message()),
            "spec.securityContext.runAsUser: must be an integer");
  EXPECT_TRUE(api::CheckSchema(api::CrdSpecSchema()["properties"]["securityContext"],
                               json::parse(R"({"runAsUser": 1000.0})"), "spec.securityContext")
                  .ok());
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
