#!/usr/bin/env bash
# Starts a local Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager from hack/build-k8s.sh) inside its own network
# namespace, and waits until pods can be created.
#
# Usage: hack/cluster-up.sh [--fresh] [--timeout SECONDS]
#   --fresh     wipe the cluster's data (etcd, pki, logs) before starting
#   --timeout   how long to wait for readiness (default 180)
# Environment: ZS_CLUSTER_NAME (default zs-cluster), ZS_CLUSTER_NET (10.88),
#   ZS_APISERVER_PORT (6443), ZS_NODE_NAME (zs-node); see hack/README.md.
#
# Idempotent: a healthy cluster is left alone; anything else (a crashed or
# half-started run) is torn down first with the same code as cluster-down.sh,
# keeping its data unless --fresh.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fresh=0
timeout=180
while (($# > 0)); do
  case $1 in
    --fresh) fresh=1 ;;
    --timeout) timeout=${2:?}; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) zs_die "unknown argument: $1" ;;
  esac
  shift
done

zs_require_root
zs_require_tools ip ss openssl curl socat setsid flock pgrep md5sum base64
zs_require_binaries
zs_lock_cluster

start_ms=$(zs_now_ms)
elapsed() { printf '%d.%01ds' $((($(zs_now_ms) - start_ms) / 1000)) $(((($(zs_now_ms) - start_ms) % 1000) / 100)); }

curl_admin() {
  curl -sS --max-time 5 --cacert "$ZS_PKI_DIR/ca.crt" \
    --cert "$ZS_PKI_DIR/admin.crt" --key "$ZS_PKI_DIR/admin.key" "$@"
}

print_summary() {
  cat <<EOF
cluster:     $ZS_CLUSTER_NAME (network namespace $ZS_NETNS)
kubeconfig:  $ZS_KUBECONFIG
apiserver:   $ZS_APISERVER (host loopback, forwarded into the netns)
in-cluster:  $ZS_APISERVER_INCLUSTER (from pod network namespaces)
logs:        $ZS_LOG_DIR
use:         hack/kubectl.sh get pods -A   |   source hack/cluster-env.sh
EOF
}

all_running() {
  local c
  for c in "${ZS_COMPONENTS[@]}"; do
    zs_component_pid "$c" >/dev/null || return 1
  done
  zs_netns_exists
}

if ((fresh == 0)) && all_running && [[ -f $ZS_KUBECONFIG ]] &&
  [[ $(curl_admin "$ZS_APISERVER/readyz" 2>/dev/null) == ok ]]; then
  zs_log "cluster $ZS_CLUSTER_NAME is already up"
  print_summary
  exit 0
fi

# Clean up whatever a previous run left (no-op when there is nothing).
if ((fresh)); then zs_cluster_down --wipe; else zs_cluster_down; fi

