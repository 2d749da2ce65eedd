// The node agent on the real cluster: Deployments of fn-echo get ready
// EndpointSlices, pods answer HTTP from the cluster network, scale to zero
// removes processes and endpoints, crashes show in the pod status, tokens
// work in-cluster, grace periods hold. Needs fixtures zs_cluster and
// zs_node_agent (hack/node-agent-up.sh maps zeroscale/fn-echo to fn-echo).
#include <gtest/gtest.h>
#include <signal.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "common/kube/errors.h"
#include "common/strings.h"
#include "hack/node-agent/exec.h"
#include "hack/node-agent/network.h"
#include "tests/integration/cluster_testing.h"

namespace zs::kube {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using zs::testing::ClusterClient;
using zs::testing::ClusterNamespace;
using zs::testing::RunInClusterNetns;
using zs::testing::WaitFor;

json FnEchoDeployment(const std::string& ns, const std::string& name, int replicas) {
  json d = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "spec": {
      "selector": {"matchLabels": {}},
      "template": {
        "metadata": {"labels": {}},
        "spec": {
          "terminationGracePeriodSeconds": 5,
          "containers": [{
            "name": "fn", "image": "zeroscale/fn-echo:dev",
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5}}]}}}})");
  d["metadata"] = {{"name", name}, {"namespace", ns}};
  d["spec"]["replicas"] = replicas;
  d["spec"]["selector"]["matchLabels"]["app"] = name;
  d["spec"]["template"]["metadata"]["labels"]["app"] = name;
  return d;
}

json Service(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"selector", {{"app", name}}}, {"ports", {{{"port", 80}, {"targetPort", "http"}}}}}}};
}

// The sandbox a pod runs in, named by its first container's ID.
std::string NetnsOf(const json& pod) {
  const json statuses = pod.value("status", json::object()).value("containerStatuses", json::array());
  return statuses.empty() ? "" : nodeagent::NetnsOfContainerId(statuses[0].value("containerID", ""));
}

json Pod(const std::string& ns, const std::string& name, const json& container,
         const std::string& restart_policy) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"restartPolicy", restart_policy},
            {"terminationGracePeriodSeconds", 2},
            {"containers", {container}}}}};
}

class ClusterNodeAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = ClusterClient();
    ASSERT_NE(client_, nullptr);
    bool node_ready = WaitFor(
        [&] {
          auto node = client_->Get(NodeRef("zs-node"));
          if (!node.ok()) return false;
          for (const auto& c : (*node)["status"].value("conditions", json::array())) {
            if (c["type"] == "Ready") return c["status"] == "True";
          }
          return false;
        },
        seconds(30));
    ASSERT_TRUE(node_ready) << "no Ready node: is the node agent up? (hack/node-agent-up.sh)";
    namespace_ = std::make_unique<ClusterNamespace>(*client_, "zs-it-agent");
    ns_ = namespace_->name();
  }
  void TearDown() override { namespace_.reset(); }

  // Addresses of ready endpoints in the Service's EndpointSlices.
  std::set<std::string> ReadyAddresses(const std::string& service) {
    ListOptions options;
    options.label_selector = "kubernetes.io/service-name=" + service;
    auto slices = client_->List(kEndpointSlices.In(ns_), options);
    std::set<std::string> ready;
    if (!slices.ok()) return ready;
    for (const auto& slice : (*slices)["items"]) {
      for (const auto& endpoint : slice.value("endpoints", json::array())) {
        if (!endpoint.value("conditions", json::object()).value("ready", false)) continue;
        for (const auto& address : endpoint.value("addresses", json::array()))
          ready.insert(address.get<std::string>());
      }
    }
    return ready;
  }

  std::vector<json> Pods(const std::string& selector) {
    ListOptions options;
    options.label_selector = selector;
    auto pods = client_->List(kPods.In(ns_), options);
    std::vector<json> out;
    if (pods.ok()) {
      for (auto& pod : (*pods)["items"]) out.push_back(pod);
    }
    return out;
  }

  json GetPod(const std::string& name) {
    auto pod = client_->Get(PodRef(ns_, name));
    return pod.ok() ? *pod : json();
  }

  std::unique_ptr<CurlKubeClient> client_;
  std::unique_ptr<ClusterNamespace> namespace_;
  std::string ns_;
};

