#!/usr/bin/env bash
# Controller figures on the local cluster (issue 4):
#   1. median time from Function create to Deployment created, over N1 (50)
#      Functions created one after another while the controller runs;
#   2. time to reconcile N2 (1000) Functions from a cold start: they exist
#      before the controller starts; measured until every one has a Deployment
#      and an observed status;
#   3. controller RSS idle (no Functions) and with N2 Functions, and the
#      growth per 1,000 Functions;
#   4. where phase 2's CPU went: the controller, kube-apiserver, etcd and
#      kube-controller-manager (CPU seconds, ms per Function, share of the
#      machine's busy time), and how busy the machine was;
#   5. the controller's CPU at rest with N2 Functions (its autoscaler ticks).
# The issue's size: bench/controller-scale.sh "" 50 10000 (a few minutes on
# 2 cores; the namespace is deleted afterwards and the cluster keeps
# collecting its 10,000 Deployments for a while).
# Needs a running cluster (hack/cluster-up.sh) and a built controller.
# Usage: bench/controller-scale.sh [CONTROLLER_BINARY] [N1] [N2]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/hack/cluster-env.sh"
source "$root/bench/lib.sh"
bin=${1:-$root/build/controller/zeroscale-controller}
n1=${2:-50}
n2=${3:-1000}
k() { "$ZS_KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
ns=zs-bench-$$
tmp=$(mktemp -d)
pid=""
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; k delete ns "$ns" --wait=false >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
k apply -f "$root/deploy/crds/" >/dev/null
k create ns "$ns" >/dev/null
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
health_port=$(free_port)
start_controller() {
  "$bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" --metrics-bind-address 0 \
    --health-probe-bind-address "127.0.0.1:$health_port" --grpc-bind-address 127.0.0.1:0 --log-level warn \
    >"$tmp/controller.log" 2>&1 &
  pid=$!
}
# wait_ready: polls readyz (its informers have synced) for up to 60 s.
wait_ready() {
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "http://127.0.0.1:$health_port/readyz" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "the controller exited:" >&2; tail -5 "$tmp/controller.log" >&2; exit 1; }
    ((SECONDS < deadline)) || { echo "the controller was not ready within 60 s" >&2; exit 1; }
    sleep 0.1
  done
}
fn_yaml() {  # fn_yaml NAME
  printf 'apiVersion: zeroscale.dev/v1alpha1\nkind: Function\nmetadata: {name: %s, namespace: %s}\nspec: {image: zeroscale/fn-echo:dev}\n---\n' "$1" "$ns"
}
now_ms() { date +%s%3N; }

start_controller
# Idle RSS once its informers have synced (readyz answers).
wait_ready
idle_kb=$(rss_kb "$pid")

echo "== $n1 Functions created one by one: create -> Deployment"
lat=()
for i in $(seq 1 "$n1"); do
  name=lat-$i
  t0=$(now_ms)
  fn_yaml "$name" | k apply -f - >/dev/null
  until k get deployment "$name" -n "$ns" >/dev/null 2>&1; do :; done
  lat+=($(($(now_ms) - t0)))
done
sorted=($(printf '%s\n' "${lat[@]}" | sort -n))
median=${sorted[$((n1 / 2))]}
echo "median create->Deployment: ${median} ms (includes two kubectl invocations, ~$(( ${sorted[0]} )) ms min)"

kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
echo "== $n2 Functions reconciled from a cold start"
# create, not apply: one POST per Function instead of a GET and a POST; in
# 4 parallel files, since one kubectl sends its POSTs one after another (at
# 10,000 that alone took most of 20 minutes).
for i in $(seq 1 "$n2"); do fn_yaml "cold-$i" >>"$tmp/many-$((i % 4)).yaml"; done
created=()
for f in "$tmp"/many-*.yaml; do k create -f "$f" >/dev/null & created+=($!); done
for c in "${created[@]}"; do wait "$c"; done
# Where the cold-start phase's CPU goes: each cluster process's user+system
# ticks, and the whole machine's busy ticks (the rest is kubectl polling here,
# the node agent, the shell).
cluster_pids() { zs_component_pid "$1"; }  # this cluster's own, from its pid files
declare -A ticks_before
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
t0=$(now_ms)
start_controller
procs=(zeroscale-controller kube-apiserver etcd kube-controller-manager)
declare -A proc_pid=([zeroscale-controller]=$pid)
for p in "${procs[@]:1}"; do proc_pid[$p]=$(cluster_pids "$p" || true); done
for p in "${procs[@]}"; do
  [[ -n ${proc_pid[$p]} ]] && ticks_before[$p]=$(cpu_ticks "${proc_pid[$p]}")
done
machine_before=$(busy_ticks)
total=$((n1 + n2))
while :; do
  done_count=$(k get functions -n "$ns" -o jsonpath='{range .items[*]}{.status.observedGeneration}{"\n"}{end}' | grep -c . || true)
  deps=$(k get deployments -n "$ns" --no-headers 2>/dev/null | wc -l)
  ((done_count >= total && deps >= total)) && break
  # A list of thousands of Functions is itself work for the apiserver.
  sleep $((total > 2000 ? 2 : 1))
done
cold_ms=$(($(now_ms) - t0))
busy_kb=$(rss_kb "$pid")
hz=$(getconf CLK_TCK)
echo "CPU during the cold start ($(nproc) cores, ${cold_ms} ms wall): process, CPU s, ms per Function, share of the machine"
machine=$(($(busy_ticks) - machine_before))
accounted=0
for p in "${procs[@]}"; do
  [[ -n ${ticks_before[$p]:-} ]] || { echo "  $p: not found"; continue; }
  read -r u0 s0 <<<"${ticks_before[$p]}"
  read -r u1 s1 < <(cpu_ticks "${proc_pid[$p]}")
  used=$((u1 + s1 - u0 - s0))
  accounted=$((accounted + used))
  awk -v p="$p" -v t="$used" -v hz="$hz" -v n="$total" -v m="$machine" 'BEGIN {
    printf "  %-24s %8.1f %8.1f %6.1f %%\n", p, t / hz, t * 1000 / hz / n, m ? 100 * t / m : 0 }'
done
awk -v t="$((machine - accounted))" -v hz="$hz" -v n="$total" -v m="$machine" 'BEGIN {
  printf "  %-24s %8.1f %8.1f %6.1f %%\n", "everything else", t / hz, t * 1000 / hz / n, m ? 100 * t / m : 0 }'
awk -v m="$machine" -v hz="$hz" -v ms="$cold_ms" -v c="$(nproc)" 'BEGIN {
  printf "  machine busy %.0f %% of %d cores\n", 100 * m / hz / (ms / 1000) / c, c }'
echo "cold start: $n2 new (+$n1 existing) Functions reconciled in ${cold_ms} ms," \
  "$(awk -v n="$total" -v ms="$cold_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }') Functions/s"
# At rest with every Function reconciled: the autoscaler's ticks (every 2 s,
# over every Function) and the resync are what is left.
sleep 5
read -r u0 s0 < <(cpu_ticks "$pid")
sleep 10
read -r u1 s1 < <(cpu_ticks "$pid")
awk -v t="$((u1 + s1 - u0 - s0))" -v hz="$hz" -v n="$total" 'BEGIN {
  printf "controller CPU at rest with %d Functions (10 s, from 5 s after the cold start): %.1f %% of a core\n", n, 100 * t / hz / 10 }'
echo "controller RSS: idle ${idle_kb} KiB; with $total Functions ${busy_kb} KiB;" \
  "$(awk -v i="$idle_kb" -v b="$busy_kb" -v n="$total" 'BEGIN { printf "%.0f", (b - i) * 1000 / n }') KiB per 1,000 Functions"
