#include "hack/node-agent/launch.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace zs::nodeagent {
namespace {

using nlohmann::json;

class LaunchTest : public ::testing::Test {
 protected:
  LaunchTest() {
    images_.Set("zeroscale/fn-echo", "/opt/fn-echo");
    context_ = PodContext{"10.88.1.7", "10.88.255.1", "zs-node", "10.88.0.1", "6443", "/sa/dir"};
    pod_ = json::parse(R"j({
      "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x"}},
      "spec": {"nodeName": "zs-node", "serviceAccountName": "runner"}})j");
  }
  absl::StatusOr<LaunchSpec> Build(const json& container, LaunchError* error = nullptr) {
    return BuildLaunch(pod_, container, images_, context_, lookup_, is_exec_, error);
  }
  std::string Env(const LaunchSpec& spec, const std::string& name) {
    std::string found = "<unset>";
    for (const auto& var : spec.env) {
      if (var.rfind(name + "=", 0) == 0) found = var.substr(name.size() + 1);
    }
    return found;
  }

  ImageMap images_;
  PodContext context_;
  json pod_;
  KeyLookup lookup_ = [](const std::string& kind, const std::string& ns, const std::string& name,
                         const std::string& key) -> absl::StatusOr<std::string> {
    if (kind == "configmap" && ns == "ns" && name == "cm" && key == "k") return std::string("from-cm");
    if (kind == "secret" && name == "s" && key == "password") return std::string("hunter2");
    return absl::NotFoundError("missing");
  };
  ExecutableCheck is_exec_ = [](const std::string& path) { return path == "/bin/sh"; };
};

TEST_F(LaunchTest, ImageEntrypointWithArgs) {
  auto spec =
      Build(json::parse(R"j({"name": "c", "image": "zeroscale/fn-echo:dev", "args": ["--threads", "1"],
                                    "ports": [{"containerPort": 8080}]})j"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->executable, "/opt/fn-echo");
  EXPECT_EQ(spec->argv, (std::vector<std::string>{"/opt/fn-echo", "--threads", "1"}));
  EXPECT_EQ(Env(*spec, "PORT"), "8080");
  EXPECT_EQ(Env(*spec, "HOSTNAME"), "p");
  EXPECT_EQ(Env(*spec, "KUBERNETES_SERVICE_HOST"), "10.88.0.1");
  EXPECT_EQ(Env(*spec, "KUBERNETES_SERVICE_PORT"), "6443");
  EXPECT_EQ(Env(*spec, "ZS_SERVICEACCOUNT_DIR"), "/sa/dir");
  EXPECT_EQ(spec->working_dir, "/");
}

TEST_F(LaunchTest, CommandInsideTheImageMapsToTheImageExecutable) {
  auto spec = Build(
      json::parse(R"j({"name": "c", "image": "zeroscale/fn-echo", "command": ["/fn-echo", "--port", "9"],
                                    "args": ["--threads", "3"]})j"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->argv, (std::vector<std::string>{"/opt/fn-echo", "--port", "9", "--threads", "3"}));
}

