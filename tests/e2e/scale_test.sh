#!/usr/bin/env bash
# End to end on the local cluster (issues 5 and 6): controller and activator
# on the host, the function as containers of fn-echo's image on the real node.
#   - a Function at zero answers one request with 200; the cold start is
#     metered (cold_starts_total, cold_start_wait_seconds); hand-made
#     EndpointSlices carrying the Function's label are never dialled;
#   - idle, it returns to zero replicas after scaleToZeroAfterSeconds, not before;
#   - a burst of N concurrent requests from zero scales it beyond one replica,
#     every response is 200, and the metrics' totals equal the requests sent;
#   - after the burst it returns to zero scaleToZeroAfterSeconds after its
#     last request, not a panic window later (idle wins over panic);
#   - every invocation has a billing line, with a unique request_id, and
#     the activator counts the lines it wrote (none dropped);
#   - a real Prometheus scraped both all along (issue 7): promtool accepts
#     both expositions, its totals equal the requests sent, and every query
#     of the Grafana dashboard returns data (an invocation past
#     timeoutSeconds gives the rejected-requests panels theirs).
# Usage: scale_test.sh CONTROLLER ACTIVATOR [BURST]
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/prometheus.sh"
controller_bin=${1:?controller binary}
activator_bin=${2:?activator binary}
burst=${3:-500}
ns=zs-e2e-$$
idle_seconds=8
timeout_seconds=8  # above the burst's 4 s requests
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl create namespace "$ns" >/dev/null
trap 'end_bg; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT

grpc_port=$(free_port); cm_port=$(free_port); proxy_port=$(free_port); am_port=$(free_port)

# Hand-made EndpointSlices with the Function's label, pointing at a trap,
# there before the activator lists slices: only the slices Kubernetes makes
# for the Function's own Service are trusted, so the trap must never be
# dialled (one has no managed-by label, one forges it for another Service).
# The apiserver refuses loopback addresses in a slice: the trap listens on
# the host's end of this cluster's own veth.
trap_port=$(free_port)
start_bg trap socat "TCP-LISTEN:$trap_port,bind=$ZS_HOST_LINK_IP,reuseaddr,fork" "SYSTEM:echo hit >>$ZS_TEST_TMP/trap.hits"
kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-hand-made
  labels: {zeroscale.dev/function: echo, kubernetes.io/service-name: echo}
