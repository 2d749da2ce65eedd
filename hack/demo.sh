#!/usr/bin/env bash
# The README's demo: on a fresh machine, installs and builds what it needs,
# starts the local cluster and the node agent, runs controller and activator,
# applies examples/hello.yaml, calls it from zero, bursts it, waits for it to
# return to zero, lets a schedule wake another Function, then feeds a Redis
# stream to the stream-processor example (examples/stream) from zero, and
# prints what happened. Leaves the cluster running (hack/cluster-down.sh
# stops it); controller, activator, triggers and Redis stop with the demo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build_dir=${ZS_BUILD_DIR:-$root/build}
export ZS_BUILD_DIR=$build_dir
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "dependencies and build"
hack/install-deps.sh
hack/build-k8s.sh
# shellcheck source=hack/lib.sh
source hack/lib.sh
zs_cmake_configure "$build_dir"
ninja -C "$build_dir" zeroscale-controller zeroscale-activator zeroscale-triggers zs-node-agent fn-echo example-stream

step "local cluster"
hack/cluster-up.sh
hack/node-agent-up.sh --agent "$build_dir/hack/node-agent/zs-node-agent" --fn-echo "$build_dir/hack/fn-echo/fn-echo"
source hack/cluster-env.sh
k() { "$ZS_KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
k apply -f deploy/crds/ >/dev/null
k create namespace demo --dry-run=client -o yaml | k apply -f - >/dev/null

logs=$(mktemp -d /tmp/zeroscale-demo.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; echo; echo "logs: $logs"' EXIT
"$build_dir/controller/zeroscale-controller" --kubeconfig "$KUBECONFIG" --namespace demo \
  --metrics-bind-address 127.0.0.1:18080 --health-probe-bind-address 127.0.0.1:18081 \
  --grpc-bind-address 127.0.0.1:19090 --autoscaler-tick 1s --activator-url http://127.0.0.1:18000 \
  >"$logs/controller.log" 2>&1 &
pids+=($!)
"$build_dir/activator/zeroscale-activator" --kubeconfig "$KUBECONFIG" --namespace demo \
  --controller-address 127.0.0.1:19090 --bind-address 127.0.0.1:18000 \
  --metrics-bind-address 127.0.0.1:19091 --health-probe-bind-address 127.0.0.1:18082 \
  --billing-log "$logs/billing.jsonl" >"$logs/activator.log" 2>&1 &
pids+=($!)
"$build_dir/triggers/zeroscale-triggers" --kubeconfig "$KUBECONFIG" --namespace demo \
  --metrics-bind-address 127.0.0.1:19092 --health-probe-bind-address 127.0.0.1:18083 \
  --activator-url http://127.0.0.1:18000 >"$logs/triggers.log" 2>&1 &
pids+=($!)

step "apply examples/hello.yaml"
k apply -n demo -f examples/hello.yaml
until [[ $(k get fn hello -n demo -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]; do sleep 0.2; done
until curl -sf 127.0.0.1:18082/readyz >/dev/null; do sleep 0.2; done
k get fn -n demo

replicas() { k get deploy hello -n demo -o jsonpath='{.spec.replicas}/{.status.readyReplicas}' 2>/dev/null; }
watch_replicas() {
  while :; do printf '%s replicas(desired/ready)=%s\n' "$(date +%T)" "$(replicas)"; sleep 1; done >"$logs/replicas.log"
}
watch_replicas &
pids+=($!)

step "first call, from zero replicas"
curl -s -o /dev/null -w 'HTTP %{http_code} in %{time_total}s (cold start included)\n' \
  http://127.0.0.1:18000/fn/demo/hello/hello
curl -s -o /dev/null -w 'HTTP %{http_code} in %{time_total}s (warm)\n' http://127.0.0.1:18000/fn/demo/hello/hello

step "burst: 400 concurrent requests of 3 s each"
for ((i = 0; i < 200; i++)); do printf 'url = "http://127.0.0.1:18000/fn/demo/hello/burst?delay_ms=3000"\noutput = "/dev/null"\n'; done >"$logs/burst.cfg"
(curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max 300 -w '%{http_code}\n' -K "$logs/burst.cfg" >"$logs/burst1.codes") &
b1=$!
(curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max 300 -w '%{http_code}\n' -K "$logs/burst.cfg" >"$logs/burst2.codes") &
b2=$!
wait "$b1" "$b2"
echo "responses: $(cat "$logs"/burst*.codes | sort | uniq -c | tr '\n' ' ')"
echo "replicas over time:"; sed -n '1~2p' "$logs/replicas.log" | tail -n 12

step "idle: waiting for scale to zero (scaleToZeroAfterSeconds: 15)"
idle_start=$(date +%s)
until [[ $(k get deploy hello -n demo -o jsonpath='{.spec.replicas}') == 0 ]]; do sleep 0.5; done
echo "scaled to zero $(( $(date +%s) - idle_start ))s after the last request"
k get fn -n demo
k get events -n demo --field-selector involvedObject.kind=Function -o custom-columns=REASON:.reason,MESSAGE:.message | tail -n 8

step "billing and metrics"
curl -s 127.0.0.1:19091/metrics | grep -E '^zeroscale_(invocations_total|cold_starts_total|billable_gb_seconds_total|cold_start_wait_seconds_(sum|count)|rejected_requests_total)' || true
echo "billing lines: $(wc -l <"$logs/billing.jsonl"); the first:"
head -n 1 "$logs/billing.jsonl"

step "a schedule from zero: examples/scheduled.yaml fires every minute"
k apply -n demo -f examples/scheduled.yaml
echo "waiting for the next minute (up to 60 s) and the cold start"
until [[ $(k get fn backup -n demo -o jsonpath='{.status.triggers[0].succeeded}' 2>/dev/null) -ge 1 ]]; do sleep 0.5; done
k get fn backup -n demo -o jsonpath='{.status.triggers[0]}'; echo
echo "its billing line:"
grep '"client_request_id":"trigger-' "$logs/billing.jsonl" | head -n 1
curl -s 127.0.0.1:19092/metrics | grep -E '^zeroscale_trigger_(events_total|fire_delay_seconds_(sum|count))' || true

step "a broker from zero: examples/stream consumes a Redis stream"
# A Redis in the cluster's network namespace on the node IP: the Function's
# pod reaches it through its gateway, zeroscale-triggers through the host route.
redis=$ZS_ADVERTISE_IP:16379
ip netns exec "$ZS_NETNS" redis-server --bind "$ZS_ADVERTISE_IP" --port 16379 --save '' --appendonly no \
  --protected-mode no >"$logs/redis.log" 2>&1 &
pids+=($!)
rcli() { redis-cli -h "$ZS_ADVERTISE_IP" -p 16379 "$@"; }
until rcli ping >/dev/null 2>&1; do sleep 0.2; done
sed -e "s/redis\.default\.svc:6379/$redis/g" -e 's/scaleToZeroAfterSeconds: 30/scaleToZeroAfterSeconds: 15/' \
  examples/stream/function.yaml | k apply -n demo -f -
until [[ $(k get fn stream -n demo -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}/{.status.desiredReplicas}' 2>/dev/null) == True/0 ]]; do sleep 0.2; done
echo "at zero; adding 6 payments and one poison entry to the stream 'payments'"
for i in 1 2 3 4 5 6; do
  rcli XADD payments '*' account "$(if ((i % 2)); then echo alice; else echo bob; fi)" amount "$((i * 10))" >/dev/null
done
rcli XADD payments '*' account mallory amount lots >/dev/null
until [[ $(rcli XLEN payments.dead) == 1 && $(rcli HGET totals bob) == 120 ]]; do sleep 0.5; done
echo "running totals in Redis (alice 90, bob 120):"; rcli HGETALL totals | paste - -
echo "dead-lettered after 3 attempts:"; rcli XRANGE payments.dead - + | paste -sd' '
echo "its billing lines (one per entry, three for the poison one):"
grep '"client_request_id":"trigger-demo-stream-' "$logs/billing.jsonl" | jq -c '{client_request_id, code, cold_start, pod}'
echo "the Function returns to zero 15 s after the last entry: hack/kubectl.sh get fn -n demo"
