# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this
# Shared helpers for the hack/ scripts. Source it; it does not run anything.
#
# Paths:
#   ~/.cache/zeroscale/k8s/<K8S_VERSION>/bin/  pinned upstream binaries (build-k8s.sh),
#   ~/.cache/zeroscale/k8s/<K8S_VERSION>/src/  and the wrapper Go modules that build them.
#       Outside the work tree so that every clone (CI's included) reuses one
#       build; $ZS_K8S_CACHE moves it.
#   .cache/cluster/<ZS_CLUSTER_NAME>/  one local cluster: pki, etcd data, logs, pids
#       (under the repo root, ignored by git)

ZS_HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ZS_ROOT=$(cd "$ZS_HACK_DIR/.." && pwd)
# shellcheck source=hack/versions.env
source "$ZS_HACK_DIR/versions.env"

ZS_CACHE_DIR=${ZS_CACHE_DIR:-$ZS_ROOT/.cache}
ZS_K8S_CACHE=${ZS_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zeroscale/k8s}
ZS_K8S_DIR=$ZS_K8S_CACHE/$K8S_VERSION
ZS_BIN_DIR=$ZS_K8S_DIR/bin
ZS_BINARIES=(kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy etcd helm coredns)
# The example Functions (examples/<name>/main.cc), imaged as
# zeroscale/example-<name>:dev by node-images.sh for the real node.
ZS_EXAMPLES=()
for _example in "$ZS_ROOT"/examples/*/main.cc; do
  [[ -e $_example ]] && ZS_EXAMPLES+=("$(basename "$(dirname "$_example")")")
done
unset _example

# One cluster per name; the name is also the network namespace's name.
ZS_CLUSTER_NAME=${ZS_CLUSTER_NAME:-zs-cluster}
ZS_CLUSTER_DIR=$ZS_CACHE_DIR/cluster/$ZS_CLUSTER_NAME
ZS_KUBECONFIG=$ZS_CLUSTER_DIR/admin.kubeconfig

# zs_cmake_configure BUILD_DIR: configures the tree the one way the tests, the
# demo and the benchmarks share (so none of them rebuilds what another built):
# RelWithDebInfo, warnings as errors, the fuzzer on. Compiles go through
# ccache when it is installed; with the source root as base directory and the
# working directory left out of the hash, every clone of the repo (CI's
# included) reuses the objects of the others.
zs_cmake_configure() {
  local build_dir=$1 launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER="env;CCACHE_BASEDIR=$ZS_ROOT;CCACHE_NOHASHDIR=1;ccache")
  fi
  cmake -S "$ZS_ROOT" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DZS_WERROR=ON -DZS_FUZZ=ON "${launcher[@]}" >/dev/null
}

zs_log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }
zs_die() { zs_log "error: $*"; exit 1; }

# Go toolchain: the one on PATH, else the usual install location.
zs_go() {
  if command -v go >/dev/null 2>&1; then
    command go "$@"
  elif [[ -x /usr/local/go/bin/go ]]; then
    /usr/local/go/bin/go "$@"
  else
    zs_die "no Go toolchain found (need go on PATH or /usr/local/go/bin/go)"
  fi
}

# True when every pinned binary is present and was built from versions.env as it is now.
zs_binaries_ready() {
  local b
  for b in "${ZS_BINARIES[@]}"; do
    [[ -x $ZS_BIN_DIR/$b ]] || return 1
  done
  [[ -f $ZS_BIN_DIR/.versions ]] && cmp -s "$ZS_BIN_DIR/.versions" <(zs_versions_stamp)
}

zs_versions_stamp() {
  printf 'K8S_VERSION=%s\nK8S_STAGING_VERSION=%s\nK8S_GIT_COMMIT=%s\nETCD_VERSION=%s\nHELM_VERSION=%s\nCOREDNS_VERSION=%s\n' \
    "$K8S_VERSION" "$K8S_STAGING_VERSION" "$K8S_GIT_COMMIT" "$ETCD_VERSION" "$HELM_VERSION" "$COREDNS_VERSION"
}

zs_require_binaries() {
  zs_binaries_ready || zs_die "pinned binaries missing in $ZS_BIN_DIR: run hack/build-k8s.sh first"
}

# Milliseconds since the epoch (for elapsed-time reports).
zs_now_ms() { date +%s%3N; }

# ---------------------------------------------------------------------------
# Local cluster: network layout.
#
# The cluster lives in network namespace $ZS_NETNS (= the cluster's name):
#   lo                          up (etcd listens on 127.0.0.1:2379 there)
#   zs-br0    ${NET}.0.1/17     bridge; the apiserver's advertise address; pods'
#                               default gateway. Pods get ${NET}.1.0/24 addresses
#                               (prefix /17) from the node agent (veth from their
#                               own netns).
#   zs-uplink ${NET}.255.2/30   veth to the host. Outside the bridge's /17 on
#                               purpose: pods must send host traffic to their
#                               gateway, not ARP for it on the bridge.
# On the host:
#   zsh<8 hex>  ${NET}.255.1/30 the other end of that veth
#   route ${NET}.0.0/16 via ${NET}.255.2 (so host processes reach pods and 10.88.0.1)
#   127.0.0.1:$ZS_APISERVER_PORT  socat forwarder to ${NET}.0.1:6443, so host
#                               clients use loopback and get "connection refused",
#                               not stray traffic, while no cluster is up.
# Parallel clusters need distinct ZS_CLUSTER_NAME, ZS_CLUSTER_NET and
# ZS_APISERVER_PORT (the netns-internal addresses may repeat, the host routes
# and the host port may not).
ZS_NETNS=$ZS_CLUSTER_NAME
ZS_CLUSTER_NET=${ZS_CLUSTER_NET:-10.88}
ZS_APISERVER_PORT=${ZS_APISERVER_PORT:-6443}
ZS_BRIDGE=zs-br0
ZS_CLUSTER_CIDR=$ZS_CLUSTER_NET.0.0/16
ZS_BRIDGE_PREFIX=17
ZS_BRIDGE_CIDR=$ZS_CLUSTER_NET.0.0/$ZS_BRIDGE_PREFIX
ZS_ADVERTISE_IP=$ZS_CLUSTER_NET.0.1
ZS_POD_CIDR=$ZS_CLUSTER_NET.1.0/24
ZS_HOST_LINK_IP=$ZS_CLUSTER_NET.255.1
ZS_NETNS_LINK_IP=$ZS_CLUSTER_NET.255.2
ZS_NETNS_VETH=zs-uplink
ZS_HOST_VETH=zsh$(printf '%s' "$ZS_CLUSTER_NAME" | md5sum | cut -c1-8)
# Services: a /18 of the cluster's /16 (NET.128.0 - NET.191.255), so the host
# route to the cluster netns covers ClusterIPs too (kube-proxy of the real
# node DNATs them there) and parallel clusters never share one.
ZS_SERVICE_CIDR=$ZS_CLUSTER_NET.128.0/18
ZS_SERVICE_IP=$ZS_CLUSTER_NET.128.1
ZS_DNS_IP=$ZS_CLUSTER_NET.128.10
ZS_NODE_NAME=${ZS_NODE_NAME:-zs-node}
# The real node (hack/node-up.sh): kubelet + containerd + kube-proxy, its pods
# on the same bridge with addresses from NET.2.1 - NET.3.254 (host-local IPAM).
ZS_KUBELET_NODE_NAME=${ZS_KUBELET_NODE_NAME:-zs-kubelet}
ZS_KUBELET_POD_RANGE_START=$ZS_CLUSTER_NET.2.1
ZS_KUBELET_POD_RANGE_END=$ZS_CLUSTER_NET.3.254
ZS_APISERVER=https://127.0.0.1:$ZS_APISERVER_PORT
ZS_APISERVER_INCLUSTER=https://$ZS_ADVERTISE_IP:6443

ZS_PKI_DIR=$ZS_CLUSTER_DIR/pki
ZS_NODE_DIR=$ZS_CLUSTER_DIR/node
ZS_LOG_DIR=$ZS_CLUSTER_DIR/logs
ZS_RUN_DIR=$ZS_CLUSTER_DIR/run
ZS_ETCD_DIR=$ZS_CLUSTER_DIR/etcd

# Components in start order; cluster-down stops them in reverse.
ZS_COMPONENTS=(etcd kube-apiserver kube-controller-manager apiserver-forwarder)

zs_require_root() {
  [[ $(id -u) -eq 0 ]] || zs_die "must run as root (creates a network namespace)"
}

zs_require_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || zs_die "missing tool: $t (see hack/install-deps.sh)"
  done
}

# Take an exclusive lock for this cluster (fd 8) so up/down never interleave.
zs_lock_cluster() {
  mkdir -p "$ZS_CACHE_DIR/cluster"
  exec 8>"$ZS_CACHE_DIR/cluster/.$ZS_CLUSTER_NAME.lock"
  flock 8
}

zs_netns_exists() { [[ -e /run/netns/$ZS_NETNS ]]; }

# --- certificates and kubeconfigs (cluster-up.sh, node-up.sh) -----------------
zs_gen_key() { [[ -f $1 ]] || openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }

ZS_CLIENT_EXT='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'

# zs_sign NAME SUBJECT EXTENSIONS: pki/NAME.crt for pki/NAME.key, signed by the CA.
zs_sign() {
  local name=$1 subj=$2 ext=$3 pki=$ZS_PKI_DIR
  zs_gen_key "$pki/$name.key"
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
    -extfile <(printf '%s\n' "$ext") -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr"
  chmod 600 "$pki/$name.key"
}

# zs_write_kubeconfig FILE SERVER USER CERT_NAME: self-contained (embedded data).
zs_write_kubeconfig() {
  local file=$1 server=$2 user=$3 cert=$4 pki=$ZS_PKI_DIR
  cat >"$file.tmp" <<EOF_KC
apiVersion: v1
kind: Config
clusters:
- name: $ZS_CLUSTER_NAME
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$pki/$cert.crt")
    client-key-data: $(base64 -w0 <"$pki/$cert.key")
contexts:
- name: $user@$ZS_CLUSTER_NAME
  context:
    cluster: $ZS_CLUSTER_NAME
    user: $user
    namespace: default
current-context: $user@$ZS_CLUSTER_NAME
EOF_KC
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}

# zs_alive PID: the process exists and is not a zombie.
zs_alive() {
  local state
  [[ -r /proc/$1/stat ]] || return 1
  state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# zs_component_pid NAME: prints the recorded pid when that process is still the
# component we started (guards against a recycled pid).
zs_component_pid() {
  local name=$1 pidf=$ZS_RUN_DIR/$1.pid pid bin
  [[ -f $pidf ]] || return 1
  pid=$(<"$pidf")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  zs_alive "$pid" || return 1
  case $name in
    apiserver-forwarder) bin=$(zs_forwarder_tag) ;;
    *) bin=$name ;;
  esac
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$bin" || return 1
  echo "$pid"
}

# argv[0] of the host-side forwarder, so it can be found without its pid file.
zs_forwarder_tag() { printf 'zs-apiserver-forwarder:%s' "$ZS_CLUSTER_NAME"; }

# zs_stray_pids NAME: processes of component NAME of this cluster that its pid
# file does not name (pid files deleted, or the netns deleted under them):
# the binary with this cluster's directory in its arguments, or the forwarder
# by its argv[0].
zs_stray_pids() {
  case $1 in
    apiserver-forwarder) pgrep -f -- "^$(zs_forwarder_tag) " ;;
    *) pgrep -f -- "^$ZS_BIN_DIR/$1 .*$ZS_CLUSTER_DIR/" ;;
  esac || true
}

# zs_spawn NAME netns|node|host CMD...: starts CMD detached (own session, stdin from
# /dev/null, output appended to logs/NAME.log), inside the cluster netns or on
# the host, and records its pid in run/NAME.pid. The pid is the one of CMD
# itself: the launcher writes its own pid and then execs.
zs_spawn() {
  local name=$1 where=$2
  shift 2
  local pidf=$ZS_RUN_DIR/$name.pid log=$ZS_LOG_DIR/$name.log
  local -a pre=()
  # netns: `ip netns exec`, which also gives the process a private mount
  # namespace with the netns' own /sys (fine for the control plane). node:
  # only the network namespace; the host's mounts stay shared, as the kubelet
  # and containerd need (they mount for each other, and runc needs the
  # cgroup mounts under /sys/fs/cgroup).
  case $where in
    netns) pre=(ip netns exec "$ZS_NETNS") ;;
    node) pre=(nsenter "--net=/run/netns/$ZS_NETNS") ;;
  esac
  rm -f "$pidf"
  printf '\n=== %s start: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$log"
  # shellcheck disable=SC2016  # $0/$$/$@ expand in the child shell
  # 8>&- 9>&-: the daemons must not inherit (and so hold forever) the flocks
  # that cluster-up and build-k8s take on those descriptors.
  setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidf" "${pre[@]}" "$@" \
    >>"$log" 2>&1 </dev/null 8>&- 9>&- &
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s $pidf ]] && return 0
    sleep 0.05
  done
  zs_die "$name did not start (see $log)"
}

# zs_wait_for WHAT SECONDS COMPONENT CMD...: polls CMD every 0.2 s until it
# succeeds, then logs WHAT (prefixed with the caller's `elapsed`, when it has
# one); fails early, with the end of COMPONENT's log, when its process died.
zs_wait_for() {
  local what=$1 secs=$2 comp=$3 deadline log
  shift 3
  log=$ZS_LOG_DIR/$comp.log
  deadline=$(($(zs_now_ms) + secs * 1000))
  until "$@" >/dev/null 2>&1; do
    if ! zs_component_pid "$comp" >/dev/null; then
      tail -n 20 "$log" >&2 2>/dev/null || true
      zs_die "$comp exited while waiting for $what (see $log)"
    fi
    if (($(zs_now_ms) >= deadline)); then
      tail -n 20 "$log" >&2 2>/dev/null || true
      zs_die "timed out after ${secs}s waiting for $what"
    fi
    sleep 0.2
  done
  if declare -F elapsed >/dev/null; then zs_log "[$(elapsed)] $what"; else zs_log "$what"; fi
}

# zs_chart_app_version [CHART_DIR]: the chart's appVersion (the image tag its
# defaults name); CHART_DIR defaults to charts/zeroscale.
zs_chart_app_version() {
  sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "${1:-$ZS_ROOT/charts/zeroscale}/Chart.yaml"
}

# zs_stop_pids SIGNAL_WAIT_SECONDS PID...: SIGTERM, wait, then SIGKILL and wait.
zs_stop_pids() {
  local grace=$1 pid deadline
  local -a left=()
  shift
  (($# > 0)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while :; do
    left=()
    for pid in "$@"; do zs_alive "$pid" && left+=("$pid"); done
    ((${#left[@]} == 0)) && return 0
    ((SECONDS >= deadline)) && break
    sleep 0.1
  done
  zs_log "SIGKILL to ${left[*]} (still running after ${grace}s)"
  kill -KILL "${left[@]}" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    left=()
    for pid in "$@"; do zs_alive "$pid" && left+=("$pid"); done
    ((${#left[@]} == 0)) && return 0
    sleep 0.1
  done
  zs_die "processes ${left[*]} survive SIGKILL"
}

# Components of the real node (hack/node-up.sh), in start order.
ZS_NODE_COMPONENTS=(containerd kubelet kube-proxy kube-scheduler coredns)

# zs_node_down: stops the real node (hack/node-up.sh) and removes what it left
# on the host: its containers (every process in its cgroup subtree
# /<cluster>), containerd's shims, the mounts under .cache/cluster/<name>/node
# (kubelet volumes, container root filesystems, pod network namespaces) and
# the cgroups. Keeps images and logs. Safe on a crashed node and on none.
zs_node_down() {
  local i name pid sock=$ZS_NODE_DIR/containerd/containerd.sock
  for ((i = ${#ZS_NODE_COMPONENTS[@]} - 1; i >= 1; i--)); do
    name=${ZS_NODE_COMPONENTS[i]}
    if pid=$(zs_component_pid "$name"); then
      zs_log "stopping $name (pid $pid)"
      zs_stop_pids 20 "$pid"
    fi
    rm -f "$ZS_RUN_DIR/$name.pid"
  done
  # Stray node binaries of this cluster (pid files lost).
  local -a stray
  mapfile -t stray < <(pgrep -f -- "^$ZS_BIN_DIR/(kubelet|kube-proxy|kube-scheduler|coredns) .*$ZS_NODE_DIR/" || true)
  ((${#stray[@]} == 0)) || zs_stop_pids 20 "${stray[@]}"
  # Containers: every process in the pods' cgroup subtree, then the shims.
  local d cg=/sys/fs/cgroup/pids/$ZS_CLUSTER_NAME
  if [[ -d $cg ]]; then
    local -a procs
    mapfile -t procs < <(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
    if ((${#procs[@]} > 0)); then
      zs_log "killing ${#procs[@]} container processes"
      kill -KILL "${procs[@]}" 2>/dev/null || true
    fi
  fi
  mapfile -t stray < <(pgrep -f -- "containerd-shim.* -address $sock( |$)" || true)
  ((${#stray[@]} == 0)) || zs_stop_pids 10 "${stray[@]}"
  if pid=$(zs_component_pid containerd); then
    zs_log "stopping containerd (pid $pid)"
    zs_stop_pids 20 "$pid"
  fi
  rm -f "$ZS_RUN_DIR/containerd.pid"
  mapfile -t stray < <(pgrep -f -- "^containerd --config $ZS_NODE_DIR/" || true)
  ((${#stray[@]} == 0)) || zs_stop_pids 20 "${stray[@]}"
  # Mounts under the node's directory, deepest first (volumes before the
  # kubelet's own bind mount; container root filesystems; pod netns files).
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v d="$ZS_NODE_DIR/" 'index($2, d) == 1 || $2 == substr(d, 1, length(d) - 1) {print $2}' /proc/self/mounts |
    awk '{print length($0) " " $0}' | sort -rn | cut -d' ' -f2-)
  # The pods' cgroups, leaves first, in every hierarchy.
  for d in /sys/fs/cgroup/*/"$ZS_CLUSTER_NAME"; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # Addresses handed out by the CNI plugin and the netns files: all pods are gone.
  rm -rf "$ZS_NODE_DIR/cni/ipam" "$ZS_NODE_DIR/containerd/state"
}

