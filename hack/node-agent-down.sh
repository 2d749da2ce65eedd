#!/usr/bin/env bash
# Stops the node agent started by hack/node-agent-up.sh. The agent kills its
# pods' processes and removes their network namespaces on SIGTERM; anything a
# crashed agent left behind (zs-pod-* namespaces and what runs in them) is
# removed here too. Safe when nothing runs.
#
# Usage: hack/node-agent-down.sh
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
zs_require_root
zs_require_tools ip pgrep flock
zs_lock_cluster

if pid=$(zs_component_pid node-agent); then
  zs_log "stopping node agent (pid $pid)"
  zs_stop_pids 30 "$pid"
fi
rm -f "$ZS_RUN_DIR/node-agent.pid" "$ZS_RUN_DIR/node-agent.args"
mapfile -t stray < <(pgrep -f -- "zs-node-agent .*--cluster-netns $ZS_NETNS( |$)" || true)
((${#stray[@]} == 0)) || zs_stop_pids 30 "${stray[@]}"

shopt -s nullglob
for ns in /run/netns/zs-pod-*; do
  name=$(basename "$ns")
  mapfile -t pids < <(ip netns pids "$name" 2>/dev/null || true)
  ((${#pids[@]} == 0)) || kill -KILL "${pids[@]}" 2>/dev/null || true
  if zs_netns_exists; then ip -n "$ZS_NETNS" link del "zsv${name#zs-pod-}" 2>/dev/null || true; fi
  ip netns del "$name" 2>/dev/null || true
  zs_log "removed stale pod namespace $name"
done
