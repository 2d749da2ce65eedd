#!/usr/bin/env bash
# Stops the local cluster started by hack/cluster-up.sh: every process it
# started (by pid file, then anything left in its network namespace), waits
# for them to exit, and removes the namespace, the veth pair and the host
# route. Safe after a crash and when nothing is running.
#
# Usage: hack/cluster-down.sh [--wipe]
#   --wipe  also delete .cache/cluster/<name>/ (etcd data, pki, kubeconfigs, logs);
#           by default they are kept so the next cluster-up resumes the same state.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wipe=()
case "${1:-}" in
  --wipe) wipe=(--wipe) ;;
  "") ;;
  -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
  *) zs_die "usage: $0 [--wipe]" ;;
esac

zs_require_root
zs_require_tools ip pgrep flock md5sum
zs_lock_cluster
zs_cluster_down "${wipe[@]}"
