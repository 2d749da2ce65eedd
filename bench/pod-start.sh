#!/usr/bin/env bash
# Cold start of a pod on the local cluster: time from scaling a fn-echo
# Deployment 0 -> 1 until its pod is a ready address in the Service's
# EndpointSlice (what the activator waits for), median of N runs, with the
# stages in between. Runs the scale twice: a direct PATCH of deployments/scale
# (what the controller does) and `kubectl scale --replicas=1` (start-up of
# kubectl included).
#
# Usage: bench/pod-start.sh [--iterations N] [--no-kubectl] [--node agent|real]
# Needs: the cluster up (hack/cluster-up.sh) and the bench built:
#   ninja -C ${ZS_BUILD_DIR:-build} cluster_pod_start_bench fn-echo zs-node-agent
# --node starts that node first: `agent` (hack/node-agent-up.sh, pods as
# processes) or `real` (hack/node-up.sh --images: kubelet + containerd, pods
# as containers). Without it, whichever node runs is measured; its name and
# runtime are printed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ZS_BUILD_DIR:-$root/build}
iterations=10
kubectl_too=1
node=""
while (($# > 0)); do
  case $1 in
    --node) node=${2:?}; shift ;;
    --iterations) iterations=${2:?}; shift ;;
    --no-kubectl) kubectl_too=0 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
bench=$build/tests/integration/cluster_pod_start_bench
[[ -x $bench ]] || { echo "no $bench: ninja -C $build cluster_pod_start_bench" >&2; exit 1; }
# shellcheck source=hack/cluster-env.sh
source "$root/hack/cluster-env.sh"
export ZS_KUBECONFIG=$KUBECONFIG

case $node in
  agent) "$root/hack/node-agent-up.sh" --agent "$build/hack/node-agent/zs-node-agent" --fn-echo "$build/hack/fn-echo/fn-echo" ;;
  real) "$root/hack/node-up.sh" --images --build-dir "$build" >/dev/null ;;
  "") ;;
  *) echo "--node agent|real" >&2; exit 2 ;;
esac

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# node: $("$ZS_KUBECTL" get nodes -o jsonpath='{range .items[*]}{.metadata.name} ({.status.nodeInfo.containerRuntimeVersion}) {end}')"
"$bench" --iterations "$iterations"
if ((kubectl_too)); then
  echo
  "$bench" --iterations "$iterations" --kubectl "$ZS_KUBECTL"
fi
