#!/usr/bin/env bash
# Leader safety when the leader's apiserver connection stalls (issue 11):
#   controller A reaches the apiserver through a TCP proxy, standby B directly;
#   a Function changes all the time, so the leader always has writes to make;
#   the proxy stops forwarding (every connection of A hangs, nothing fails);
#   A must stop acting (exit 1, "lost leadership") at its renew deadline,
#   before B can take the Lease (lease 4 s > renew deadline 3 s); then the
#   partition ends: connections held by the proxy are reset (what a partition
#   that outlasts them does) and new ones work again.
# The apiserver's audit log (hack/cluster-up.sh) must show no write of A that
# landed (2xx) after B's first write. Replicas are told apart by their
# User-Agent, which carries the leader-election identity.
# Usage: leader_stall_test.sh CONTROLLER_BINARY
source "$(dirname "$0")/lib.sh"
controller_bin=${1:-$ZS_BUILD_DIR/controller/zeroscale-controller}
ns=zs-stall-$$
audit_log=$ZS_LOG_DIR/audit.log
if [[ ! -f $audit_log ]]; then
  fail "no audit log at $audit_log: the cluster predates its audit policy; restart it (hack/cluster-down.sh, hack/cluster-up.sh)"
  finish
fi
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl create namespace "$ns" >/dev/null

