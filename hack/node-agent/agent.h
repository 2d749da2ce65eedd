// Agent: a kubelet stand-in for one node of the local cluster, which also
// schedules (binds every unbound default-scheduler pod to itself).
//
// Loops and threads:
//   - two informers on pods: spec.nodeName=<node> (ours) and spec.nodeName=""
//     (unbound); events enqueue the pod's key;
//   - `workers` sync threads take keys from a WorkQueue (never two at once for
//     one pod) and make the pod's sandbox and processes match its spec;
//   - one bind thread POSTs pods/<name>/binding for unbound pods;
//   - one heartbeat thread registers the Node, renews its Lease in
//     kube-node-lease every lease_renew_period and patches the Node status
//     every node_status_period;
//   - per running container: a waiter thread (waitpid) and, with a readiness
//     probe, a prober thread; both enqueue the pod key when something changed.
//
// Startup latency (reported as cold start): informer events are handled at
// once; a readiness probe runs every fast_probe_interval (20 ms) until its
// first success, then every periodSeconds; a change in readiness patches the
// pod status immediately.
//
// Lifecycle: construct, Start(), Stop(). Stop() kills every pod process and
// removes the sandboxes (pods stay bound; a restarted agent starts them anew),
// so no process outlives the agent unwatched.
// Thread-safety: Start/Stop from one thread; everything else is internal.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/kube/backoff.h"
#include "common/kube/client.h"
#include "common/kube/informer.h"
#include "common/kube/work_queue.h"
#include "hack/node-agent/image_map.h"
#include "hack/node-agent/network.h"

namespace zs::nodeagent {

struct AgentOptions {
  std::string node_name = "zs-node";
  // Apiserver address as seen from pods (KUBERNETES_SERVICE_HOST/PORT);
  // empty host: the bridge's address.
  std::string apiserver_host;
  std::string apiserver_port = "6443";
  // CA bundle (PEM) written to each pod's ca.crt.
  std::string cluster_ca_pem;
  std::string root_dir = "/var/lib/zs-node-agent";
  Duration lease_renew_period = std::chrono::seconds(10);
  Duration node_status_period = std::chrono::seconds(60);
  Duration fast_probe_interval = std::chrono::milliseconds(20);
  Duration restart_backoff = std::chrono::seconds(1);
  Duration max_restart_backoff = std::chrono::seconds(60);
  int64_t token_expiration_seconds = 3600;
  // Bind-mount the token folder at /var/run/secrets/kubernetes.io/serviceaccount
  // in each container's own mount namespace (ZS_SERVICEACCOUNT_DIR is set
  // either way).
  bool mount_service_account = true;
  int workers = 2;
};

class Agent {
 public:
  Agent(kube::KubeClient& client, Clock& clock, AgentOptions options, ImageMap images,
        std::unique_ptr<PodNetwork> network);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  absl::Status Start();
  void Stop();

  struct PodRuntime;
  struct ContainerRuntime;

 private:
  void SyncPod(const std::string& key);
  void Bind(const std::string& key);
  void HeartbeatLoop();
  absl::Status RegisterNode();
  absl::Status RenewLease();
  absl::Status PatchNodeStatus();

  std::shared_ptr<PodRuntime> FindRuntime(const std::string& key);
  absl::Status SetupSandbox(PodRuntime& pod, const nlohmann::json& object);
  absl::Status WriteToken(PodRuntime& pod, const nlohmann::json& object);
  void EnsureContainer(const std::shared_ptr<PodRuntime>& pod, ContainerRuntime& container,
                       const nlohmann::json& object);
  void StartContainer(const std::shared_ptr<PodRuntime>& pod, ContainerRuntime& container,
                      const nlohmann::json& object);
  void HandleDeletion(const std::string& key, const std::shared_ptr<PodRuntime>& pod,
                      const nlohmann::json& object);
  void ReportStatus(const std::shared_ptr<PodRuntime>& pod, const nlohmann::json& object);
  // Kills everything of a pod and frees its sandbox; waits up to `grace`.
  void DestroyRuntime(const std::shared_ptr<PodRuntime>& pod, Duration grace);
  void Watch(const std::shared_ptr<PodRuntime>& pod, ContainerRuntime& container, pid_t pid, int generation);
  void Probe(const std::shared_ptr<PodRuntime>& pod, ContainerRuntime& container, int generation);
  absl::StatusOr<std::string> LookupKey(const std::string& kind, const std::string& ns,
                                        const std::string& name, const std::string& key);
  void ThreadStarted();
  void ThreadDone();

  kube::KubeClient& client_;
  Clock& clock_;
  const AgentOptions options_;
  const ImageMap images_;
  std::unique_ptr<PodNetwork> network_;

  std::unique_ptr<kube::Informer> bound_;
  std::unique_ptr<kube::Informer> unbound_;
  kube::WorkQueue queue_;
  kube::WorkQueue bind_queue_;
  std::vector<std::thread> workers_;
  std::thread binder_;
  std::thread heartbeat_;
  kube::StopSignal stop_;

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<PodRuntime>> pods_;
  std::string node_uid_;

  // Detached waiter/prober threads, counted so that Stop() can wait for them.
  std::mutex threads_mu_;
  std::condition_variable threads_cv_;
  int live_threads_ = 0;
};

}  // namespace zs::nodeagent
