#include "common/api/function.h"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "common/api/quantity.h"

namespace zs::api {
namespace {

using nlohmann::json;

json Minimal() {
  return json::parse(R"({
    "apiVersion": "zeroscale.dev/v1alpha1", "kind": "Function",
    "metadata": {"name": "hello", "namespace": "default", "generation": 3,
                 "uid": "u-1", "resourceVersion": "42"},
    "spec": {"image": "example/echo:1"}
  })");
}

FunctionSpec DecodeSpec(const json& object) {
  auto fn = DecodeFunction(object);
  EXPECT_TRUE(fn.ok()) << fn.status();
  return fn.ok() ? fn->spec : FunctionSpec{};
}

// One test per default of docs/function-api.md.
TEST(FunctionDefaults, Port) { EXPECT_EQ(DecodeSpec(Minimal()).port, 8080); }
TEST(FunctionDefaults, TimeoutSeconds) { EXPECT_EQ(DecodeSpec(Minimal()).timeout_seconds, 30); }
TEST(FunctionDefaults, MinReplicas) { EXPECT_EQ(DecodeSpec(Minimal()).scaling.min_replicas, 0); }
TEST(FunctionDefaults, MaxReplicas) { EXPECT_EQ(DecodeSpec(Minimal()).scaling.max_replicas, 10); }
TEST(FunctionDefaults, TargetConcurrency) { EXPECT_EQ(DecodeSpec(Minimal()).scaling.target_concurrency, 10); }
TEST(FunctionDefaults, MaxConcurrency) { EXPECT_EQ(DecodeSpec(Minimal()).scaling.max_concurrency, 0); }
TEST(FunctionDefaults, ScaleToZeroAfterSeconds) {
  EXPECT_EQ(DecodeSpec(Minimal()).scaling.scale_to_zero_after_seconds, 60);
}
TEST(FunctionDefaults, BufferMaxRequests) { EXPECT_EQ(DecodeSpec(Minimal()).buffer.max_requests, 1000); }
TEST(FunctionDefaults, BufferTimeoutSeconds) { EXPECT_EQ(DecodeSpec(Minimal()).buffer.timeout_seconds, 60); }
TEST(FunctionDefaults, PartialScalingKeepsOtherDefaults) {
  json o = Minimal();
  o["spec"]["scaling"] = {{"maxReplicas", 3}};
  FunctionSpec spec = DecodeSpec(o);
  EXPECT_EQ(spec.scaling.max_replicas, 3);
  EXPECT_EQ(spec.scaling.target_concurrency, 10);
  EXPECT_EQ(spec.scaling.scale_to_zero_after_seconds, 60);
}
TEST(FunctionDefaults, MinimalIsValid) { EXPECT_TRUE(ValidateFunctionSpec(DecodeSpec(Minimal())).ok()); }

TEST(FunctionDecode, Metadata) {
  auto fn = DecodeFunction(Minimal());
  ASSERT_TRUE(fn.ok());
  EXPECT_EQ(fn->metadata.Key(), "default/hello");
  EXPECT_EQ(fn->metadata.generation, 3);
  EXPECT_EQ(fn->metadata.resource_version, "42");
}

struct TypeCase {
  std::string patch;
  std::string message;
};
class FunctionDecodeTypes : public ::testing::TestWithParam<TypeCase> {};
TEST_P(FunctionDecodeTypes, WrongTypeNamesField) {
  json o = Minimal();
  o["spec"].merge_patch(json::parse(GetParam().patch));
  auto fn = DecodeFunction(o);
  ASSERT_FALSE(fn.ok());
  EXPECT_EQ(fn.status().message(), GetParam().message);
}
INSTANTIATE_TEST_SUITE_P(
    All, FunctionDecodeTypes,
    ::testing::Values(
        TypeCase{R"({"port": "80"})", "spec.port: must be an integer"},
        TypeCase{R"({"image": 7})", "spec.image: must be a string"},
        TypeCase{R"({"command": ["a", 1]})", "spec.command[1]: must be a string"},
        TypeCase{R"({"scaling": 5})", "spec.scaling: must be an object"},
        TypeCase{R"({"scaling": {"maxReplicas": 1.5}})", "spec.scaling.maxReplicas: must be an integer"},
        TypeCase{R"({"env": [{"name": "A", "value": 3}]})", "spec.env[0].value: must be a string"},
        TypeCase{R"({"resources": {"requests": {"memory": true}}})",
                 "spec.resources.requests.memory: must be a quantity such as \"128Mi\" or \"500m\""},
        TypeCase{R"({"timeoutSeconds": 99999999999})", "spec.timeoutSeconds: must fit in 32 bits"}));

struct RejectCase {
  std::string patch;
  std::string message;
};
class FunctionValidate : public ::testing::TestWithParam<RejectCase> {};
// One case per rejection; the message names the field.
TEST_P(FunctionValidate, Rejects) {
  json o = Minimal();
  o["spec"].merge_patch(json::parse(GetParam().patch));
  auto fn = DecodeFunction(o);
  ASSERT_TRUE(fn.ok()) << fn.status();
  absl::Status s = ValidateFunctionSpec(fn->spec);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), GetParam().message);
}
INSTANTIATE_TEST_SUITE_P(
    All, FunctionValidate,
    ::testing::Values(
        RejectCase{R"({"image": ""})", "spec.image: is required"},
        RejectCase{R"({"port": 0})", "spec.port: must be between 1 and 65535, got 0"},
        RejectCase{R"({"port": 70000})", "spec.port: must be between 1 and 65535, got 70000"},
        RejectCase{R"({"timeoutSeconds": 0})", "spec.timeoutSeconds: must be between 1 and 900, got 0"},
        RejectCase{R"({"timeoutSeconds": 901})", "spec.timeoutSeconds: must be between 1 and 900, got 901"},
        RejectCase{R"({"scaling": {"minReplicas": -1}})",
                   "spec.scaling.minReplicas: must be between 0 and 1000, got -1"},
        RejectCase{R"({"scaling": {"maxReplicas": 0}})",
                   "spec.scaling.maxReplicas: must be between 1 and 1000, got 0"},
        RejectCase{R"({"scaling": {"minReplicas": 5, "maxReplicas": 2}})",
                   "spec.scaling: minReplicas must be less than or equal to maxReplicas"},
        RejectCase{R"({"scaling": {"targetConcurrency": 0}})",
                   "spec.scaling.targetConcurrency: must be between 1 and 10000, got 0"},
        RejectCase{R"({"scaling": {"maxConcurrency": -1}})",
                   "spec.scaling.maxConcurrency: must be between 0 and 10000, got -1"},
        RejectCase{
            R"({"scaling": {"targetConcurrency": 20, "maxConcurrency": 5}})",
            "spec.scaling: targetConcurrency must not exceed maxConcurrency when maxConcurrency is set"},
        RejectCase{R"({"scaling": {"scaleToZeroAfterSeconds": 0}})",
                   "spec.scaling.scaleToZeroAfterSeconds: must be between 1 and 86400, got 0"},
        RejectCase{R"({"buffer": {"maxRequests": 0}})",
                   "spec.buffer.maxRequests: must be between 1 and 100000, got 0"},
        RejectCase{R"({"buffer": {"timeoutSeconds": 0}})",
                   "spec.buffer.timeoutSeconds: must be between 1 and 900, got 0"},
        RejectCase{R"({"env": [{"name": ""}]})",
                   "spec.env[0].name: must be non-empty printable ASCII characters except '='"},
        RejectCase{
            R"({"env": [{"name": "A", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]})",
            "spec.env[0]: must set at most one of value and valueFrom"},
        RejectCase{
            R"({"resources": {"requests": {"memory": "lots"}}})",
            "spec.resources.requests.memory: \"lots\" is not a quantity such as \"128Mi\" or \"500m\""},
        RejectCase{R"({"resources": {"limits": {"cpu": "-1"}}})",
                   "spec.resources.limits.cpu: must not be negative"}));

