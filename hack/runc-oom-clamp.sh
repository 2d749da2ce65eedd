#!/usr/bin/env bash
# runc for the real node's containerd (hack/node-up.sh sets it as the runc
# runtime's BinaryName). On a machine whose root lacks CAP_SYS_RESOURCE (this
# one's bounding set has it clear), a negative oom_score_adj cannot be set,
# and the kubelet asks for -998 on every pod sandbox (and -997 for
# Guaranteed pods): runc's init fails with "can't get final child's PID from
# pipe". containerd's restrict_oom_score_adj would clamp it, but containerd
# turns that option off outside a user namespace. So for `create`/`run`,
# clamp the bundle's process.oomScoreAdj to what this process may set (its
# own value), then run runc unchanged. node-up.sh uses it only where root
# lacks the capability; elsewhere containerd calls runc directly.
set -euo pipefail
runc=${ZS_RUNC:-runc}
bundle="" cmd="" prev=""
for a in "$@"; do
  case $prev in --bundle | -b) bundle=$a ;; esac
  case $a in create | run) [[ -z $cmd ]] && cmd=$a ;; esac
  prev=$a
done
if [[ -n $cmd && -n $bundle && -f $bundle/config.json ]]; then
  floor=$(</proc/self/oom_score_adj)
  config=$bundle/config.json
  if grep -q '"oomScoreAdj":-' "$config" && ((floor >= 0)); then
    sed -i "s/\"oomScoreAdj\":-[0-9]*/\"oomScoreAdj\":$floor/" "$config"
  fi
fi
exec "$runc" "$@"
