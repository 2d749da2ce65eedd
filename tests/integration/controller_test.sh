#!/usr/bin/env bash
# The controller against the real local cluster (issue 4):
#   create a Function -> Deployment, Service, pods on the node agent, Ready status;
#   a reconcile of an unchanged Function writes nothing;
#   change the image -> the Deployment rolls;
#   restart kube-apiserver under the controller's watches -> a later change is reconciled;
#   two controllers -> exactly one leads; killing it hands over within the lease duration;
#   SIGTERM to the leader -> it releases the Lease and exits 0, the standby leads within 1 s;
#   delete the Function -> its children are garbage-collected.
# Usage: controller_test.sh CONTROLLER_BINARY
source "$(dirname "$0")/lib.sh"
controller_bin=${1:-$ZS_BUILD_DIR/controller/zeroscale-controller}
ns=zs-ctrl-$$
lease_duration=4
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl create namespace "$ns" >/dev/null
trap 'end_bg; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT

declare -A metrics_port pid_of
start_controller() {
  local id=$1
  metrics_port[$id]=$(free_port)
  start_bg "controller-$id" "$controller_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
    --leader-elect --leader-election-namespace "$ns" --leader-election-id zs-test \
    --leader-elect-lease-duration "${lease_duration}s" --leader-elect-renew-deadline 3s \
    --leader-elect-retry-period 500ms --identity "$id" \
    --metrics-bind-address "127.0.0.1:${metrics_port[$id]}" --health-probe-bind-address 127.0.0.1:0 \
    --grpc-bind-address "127.0.0.1:$(free_port)" --activator-url http://activator.test
  pid_of[$id]=$LAST_PID
}
holder() { kubectl get lease zs-test -n "$ns" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
has_holder() { [[ -n $(holder) ]]; }
leader_gauge() { curl -sf "127.0.0.1:${metrics_port[$1]}/metrics" | awk '/^zeroscale_controller_leader /{print $2}'; }
success_count() {
  curl -sf "127.0.0.1:${metrics_port[$1]}/metrics" |
    awk '/^zeroscale_controller_reconcile_total\{result="success"\}/{print $2}'
}
jp() { kubectl get "$1" -n "$ns" -o "jsonpath=$2" 2>/dev/null; }
jp_is() { [[ $(jp "$1" "$2") == "$3" ]]; }

start_controller ctrl-a
start_controller ctrl-b
wait_for 30 "a leader is elected" has_holder
leader=$(holder); leader=${leader%@*}
other=ctrl-a; [[ $leader == ctrl-a ]] && other=ctrl-b
wait_for 10 "the leader reports leader=1" bash -c "[[ \$(curl -sf 127.0.0.1:${metrics_port[$leader]}/metrics | awk '/^zeroscale_controller_leader /{print \$2}') == 1 ]]"
# The follower may still be binding its metrics port: wait until it answers,
# then its gauge must say it does not lead.
wait_for 10 "the follower serves /metrics" bash -c "[[ -n \$(curl -sf 127.0.0.1:${metrics_port[$other]}/metrics | awk '/^zeroscale_controller_leader /{print \$2}') ]]"
check "exactly one controller leads ($leader)" [ "$(leader_gauge "$other")" = 0 ]

kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: hello}
spec:
  image: zeroscale/fn-echo:dev
  scaling: {minReplicas: 1, maxReplicas: 2}
YAML
wait_for 30 "Deployment created" kubectl get deployment hello -n "$ns"
wait_for 30 "Service created" kubectl get service hello -n "$ns"
check "Deployment is owned by the Function" jp_is deployment/hello '{.metadata.ownerReferences[0].kind}' Function
wait_for 90 "Function Ready with a running pod" jp_is function/hello '{.status.readyReplicas}/{.status.conditions[?(@.type=="Ready")].status}' "1/True"
check "status.url" jp_is function/hello '{.status.url}' "http://activator.test/fn/$ns/hello/"

# An unchanged Function reconciles without writes: touch an annotation (a new
# event for the controller), wait for the reconcile to be counted, then
# compare resourceVersions.
before_deploy=$(jp deployment/hello '{.metadata.resourceVersion}')
before_svc=$(jp service/hello '{.metadata.resourceVersion}')
count=$(success_count "$leader")
kubectl annotate function hello -n "$ns" test/touch=1 >/dev/null
wait_for 20 "the touched Function is reconciled" bash -c "(( \$(curl -sf 127.0.0.1:${metrics_port[$leader]}/metrics | awk '/^zeroscale_controller_reconcile_total\\{result=\"success\"\\}/{print \$2}') > $count ))"
check "no write to the Deployment on an unchanged reconcile" jp_is deployment/hello '{.metadata.resourceVersion}' "$before_deploy"
check "no write to the Service on an unchanged reconcile" jp_is service/hello '{.metadata.resourceVersion}' "$before_svc"