TEST_F(ClusterNodeAgentTest, DeploymentGetsReadyEndpointsServesHttpAndScalesToZero) {
  ASSERT_TRUE(client_->Create(kServices.In(ns_), Service(ns_, "echo")).ok());
  const auto start = std::chrono::steady_clock::now();
  auto created = client_->Create(kDeployments.In(ns_), FnEchoDeployment(ns_, "echo", 2));
  ASSERT_TRUE(created.ok()) << created.status();

  ASSERT_TRUE(WaitFor([&] { return ReadyAddresses("echo").size() == 2; }, seconds(60)))
      << "ready addresses: " << ReadyAddresses("echo").size();
  const auto elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  std::cout << "2 replicas ready in EndpointSlices after " << elapsed.count() << " ms\n";

  // Each pod answers from the cluster network, as itself.
  std::vector<json> pods = Pods("app=echo");
  ASSERT_EQ(pods.size(), 2u);
  std::vector<std::string> netns;
  std::vector<int> pids;
  for (const auto& pod : pods) {
    const std::string ip = pod["status"]["podIP"];
    const std::string name = pod["metadata"]["name"];
    EXPECT_TRUE(ReadyAddresses("echo").contains(ip));
    EXPECT_NE(ip.rfind("127.", 0), 0u);
    std::string body;
    ASSERT_EQ(RunInClusterNetns(Cat("curl -sS -m 5 http://", ip, ":8080/hello?x=1"), &body), 0) << body;
    auto answer = json::parse(body, nullptr, false);
    ASSERT_FALSE(answer.is_discarded()) << body;
    EXPECT_EQ(answer["path"], "/hello");
    EXPECT_EQ(answer["pod"], name);
    EXPECT_EQ(pod["status"]["phase"], "Running");
    EXPECT_EQ(pod["status"]["containerStatuses"][0]["ready"], true);
    netns.push_back(NetnsOf(pod));
    ASSERT_FALSE(netns.back().empty()) << pod["status"].dump();
    std::string out;
    ASSERT_EQ(RunInClusterNetns(Cat("ip netns pids ", netns.back()), &out), 0);
    std::istringstream in(out);
    int pid;
    while (in >> pid) pids.push_back(pid);
  }
  EXPECT_GE(pids.size(), 2u);

  // Scale to zero: endpoints empty, pods gone, processes and namespaces gone.
  ASSERT_TRUE(client_->PatchScale(DeploymentRef(ns_, "echo"), 0).ok());
  EXPECT_TRUE(WaitFor([&] { return ReadyAddresses("echo").empty(); }, seconds(30)));
  EXPECT_TRUE(WaitFor([&] { return Pods("app=echo").empty(); }, seconds(30)));
  EXPECT_TRUE(WaitFor(
      [&] {
        for (int pid : pids) {
          if (::kill(pid, 0) == 0) return false;
        }
        for (const auto& name : netns) {
          if (std::filesystem::exists("/run/netns/" + name)) return false;
        }
        return true;
      },
      seconds(30)));
}

TEST_F(ClusterNodeAgentTest, KilledProcessIsReportedAndRestarted) {
  json container = {
      {"name", "fn"}, {"image", "zeroscale/fn-echo:dev"}, {"ports", {{{"containerPort", 8080}}}}};
  ASSERT_TRUE(client_->Create(kPods.In(ns_), Pod(ns_, "crash", container, "Always")).ok());
  ASSERT_TRUE(
      WaitFor([&] { return GetPod("crash")["status"].value("phase", "") == "Running"; }, seconds(60)));
  const std::string netns = NetnsOf(GetPod("crash"));
  ASSERT_FALSE(netns.empty());
  std::string out;
  ASSERT_EQ(RunInClusterNetns(Cat("ip netns pids ", netns), &out), 0);
  int pid = std::atoi(out.c_str());
  ASSERT_GT(pid, 1) << out;
  ASSERT_EQ(::kill(pid, SIGKILL), 0);

  json status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = GetPod("crash")["status"];
        auto statuses = status.value("containerStatuses", json::array());
        return !statuses.empty() && statuses[0].value("restartCount", 0) >= 1;
      },
      seconds(30)))
      << status.dump();
  const json& c = status["containerStatuses"][0];
  EXPECT_EQ(c["lastState"]["terminated"]["exitCode"], 137);
  EXPECT_EQ(c["lastState"]["terminated"]["signal"], 9);
  EXPECT_EQ(c["lastState"]["terminated"]["reason"], "Error");
}

