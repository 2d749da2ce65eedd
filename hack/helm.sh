#!/usr/bin/env bash
# The pinned helm, talking to the local cluster as admin. Its caches and
# config stay under the cluster's directory, not in ~.
# Usage: hack/helm.sh ARGS...   (ZS_CLUSTER_NAME picks the cluster)
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
zs_require_binaries
[[ -f $ZS_KUBECONFIG ]] || zs_die "no kubeconfig at $ZS_KUBECONFIG: run hack/cluster-up.sh"
export KUBECONFIG=$ZS_KUBECONFIG
export HELM_CACHE_HOME=${HELM_CACHE_HOME:-$ZS_CLUSTER_DIR/helm/cache}
export HELM_CONFIG_HOME=${HELM_CONFIG_HOME:-$ZS_CLUSTER_DIR/helm/config}
export HELM_DATA_HOME=${HELM_DATA_HOME:-$ZS_CLUSTER_DIR/helm/data}
exec "$ZS_BIN_DIR/helm" "$@"