# zs_cluster_down [--wipe]: stops everything this cluster started and removes
# its network plumbing; safe to run on a half-started or crashed cluster and on
# none at all. Keeps data, pki and logs unless --wipe.
zs_cluster_down() {
  local wipe=0 i name pid
  [[ ${1:-} == --wipe ]] && wipe=1
  # 0. The real node, if any (its containers live outside the netns).
  zs_node_down
  # 1. Our processes, newest first, by pid file.
  for ((i = ${#ZS_COMPONENTS[@]} - 1; i >= 0; i--)); do
    name=${ZS_COMPONENTS[i]}
    if pid=$(zs_component_pid "$name"); then
      # The whole process group: socat forks one child per connection.
      local -a group
      mapfile -t group < <(pgrep -g "$pid" || echo "$pid")
      zs_log "stopping $name (pid $pid)"
      zs_stop_pids 20 "${group[@]}"
    fi
    rm -f "$ZS_RUN_DIR/$name.pid"
  done
  # 2. Ours without a pid file, in the same order, then anything else still
  #    inside the netns.
  local -a stray
  for ((i = ${#ZS_COMPONENTS[@]} - 1; i >= 0; i--)); do
    name=${ZS_COMPONENTS[i]}
    mapfile -t stray < <(zs_stray_pids "$name")
    if ((${#stray[@]} > 0)); then
      zs_log "stopping $name without pid file: ${stray[*]}"
      zs_stop_pids 20 "${stray[@]}"
    fi
  done
  if zs_netns_exists; then
    local -a rest
    mapfile -t rest < <(ip netns pids "$ZS_NETNS" 2>/dev/null || true)
    if ((${#rest[@]} > 0)); then
      zs_log "stopping leftover processes in netns $ZS_NETNS: ${rest[*]}"
      zs_stop_pids 10 "${rest[@]}"
    fi
    ip netns delete "$ZS_NETNS" 2>/dev/null || true
  fi
  # A netns whose mount point survived (e.g. a crash between add and mount).
  if [[ -e /run/netns/$ZS_NETNS ]]; then
    umount "/run/netns/$ZS_NETNS" 2>/dev/null || true
    rm -f "/run/netns/$ZS_NETNS"
  fi
  # 3. Host side of the veth (normally gone with the netns) and its route.
  if ip link show "$ZS_HOST_VETH" >/dev/null 2>&1; then
    ip link delete "$ZS_HOST_VETH" 2>/dev/null || true
  fi
  if ((wipe)); then
    rm -rf "$ZS_CLUSTER_DIR"
    zs_log "cluster $ZS_CLUSTER_NAME down; data wiped"
  else
    zs_log "cluster $ZS_CLUSTER_NAME down; data kept in $ZS_CLUSTER_DIR (--wipe removes it)"
  fi
}