TEST_F(ClusterNodeAgentTest, ExitedProcessWithRestartNeverEndsThePod) {
  json container = {{"name", "job"}, {"image", "busybox"}, {"command", {"/bin/sh", "-c", "exit 3"}}};
  ASSERT_TRUE(client_->Create(kPods.In(ns_), Pod(ns_, "job", container, "Never")).ok());
  json status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = GetPod("job")["status"];
        return status.value("phase", "") == "Failed";
      },
      seconds(30)))
      << status.dump();
  EXPECT_EQ(status["containerStatuses"][0]["state"]["terminated"]["exitCode"], 3);
  EXPECT_EQ(status["containerStatuses"][0]["restartCount"], 0);
}

TEST_F(ClusterNodeAgentTest, UnknownImageWaitsWithErrImagePull) {
  json container = {{"name", "c"}, {"image", "registry.example/nothing:1"}};
  ASSERT_TRUE(client_->Create(kPods.In(ns_), Pod(ns_, "noimage", container, "Always")).ok());
  json status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = GetPod("noimage")["status"];
        auto statuses = status.value("containerStatuses", json::array());
        return !statuses.empty() && statuses[0]["state"].contains("waiting") &&
               statuses[0]["state"]["waiting"].value("reason", "") == "ErrImagePull";
      },
      seconds(30)))
      << status.dump();
  EXPECT_EQ(status["phase"], "Pending");
  EXPECT_NE(status["containerStatuses"][0]["state"]["waiting"].value("message", "").find("registry.example"),
            std::string::npos);
}

// The token mounted for in-cluster config authenticates to the apiserver at
// KUBERNETES_SERVICE_HOST:PORT, at the standard path and via ZS_SERVICEACCOUNT_DIR.
TEST_F(ClusterNodeAgentTest, ServiceAccountTokenWorksInCluster) {
  const std::string script =
      "set -e; d=/var/run/secrets/kubernetes.io/serviceaccount; "
      "test \"$(cat $d/namespace)\" = \"$NS\"; "
      "test -s \"$ZS_SERVICEACCOUNT_DIR/token\"; "
      "curl -sf -m 5 --cacert $d/ca.crt -H \"Authorization: Bearer $(cat $d/token)\" "
      "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api >/dev/null";
  json container = {
      {"name", "c"},
      {"image", "busybox"},
      {"command", {"/bin/sh", "-c", script}},
      {"env", {{{"name", "NS"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}}}}};
  ASSERT_TRUE(client_->Create(kPods.In(ns_), Pod(ns_, "token", container, "Never")).ok());
  json status;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = GetPod("token")["status"];
        const std::string phase = status.value("phase", "");
        return phase == "Succeeded" || phase == "Failed";
      },
      seconds(30)))
      << status.dump();
  EXPECT_EQ(status["phase"], "Succeeded") << status.dump();
}

TEST_F(ClusterNodeAgentTest, DeletionWaitsForTheGracePeriodThenKills) {
  // Ignores SIGTERM (the ignore is inherited by its children).
  json container = {{"name", "stubborn"},
                    {"image", "busybox"},
                    {"command", {"/bin/sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"}}};
  ASSERT_TRUE(client_->Create(kPods.In(ns_), Pod(ns_, "stubborn", container, "Always")).ok());
  ASSERT_TRUE(
      WaitFor([&] { return GetPod("stubborn")["status"].value("phase", "") == "Running"; }, seconds(60)));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client_->Delete(PodRef(ns_, "stubborn")).ok());
  ASSERT_TRUE(
      WaitFor([&] { return kube::IsNotFound(client_->Get(PodRef(ns_, "stubborn")).status()); }, seconds(30)));
  const auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  EXPECT_GE(took, milliseconds(1900));  // terminationGracePeriodSeconds: 2
  EXPECT_LT(took, seconds(15));
}

}  // namespace
}  // namespace zs::kube

