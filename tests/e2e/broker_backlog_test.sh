#!/usr/bin/env bash
# A broker backlog is demand (issue 12), end to end on the local cluster:
#   1. 1,000 entries wait in a Redis stream for a Function at zero whose
#      trigger cannot reach the activator yet (zeroscale-triggers sends to a
#      closed port; its failed attempts are retried with a 1-2 s backoff,
#      far from maxAttempts): no request arrives anywhere, yet the backlog
#      the trigger reports (lag = undelivered + pending) scales the Function
#      from zero to maxReplicas, and TriggersReady is True;
#   2. that zeroscale-triggers SIGKILLed and another started with the
#      activator's address: every entry is delivered (the ones the first held
#      are claimed after the ack wait) although the controller is SIGKILLed
#      and restarted mid-stream, 1,000 distinct entries billed with 200, the
#      backlog reaches 0, and the Function returns to zero;
#   3. redis-server stopped: TriggersReady=False with the reason and the
#      broker's address on the Function; started again: True;
#   4. a real Prometheus scraped controller, activator and both
#      zeroscale-triggers processes all along: the dashboard's Triggers row
#      returns data, and its success count adds up to the 1,001 entries sent.
# Usage: broker_backlog_test.sh TRIGGERS CONTROLLER ACTIVATOR
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/prometheus.sh"
triggers_bin=${1:?triggers binary}
controller_bin=${2:?controller binary}
activator_bin=${3:?activator binary}
ns=zs-backlog-$$
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl create namespace "$ns" >/dev/null
trap 'end_bg; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT

redis_port=$(free_port)
start_redis() {
  start_bg redis redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --dir "$ZS_TEST_TMP"
  redis_pid=$LAST_PID
}
start_redis
rcli() { redis-cli -p "$redis_port" "$@"; }
wait_for 10 "redis-server answers" rcli ping

start_zeroscale "$ns" "$controller_bin" "$activator_bin"
tm_blind=$(free_port)
tm_real=$(free_port)
prom_start "127.0.0.1:$cm_port" "127.0.0.1:$am_port" "127.0.0.1:$tm_blind" "127.0.0.1:$tm_real"
wait_for 20 "Prometheus scrapes controller and activator" prom_targets_up 2
kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: stream}
spec:
  image: zeroscale/fn-echo:dev
  resources: {requests: {memory: 64Mi}}
  timeoutSeconds: 5
  scaling: {minReplicas: 0, maxReplicas: 3, targetConcurrency: 10, scaleToZeroAfterSeconds: 5}
  buffer: {timeoutSeconds: 5}
  triggers:
  - name: orders
    redis: {address: "127.0.0.1:$redis_port", stream: orders}
    delivery: {maxInFlight: 40, maxAttempts: 100, backoffSeconds: 1, maxBackoffSeconds: 2}
YAML
jp() { kubectl get "$1" -n "$ns" -o "jsonpath=$2" 2>/dev/null; }
jp_is() { [[ $(jp "$1" "$2") == "$3" ]]; }
triggers_ready() { jp function/stream '{.status.conditions[?(@.type=="TriggersReady")].status}/{.status.conditions[?(@.type=="TriggersReady")].reason}'; }
triggers_ready_is() { [[ $(triggers_ready) == "$1" ]]; }
wait_for 30 "the Function is at zero" jp_is function/stream '{.status.conditions[?(@.type=="Ready")].reason}' ScaledToZero
wait_for 20 "the activator routes" bash -c "curl -s -o /dev/null -w '%{http_code}' -m 1 http://127.0.0.1:$proxy_port/fn/$ns/nope/ | grep -q 404"

