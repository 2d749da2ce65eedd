// PodNetwork: one network namespace per pod, wired to the cluster bridge.
//
// Each sandbox has an id i (8 hex digits, from a counter the agent seeds at
// random):
//   netns  zs-pod-i             (ip netns add; /run/netns/zs-pod-i)
//   veth   zsv<i> in the cluster netns, on the bridge  <->  eth0 in the pod netns
//   eth0   <ip from the pod CIDR>/<bridge prefix>, default route via the bridge IP
//   lo     up
// The bridge's address (gateway and prefix) is read from the cluster netns at
// Create(), so the agent follows whatever hack/cluster-up.sh configured.
//
// Commands go through `ip` (iproute2): three runs per sandbox (netns add, one
// batch in the cluster netns, one in the pod netns), 10-40 ms in all on two
// busy cores, most of it the kernel making the namespace. So that a pod's
// start does not wait for them, StartWarming() keeps `warm_sandboxes` made
// ahead on a thread of its own (making the next refill_delay after one is
// taken, not during the pod's start) and Setup() hands one out (made for no pod in
// particular: the id is not the pod's uid; the pod's containerID names it);
// a warm sandbox whose cluster netns was recreated since is discarded. A
// kubelet makes the sandbox when the pod comes (the real node does); the
// agent stands in for Kubernetes' part of a cold start, which the real-node
// figures measure.
// Thread-safety: Setup/Teardown may run concurrently; StartWarming/StopWarming
// from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "hack/node-agent/ipam.h"

namespace zs::nodeagent {

struct NetworkConfig {
  std::string cluster_netns = "zs-cluster";
  std::string bridge = "zs-br0";
  std::string pod_cidr = "10.88.1.0/24";
  // Sandboxes kept made ahead (StartWarming); 0 makes each when its pod comes.
  int warm_sandboxes = 1;
  // How long after one is taken the next is made: not while the pod that took
  // it starts (its process, status patch and the apiserver's work share the
  // cores with the three `ip` runs).
  std::chrono::milliseconds refill_delay{1000};
};

struct Sandbox {
  std::string netns;       // zs-pod-<i>
  std::string netns_path;  // /run/netns/zs-pod-<i>
  std::string host_veth;   // zsv<i>, in the cluster netns
  std::string ip;
  uint64_t epoch = 0;  // ClusterEpoch() when it was made
};

class PodNetwork {
 public:
  static absl::StatusOr<std::unique_ptr<PodNetwork>> Create(NetworkConfig config);
  ~PodNetwork();
  PodNetwork(const PodNetwork&) = delete;
  PodNetwork& operator=(const PodNetwork&) = delete;

  // A sandbox for a new pod: a warm one if one is ready, else made now.
  absl::StatusOr<Sandbox> Setup();
  // Keeps config.warm_sandboxes made ahead, on a thread; StopWarming (also
  // in the destructor) joins it and removes the warm ones.
  void StartWarming();
  void StopWarming();
  // Warm sandboxes ready now.
  size_t warm() const;
  // Best effort; releases the IP.
  void Teardown(const Sandbox& sandbox);
  // Removes zs-pod-* namespaces left by a previous run, killing what runs in
  // them. Returns how many were removed.
  int CleanStale();

  // Identity of the cluster netns (its inode): changes when hack/cluster-up.sh
  // recreated it, which takes every pod's veth with it.
  uint64_t ClusterEpoch() const;

  const std::string& gateway() const { return gateway_; }
  int prefix() const { return prefix_; }
  // The host's address towards the cluster (src of the host route), which
  // pods use to reach host processes; reported as the pods' hostIP.
  const std::string& host_ip() const { return host_ip_; }

 private:
  PodNetwork(NetworkConfig config, std::string gateway, int prefix, std::string host_ip,
             std::unique_ptr<Ipam> ipam);
  absl::StatusOr<Sandbox> Make();
  void Warm();
  const NetworkConfig config_;
  const std::string gateway_;
  const int prefix_;
  const std::string host_ip_;
  std::unique_ptr<Ipam> ipam_;
  std::atomic<uint32_t> next_id_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Sandbox> warm_;
  std::optional<std::chrono::steady_clock::time_point> last_taken_;
  bool stopping_ = false;
  std::thread warmer_;
};

// A container's containerID, "zs://<netns>/<container>/<generation>", and
// the netns named in one ("" if none): how a reader finds a pod's sandbox.
std::string ContainerId(const Sandbox& sandbox, const std::string& container, int generation);
std::string NetnsOfContainerId(const std::string& container_id);

}  // namespace zs::nodeagent
