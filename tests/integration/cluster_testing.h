// Helpers for tests that run against the local cluster (hack/cluster-up.sh):
// where the kubeconfig is, a client for it, a throw-away namespace per test,
// polling with a deadline, and running commands inside the cluster's network
// namespace.
//
// Thread-safety: the functions are; ClusterNamespace is owned by one test.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/kube/curl_client.h"

namespace zs::testing {

// $ZS_KUBECONFIG, else <repo>/.cache/cluster/$ZS_CLUSTER_NAME/admin.kubeconfig
// (the admin identity hack/cluster-up.sh writes; ZS_CLUSTER_NAME defaults to zs-cluster).
std::string ClusterKubeconfig();
// The cluster's network namespace: $ZS_NETNS, else $ZS_CLUSTER_NAME, else zs-cluster.
std::string ClusterNetns();
// A client for ClusterKubeconfig(); aborts the test (FAIL) when it cannot be built.
std::unique_ptr<kube::CurlKubeClient> ClusterClient();

// Server-side applies deploy/crds/zeroscale.dev_functions.yaml (the tree
// this test was built from) and waits until the apiserver serves Functions.
// Tests that create Functions call it: no test may rely on another having
// installed the CRD first, since ctest orders and filters them freely.
void ApplyFunctionCrd(kube::KubeClient& client);

// Polls `done` every `poll` until it returns true or `timeout` passes.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout,
             std::chrono::milliseconds poll = std::chrono::milliseconds(50));

// Runs `command` through /bin/sh -c inside the cluster's network namespace
// (as `ip netns exec`); returns its exit status and fills `output` with stdout.
int RunInClusterNetns(const std::string& command, std::string* output = nullptr);

// Creates namespace "<prefix>-<random>" and deletes it (background
// propagation, not waited for) when destroyed.
class ClusterNamespace {
 public:
  ClusterNamespace(kube::KubeClient& client, const std::string& prefix);
  ~ClusterNamespace();
  ClusterNamespace(const ClusterNamespace&) = delete;
  ClusterNamespace& operator=(const ClusterNamespace&) = delete;
  const std::string& name() const { return name_; }

 private:
  kube::KubeClient& client_;
  std::string name_;
};

}  // namespace zs::testing