TEST(FunctionRoundTrip, SpecSurvivesEncodeDecode) {
  json o = Minimal();
  o["spec"] = json::parse(R"({
    "image": "example/echo:2", "command": ["/bin/echo-server"], "args": ["--x", "y"],
    "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    "port": 9000, "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    "timeoutSeconds": 12,
    "scaling": {"minReplicas": 1, "maxReplicas": 4, "targetConcurrency": 3, "maxConcurrency": 6, "scaleToZeroAfterSeconds": 30},
    "buffer": {"maxRequests": 50, "timeoutSeconds": 5}})");
  auto fn = DecodeFunction(o);
  ASSERT_TRUE(fn.ok()) << fn.status();
  auto again = DecodeFunction(EncodeFunction(*fn));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->spec, fn->spec);
  EXPECT_EQ(again->spec.port, 9000);
  EXPECT_EQ(again->spec.env[1].value_from["fieldRef"]["fieldPath"], "metadata.name");
}

TEST(FunctionRoundTrip, PodSettingsSurviveEncodeDecode) {
  json o = Minimal();
  o["spec"]["serviceAccountName"] = "sa";
  o["spec"]["tolerations"] = json::parse(R"([{"operator": "Exists"}])");
  o["spec"]["podLabels"] = json::parse(R"({"team": "a"})");
  o["spec"]["securityContext"] = json::parse(R"({"runAsUser": 1000})");
  auto fn = DecodeFunction(o);
  ASSERT_TRUE(fn.ok()) << fn.status();
  EXPECT_EQ(fn->spec.pod.size(), 4u);
  auto again = DecodeFunction(EncodeFunction(*fn));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->spec, fn->spec);
  EXPECT_TRUE(ValidateFunctionSpec(again->spec).ok());
}