# The proxy: socat, one child per connection. Stalling stops every process of
# it (bytes stay in the kernel's buffers, connections stay open); ending the
# stall kills them (held connections are reset, their bytes never forwarded)
# and starts a fresh listener on the same port.
proxy_port=$(free_port)
proxy_pid=
start_proxy() {
  socat "TCP-LISTEN:$proxy_port,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$ZS_APISERVER_PORT" \
    >>"$ZS_TEST_TMP/proxy.log" 2>&1 &
  proxy_pid=$!
}
proxy_pids() {
  [[ -n $proxy_pid ]] || return 0
  echo "$proxy_pid"
  pgrep -P "$proxy_pid" || true
}
stall_proxy() {
  local pid
  for pid in $(proxy_pids); do kill -STOP "$pid" 2>/dev/null || true; done
}
stop_proxy() {
  local pid
  for pid in $(proxy_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  if [[ -n $proxy_pid ]]; then wait "$proxy_pid" 2>/dev/null || true; fi
  proxy_pid=
}
churn_pid=
cleanup() {
  if [[ -n $churn_pid ]]; then kill "$churn_pid" 2>/dev/null || true; fi
  stop_proxy
  end_bg
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

start_proxy
proxy_kubeconfig=$ZS_TEST_TMP/proxy.kubeconfig
sed "s#^\( *server:\).*#\1 https://127.0.0.1:$proxy_port#" "$KUBECONFIG" >"$proxy_kubeconfig"
wait_for 10 "the proxy forwards" "$ZS_KUBECTL" --kubeconfig "$proxy_kubeconfig" get --raw /readyz

declare -A pid_of
start_controller() {
  local id=$1 kubeconfig=$2
  start_bg "controller-$id" "$controller_bin" --kubeconfig "$kubeconfig" --namespace "$ns" \
    --leader-elect --leader-election-namespace "$ns" --leader-election-id zs-stall \
    --leader-elect-lease-duration 4s --leader-elect-renew-deadline 3s --leader-elect-retry-period 500ms \
    --identity "$id" --metrics-bind-address 0 --health-probe-bind-address 127.0.0.1:0 \
    --grpc-bind-address "127.0.0.1:$(free_port)" --activator-url http://activator.test
  pid_of[$id]=$LAST_PID
}
holder_is() { [[ $(kubectl get lease zs-stall -n "$ns" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null) == "$1@"* ]]; }
# Epoch milliseconds of an RFC 3339 time.
ms_of() { date -d "$1" +%s%3N; }
# audit FILTER [jq args...]: jq over the audit log, skipping a line still
# being written.
audit() {
  local filter=$1
  shift
  jq -R -r "$@" "fromjson? | $filter" "$audit_log"
}
# writes_of ID FIELD: FIELD of every write by controller ID in the test's
# namespace that landed (2xx); with NOLEASE=1, Lease writes left out.
writes_of() {
  audit "select((.userAgent // \"\") | contains(\$ua)) | select(.objectRef.namespace == \$ns)
    | select(.responseStatus.code < 300) | select(\$nolease == \"\" or .objectRef.resource != \"leases\")
    | .$2" --arg ua "($1@" --arg ns "$ns" --arg nolease "${NOLEASE:-}"
}

a=stall-a-$$
b=stall-b-$$
start_controller "$a" "$proxy_kubeconfig"
wait_for 30 "A ($a) leads" holder_is "$a"
start_controller "$b" "$KUBECONFIG"
wait_for 10 "B has seen A's Lease" grep -q "\"identity\":\"$a@" "$ZS_TEST_TMP/controller-$b.log"

kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: churn}
spec:
  image: zeroscale/fn-echo:dev
  scaling: {minReplicas: 0, maxReplicas: 2}
YAML
wait_for 30 "A creates the Deployment" kubectl get deployment churn -n "$ns"
# A new generation every ~200 ms: a reconcile with writes (Deployment and
# status) for whoever leads. A load generator, not a wait.
(
  i=0
  while :; do
    i=$((i + 1))
    kubectl patch function churn -n "$ns" --type merge \
      -p "{\"spec\":{\"env\":[{\"name\":\"CHURN\",\"value\":\"$i\"}]}}" >/dev/null 2>&1 || true
    sleep 0.2
  done
) &
churn_pid=$!
a_reconciled() { (($(NOLEASE=1 writes_of "$a" verb | wc -l) > 2)); }
wait_for 20 "A's reconcile writes reach the audit log" a_reconciled

say "stalling A's connection"
stall_at=$(date +%s%3N)
stall_proxy
wait_for 15 "B takes the Lease" holder_is "$b"
b_acquired_ms=$(ms_of "$(kubectl get lease zs-stall -n "$ns" -o jsonpath='{.spec.acquireTime}')")
# A must already have stopped, its connection still stalled.
a_exit=0
if kill -0 "${pid_of[$a]}" 2>/dev/null; then
  fail "A still runs when B has taken the Lease"
else
  wait "${pid_of[$a]}" || a_exit=$?
fi
check "A exited 1 on losing leadership (exit code $a_exit)" [ "$a_exit" = 1 ]
a_lost_ts=$(jq -R -r 'fromjson? | select(.msg == "leader election: lost leadership") | .ts' \
  "$ZS_TEST_TMP/controller-$a.log" | head -1)
check "A logged the lost leadership" [ -n "$a_lost_ts" ]
a_lost_ms=$(ms_of "${a_lost_ts:-1970-01-01T00:00:00Z}")
say "after the stall: A stopped at +$((a_lost_ms - stall_at)) ms, B acquired the Lease at +$((b_acquired_ms - stall_at)) ms"
check "A stopped acting before B took the Lease" [ "$a_lost_ms" -lt "$b_acquired_ms" ]

say "ending the stall"
stop_proxy
start_proxy
resumed_at=$(date +%s%3N)
wait_for 10 "the proxy forwards again" "$ZS_KUBECTL" --kubeconfig "$proxy_kubeconfig" get --raw /readyz
# B goes on writing after the partition ended: wait for two of its writes
# received after that moment, so that anything of A's had its chance to land.
b_wrote_after_resume() {
  local count=0 ts
  while read -r ts; do
    if (($(ms_of "$ts") > resumed_at)); then count=$((count + 1)); fi
  done < <(NOLEASE=1 writes_of "$b" requestReceivedTimestamp)
  ((count >= 2))
}
wait_for 30 "B's writes land after the stall ended" b_wrote_after_resume
kill "$churn_pid" 2>/dev/null || true
churn_pid=

b_first=$(writes_of "$b" requestReceivedTimestamp | sort | head -1)
a_last=$(writes_of "$a" stageTimestamp | sort | tail -1)
say "audit: A's last landed write $a_last ($(writes_of "$a" verb | wc -l) in all), B's first write $b_first"
# MicroTime strings of one format compare as times.
before() { [[ -n $1 && -n $2 && $1 < $2 ]]; }
check "no write of A landed after B's first write" before "$a_last" "$b_first"
finish
