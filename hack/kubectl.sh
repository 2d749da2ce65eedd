#!/usr/bin/env bash
# The pinned kubectl, talking to the local cluster as admin (system:masters).
# Usage: hack/kubectl.sh ARGS...   (ZS_CLUSTER_NAME picks the cluster)
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
zs_require_binaries
[[ -f $ZS_KUBECONFIG ]] || zs_die "no kubeconfig at $ZS_KUBECONFIG: run hack/cluster-up.sh"
export KUBECONFIG=$ZS_KUBECONFIG
exec "$ZS_BIN_DIR/kubectl" "$@"
