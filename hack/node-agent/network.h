// PodNetwork: one network namespace per pod, wired to the cluster bridge.
//
// For a pod with uid U (first 8 hex digits u):
//   netns  zs-pod-u             (ip netns add; /run/netns/zs-pod-u)
//   veth   zsv<u> in the cluster netns, on the bridge  <->  eth0 in the pod netns
//   eth0   <ip from the pod CIDR>/<bridge prefix>, default route via the bridge IP
//   lo     up
// The bridge's address (gateway and prefix) is read from the cluster netns at
// Create(), so the agent follows whatever hack/cluster-up.sh configured.
//
// Commands go through `ip` (iproute2): three runs per pod (netns add, one
// batch in the cluster netns, one in the pod netns), a few ms each.
// Thread-safety: Setup/Teardown for different pods may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "hack/node-agent/ipam.h"

namespace zs::nodeagent {

struct NetworkConfig {
  std::string cluster_netns = "zs-cluster";
  std::string bridge = "zs-br0";
  std::string pod_cidr = "10.88.1.0/24";
};

struct Sandbox {
  std::string netns;       // zs-pod-<u>
  std::string netns_path;  // /run/netns/zs-pod-<u>
  std::string host_veth;   // zsv<u>, in the cluster netns
  std::string ip;
  uint64_t epoch = 0;  // ClusterEpoch() when it was made
};

class PodNetwork {
 public:
  static absl::StatusOr<std::unique_ptr<PodNetwork>> Create(NetworkConfig config);

  absl::StatusOr<Sandbox> Setup(const std::string& pod_uid);
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
  const NetworkConfig config_;
  const std::string gateway_;
  const int prefix_;
  const std::string host_ip_;
  std::unique_ptr<Ipam> ipam_;
};

// "zs-pod-" + first 8 hex digits of the uid (dashes dropped).
std::string PodNetnsName(const std::string& pod_uid);

}  // namespace zs::nodeagent