TEST(FunctionDecode, PodSettingsDropUnknownFields) {
  json o = Minimal();
  o["spec"]["envFrom"] = json::parse(R"([{"secretRef": {"name": "s", "extra": 1}, "bogus": true}])");
  EXPECT_EQ(DecodeSpec(o).pod["envFrom"], json::parse(R"([{"secretRef": {"name": "s"}}])"));
}

TEST(FunctionPodSettings, RefusedWithTheFieldNamed) {
  for (const auto& [field, value, message] : std::vector<std::tuple<std::string, json, std::string>>{
           {"serviceAccountName", 7, "spec.serviceAccountName: must be a string"},
           {"nodeSelector", json::array(), "spec.nodeSelector: must be an object"},
           {"nodeSelector", json::parse(R"({"a": 1})"), "spec.nodeSelector[a]: must be a string"},
           {"tolerations", json::object(), "spec.tolerations: must be an array"},
           {"volumeMounts", json::parse(R"([{"name": "x", "mountPath": "/x"}])"),
            "spec.volumeMounts[0].name: every volumeMounts[].name must be the name of one of spec.volumes"},
           {"containerSecurityContext",
            json::parse(R"({"capabilities": {"add": ["SYS_ADMIN"]}, "allowPrivilegeEscalation": false})"),
            "spec.containerSecurityContext: cannot set allowPrivilegeEscalation to false and add capability "
            "SYS_ADMIN"},
       }) {
    json o = Minimal();
    o["spec"][field] = value;
    EXPECT_EQ(std::string(ValidateFunctionObject(o).message()), message) << field;
  }
}

TEST(FunctionRoundTrip, StatusSurvivesEncodeDecode) {
  FunctionStatus s;
  s.observed_generation = 7;
  s.replicas = 2;
  s.ready_replicas = 1;
  s.desired_replicas = 3;
  s.replica_summary = "1/3";
  s.url = "http://act/fn/default/hello/";
  s.last_request_time = "2026-11-27T01:02:03Z";
  s.last_scale_time = "2026-11-27T01:02:04Z";
  s.conditions.push_back({"Ready", "True", "Serving", "ok", "2026-11-27T01:00:00Z", 7});
  s.conditions.push_back({"Active", "False", "NoTraffic", "idle", "2026-11-27T01:00:01Z", 7});
  json encoded = EncodeFunctionStatus(s);
  EXPECT_EQ(DecodeFunctionStatus(encoded), s);
  EXPECT_EQ(encoded["conditions"][0]["type"], "Ready");
  ASSERT_NE(s.FindCondition("Active"), nullptr);
  EXPECT_EQ(s.FindCondition("Active")->reason, "NoTraffic");
}