# Any failure from here on (a command, zs_die, a timeout) tears down what was
# started, after showing the last log lines.
up_ok=0
on_exit() {
  local rc=$?
  ((up_ok == 0)) || return 0
  ((rc != 0)) || rc=1
  zs_log "start failed (exit $rc) after $(elapsed); last log lines:"
  local f
  for f in "$ZS_LOG_DIR"/*.log; do
    [[ -f $f ]] || continue
    echo "--- $f" >&2
    tail -n 15 "$f" >&2
  done
  if [[ ${ZS_KEEP_ON_FAILURE:-0} == 1 ]]; then
    zs_log "ZS_KEEP_ON_FAILURE=1: leaving the processes running; hack/cluster-down.sh stops them"
  else
    zs_cluster_down || true
  fi
  exit "$rc"
}
trap on_exit EXIT

mkdir -p "$ZS_PKI_DIR" "$ZS_LOG_DIR" "$ZS_RUN_DIR" "$ZS_ETCD_DIR"
chmod 700 "$ZS_PKI_DIR" "$ZS_ETCD_DIR"

# --- conflicts with the host -------------------------------------------------
if ip -4 route show match "$ZS_ADVERTISE_IP" | grep -v '^default' | grep -q .; then
  zs_die "the host already routes $ZS_ADVERTISE_IP ($(ip -4 route show match "$ZS_ADVERTISE_IP" | grep -v '^default' | head -n1)); another cluster? set ZS_CLUSTER_NET"
fi
if ss -Hltn "sport = :$ZS_APISERVER_PORT" | grep -Eq '127\.0\.0\.1:|\*:|0\.0\.0\.0:|\[::\]:'; then
  zs_die "port $ZS_APISERVER_PORT is taken on the host's loopback; set ZS_APISERVER_PORT"
fi

# --- certificates --------------------------------------------------------------
# One CA signs everything: the apiserver's serving cert, the client certs and
# (as --root-ca-file) what pods get as ca.crt. Made once per cluster dir; the
# serving cert is remade when the addresses it must name change.
pki=$ZS_PKI_DIR
gen_key() { zs_gen_key "$@"; }
sign() { zs_sign "$@"; }

client_ext='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'
sans="IP:127.0.0.1,IP:$ZS_ADVERTISE_IP,IP:$ZS_NETNS_LINK_IP,IP:$ZS_SERVICE_IP"
sans+=",DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
sans+=",DNS:kubernetes.default.svc.cluster.local"

if [[ ! -f $pki/ca.crt ]]; then
  rm -f "$pki"/*.crt
  gen_key "$pki/ca.key"
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=zeroscale-local-ca/O=zeroscale" \
    -days 3650 -sha256 -out "$pki/ca.crt" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'
fi
if [[ ! -f $pki/apiserver.crt || $(cat "$pki/apiserver.sans" 2>/dev/null) != "$sans" ]]; then
  sign apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$sans"
  printf '%s' "$sans" >"$pki/apiserver.sans"
fi
[[ -f $pki/admin.crt ]] || sign admin "/O=system:masters/CN=admin" "$client_ext"
[[ -f $pki/kcm.crt ]] || sign kcm "/CN=system:kube-controller-manager" "$client_ext"
# The apiserver's identity towards kubelets (logs, exec, port-forward).
[[ -f $pki/apiserver-kubelet-client.crt ]] ||
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client_ext"
if [[ ! -f $pki/node.crt || $(cat "$pki/node.name" 2>/dev/null) != "$ZS_NODE_NAME" ]]; then
  sign node "/O=system:nodes/CN=system:node:$ZS_NODE_NAME" "$client_ext"
  printf '%s' "$ZS_NODE_NAME" >"$pki/node.name"
fi
# Service-account token signing key (RS256, the algorithm every JWT library knows).
if [[ ! -f $pki/sa.key ]]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
fi
openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
chmod 600 "$pki"/*.key

write_kubeconfig() { zs_write_kubeconfig "$@"; }
# admin: for the host (loopback forwarder), also valid inside the cluster netns
# when ZS_APISERVER_PORT is 6443. kcm runs in the netns and talks to 127.0.0.1.
# node: a kubelet-style identity (system:node:<name>) for the node agent.
write_kubeconfig "$ZS_KUBECONFIG" "$ZS_APISERVER" admin admin
write_kubeconfig "$ZS_CLUSTER_DIR/kcm.kubeconfig" https://127.0.0.1:6443 system:kube-controller-manager kcm
write_kubeconfig "$ZS_CLUSTER_DIR/node.kubeconfig" "$ZS_APISERVER" "system:node:$ZS_NODE_NAME" node
write_kubeconfig "$ZS_CLUSTER_DIR/node-incluster.kubeconfig" "$ZS_APISERVER_INCLUSTER" "system:node:$ZS_NODE_NAME" node

# What this cluster was started with, for hack/cluster-env.sh.
# Data made with another service range (an older layout) cannot be reused:
# the stored ClusterIPs would lie outside it.
if [[ -f $ZS_CLUSTER_DIR/cluster.env ]] && ! grep -qx "ZS_SERVICE_CIDR=$ZS_SERVICE_CIDR" "$ZS_CLUSTER_DIR/cluster.env"; then
  zs_log "the cluster's data uses another service range; wiping etcd data"
  rm -rf "$ZS_ETCD_DIR"
  mkdir -p "$ZS_ETCD_DIR"
  chmod 700 "$ZS_ETCD_DIR"
fi
cat >"$ZS_CLUSTER_DIR/cluster.env" <<EOF
ZS_SERVICE_CIDR=$ZS_SERVICE_CIDR
ZS_CLUSTER_NET=$ZS_CLUSTER_NET
ZS_APISERVER_PORT=$ZS_APISERVER_PORT
ZS_NODE_NAME=$ZS_NODE_NAME
EOF

# --- network -------------------------------------------------------------------
ns=(ip -n "$ZS_NETNS")
ip netns add "$ZS_NETNS"
"${ns[@]}" link set lo up
"${ns[@]}" link add "$ZS_BRIDGE" type bridge
"${ns[@]}" addr add "$ZS_ADVERTISE_IP/$ZS_BRIDGE_PREFIX" dev "$ZS_BRIDGE"
"${ns[@]}" link set "$ZS_BRIDGE" up
ip link add "$ZS_HOST_VETH" type veth peer name "$ZS_NETNS_VETH" netns "$ZS_NETNS"
ip addr add "$ZS_HOST_LINK_IP/30" dev "$ZS_HOST_VETH"
ip link set "$ZS_HOST_VETH" up
"${ns[@]}" addr add "$ZS_NETNS_LINK_IP/30" dev "$ZS_NETNS_VETH"
"${ns[@]}" link set "$ZS_NETNS_VETH" up
ip route add "$ZS_CLUSTER_CIDR" via "$ZS_NETNS_LINK_IP" dev "$ZS_HOST_VETH"
# The netns forwards between the pods' bridge and the host link (the sysctl is
# the netns' own). It has no default route: nothing in the cluster can reach
# any address beyond the host end of the link.
ip netns exec "$ZS_NETNS" sysctl -qw net.ipv4.ip_forward=1
zs_log "[$(elapsed)] network namespace $ZS_NETNS: $ZS_BRIDGE $ZS_ADVERTISE_IP/$ZS_BRIDGE_PREFIX, $ZS_NETNS_VETH $ZS_NETNS_LINK_IP/30 <-> host $ZS_HOST_VETH $ZS_HOST_LINK_IP/30"

bin=$ZS_BIN_DIR

# --- etcd ----------------------------------------------------------------------
# Client and peer URLs on the netns' loopback only. --unsafe-no-fsync: this is
# a disposable test cluster; a process crash loses nothing (page cache), only a
# machine crash could, and fsync stalls cost seconds on a busy 2-core box.
zs_spawn etcd netns "$bin/etcd" \
  --name "$ZS_CLUSTER_NAME" \
  --data-dir "$ZS_ETCD_DIR" \
  --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 \
  --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster "$ZS_CLUSTER_NAME=http://127.0.0.1:2380" \
  --unsafe-no-fsync \
  --log-level warn
zs_wait_for "etcd healthy" "$timeout" etcd \
  ip netns exec "$ZS_NETNS" curl -fsS --max-time 2 http://127.0.0.1:2379/health

# --- kube-apiserver -------------------------------------------------------------
# Audit log of the writes that matter for "who acted when" (tests read it to
# show, e.g., that a deposed leader wrote nothing after its successor's first
# write, or that a settled Function's children are not written again):
# Metadata level (no bodies), writes to Deployments and their scale,
# Services, Function status, Events and Leases, and every request of
# zeroscale-system's ServiceAccounts (for the least-privilege proof); nothing
# else.
cat >"$ZS_CLUSTER_DIR/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  # Everything zeroscale's own ServiceAccounts do (the chart installs them in
  # zeroscale-system): tests/install/rbac_audit.sh proves least privilege by use.
  - level: Metadata
    userGroups: ["system:serviceaccounts:zeroscale-system"]
  - level: Metadata
    verbs: [create, update, patch, delete]
    resources:
      - {group: apps, resources: [deployments, deployments/scale]}
      - {group: "", resources: [services]}
      - {group: zeroscale.dev, resources: [functions/status]}
      - {group: "", resources: [events]}
      - {group: events.k8s.io, resources: [events]}
      - {group: coordination.k8s.io, resources: [leases]}
  - level: None
EOF
zs_spawn kube-apiserver netns "$bin/kube-apiserver" \
  --audit-policy-file "$ZS_CLUSTER_DIR/audit-policy.yaml" \
  --audit-log-path "$ZS_LOG_DIR/audit.log" \
  --audit-log-maxsize 50 \
  --audit-log-maxbackup 2 \
  --etcd-servers http://127.0.0.1:2379 \
  --bind-address 0.0.0.0 \
  --secure-port 6443 \
  --advertise-address "$ZS_ADVERTISE_IP" \
  --tls-cert-file "$pki/apiserver.crt" \
  --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --authorization-mode Node,RBAC \
  --enable-admission-plugins NodeRestriction \
  --service-account-key-file "$pki/sa.pub" \
  --service-account-signing-key-file "$pki/sa.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range "$ZS_SERVICE_CIDR" \
  --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP \
  --allow-privileged=true \
  --profiling=false
zs_wait_for "kube-apiserver ready (/readyz)" "$timeout" kube-apiserver \
  bash -c "[[ \$(ip netns exec '$ZS_NETNS' curl -sS --max-time 5 --cacert '$pki/ca.crt' https://127.0.0.1:6443/readyz) == ok ]]"

# --- host loopback forwarder ------------------------------------------------------
# shellcheck disable=SC2016  # $0/$@ expand in the child shell
zs_spawn apiserver-forwarder host bash -c 'exec -a "$0" socat "$@"' "$(zs_forwarder_tag)" \
  "TCP-LISTEN:$ZS_APISERVER_PORT,bind=127.0.0.1,reuseaddr,fork" \
  "TCP:$ZS_ADVERTISE_IP:6443,connect-timeout=5"
zs_wait_for "apiserver reachable from the host at $ZS_APISERVER" "$timeout" apiserver-forwarder \
  bash -c "[[ \$(curl -sS --max-time 5 --cacert '$pki/ca.crt' '$ZS_APISERVER/readyz') == ok ]]"

# --- kube-controller-manager -------------------------------------------------------
controllers=(
  deployment-controller replicaset-controller
  endpointslice-controller endpoints-controller
  garbage-collector-controller namespace-controller
  serviceaccount-controller serviceaccount-token-controller
  root-ca-certificate-publisher-controller clusterrole-aggregation-controller
  pod-garbage-collector-controller
  # Lifts the not-ready taint a kubelet registers with, and marks silent nodes
  # unreachable (the real node of hack/node-up.sh).
  node-lifecycle-controller taint-eviction-controller
)
kcm_kc=$ZS_CLUSTER_DIR/kcm.kubeconfig
# --kube-api-qps/-burst: the defaults (20/30 per controller client) throttled
# back-to-back scale-ups (bench/pod-start.sh scales every ~0.3 s): after a few
# runs the deployment controller waited ~100 ms for its rate limiter before
# scaling the ReplicaSet. Cold starts seconds apart never hit it; the benches
# measure the pipeline, not the limiter.
zs_spawn kube-controller-manager netns "$bin/kube-controller-manager" \
  --kubeconfig "$kcm_kc" \
  --authentication-kubeconfig "$kcm_kc" \
  --authorization-kubeconfig "$kcm_kc" \
  --bind-address 127.0.0.1 \
  --secure-port 10257 \
  --controllers "$(IFS=,; echo "${controllers[*]}")" \
  --use-service-account-credentials \
  --service-account-private-key-file "$pki/sa.key" \
  --root-ca-file "$pki/ca.crt" \
  --cluster-name "$ZS_CLUSTER_NAME" \
  --kube-api-qps 200 --kube-api-burst 400 \
  --leader-elect=false

export KUBECONFIG=$ZS_KUBECONFIG
zs_wait_for "ServiceAccount default/default exists (pods can be created)" "$timeout" kube-controller-manager \
  "$bin/kubectl" get serviceaccount default --namespace default --request-timeout 5s

up_ok=1
zs_log "cluster $ZS_CLUSTER_NAME up in $(elapsed)"
print_summary
