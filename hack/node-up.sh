#!/usr/bin/env bash
# Starts the real node of the local cluster, as a kubeadm-style worker would
# run it, inside the cluster's network namespace:
#   containerd   (Debian's) with runc and the CNI bridge plugin on zs-br0
#   kubelet      (hack/build-k8s.sh) registering Node $ZS_KUBELET_NODE_NAME
#   kube-proxy   iptables mode: ClusterIPs route from pods and from the host
#   kube-scheduler
#   CoreDNS      the kube-dns Service ($ZS_DNS_IP) for <svc>.<ns>.svc.cluster.local
# and loads the images of hack/node-images.sh into containerd.
#
# Usage: hack/node-up.sh [--images] [--build-dir DIR] [--timeout S]
#   --images     build the images first (hack/node-images.sh --build-dir DIR)
#   --build-dir  passed to hack/node-images.sh (default $ZS_BUILD_DIR or build/)
# Idempotent: running components are left alone (images are re-loaded when
# the engine's copy changed). The node agent (hack/node-agent-up.sh) and this
# node are exclusive: it is stopped first and its Node deleted.
# State: .cache/cluster/<name>/node/, logs in .cache/cluster/<name>/logs/.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_images=0
build_dir=${ZS_BUILD_DIR:-$ZS_ROOT/build}
timeout=180
while (($# > 0)); do
  case $1 in
    --images) build_images=1 ;;
    --build-dir) build_dir=${2:?}; shift ;;
    --timeout) timeout=${2:?}; shift ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) zs_die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

zs_require_root
zs_require_tools ip containerd ctr runc iptables openssl docker
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
  zs_die "CNI plugins missing in /usr/lib/cni (Debian's containernetworking-plugins; hack/install-deps.sh)"
zs_require_binaries
if ((build_images)); then
  "$ZS_HACK_DIR/node-images.sh" --build-dir "$build_dir"
fi
zs_lock_cluster
zs_netns_exists || zs_die "cluster $ZS_CLUSTER_NAME is not up: run hack/cluster-up.sh"

start_ms=$(zs_now_ms)
elapsed() { printf '%d ms' $(($(zs_now_ms) - start_ms)); }
export KUBECONFIG=$ZS_KUBECONFIG
kubectl() { "$ZS_BIN_DIR/kubectl" --request-timeout 10s "$@"; }

# The node agent binds every pod to itself; two schedulers would fight.
if pid=$(zs_component_pid node-agent); then
  zs_log "stopping the node agent (pid $pid): the real node replaces it"
  exec 8>&-
  "$ZS_HACK_DIR/node-agent-down.sh"
  zs_lock_cluster
fi
kubectl delete node "$ZS_NODE_NAME" --ignore-not-found --wait=false >/dev/null

node=$ZS_NODE_DIR
pki=$ZS_PKI_DIR
mkdir -p "$node"/{containerd,kubelet,pod-logs,cni/net.d,cni/ipam} "$ZS_LOG_DIR" "$ZS_RUN_DIR"
sock=$node/containerd/containerd.sock
ns=(ip netns exec "$ZS_NETNS")

# --- identities -------------------------------------------------------------------
node_ip=$ZS_ADVERTISE_IP
if [[ ! -f $pki/kubelet.crt || $(cat "$pki/kubelet.name" 2>/dev/null) != "$ZS_KUBELET_NODE_NAME" ]]; then
  zs_sign kubelet "/O=system:nodes/CN=system:node:$ZS_KUBELET_NODE_NAME" "$ZS_CLIENT_EXT"
  zs_sign kubelet-serving "/O=system:nodes/CN=system:node:$ZS_KUBELET_NODE_NAME" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$node_ip,DNS:$ZS_KUBELET_NODE_NAME"
  printf '%s' "$ZS_KUBELET_NODE_NAME" >"$pki/kubelet.name"
fi
[[ -f $pki/kube-proxy.crt ]] || zs_sign kube-proxy "/CN=system:kube-proxy" "$ZS_CLIENT_EXT"
[[ -f $pki/kube-scheduler.crt ]] || zs_sign kube-scheduler "/CN=system:kube-scheduler" "$ZS_CLIENT_EXT"
[[ -f $pki/coredns.crt ]] || zs_sign coredns "/CN=system:coredns" "$ZS_CLIENT_EXT"
# Inside the netns the apiserver is 127.0.0.1:6443 whatever the host port is.
in_ns=https://127.0.0.1:6443
zs_write_kubeconfig "$node/kubelet.kubeconfig" "$in_ns" "system:node:$ZS_KUBELET_NODE_NAME" kubelet
zs_write_kubeconfig "$node/kube-proxy.kubeconfig" "$in_ns" system:kube-proxy kube-proxy
zs_write_kubeconfig "$node/kube-scheduler.kubeconfig" "$in_ns" system:kube-scheduler kube-scheduler
zs_write_kubeconfig "$node/coredns.kubeconfig" "$in_ns" system:coredns coredns

