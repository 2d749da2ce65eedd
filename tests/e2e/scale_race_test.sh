#!/usr/bin/env bash
# The race with scale-to-zero (issue 11), end to end on the real node: a
# request sent at the moment a Function is scaled down must still be served.
# Fifty rounds, each starting from one warm replica idle for
# scaleToZeroAfterSeconds (1 s):
#   - even rounds send the request around the autoscaler's decision, at an
#     offset swept from 250 ms before to 200 ms after the idle time ends (the
#     zero patch is conditioned on the state it was decided on: an arrival in
#     between cancels it or finds the replica still serving);
#   - odd rounds wait until the Deployment says 0 replicas and send at once:
#     the replica is terminating, kept serving by its preStop delay while the
#     activator learns it is gone, or the request wakes a new one.
# Every response must be 200. The rounds that met each case are counted.
# Usage: scale_race_test.sh CONTROLLER ACTIVATOR [ROUNDS]
source "$(dirname "$0")/../integration/lib.sh"
controller_bin=${1:?controller binary}
activator_bin=${2:?activator binary}
rounds=${3:-50}
ns=zs-race-$$
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl create namespace "$ns" >/dev/null
trap 'end_bg; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT

# A 100 ms autoscaler tick: the scale-down comes within 100 ms of the idle end.
ZS_AUTOSCALER_TICK=100ms start_zeroscale "$ns" "$controller_bin" "$activator_bin"

kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: echo}
spec:
  image: zeroscale/fn-echo:dev
  resources: {requests: {memory: 64Mi}}
  timeoutSeconds: 5
  scaling: {minReplicas: 0, maxReplicas: 2, scaleToZeroAfterSeconds: 1}
  buffer: {maxRequests: 100, timeoutSeconds: 60}
YAML
jp() { kubectl get "$1" -n "$ns" -o "jsonpath=$2" 2>/dev/null; }
replicas() { jp deployment/echo '{.spec.replicas}'; }
url="http://127.0.0.1:$proxy_port/fn/$ns/echo"
wait_for 30 "the Function is Ready at zero" bash -c "[[ \$(kubectl get function/echo -n $ns -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}') == ScaledToZero ]]"
wait_for 20 "the activator routes the Function" bash -c "curl -s -o /dev/null -w '%{http_code}' -m 1 http://127.0.0.1:$proxy_port/fn/$ns/nope/ | grep -q 404"

send() { curl -s -o /dev/null -w '%{http_code}' -m 30 "$url/race?round=$1" || true; }
failed=0 kept=0 woke_after_zero=0 at_zero_sends=0
for ((round = 1; round <= rounds; round++)); do
  # The first may be a cold start (the previous round may have ended at
  # zero); the idle time is then timed from the second, a warm one.
  code=$(send "$round-wake")
  sent_ms=$(date +%s%3N)
  [[ $code == 200 ]] && code=$(send "$round-warm")
  if [[ $code != 200 ]]; then
    fail "round $round: the warming requests answered $code"
    failed=$((failed + 1))
    continue
  fi
  if ((round % 2 == 0)); then
    # -250 ms ... +200 ms around the end of the 1 s idle time.
    offset=$((-250 + (round / 2 % 10) * 50))
    target=$((sent_ms + 1000 + offset))
    while (($(date +%s%3N) < target)); do sleep 0.01; done
    before=$(replicas)
    code=$(send "$round-edge")
    [[ $before == 1 ]] && kept=$((kept + 1))
  else
    deadline=$((sent_ms + 15000))
    while [[ $(replicas) != 0 ]] && (($(date +%s%3N) < deadline)); do sleep 0.02; done
    at_zero_sends=$((at_zero_sends + 1))
    code=$(send "$round-at-zero")
    woke_after_zero=$((woke_after_zero + 1))
  fi
  if [[ $code != 200 ]]; then
    fail "round $round: a request at the moment of scale-down answered $code"
    failed=$((failed + 1))
  fi
done
check "all $rounds requests sent at the moment of scale-down answered 200 ($failed did not)" [ "$failed" = 0 ]
say "edge rounds that found the replica still asked for: $kept of $((rounds / 2)); rounds sent as the Deployment reached 0: $at_zero_sends"
errors=$(metric_sum "127.0.0.1:$am_port" 'zeroscale_rejected_requests_total{')
check "the activator refused no request ($errors)" [ "$errors" = 0 ]
finish
