#!/usr/bin/env bash
# End to end on the local cluster (issue 10, "Several activators"): two
# activators in front of one Function with maxConcurrency 1 and one replica.
#   - both apply the controller's placement (2 activators);
#   - 40 concurrent requests, half through each activator, starting at zero:
#     all answer 200, and fn-echo, which counts what it has in flight,
#     never saw two at once;
#   - the activation is one cold start summed over both activators, and
#     every request is billed once, by the owner;
#   - the owner is killed (-9): the controller drops it, the survivor owns
#     the Function and serves it (200).
# Usage: ha_caps_test.sh CONTROLLER ACTIVATOR
source "$(dirname "$0")/../integration/lib.sh"
controller_bin=${1:?controller binary}
activator_bin=${2:?activator binary}
ns=zs-ha-caps-$$
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl wait --for condition=Established --timeout=60s crd/functions.zeroscale.dev >/dev/null
kubectl create namespace "$ns" >/dev/null
trap 'end_bg; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT

grpc_port=$(free_port); cm_port=$(free_port)
declare -A proxy_port metrics_port pid_of
for id in a b; do proxy_port[$id]=$(free_port); metrics_port[$id]=$(free_port); done
start_bg controller "$controller_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
  --metrics-bind-address "127.0.0.1:$cm_port" --health-probe-bind-address 127.0.0.1:0 \
  --grpc-bind-address "127.0.0.1:$grpc_port" --autoscaler-tick 1s \
  --activator-url "http://127.0.0.1:${proxy_port[a]}"
for id in a b; do
  start_bg "activator-$id" "$activator_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
    --controller-address "127.0.0.1:$grpc_port" --activator-id "activator-$id" \
    --bind-address "127.0.0.1:${proxy_port[$id]}" --relay-address "127.0.0.1:${proxy_port[$id]}" \
    --metrics-bind-address "127.0.0.1:${metrics_port[$id]}" --health-probe-bind-address 127.0.0.1:0 \
    --stats-interval 500ms --billing-log "$ZS_TEST_TMP/billing-$id.jsonl"
  pid_of[$id]=$LAST_PID
done
ametric() { metric_sum "127.0.0.1:${metrics_port[$1]}" "$2"; }
ametric_is() { [ "$(ametric "$1" "$2")" -eq "$3" ]; }
jp_is() { [[ $(kubectl get "$1" -n "$ns" -o "jsonpath=$2" 2>/dev/null) == "$3" ]]; }

kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: capped}
spec:
  image: zeroscale/fn-echo:dev
  scaling: {minReplicas: 0, maxReplicas: 1, maxConcurrency: 1, targetConcurrency: 1}
YAML
wait_for 30 "Function capped Ready at zero" jp_is function/capped '{.status.conditions[?(@.type=="Ready")].status}/{.status.desiredReplicas}' "True/0"
for id in a b; do
  wait_for 20 "activator-$id applied a placement of 2 activators" ametric_is "$id" zeroscale_activator_placement_activators 2
  wait_for 20 "activator-$id routes the Function" bash -c "curl -s -o /dev/null -w '%{http_code}' -m 1 http://127.0.0.1:${proxy_port[$id]}/fn/$ns/nope/ | grep -q 404"
done

say "40 concurrent requests, 20 through each activator, from zero"
for i in $(seq 1 40); do
  id=a; ((i % 2)) && id=b
  curl -s -o /dev/null -w '%{http_code}\n' -m 90 "http://127.0.0.1:${proxy_port[$id]}/fn/$ns/capped/?delay_ms=50" >"$ZS_TEST_TMP/status-$i" &
done
for i in $(seq 1 40); do wait_for 90 "request $i answered" test -s "$ZS_TEST_TMP/status-$i"; done
ok=$(cat "$ZS_TEST_TMP"/status-* | grep -c '^200$' || true)
check "all 40 answered 200 (got $ok)" [ "$ok" -eq 40 ]
stats=$(curl -s -m 10 "http://127.0.0.1:${proxy_port[a]}/fn/$ns/capped/stats")
say "fn-echo says: $stats"
peak=$(jq -r .peak_in_flight <<<"$stats")
check "the replica never had two requests at once (peak $peak)" [ "$peak" = 1 ]
# Metered once each answer went out, and written by the billing writer
# shortly after: wait for the 41 lines (40 and the stats call).
billed() { (($(cat "$ZS_TEST_TMP"/billing-*.jsonl 2>/dev/null | wc -l) >= 41)); }
wait_for 20 "41 billing lines written" billed
cold=$(($(ametric a 'zeroscale_cold_starts_total{') + $(ametric b 'zeroscale_cold_starts_total{')))
check "one activation is one cold start summed over both activators (got $cold)" [ "$cold" -eq 1 ]
relayed=$(($(ametric a 'zeroscale_activator_relayed_requests_total{result="relayed"') + $(ametric b 'zeroscale_activator_relayed_requests_total{result="relayed"')))
check "the non-owner relayed its share (20 or 21 with the stats call, got $relayed)" [ "$relayed" -ge 20 ]
lines_a=$(wc -l <"$ZS_TEST_TMP/billing-a.jsonl"); lines_b=$(wc -l <"$ZS_TEST_TMP/billing-b.jsonl")
check "41 invocations billed once, all by the owner (a: $lines_a, b: $lines_b)" \
  bash -c "[ $((lines_a + lines_b)) -eq 41 ] && { [ $lines_a -eq 0 ] || [ $lines_b -eq 0 ]; }"

owner=a; [ "$lines_b" -gt 0 ] && owner=b
survivor=b; [ $owner = b ] && survivor=a
say "killing the owner, activator-$owner"
kill -KILL "${pid_of[$owner]}"
wait_for 20 "activator-$survivor applied a placement of itself alone" ametric_is "$survivor" zeroscale_activator_placement_activators 1
code=$(curl -s -o /dev/null -w '%{http_code}' -m 60 "http://127.0.0.1:${proxy_port[$survivor]}/fn/$ns/capped/")
check "the survivor owns the Function and serves it (got $code)" [ "$code" = 200 ]
finish