# --- network of the netns ------------------------------------------------------------
# Replies between two pods on the bridge must pass the netns' iptables, or a
# pod reaching another through a ClusterIP sees the answer come from the
# wrong address (the kubelet's and kube-proxy's usual requirement).
"${ns[@]}" sysctl -qw net.bridge.bridge-nf-call-iptables=1 ||
  zs_die "net.bridge.bridge-nf-call-iptables cannot be set in $ZS_NETNS (br_netfilter missing?)"
"${ns[@]}" sysctl -qw net.ipv4.conf.all.route_localnet=1

# --- containerd ---------------------------------------------------------------------
cat >"$node/cni/net.d/10-zeroscale.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "zeroscale-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$ZS_BRIDGE",
      "isGateway": true,
      "hairpinMode": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$node/cni/ipam",
        "ranges": [[{"subnet": "$ZS_BRIDGE_CIDR", "gateway": "$ZS_ADVERTISE_IP",
                     "rangeStart": "$ZS_KUBELET_POD_RANGE_START", "rangeEnd": "$ZS_KUBELET_POD_RANGE_END"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
# runc itself, or, where root may not lower oom_score_adj (no
# CAP_SYS_RESOURCE in its bounding set, as on this machine), runc behind
# hack/runc-oom-clamp.sh. Decided once here, not on every container start.
runc=runc
cap_bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
if ! (((0x$cap_bnd >> 24) & 1)); then
  runc=$ZS_HACK_DIR/runc-oom-clamp.sh
  zs_log "root lacks CAP_SYS_RESOURCE: runc runs behind $(basename "$runc")"
fi
cat >"$node/containerd/config.toml" <<EOF
# Generated by hack/node-up.sh: the local cluster's own containerd (not the
# Docker engine's), state under $node/containerd.
version = 2
root = "$node/containerd/root"
state = "$node/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$node/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/zeroscale/pause:1"
  # Pod network namespaces under the state dir, so hack/node-down.sh finds ours.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node/cni/net.d"
EOF
ctr_() { ctr --address "$sock" --namespace k8s.io "$@"; }
if ! zs_component_pid containerd >/dev/null; then
  zs_spawn containerd node containerd --config "$node/containerd/config.toml"
fi
zs_wait_for "containerd answers" 30 containerd ctr_ version

# --- images ---------------------------------------------------------------------------
# Each image the engine has is loaded when containerd lacks it or has an older
# build (the engine's image id is remembered per image).
load_image() {
  local ref=$1 id stamp
  id=$(docker image inspect --format '{{.Id}}' "$ref" 2>/dev/null) || return 1
  stamp=$node/images/$(tr '/:' '__' <<<"$ref")
  if [[ $(cat "$stamp" 2>/dev/null) == "$id" ]] && ctr_ images ls -q | grep -qx "docker.io/$ref"; then
    return 0
  fi
  mkdir -p "$node/images"
  docker save "$ref" | ctr_ images import --no-unpack - >/dev/null || zs_die "loading $ref into containerd failed"
  printf '%s' "$id" >"$stamp"
  zs_log "[$(elapsed)] loaded image $ref"
}
app_version=$(zs_chart_app_version)
load_image zeroscale/pause:1 || zs_die "no zeroscale/pause:1 image in the Docker engine: run hack/node-images.sh (or node-up.sh --images)"
images=(zeroscale/fn-echo:dev zeroscale/fn-echo:latest zeroscale/zeroscale:dev ${app_version:+zeroscale/zeroscale:$app_version})
for name in "${ZS_EXAMPLES[@]}"; do images+=("zeroscale/example-$name:dev"); done
for ref in "${images[@]}"; do
  load_image "$ref" || zs_log "note: no $ref in the Docker engine (hack/node-images.sh builds it)"
done

# --- kubelet ------------------------------------------------------------------------------
# cgroup v1 (this machine, and many still): failCgroupV1 false. Debian's
# containerd 1.6 does not answer the RuntimeConfig call, so the kubelet falls
# back to cgroupDriver (cgroupfs: there is no systemd). The pods' cgroups live
# under /<cluster name>, so node-down can find every process of ours.
printf 'search cluster.local\n' >"$node/resolv.conf"
cat >"$node/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$ZS_CLUSTER_NAME
failSwapOn: false
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization:
  mode: Webhook
clusterDomain: cluster.local
clusterDNS: [$ZS_DNS_IP]
resolvConf: $node/resolv.conf
podLogsDir: $node/pod-logs
containerRuntimeEndpoint: unix://$sock
imageServiceEndpoint: unix://$sock
serializeImagePulls: false
# A test machine's disk may be fuller than a node's: evict only when nearly full.
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%", nodefs.inodesFree: "2%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
# Status as often as the kubelet's defaults; pod status updates are immediate anyway.
nodeStatusReportFrequency: 1m
maxPods: 110
EOF
# The kubelet wants its cgroup root to exist in every v1 hierarchy; a new
# cpuset starts empty and must get its parent's CPUs and memory nodes.
for d in /sys/fs/cgroup/*/; do
  [[ -f $d/cgroup.procs && ! -f $d/cgroup.controllers ]] || continue # v1 hierarchies only
  mkdir -p "$d$ZS_CLUSTER_NAME"
done
if [[ -d /sys/fs/cgroup/cpuset/$ZS_CLUSTER_NAME ]]; then
  for f in cpuset.cpus cpuset.mems; do
    [[ -n $(cat "/sys/fs/cgroup/cpuset/$ZS_CLUSTER_NAME/$f") ]] ||
      cat "/sys/fs/cgroup/cpuset/$f" >"/sys/fs/cgroup/cpuset/$ZS_CLUSTER_NAME/$f"
  done
fi
if ! zs_component_pid kubelet >/dev/null; then
  zs_spawn kubelet node "$ZS_BIN_DIR/kubelet" \
    --config "$node/kubelet.yaml" \
    --kubeconfig "$node/kubelet.kubeconfig" \
    --root-dir "$node/kubelet" \
    --hostname-override "$ZS_KUBELET_NODE_NAME" \
    --node-ip "$node_ip" \
    --v 1
fi
zs_wait_for "kubelet healthy" "$timeout" kubelet "${ns[@]}" curl -fsS --max-time 2 http://127.0.0.1:10248/healthz
zs_wait_for "Node $ZS_KUBELET_NODE_NAME Ready" "$timeout" kubelet \
  bash -c "[[ \$('$ZS_BIN_DIR/kubectl' get node '$ZS_KUBELET_NODE_NAME' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' 2>/dev/null) == True ]]"

# --- kube-proxy ------------------------------------------------------------------------------
cat >"$node/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $node/kube-proxy.kubeconfig
hostnameOverride: $ZS_KUBELET_NODE_NAME
mode: iptables
clusterCIDR: $ZS_BRIDGE_CIDR
bindAddress: $node_ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# The conntrack table is the machine's; a test cluster does not resize it.
conntrack:
  maxPerCore: 0
  min: 0
EOF
if ! zs_component_pid kube-proxy >/dev/null; then
  zs_spawn kube-proxy node "$ZS_BIN_DIR/kube-proxy" --config "$node/kube-proxy.yaml" --v 1
fi
zs_wait_for "kube-proxy healthy" "$timeout" kube-proxy "${ns[@]}" curl -fsS --max-time 2 http://127.0.0.1:10256/healthz

# --- kube-scheduler ---------------------------------------------------------------------------
if ! zs_component_pid kube-scheduler >/dev/null; then
  zs_spawn kube-scheduler node "$ZS_BIN_DIR/kube-scheduler" \
    --kubeconfig "$node/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$node/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$node/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 10259 --leader-elect=false
fi
zs_wait_for "kube-scheduler healthy" "$timeout" kube-scheduler "${ns[@]}" curl -fsSk --max-time 2 https://127.0.0.1:10259/healthz

# --- CoreDNS --------------------------------------------------------------------------------------
# Runs like the control plane (a process in the netns, listening on the node's
# address) behind the usual kube-dns Service; kube-proxy routes $ZS_DNS_IP to it.
kubectl apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $ZS_DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: zeroscale-hack}
addressType: IPv4
endpoints:
- addresses: ["$node_ip"]
  conditions: {ready: true}
  nodeName: $ZS_KUBELET_NODE_NAME
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
EOF
cat >"$node/Corefile" <<EOF
.:53 {
    bind $node_ip
    errors
    health 127.0.0.1:10253
    ready 127.0.0.1:10254
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $node/coredns.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
EOF
if ! zs_component_pid coredns >/dev/null; then
  zs_spawn coredns node "$ZS_BIN_DIR/coredns" -conf "$node/Corefile"
fi
zs_wait_for "CoreDNS ready" "$timeout" coredns "${ns[@]}" curl -fsS --max-time 2 http://127.0.0.1:10254/ready

zs_log "node $ZS_KUBELET_NODE_NAME up in $(elapsed) (containerd $sock; pod logs $node/pod-logs)"