json WithTriggers(const json& triggers) {
  json o = Minimal();
  o["spec"]["triggers"] = triggers;
  return o;
}

TEST(FunctionBrokerTriggers, DecodeWithDefaults) {
  FunctionSpec spec = DecodeSpec(WithTriggers(json::parse(R"([
    {"name": "jobs", "nats": {"url": "nats://n:4222", "stream": "JOBS"},
     "delivery": {"deadLetter": {"subject": "dead.jobs"}}},
    {"name": "orders", "redis": {"address": "r:6379", "stream": "orders",
                                 "passwordSecretRef": {"name": "redis", "key": "pw"}}}
  ])")));
  ASSERT_EQ(spec.triggers.size(), 2u);
  const TriggerSpec& jobs = spec.triggers[0];
  ASSERT_TRUE(jobs.nats);
  EXPECT_EQ(jobs.delivery.max_in_flight, 10);
  EXPECT_EQ(jobs.delivery.max_attempts, 5);
  EXPECT_EQ(jobs.delivery.backoff_seconds, 1);
  EXPECT_EQ(jobs.delivery.max_backoff_seconds, 300);
  EXPECT_EQ(jobs.delivery.dead_letter_subject, "dead.jobs");
  EXPECT_EQ(BrokerConsumerName("default", "hello", jobs), "zeroscale-default-hello-jobs");
  const TriggerSpec& orders = spec.triggers[1];
  ASSERT_TRUE(orders.redis);
  EXPECT_EQ(orders.delivery.dead_letter_stream, "orders.dead");
  ASSERT_TRUE(orders.redis->password_secret_ref);
  EXPECT_EQ(orders.redis->password_secret_ref->key, "pw");
  EXPECT_TRUE(ValidateFunctionSpec(spec).ok()) << ValidateFunctionSpec(spec);
  // Round trip.
  FunctionSpec again = DecodeSpec(WithTriggers(EncodeFunctionSpec(spec)["triggers"]));
  EXPECT_EQ(again.triggers, spec.triggers);
}

TEST(FunctionBrokerTriggers, SubjectsAndUrls) {
  auto verdict = [](const std::string& subject, const std::string& url) {
    json t = {{"name", "jobs"},
              {"nats", {{"url", url}, {"stream", "JOBS"}, {"subject", subject}}},
              {"delivery", {{"deadLetter", {{"subject", "dead"}}}}}};
    auto fn = DecodeFunction(WithTriggers(json::array({t})));
    return fn.ok() && ValidateFunctionSpec(fn->spec).ok();
  };
  for (const char* ok : {"a", "a.b", "a.*", "*.b.>", ">", "orders.eu-1_x"})
    EXPECT_TRUE(verdict(ok, "nats://n:1")) << ok;
  for (const char* bad : {"a..b", ".a", "a.", "a.>.b", "a*", "a b", "a.>x"})
    EXPECT_FALSE(verdict(bad, "nats://n:1")) << bad;
  EXPECT_TRUE(verdict("a", "nats://n:1,tls://u:p@m:2"));
  for (const char* bad : {"http://n:1", "nats://", "nats://n:1, nats://m:2", "nats://n:1,"})
    EXPECT_FALSE(verdict("a", bad)) << bad;
}

TEST(FunctionBrokerTriggers, StatusSurvivesEncodeDecode) {
  TriggerStatus s;
  s.name = "orders";
  s.fired = 7;
  s.succeeded = 5;
  s.failed = 2;
  s.dead_lettered = 1;
  s.pending = 0;
  s.last_fire_time = "2026-12-02T10:00:00Z";
  s.connected = "False";
  s.reason = "BrokerUnavailable";
  s.message = "redis r:6379: connection refused";
  json status = {{"triggers", EncodeTriggerStatuses({s})}};
  EXPECT_EQ(DecodeTriggerStatuses(status), std::vector<TriggerStatus>{s});
  EXPECT_EQ(status["triggers"][0]["pending"], 0) << "an empty backlog is written, not omitted";
}

TEST(Quantity, Parses) {
  EXPECT_DOUBLE_EQ(*ParseQuantity("128Mi"), 128.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(*ParseQuantity("1G"), 1e9);
  EXPECT_DOUBLE_EQ(*ParseQuantity("500m"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseQuantity("2"), 2);
  EXPECT_DOUBLE_EQ(*ParseQuantity("1e3"), 1000);
  EXPECT_DOUBLE_EQ(*ParseQuantity("1.5Gi"), 1.5 * 1024 * 1024 * 1024);
  EXPECT_FALSE(ParseQuantity("").has_value());
  EXPECT_FALSE(ParseQuantity("Mi").has_value());
  EXPECT_FALSE(ParseQuantity("12XB").has_value());
}

TEST(Quantity, RefusesWhatKubernetesCannotParse) {
  EXPECT_FALSE(ParseQuantity("1e1.5").has_value());  // in Kubernetes' grammar, refused by its parser
  EXPECT_FALSE(ParseQuantity("1e100").has_value());  // exponents have at most two digits
  EXPECT_FALSE(ParseQuantity("1e 3").has_value());
  EXPECT_FALSE(ParseQuantity("1e").has_value());
  EXPECT_FALSE(ParseQuantity(".").has_value());
  EXPECT_DOUBLE_EQ(*ParseQuantity("-1"), -1);  // read, so that Validate can say "negative"
  EXPECT_DOUBLE_EQ(*ParseQuantity(".5"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseQuantity("1e-2"), 0.01);
}

struct Comparison {
  const char* a;
  const char* b;
  int expected;
};

// resource.Quantity.Cmp's answers (CEL quantity(a).compareTo(quantity(b))).
TEST(Quantity, ComparesAsKubernetesDoes) {
  const Comparison table[] = {
      {"1", "1000m", 0},
      {"1", "1001m", -1},
      {"2", "1500m", 1},
      {"1Gi", "1000Mi", 1},
      {"1G", "1000Mi", -1},
      {"1.1G", "1Gi", 1},
      {"128Mi", "134217728", 0},
      {"1e3", "1k", 0},
      {".5", "500m", 0},
      {"+1", "1", 0},
      {"0", "0m", 0},
      {"0", "1n", -1},
      {"-1", "0", -1},
      {"-2", "-1", -1},
      // Rounded up to a multiple of 1n before comparing.
      {"1.0000000002", "1.0000000001", 0},
      {"1.0000000011", "1.000000001", 1},
      {"1e-12", "1n", 0},
      {"0.0000000000", "0", 0},
      // A binary-suffixed value is capped at 2^63-1; a decimal one is not.
      {"9Ei", "9223372036854775807", 0},
      {"9Ei", "10E", -1},
      {"1e99", "1e98", 1},
      // Long mantissas compare exactly.
      {"123456789012345678901234567890", "123456789012345678901234567891", -1},
  };
  for (const Comparison& c : table) {
    EXPECT_EQ(CompareQuantities(c.a, c.b), c.expected) << c.a << " vs " << c.b;
    EXPECT_EQ(CompareQuantities(c.b, c.a), -c.expected) << c.b << " vs " << c.a;
  }
  EXPECT_FALSE(CompareQuantities("lots", "1").has_value());
  EXPECT_FALSE(CompareQuantities("1", "1e1.5").has_value());
}

TEST(Quantity, MemoryRequestBytes) {
  FunctionSpec spec;
  EXPECT_FALSE(MemoryRequestBytes(spec).has_value());
  spec.resources.requests.memory = "1Gi";
  EXPECT_DOUBLE_EQ(*MemoryRequestBytes(spec), 1024.0 * 1024 * 1024);
}

}  // namespace
}  // namespace zs::api
