# shellcheck shell=bash
# Source me: exports what tests and tools need to use the local cluster.
#   source hack/cluster-env.sh        (ZS_CLUSTER_NAME picks the cluster)
# Does not start anything and does not change shell options.
#
# Exports:
#   KUBECONFIG               admin kubeconfig (CN=admin, O=system:masters)
#   ZS_APISERVER             https://127.0.0.1:<port>, the host's way in
#   ZS_APISERVER_INCLUSTER   https://<advertise ip>:6443, the pods' way in
#   ZS_CA_CERT               CA of the apiserver's serving cert (and of all client certs)
#   ZS_NODE_KUBECONFIG       system:node:<ZS_NODE_NAME> identity, for a node agent on the host
#   ZS_NODE_KUBECONFIG_INCLUSTER  the same, addressing ZS_APISERVER_INCLUSTER
#   ZS_BIN_DIR ZS_KUBECTL ZS_HELM ZS_KUBE_APISERVER ZS_KUBE_CONTROLLER_MANAGER ZS_ETCD
#   ZS_CLUSTER_NAME ZS_NETNS ZS_CLUSTER_DIR ZS_BRIDGE ZS_BRIDGE_CIDR ZS_BRIDGE_PREFIX
#   ZS_CLUSTER_CIDR ZS_POD_CIDR
#   ZS_ADVERTISE_IP ZS_HOST_LINK_IP ZS_SERVICE_CIDR ZS_NODE_NAME
#   ZS_SERVICE_IP ZS_DNS_IP (kube-dns) ZS_KUBELET_NODE_NAME ZS_NODE_DIR (the real node, hack/node-up.sh)
__zs_env_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The values the running cluster was started with win over the defaults.
__zs_env_name=${ZS_CLUSTER_NAME:-zs-cluster}
__zs_env_state=$__zs_env_dir/../.cache/cluster/$__zs_env_name/cluster.env
if [[ -f $__zs_env_state ]]; then
  # shellcheck disable=SC1090
  source "$__zs_env_state"
  export ZS_CLUSTER_NET ZS_APISERVER_PORT ZS_NODE_NAME
fi
# shellcheck source=hack/lib.sh
source "$__zs_env_dir/lib.sh"
export KUBECONFIG=$ZS_KUBECONFIG
export ZS_APISERVER ZS_APISERVER_INCLUSTER ZS_CLUSTER_NAME ZS_NETNS ZS_CLUSTER_DIR ZS_BIN_DIR
export ZS_BRIDGE ZS_BRIDGE_CIDR ZS_BRIDGE_PREFIX ZS_CLUSTER_CIDR ZS_POD_CIDR ZS_ADVERTISE_IP ZS_HOST_LINK_IP ZS_SERVICE_CIDR ZS_NODE_NAME
export ZS_SERVICE_IP ZS_DNS_IP ZS_KUBELET_NODE_NAME ZS_NODE_DIR
export ZS_CA_CERT=$ZS_PKI_DIR/ca.crt
export ZS_NODE_KUBECONFIG=$ZS_CLUSTER_DIR/node.kubeconfig
export ZS_NODE_KUBECONFIG_INCLUSTER=$ZS_CLUSTER_DIR/node-incluster.kubeconfig
export ZS_KUBECTL=$ZS_BIN_DIR/kubectl
export ZS_HELM=$ZS_BIN_DIR/helm
export ZS_KUBE_APISERVER=$ZS_BIN_DIR/kube-apiserver
export ZS_KUBE_CONTROLLER_MANAGER=$ZS_BIN_DIR/kube-controller-manager
export ZS_ETCD=$ZS_BIN_DIR/etcd
unset __zs_env_dir __zs_env_name __zs_env_state
