#!/usr/bin/env bash
# End to end on the local cluster (issue 6): the activator follows the
# controller's leader. Two controllers elect a leader; the activator has no
# --controller-address and finds the leader through its Lease.
#   - load reports reach the leader and a request at zero wakes the Function
#     through it (200);
#   - the leader is killed: the other controller takes the Lease, the
#     activator's reports reach the new leader without a restart, and a
#     request to another Function at zero is woken through the new leader.
# Usage: failover_test.sh CONTROLLER ACTIVATOR
source "$(dirname "$0")/../integration/lib.sh"
controller_bin=${1:?controller binary}
activator_bin=${2:?activator binary}
ns=zs-failover-$$
lease=zs-failover
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl create namespace "$ns" >/dev/null
trap 'end_bg; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT

proxy_port=$(free_port); am_port=$(free_port)
declare -A metrics_port pid_of
start_controller() {
  local id=$1 grpc_port
  metrics_port[$id]=$(free_port); grpc_port=$(free_port)
  start_bg "controller-$id" "$controller_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
    --leader-elect --leader-election-namespace "$ns" --leader-election-id "$lease" \
    --leader-elect-lease-duration 4s --leader-elect-renew-deadline 3s --leader-elect-retry-period 500ms \
    --identity "$id" --metrics-bind-address "127.0.0.1:${metrics_port[$id]}" \
    --health-probe-bind-address 127.0.0.1:0 --grpc-bind-address "127.0.0.1:$grpc_port" \
    --grpc-advertise-address "127.0.0.1:$grpc_port" --autoscaler-tick 1s \
    --activator-url "http://127.0.0.1:$proxy_port"
  pid_of[$id]=$LAST_PID
}
holder() { kubectl get lease "$lease" -n "$ns" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
# cmetric ID SERIES_PREFIX: sum of one controller's matching samples (0 if none).
cmetric() { metric_sum "127.0.0.1:${metrics_port[$1]}" "$2"; }
cmetric_above() { (($(cmetric "$1" "$2") > $3)); }
# scaled_up ID FUNCTION: that controller changed the Function's replicas upward.
# Either of its paths counts: the Wake call, or an autoscaler tick that saw
# the arrival first (then the Wake call finds it already active).
scaled_up() {
  curl -sf "127.0.0.1:${metrics_port[$1]}/metrics" |
    awk -v fn="function=\"$2\"" 'index($0, "zeroscale_scale_events_total{") == 1 && index($0, fn) && index($0, "direction=\"up\"") {s += $NF} END {exit !(s > 0)}'
}
jp_is() { [[ $(kubectl get "$1" -n "$ns" -o "jsonpath=$2" 2>/dev/null) == "$3" ]]; }
call() { curl -s -o /dev/null -w '%{http_code}' -m 60 "http://127.0.0.1:$proxy_port/fn/$ns/$1/"; }

start_controller ctrl-a
start_controller ctrl-b
wait_for 30 "a leader is elected" bash -c "[[ -n \$($ZS_KUBECTL --kubeconfig $KUBECONFIG get lease $lease -n $ns -o jsonpath='{.spec.holderIdentity}' 2>/dev/null) ]]"
first=$(holder); first=${first%@*}
second=ctrl-a; [[ $first == ctrl-a ]] && second=ctrl-b
say "first leader: $first"

start_bg activator "$activator_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
  --leader-election-namespace "$ns" --leader-election-id "$lease" \
  --bind-address "127.0.0.1:$proxy_port" --metrics-bind-address "127.0.0.1:$am_port" \
  --health-probe-bind-address 127.0.0.1:0

for fn in before after; do
  kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: $fn}
spec:
  image: zeroscale/fn-echo:dev
  scaling: {minReplicas: 0, maxReplicas: 2}
YAML
done
for fn in before after; do
  wait_for 30 "Function $fn Ready at zero" jp_is "function/$fn" '{.status.conditions[?(@.type=="Ready")].status}/{.status.desiredReplicas}' "True/0"
done
wait_for 20 "activator routes the Functions" bash -c "curl -s -o /dev/null -w '%{http_code}' -m 1 http://127.0.0.1:$proxy_port/fn/$ns/nope/ | grep -q 404"

wait_for 10 "load reports reach the first leader ($first)" cmetric_above "$first" zeroscale_controller_stats_reports_total 0
check "the follower ($second) ingests no reports" [ "$(cmetric "$second" zeroscale_controller_stats_reports_total)" -eq 0 ]
check "a request at zero answers 200 through the first leader" [ "$(call before)" = 200 ]
check "the first leader scaled it from zero" scaled_up "$first" before

say "killing the leader $first"
kill -KILL "${pid_of[$first]}"
killed_ms=$(date +%s%3N)
wait_for 20 "$second takes the Lease" bash -c "[[ \$($ZS_KUBECTL --kubeconfig $KUBECONFIG get lease $lease -n $ns -o jsonpath='{.spec.holderIdentity}' 2>/dev/null) == $second@* ]]"
lease_ms=$(($(date +%s%3N) - killed_ms))
wait_for 20 "load reports reach the new leader ($second)" cmetric_above "$second" zeroscale_controller_stats_reports_total 0
reports_ms=$(($(date +%s%3N) - killed_ms))
say "Lease taken over ${lease_ms} ms after the kill; first report at the new leader after ${reports_ms} ms"
check "reports follow the leader within 5 s of the Lease changing hands" [ $((reports_ms - lease_ms)) -le 5000 ]
check "a request at zero after the failover answers 200" [ "$(call after)" = 200 ]
check "the new leader scaled it from zero" scaled_up "$second" after
check "the activator rejected nothing" [ "$(metric_sum "127.0.0.1:$am_port" "zeroscale_rejected_requests_total{")" -eq 0 ]
finish