# --- 1. the backlog alone scales out ---------------------------------------------------
closed_port=$(free_port)
start_triggers() {  # start_triggers NAME ACTIVATOR_URL METRICS_PORT
  tm_port=$3
  start_bg "triggers-$1" "$triggers_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
    --metrics-bind-address "127.0.0.1:$tm_port" --health-probe-bind-address 127.0.0.1:0 \
    --activator-url "$2" --broker-status-interval 500ms --broker-ack-wait-margin 1s --leader-elect=false
  triggers_pid=$LAST_PID
}
start_triggers blind "http://127.0.0.1:$closed_port" "$tm_blind"
wait_for 30 "TriggersReady=True once the consumer is connected" triggers_ready_is True/Connected
seq 1 1000 | awk '{print "XADD orders * body order-" $1}' | rcli >/dev/null
pushed_ms=$(date +%s%3N)
wait_for 30 "the backlog reaches the Function's status" bash -c "(( \$($ZS_KUBECTL --kubeconfig $KUBECONFIG get function/stream -n $ns -o jsonpath='{.status.triggers[0].pending}' 2>/dev/null || echo 0) >= 900 ))"
wait_for 30 "the backlog alone scales the Function from zero to maxReplicas (3)" \
  jp_is deployment/stream '{.spec.replicas}' 3
say "0 -> 3 replicas $(($(date +%s%3N) - pushed_ms)) ms after 1,000 entries were pushed"
invoked=$(curl -sf "127.0.0.1:$am_port/metrics" | grep '^zeroscale_invocations_total{' | grep -c 'function="stream"' || true)
check "no request for the Function reached the activator meanwhile ($invoked series)" [ "$invoked" = 0 ]
dead=$(rcli XLEN orders.dead)
check "nothing was dead-lettered by the failed attempts (${dead:-0})" [ "${dead:-0}" = 0 ]
wait_for 60 "three replicas ready" jp_is deployment/stream '{.status.readyReplicas}' 3

# --- 2. delivered, billed, back to zero --------------------------------------------------
kill -KILL "$triggers_pid"
wait "$triggers_pid" 2>/dev/null || true
start_triggers real "http://127.0.0.1:$proxy_port" "$tm_real"
billed() { jq -r 'select(.function == "stream" and .code == 200) | .client_request_id' "$billing" 2>/dev/null | sort -u | wc -l; }
billed_at_least() { (($(billed) >= $1)); }
wait_for 60 "a third of the entries billed" billed_at_least 300
say "SIGKILL of the controller after $(billed) entries; started again at once"
kill -KILL "$controller_pid"
wait "$controller_pid" 2>/dev/null || true
start_zeroscale_controller controller-2
wait_for 120 "all 1,000 entries answered 200 and billed" billed_at_least 1000
check "exactly 1,000 distinct entries billed ($(billed))" [ "$(billed)" = 1000 ]
check "every billing line of the stream is marked by the trigger" \
  bash -c "[[ \$(jq -r 'select(.function == \"stream\") | .trigger' $billing | sort -u) == orders ]]"
wait_for 30 "the backlog is 0 in status" jp_is function/stream '{.status.triggers[0].pending}' 0
wait_for 60 "the Function returns to zero" jp_is deployment/stream '{.spec.replicas}' 0

# --- 3. the broker down and back ----------------------------------------------------------
kill -TERM "$redis_pid"
wait "$redis_pid" 2>/dev/null || true
wait_for 30 "TriggersReady=False BrokerUnavailable with the broker stopped" triggers_ready_is False/BrokerUnavailable
message=$(jp function/stream '{.status.conditions[?(@.type=="TriggersReady")].message}')
check "the message names the trigger and the broker ($message)" \
  bash -c "[[ \"\$1\" == *orders* && \"\$1\" == *127.0.0.1:$redis_port* ]]" _ "$message"
row=$(kubectl get function stream -n "$ns" -o wide --no-headers)
say "kubectl get fn -o wide: $row"
check "the triggers process is still running" kill -0 "$triggers_pid"
start_redis
wait_for 10 "redis-server answers again" rcli ping
wait_for 60 "TriggersReady=True again" triggers_ready_is True/Connected
rcli XADD orders '*' body after-restart >/dev/null
wait_for 60 "a new entry is delivered after the broker came back" billed_at_least 1001
check "exactly one more entry billed ($(billed))" [ "$(billed)" = 1001 ]

# --- 4. the dashboard's Triggers row from a real Prometheus ---------------------------------
successes() { prom_instant "sum(zeroscale_trigger_events_total{namespace=\"$ns\",trigger=\"orders\",result=\"success\"})"; }
successes_are() { [[ $(successes) == "$1" ]]; }
wait_for 20 "Prometheus counts 1,001 successes of the trigger" successes_are 1001
prom_check_dashboard "$ns" '^(Trigger|Broker)' 'fire_delay'
finish
