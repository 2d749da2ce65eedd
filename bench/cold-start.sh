#!/usr/bin/env bash
# Cold start through zeroscale on the local cluster, split into its parts:
#   wake   = request arrival at the activator -> scale patch done (controller log)
#   total  = the client's time for the first request at zero
#   queued = time the request spent in the activator's buffer (billing line)
# The rest of queued after the wake is Kubernetes and the node agent: the
# Deployment and ReplicaSet controllers, the pod start and readiness probe,
# and the EndpointSlice reaching the activator.
# Needs a running cluster and node agent (hack/cluster-up.sh, hack/node-agent-up.sh).
# Usage: bench/cold-start.sh [RUNS] [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/hack/cluster-env.sh"
runs=${1:-5}
build=${2:-$root/build}
k() { "$ZS_KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
ns=zs-cold-$$
t=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; k delete ns "$ns" --wait=false >/dev/null 2>&1; rm -rf "$t"' EXIT
k apply -f "$root/deploy/crds/" >/dev/null
k create ns "$ns" >/dev/null
"$build/controller/zeroscale-controller" --kubeconfig "$KUBECONFIG" --namespace "$ns" --metrics-bind-address 0 \
  --health-probe-bind-address 127.0.0.1:0 --grpc-bind-address 127.0.0.1:29090 --autoscaler-tick 1s >"$t/c.log" 2>&1 &
pids+=($!)
"$build/activator/zeroscale-activator" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
  --controller-address 127.0.0.1:29090 --bind-address 127.0.0.1:28000 --metrics-bind-address 0 \
  --health-probe-bind-address 127.0.0.1:0 --billing-log "$t/billing.jsonl" >"$t/a.log" 2>&1 &
pids+=($!)
sed "s/name: hello/name: cold/; s/scaleToZeroAfterSeconds: 15/scaleToZeroAfterSeconds: 3/" "$root/examples/hello.yaml" |
  k apply -n "$ns" -f - >/dev/null
until [[ $(k get fn cold -n "$ns" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]; do sleep 0.2; done
until curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:28000/fn/$ns/nope/" | grep -q 404; do sleep 0.2; done
printf '%-4s %10s %10s %10s\n' run total_ms wake_ms queued_ms
for ((i = 1; i <= runs; i++)); do
  until [[ $(k get deploy cold -n "$ns" -o jsonpath='{.spec.replicas}') == 0 && -z $(k get pods -n "$ns" -o name) ]]; do sleep 0.3; done
  total=$(curl -s -o /dev/null -w '%{time_total}' "127.0.0.1:28000/fn/$ns/cold/run$i")
  # The billing line is written once the response is done; wait for it.
  until line=$(grep "\"path\":\"/run$i\"" "$t/billing.jsonl"); do sleep 0.05; done
  arrived=$(date -d "$(jq -r .timestamp <<<"$line")" +%s%3N)
  scaled=$(grep '"woken by a request"' "$t/c.log" | tail -n 1 | jq -r .ts)
  wake=$(($(date -d "$scaled" +%s%3N) - arrived))
  printf '%-4s %10.0f %10s %10.0f\n' "$i" "$(echo "$total * 1000" | bc)" "$wake" "$(jq -r .queued_ms <<<"$line")"
done
