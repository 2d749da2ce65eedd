#!/usr/bin/env bash
# ctest fixture steps for the integration tests (see CMakeLists.txt here).
#   cluster_fixture.sh cluster-up | cluster-down
#   cluster_fixture.sh node-agent-up AGENT_BINARY FN_ECHO_BINARY | node-agent-down
#   cluster_fixture.sh node-up BUILD_DIR | node-down
# ZS_KEEP_CLUSTER=1 turns the *-down steps into no-ops, so a cluster (and agent)
# started by hand survives a ctest run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
step=${1:?usage: $0 cluster-up|cluster-down|node-agent-up AGENT FN_ECHO|node-agent-down|node-up BUILD_DIR|node-down}
shift
case $step in
  cluster-up)
    "$root/hack/build-k8s.sh"
    exec "$root/hack/cluster-up.sh"
    ;;
  cluster-down)
    [[ ${ZS_KEEP_CLUSTER:-0} == 1 ]] && { echo "ZS_KEEP_CLUSTER=1: leaving the cluster up"; exit 0; }
    exec "$root/hack/cluster-down.sh"
    ;;
  node-agent-up)
    exec "$root/hack/node-agent-up.sh" --agent "${1:?agent binary}" --fn-echo "${2:?fn-echo binary}"
    ;;
  node-up)
    exec "$root/hack/node-up.sh" --images --build-dir "${1:?build dir}"
    ;;
  node-down)
    [[ ${ZS_KEEP_CLUSTER:-0} == 1 ]] && { echo "ZS_KEEP_CLUSTER=1: leaving the node up"; exit 0; }
    exec "$root/hack/node-down.sh"
    ;;
  node-agent-down)
    [[ ${ZS_KEEP_CLUSTER:-0} == 1 ]] && { echo "ZS_KEEP_CLUSTER=1: leaving the node agent up"; exit 0; }
    exec "$root/hack/node-agent-down.sh"
    ;;
  *)
    echo "unknown step $step" >&2
    exit 2
    ;;
esac
