#!/usr/bin/env bash
# Stops the real node started by hack/node-up.sh: deletes its Node and the pods
# bound to it (while the apiserver answers), stops CoreDNS, kube-scheduler,
# kube-proxy (and removes its rules), the kubelet, every container and
# containerd, and unmounts what they mounted. Images and logs are kept.
# Safe after a crash and when nothing runs. hack/cluster-down.sh does this too.
#
# Usage: hack/node-down.sh
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
zs_require_root
zs_require_tools ip pgrep flock
zs_lock_cluster

if zs_netns_exists && [[ -f $ZS_KUBECONFIG ]]; then
  k=("$ZS_BIN_DIR/kubectl" --kubeconfig "$ZS_KUBECONFIG" --request-timeout 10s)
  if "${k[@]}" get node "$ZS_KUBELET_NODE_NAME" >/dev/null 2>&1; then
    # Without a node lifecycle controller nobody else would: the pods of this
    # node would stay "Running" in the API forever.
    "${k[@]}" delete pods --all-namespaces --field-selector "spec.nodeName=$ZS_KUBELET_NODE_NAME" \
      --force --grace-period=0 --wait=false >/dev/null 2>&1 || true
    "${k[@]}" delete node "$ZS_KUBELET_NODE_NAME" --wait=false >/dev/null 2>&1 || true
  fi
fi
zs_node_down
if zs_netns_exists; then
  nsenter "--net=/run/netns/$ZS_NETNS" "$ZS_BIN_DIR/kube-proxy" --cleanup >/dev/null 2>&1 || true
fi
zs_log "node $ZS_KUBELET_NODE_NAME down"