namespace zs::nodeagent {
namespace {

// PodNetwork on a bridge of its own, in a netns this test makes (not the
// cluster's): warm sandboxes are made ahead, handed out wired, made again,
// thrown away when the bridge's netns was recreated, and removed on stop.
class PodNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = Cat("zs-nt-", ::getpid());
    MakeCluster();
  }
  void TearDown() override {
    RunCommand({"ip", "netns", "del", cluster_}).IgnoreError();
    if (old_cluster_fd_ >= 0) ::close(old_cluster_fd_);
  }
  void MakeCluster() {
    ASSERT_TRUE(RunCommand({"ip", "netns", "add", cluster_}).ok());
    ASSERT_TRUE(RunCommand({"ip", "-n", cluster_, "-batch", "-"}, nullptr,
                           "link add zsnt-br type bridge\naddr add 10.251.0.1/24 dev zsnt-br\n"
                           "link set zsnt-br up\n")
                    .ok());
  }
  // Links in the test's netns whose names start with `prefix`, with their master.
  std::string Links(const std::string& prefix) {
    std::string out;
    if (!RunCommand({"ip", "-n", cluster_, "-o", "link", "show"}, &out).ok()) return "(ip failed)";
    std::istringstream in(out);
    std::string line;
    std::string found;
    while (std::getline(in, line)) {
      if (line.find(": " + prefix) != std::string::npos) found += line + "\n";
    }
    return found;
  }
  std::unique_ptr<PodNetwork> Network(int warm) {
    auto network = PodNetwork::Create({cluster_, "zsnt-br", "10.251.0.0/28", warm});
    EXPECT_TRUE(network.ok()) << network.status();
    return network.ok() ? std::move(*network) : nullptr;
  }
  std::string cluster_;
  int old_cluster_fd_ = -1;
};

TEST_F(PodNetworkTest, WarmSandboxesAreHandedOutWiredAndMadeAgain) {
  std::unique_ptr<PodNetwork> network = Network(1);
  ASSERT_NE(network, nullptr);
  network->StartWarming();
  ASSERT_TRUE(zs::testing::WaitFor([&] { return network->warm() == 1; }, std::chrono::seconds(10)));

  absl::StatusOr<Sandbox> first = network->Setup();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(std::filesystem::exists(first->netns_path));
  std::string addr;
  ASSERT_TRUE(RunCommand({"ip", "-n", first->netns, "-o", "-4", "addr", "show", "dev", "eth0"}, &addr).ok());
  EXPECT_NE(addr.find(first->ip + "/24"), std::string::npos) << addr;
  EXPECT_NE(Links(first->host_veth).find("master zsnt-br"), std::string::npos) << Links("zsv");
  EXPECT_EQ(NetnsOfContainerId(ContainerId(*first, "fn", 3)), first->netns);

  // The next one is made ahead again, and is another sandbox.
  ASSERT_TRUE(zs::testing::WaitFor([&] { return network->warm() == 1; }, std::chrono::seconds(10)));
  absl::StatusOr<Sandbox> second = network->Setup();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->netns, first->netns);
  EXPECT_NE(second->ip, first->ip);

  network->Teardown(*first);
  network->Teardown(*second);
  EXPECT_FALSE(std::filesystem::exists(first->netns_path));
  network->StopWarming();
  EXPECT_EQ(network->warm(), 0u);
  EXPECT_EQ(Links("zsv"), "") << "stopping removes the warm sandbox";
}

TEST_F(PodNetworkTest, AWarmSandboxOfARecreatedClusterNetnsIsNotHandedOut) {
  std::unique_ptr<PodNetwork> network = Network(1);
  ASSERT_NE(network, nullptr);
  network->StartWarming();
  ASSERT_TRUE(zs::testing::WaitFor([&] { return network->warm() == 1; }, std::chrono::seconds(10)));
  const uint64_t old_epoch = network->ClusterEpoch();

  // Recreated under the same name (hack/cluster-up.sh after a crash). The old
  // namespace is held open so the new one cannot reuse its identity.
  old_cluster_fd_ = ::open(("/run/netns/" + cluster_).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(old_cluster_fd_, 0);
  ASSERT_TRUE(RunCommand({"ip", "netns", "del", cluster_}).ok());
  MakeCluster();
  ASSERT_NE(network->ClusterEpoch(), old_epoch);

  absl::StatusOr<Sandbox> sandbox = network->Setup();
  ASSERT_TRUE(sandbox.ok()) << sandbox.status();
  EXPECT_EQ(sandbox->epoch, network->ClusterEpoch());
  EXPECT_NE(Links(sandbox->host_veth).find("master zsnt-br"), std::string::npos)
      << "the sandbox handed out is wired to the new bridge: " << Links("zsv");
  network->Teardown(*sandbox);
  network->StopWarming();
  EXPECT_EQ(Links("zsv"), "");
}

}  // namespace
}  // namespace zs::nodeagent
