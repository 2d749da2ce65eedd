#include "tests/integration/cluster_testing.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "common/kube/config.h"
#include "common/kube/resource.h"
#include "common/strings.h"
#include "common/yaml.h"

namespace zs::testing {
namespace {

std::string Env(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

}  // namespace

std::string ClusterKubeconfig() {
  return Env("ZS_KUBECONFIG", Cat(ZS_SOURCE_DIR, "/.cache/cluster/", Env("ZS_CLUSTER_NAME", "zs-cluster"),
                                  "/admin.kubeconfig"));
}

std::string ClusterNetns() { return Env("ZS_NETNS", Env("ZS_CLUSTER_NAME", "zs-cluster")); }

std::unique_ptr<kube::CurlKubeClient> ClusterClient() {
  auto config = kube::LoadKubeconfig(ClusterKubeconfig());
  EXPECT_TRUE(config.ok()) << config.status() << " (is the cluster up? hack/cluster-up.sh)";
  if (!config.ok()) return nullptr;
  auto client = kube::CurlKubeClient::Create(*config);
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return nullptr;
  return std::move(*client);
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout,
             std::chrono::milliseconds poll) {
  // Real time on purpose: these tests wait for real processes.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(poll);
  }
  return done();
}

void ApplyFunctionCrd(kube::KubeClient& client) {
  auto docs = YamlFileToJson(Cat(ZS_SOURCE_DIR, "/deploy/crds/zeroscale.dev_functions.yaml"));
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 1u);
  const nlohmann::json& crd = docs->front();
  const std::string name = crd["metadata"]["name"];
  auto applied = client.Apply(kube::kCustomResourceDefinitions.Named(name), crd,
                              {.field_manager = "zeroscale-tests", .force = true});
  ASSERT_TRUE(applied.ok()) << applied.status();
  // Established alone is not enough: discovery can lag a moment behind it.
  const bool served = WaitFor(
      [&] {
        auto list = client.List(kube::kFunctions.In("default"), {});
        return list.ok();
      },
      std::chrono::seconds(60), std::chrono::milliseconds(100));
  ASSERT_TRUE(served) << "the apiserver does not serve " << name << " 60 s after the CRD was applied";
}

int RunInClusterNetns(const std::string& command, std::string* output) {
  std::string full = Cat("ip netns exec ", ShellQuote(ClusterNetns()), " /bin/sh -c ", ShellQuote(command));
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) text.append(buffer, n);
  int status = ::pclose(pipe);
  if (output != nullptr) *output = std::move(text);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

ClusterNamespace::ClusterNamespace(kube::KubeClient& client, const std::string& prefix) : client_(client) {
  std::random_device random;
  name_ = Cat(prefix, "-", std::hex, random() % 0xFFFFFF);
  auto created =
      client_.Create(kube::kNamespaces, {{"apiVersion", "v1"},
                                         {"kind", "Namespace"},
                                         {"metadata", {{"name", name_}, {"labels", {{"zs-test", "true"}}}}}});
  EXPECT_TRUE(created.ok()) << created.status();
  // The default ServiceAccount appears shortly after (kube-controller-manager);
  // pods need it.
  WaitFor([&] { return client_.Get(kube::kServiceAccounts.In(name_).Named("default")).ok(); },
          std::chrono::seconds(30));
}

ClusterNamespace::~ClusterNamespace() {
  kube::DeleteOptions options;
  options.propagation_policy = "Background";
  client_.Delete(kube::kNamespaces.Named(name_), options).IgnoreError();
}

}  // namespace zs::testing