addressType: IPv4
ports: [{name: http, port: $trap_port, protocol: TCP}]
endpoints: [{addresses: ["$ZS_HOST_LINK_IP"], conditions: {ready: true}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: other-forged
  labels:
    zeroscale.dev/function: echo
    kubernetes.io/service-name: other
    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io
addressType: IPv4
ports: [{name: http, port: $trap_port, protocol: TCP}]
endpoints: [{addresses: ["$ZS_HOST_LINK_IP"], conditions: {ready: true}}]
YAML
start_bg controller "$controller_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
  --metrics-bind-address "127.0.0.1:$cm_port" --health-probe-bind-address 127.0.0.1:0 \
  --grpc-bind-address "127.0.0.1:$grpc_port" --autoscaler-tick 1s \
  --activator-url "http://127.0.0.1:$proxy_port"
start_bg activator "$activator_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
  --controller-address "127.0.0.1:$grpc_port" --bind-address "127.0.0.1:$proxy_port" \
  --metrics-bind-address "127.0.0.1:$am_port" --health-probe-bind-address 127.0.0.1:0 \
  --billing-log "$ZS_TEST_TMP/billing.jsonl"

prom_start "127.0.0.1:$cm_port" "127.0.0.1:$am_port"
wait_for 20 "Prometheus scrapes controller and activator" prom_targets_up

kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: echo}
spec:
  image: zeroscale/fn-echo:dev
  resources: {requests: {memory: 128Mi}}
  timeoutSeconds: $timeout_seconds
  scaling: {minReplicas: 0, maxReplicas: 4, targetConcurrency: 10, scaleToZeroAfterSeconds: $idle_seconds}
  buffer: {maxRequests: 1000, timeoutSeconds: 60}
YAML
jp() { kubectl get "$1" -n "$ns" -o "jsonpath=$2" 2>/dev/null; }
jp_is() { [[ $(jp "$1" "$2") == "$3" ]]; }
metric() {  # metric NAME_WITH_LABELS_PREFIX -> sum of matching samples
  metric_sum "127.0.0.1:$am_port" "$1"
}
url="http://127.0.0.1:$proxy_port/fn/$ns/echo"

wait_for 30 "Function created at zero and Ready" jp_is function/echo '{.status.conditions[?(@.type=="Ready")].status}/{.spec.scaling.minReplicas}/{.status.desiredReplicas}' "True/0/0"
wait_for 20 "activator routes the Function" bash -c "curl -s -o /dev/null -w '%{http_code}' -m 1 http://127.0.0.1:$proxy_port/fn/$ns/nope/ | grep -q 404"

say "first request at zero"
start_ms=$(date +%s%3N)
code=$(curl -s -o "$ZS_TEST_TMP/first.out" -w '%{http_code}' -m 60 "$url/hello?x=1")
cold_ms=$(($(date +%s%3N) - start_ms))
check "first request from zero answers 200 (${cold_ms} ms)" [ "$code" = 200 ]
check "the function saw the path" grep -q '"path":"/hello"' "$ZS_TEST_TMP/first.out"
check "hand-made EndpointSlices were never dialled" [ ! -e "$ZS_TEST_TMP/trap.hits" ]
check "one cold start counted" [ "$(metric 'zeroscale_cold_starts_total{')" -ge 1 ]
check "cold-start wait recorded" [ "$(metric 'zeroscale_cold_start_wait_seconds_count{')" -ge 1 ]
# The idle time counts from the request's arrival (DESIGN: "no request arrived
# for scaleToZeroAfterSeconds"), which is after it was sent: the lower bound
# below is measured from the send. (Measured from after the checks above, a
# cold start as fast as ~60 ms let a correct scale-down look 30 ms early.)
last_request_ms=$start_ms

wait_for $((idle_seconds + 30)) "idle Function returns to zero replicas" jp_is deployment/echo '{.spec.replicas}' 0
zero_after_ms=$(($(date +%s%3N) - last_request_ms))
check "not scaled to zero before scaleToZeroAfterSeconds (${zero_after_ms} ms)" [ "$zero_after_ms" -ge $((idle_seconds * 1000)) ]
wait_for 60 "pods gone" bash -c "[[ -z \$($ZS_KUBECTL --kubeconfig $KUBECONFIG get pods -n $ns -o name) ]]"

say "burst of $burst concurrent requests from zero"
before=$(metric 'zeroscale_invocations_total{')
# curl caps --parallel-max at 300: two clients of half the burst each.
half=$((burst / 2))
for part in 1 2; do
  n=$half; ((part == 2)) && n=$((burst - half))
  for ((i = 0; i < n; i++)); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url/burst?delay_ms=4000"; done >"$ZS_TEST_TMP/burst$part.cfg"
done
(
  max=0
  while [[ ! -f $ZS_TEST_TMP/burst.done ]]; do
    r=$(jp deployment/echo '{.spec.replicas}'); r=${r:-0}
    ((r > max)) && max=$r && echo "$max" >"$ZS_TEST_TMP/max_replicas"
    sleep 0.2
  done
) &
watcher=$!
clients=()
burst_start_ms=$(date +%s%3N)
for part in 1 2; do
  curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max 300 -m 120 -w '%{http_code}\n' \
    -K "$ZS_TEST_TMP/burst$part.cfg" >"$ZS_TEST_TMP/burst$part.codes" &
  clients+=($!)
done
wait "${clients[@]}" || true
cat "$ZS_TEST_TMP/burst1.codes" "$ZS_TEST_TMP/burst2.codes" >"$ZS_TEST_TMP/burst.codes"
touch "$ZS_TEST_TMP/burst.done"; wait "$watcher"
ok=$(grep -c '^200$' "$ZS_TEST_TMP/burst.codes" || true)
total=$(wc -l <"$ZS_TEST_TMP/burst.codes")
max_replicas=$(cat "$ZS_TEST_TMP/max_replicas" 2>/dev/null || echo 0)
say "burst: $ok of $total answered 200; codes: $(sort "$ZS_TEST_TMP/burst.codes" | uniq -c | tr '\n' ' ')"
check "every burst request answered" [ "$total" -eq "$burst" ]
check "every burst response is 200" [ "$ok" -eq "$burst" ]
check "the burst scaled beyond one replica (max $max_replicas)" [ "$max_replicas" -gt 1 ]
# Idle means idle: the burst's last request arrived after it was sent, so
# zero comes at least scaleToZeroAfterSeconds after the burst started; and
# no panic window later (panic used to hold the replicas for 60 s).
wait_for $((idle_seconds + 60)) "after the burst, back to zero replicas" jp_is deployment/echo '{.spec.replicas}' 0
zero_after_burst_ms=$(($(date +%s%3N) - burst_start_ms))
check "back to zero after the burst no sooner than scaleToZeroAfterSeconds (${zero_after_burst_ms} ms)" [ "$zero_after_burst_ms" -ge $((idle_seconds * 1000)) ]
check "back to zero after the burst within scaleToZeroAfterSeconds + 10 s, not a panic window (${zero_after_burst_ms} ms)" [ "$zero_after_burst_ms" -le $(((idle_seconds + 10) * 1000)) ]
wait_for 10 "invocation counter settles" bash -c "(( \$(curl -sf 127.0.0.1:$am_port/metrics | awk 'index(\$0, \"zeroscale_invocations_total{\") == 1 {s += \$NF} END {printf \"%d\", s}') == $before + $burst ))"
after=$(metric 'zeroscale_invocations_total{')
check "invocations_total grew by exactly the burst ($before -> $after)" [ $((after - before)) -eq "$burst" ]
check "nothing rejected" [ "$(metric 'zeroscale_rejected_requests_total{')" -eq 0 ]
lines=$(wc -l <"$ZS_TEST_TMP/billing.jsonl")
check "one billing line per invocation ($lines)" [ "$lines" -eq $((burst + 1)) ]
check "billing request ids are unique" [ "$(jq -r .request_id "$ZS_TEST_TMP/billing.jsonl" | sort | uniq -d | wc -l)" -eq 0 ]
wait_for 5 "billing lines written are counted ($lines)" bash -c "(( \$(curl -sf 127.0.0.1:$am_port/metrics | awk 'index(\$0, \"zeroscale_billing_lines_written_total \") == 1 {printf \"%d\", \$NF}') == $lines ))"
check "no billing line dropped" [ "$(metric 'zeroscale_billing_lines_dropped_total{')" -eq 0 ]
check "billable GB-seconds counted" awk "BEGIN{exit !($(curl -sf 127.0.0.1:$am_port/metrics | awk 'index($0, "zeroscale_billable_gb_seconds_total{") == 1 {s += $NF} END {print s+0}') > 0)}"

say "one invocation past timeoutSeconds"
code=$(curl -s -o /dev/null -w '%{http_code}' -m 60 "$url/slow?delay_ms=$(((timeout_seconds + 2) * 1000))")
check "past timeoutSeconds the client gets 504" [ "$code" = 504 ]
sent=$((burst + 2))
q_total="sum(zeroscale_invocations_total{namespace=\"$ns\"})"
q_timeout="sum(zeroscale_rejected_requests_total{namespace=\"$ns\",reason=\"exec_timeout\"})"
wait_for 20 "Prometheus counts every invocation sent ($sent)" bash -c "[[ \$(curl -sfG $PROM_URL/api/v1/query --data-urlencode 'query=$q_total' | jq -r '.data.result[0].value[1]') == $sent ]]"
wait_for 20 "Prometheus counts the exec timeout" bash -c "[[ \$(curl -sfG $PROM_URL/api/v1/query --data-urlencode 'query=$q_timeout' | jq -r '.data.result[0].value[1]') == 1 ]]"
check "Prometheus: cold starts counted" [ "$(prom_instant "sum(zeroscale_cold_starts_total{namespace=\"$ns\"})")" -ge 2 ]
prom_check_exposition "http://127.0.0.1:$cm_port/metrics" "http://127.0.0.1:$am_port/metrics"
check "Prometheus: zeroscale_build_info from the controller and the activator" \
  [ "$(prom_instant 'count(count by (component) (zeroscale_build_info{component=~"controller|activator",version!="unknown"} == 1))')" = 2 ]
check "Prometheus: resident memory and open fds of both components" \
  [ "$(prom_instant 'count(process_resident_memory_bytes > 1e6 and on(instance) process_open_fds > 3)')" -ge 2 ]
prom_check_dashboard "$ns"
say "cold start ${cold_ms} ms; max replicas under the burst ${max_replicas}"
finish