TEST_F(LaunchTest, HostExecutableCommandRunsAsIsWithoutImage) {
  auto spec = Build(json::parse(
      R"j({"name": "c", "image": "busybox", "command": ["/bin/sh", "-c"], "args": ["exit 0"]})j"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->executable, "/bin/sh");
  EXPECT_EQ(spec->argv, (std::vector<std::string>{"/bin/sh", "-c", "exit 0"}));
}

TEST_F(LaunchTest, UnknownImageIsErrImagePull) {
  LaunchError error;
  auto spec = Build(json::parse(R"j({"name": "c", "image": "nope:1"})j"), &error);
  EXPECT_FALSE(spec.ok());
  EXPECT_EQ(error.reason, "ErrImagePull");
  EXPECT_NE(error.message.find("nope:1"), std::string::npos);
}

TEST_F(LaunchTest, EnvValueFromAndExpansion) {
  auto spec = Build(json::parse(R"j({"name": "c", "image": "zeroscale/fn-echo", "env": [
      {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
      {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
      {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
      {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
      {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
      {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
      {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
      {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
      {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "none", "key": "x", "optional": true}}},
      {"name": "URL", "value": "http://$(IP):$(PORT)/$$(IP)/$(UNKNOWN)"},
      {"name": "PORT", "value": "9090"}],
      "args": ["--name=$(NAME)"], "ports": [{"containerPort": 8080}]})j"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(Env(*spec, "NAME"), "p");
  EXPECT_EQ(Env(*spec, "NS"), "ns");
  EXPECT_EQ(Env(*spec, "IP"), "10.88.1.7");
  EXPECT_EQ(Env(*spec, "HOST"), "10.88.255.1");
  EXPECT_EQ(Env(*spec, "APP"), "x");
  EXPECT_EQ(Env(*spec, "SA"), "runner");
  EXPECT_EQ(Env(*spec, "CM"), "from-cm");
  EXPECT_EQ(Env(*spec, "PW"), "hunter2");
  EXPECT_EQ(Env(*spec, "OPT"), "<unset>");
  EXPECT_EQ(Env(*spec, "URL"), "http://10.88.1.7:8080/$(IP)/$(UNKNOWN)");
  EXPECT_EQ(Env(*spec, "PORT"), "9090");  // the container's env wins
  EXPECT_EQ(spec->argv.back(), "--name=p");
}

TEST_F(LaunchTest, UnresolvableEnvIsCreateContainerConfigError) {
  LaunchError error;
  auto spec = Build(json::parse(R"j({"name": "c", "image": "zeroscale/fn-echo", "env": [
      {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k"}}}]})j"),
                    &error);
  EXPECT_FALSE(spec.ok());
  EXPECT_EQ(error.reason, "CreateContainerConfigError");
  error = {};
  spec = Build(json::parse(R"j({"name": "c", "image": "zeroscale/fn-echo", "env": [
      {"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]})j"),
               &error);
  EXPECT_FALSE(spec.ok());
  EXPECT_EQ(error.reason, "CreateContainerConfigError");
}

TEST(ExpandVarsTest, Rules) {
  std::vector<std::string> vars = {"A=1", "B=two"};
  EXPECT_EQ(ExpandVars("$(A)-$(B)", vars), "1-two");
  EXPECT_EQ(ExpandVars("$$(A)", vars), "$(A)");
  EXPECT_EQ(ExpandVars("$(C)", vars), "$(C)");
  EXPECT_EQ(ExpandVars("$(A", vars), "$(A");
  EXPECT_EQ(ExpandVars("cost $5", vars), "cost $5");
  EXPECT_EQ(ExpandVars("end$", vars), "end$");
}

}  // namespace
}  // namespace zs::nodeagent

namespace zs::nodeagent {
namespace {

TEST(LaunchFilesTest, CommandNamesAFileOfTheImage) {
  ImageMap images;
  images.Set(
      "zeroscale/zeroscale:dev",
      ImageEntry{"", {{"/usr/local/bin/zeroscale-controller", "/build/controller/zeroscale-controller"}}});
  nlohmann::json pod = {{"metadata", {{"name", "p"}, {"namespace", "ns"}}}};
  PodContext context;
  auto spec = BuildLaunch(pod,
                          {{"name", "c"},
                           {"image", "zeroscale/zeroscale:dev"},
                           {"command", {"/usr/local/bin/zeroscale-controller"}},
                           {"args", {"--leader-elect"}}},
                          images, context, nullptr, nullptr, nullptr);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->argv,
            (std::vector<std::string>{"/build/controller/zeroscale-controller", "--leader-elect"}));
  // No command and no entrypoint: nothing to run.
  LaunchError error;
  EXPECT_FALSE(BuildLaunch(pod, {{"name", "c"}, {"image", "zeroscale/zeroscale:dev"}}, images, context,
                           nullptr, nullptr, &error)
                   .ok());
  EXPECT_EQ(error.reason, "ErrImagePull");
}

}  // namespace
}  // namespace zs::nodeagent