kubectl patch function hello -n "$ns" --type merge -p '{"spec":{"image":"zeroscale/fn-echo:v2"}}' >/dev/null
wait_for 30 "image change rolls the Deployment" jp_is deployment/hello '{.spec.template.spec.containers[0].image}' zeroscale/fn-echo:v2
wait_for 90 "the rollout completes" jp_is deployment/hello '{.status.updatedReplicas}/{.status.readyReplicas}' "1/1"

say "restarting kube-apiserver"
restart_component kube-apiserver
wait_for 60 "apiserver ready again" kubectl get --raw /readyz
kubectl patch function hello -n "$ns" --type merge -p '{"spec":{"env":[{"name":"AFTER_RESTART","value":"yes"}]}}' >/dev/null
wait_for 60 "a change after the apiserver restart is reconciled" jp_is deployment/hello '{.spec.template.spec.containers[0].env[0].name}' AFTER_RESTART

# A leader that could not renew during the outage exits (as
# controller-runtime's do) and its Deployment would restart it; do that here.
for id in ctrl-a ctrl-b; do
  if ! kill -0 "${pid_of[$id]}" 2>/dev/null; then
    say "$id exited during the outage; starting it again"
    start_controller "$id"
  fi
done
wait_for 30 "a leader after the outage" has_holder
leader=$(holder); leader=${leader%@*}
other=ctrl-a; [[ $leader == ctrl-a ]] && other=ctrl-b
wait_for 10 "the standby $other is up" curl -sf "127.0.0.1:${metrics_port[$other]}/metrics"
say "killing the leader $leader"
kill -KILL "${pid_of[$leader]}"
killed_at=$(date +%s%3N)
wait_for $((lease_duration * 3)) "the other controller takes the lease" bash -c "[[ \$($ZS_KUBECTL --kubeconfig $KUBECONFIG get lease zs-test -n $ns -o jsonpath='{.spec.holderIdentity}') == $other@* ]]"
handover_ms=$(($(date +%s%3N) - killed_at))
check "handover within the lease duration plus one retry (${handover_ms} ms)" [ "$handover_ms" -le $((lease_duration * 1000 + 1500)) ]
kubectl patch function hello -n "$ns" --type merge -p '{"spec":{"timeoutSeconds":12}}' >/dev/null
wait_for 30 "the new leader reconciles" jp_is deployment/hello '{.spec.template.spec.terminationGracePeriodSeconds}' 22

# SIGTERM (a rolling upgrade, a drained node): the leader stops writing,
# releases the Lease and exits 0; the standby takes over within a second. The
# takeover time is the Lease's acquireTime (written by the standby on this
# machine's clock) minus the moment the signal was sent.
standby=$leader
leader=$other
say "starting $standby again as the standby"
start_controller "$standby"
wait_for 10 "the standby $standby has seen the Lease" grep -q "\"identity\":\"$leader@" "$ZS_TEST_TMP/controller-$standby.log"
say "SIGTERM to the leader $leader"
sigterm_at=$(date +%s%3N)
kill -TERM "${pid_of[$leader]}"
exit_code=0
wait "${pid_of[$leader]}" || exit_code=$?
check "the leader exits 0 on SIGTERM (exit code $exit_code)" [ "$exit_code" = 0 ]
check "the leader released the Lease" grep -q '"leader election: released lease"' "$ZS_TEST_TMP/controller-$leader.log"
wait_for 5 "the standby $standby takes the Lease" bash -c "[[ \$($ZS_KUBECTL --kubeconfig $KUBECONFIG get lease zs-test -n $ns -o jsonpath='{.spec.holderIdentity}') == $standby@* ]]"
acquired=$(jp lease/zs-test '{.spec.acquireTime}')
takeover_ms=$(($(date -d "$acquired" +%s%3N) - sigterm_at))
say "takeover after SIGTERM: ${takeover_ms} ms (the standby watches the Lease; its retry period is 500 ms)"
check "the standby holds the Lease within 1 s of the SIGTERM (${takeover_ms} ms)" [ "$takeover_ms" -lt 1000 ]
kubectl patch function hello -n "$ns" --type merge -p '{"spec":{"timeoutSeconds":13}}' >/dev/null
wait_for 30 "the standby reconciles after the handover" jp_is deployment/hello '{.spec.template.spec.terminationGracePeriodSeconds}' 23

kubectl delete function hello -n "$ns" --wait=false >/dev/null
wait_for 60 "Deployment garbage-collected" bash -c "! $ZS_KUBECTL --kubeconfig $KUBECONFIG get deployment hello -n $ns"
wait_for 60 "Service garbage-collected" bash -c "! $ZS_KUBECTL --kubeconfig $KUBECONFIG get service hello -n $ns"
finish
