#!/usr/bin/env bash
# End to end on the local cluster (issue 12): schedule triggers.
#   - a Function at zero with a "* * * * *" trigger is invoked through the
#     activator on its tick: 200 from a cold start, billed like any request,
#     with the trigger's headers and a request id naming the tick;
#   - two zeroscale-triggers replicas elect one leader; the leader is killed
#     with SIGKILL between ticks; the other takes the Lease and goes on.
#     Across the whole run no tick is sent twice (billing request ids are
#     unique) and none is lost (the ticks billed are consecutive minutes),
#     status.triggers agrees (fired = succeeded, missed = 0), and the metrics
#     of the surviving leader count its fires;
#   - a real Prometheus scraped controller, activator and both replicas all
#     along: the dashboard's schedule panels (outcomes, fire delay p99)
#     return data, and the successes summed over both replicas equal the
#     ticks billed.
# The schedule clock of both replicas runs 10x faster than real time from
# the same origin (--testing-time-scale, --testing-time-origin): a minute
# schedule ticks every 6 s, and startingDeadlineSeconds 300 is 30 s real.
# Everything else (the activator, the Function, the Lease) runs in real time.
# Usage: triggers_test.sh TRIGGERS CONTROLLER ACTIVATOR
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/prometheus.sh"
triggers_bin=${1:?triggers binary}
controller_bin=${2:?controller binary}
activator_bin=${3:?activator binary}
ns=zs-trig-$$
lease=zs-triggers
scale=10
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl create namespace "$ns" >/dev/null
trap 'end_bg; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT

start_zeroscale "$ns" "$controller_bin" "$activator_bin"

kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: backup}
spec:
  image: zeroscale/fn-echo:dev
  scaling: {minReplicas: 0, maxReplicas: 1, scaleToZeroAfterSeconds: 600}
  triggers:
  - name: every-minute
    schedule: {cron: "* * * * *", concurrencyPolicy: Forbid, startingDeadlineSeconds: 300}
    request:
      path: /backup
      headers: [{name: X-Backup-Kind, value: full}]
      body: '{"target": "s3://backups"}'
YAML
jp() { kubectl get function/backup -n "$ns" -o "jsonpath=$1" 2>/dev/null; }
jp_is() { [[ $(jp "$1") == "$2" ]]; }
wait_for 30 "Function Ready at zero" jp_is '{.status.conditions[?(@.type=="Ready")].status}/{.status.desiredReplicas}' "True/0"
wait_for 20 "activator routes the Function" bash -c "curl -s -o /dev/null -w '%{http_code}' -m 1 http://127.0.0.1:$proxy_port/fn/$ns/nope/ | grep -q 404"

declare -A metrics_port pid_of
metrics_port[trig-a]=$(free_port)
metrics_port[trig-b]=$(free_port)
prom_start "127.0.0.1:$cm_port" "127.0.0.1:$am_port" "127.0.0.1:${metrics_port[trig-a]}" "127.0.0.1:${metrics_port[trig-b]}"
origin=$(date -u +%Y-%m-%dT%H:%M:%SZ)
start_triggers() {
  local id=$1
  start_bg "triggers-$id" "$triggers_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
    --leader-elect --leader-election-namespace "$ns" --leader-election-id "$lease" \
    --leader-elect-lease-duration 4s --leader-elect-renew-deadline 3s --leader-elect-retry-period 500ms \
    --identity "$id" --metrics-bind-address "127.0.0.1:${metrics_port[$id]}" \
    --health-probe-bind-address 127.0.0.1:0 --activator-url "http://127.0.0.1:$proxy_port" \
    --testing-time-scale "$scale" --testing-time-origin "$origin"
  pid_of[$id]=$LAST_PID
}
start_triggers trig-a
start_triggers trig-b
holder() { kubectl get lease "$lease" -n "$ns" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
wait_for 30 "a triggers leader is elected" bash -c "[[ -n \$($ZS_KUBECTL --kubeconfig $KUBECONFIG get lease $lease -n $ns -o jsonpath='{.spec.holderIdentity}' 2>/dev/null) ]]"
first=$(holder); second=trig-a; [[ $first == trig-a ]] && second=trig-b
say "first leader: $first"

# The first tick invokes the Function from zero, through the activator.
succeeded() { jp '{.status.triggers[0].succeeded}'; }
succeeded_at_least() { (($(succeeded || echo 0) >= $1)); }
wait_for 60 "the first tick is answered 2xx" succeeded_at_least 1
trigger_lines() { jq -c 'select((.client_request_id // "") | startswith("trigger-"))' "$billing"; }
# The billing log is written by the activator's own thread, after the answer:
# the status can say "succeeded" before the line is there.
first_line_written() { [[ -n $(trigger_lines | head -1) ]]; }
wait_for 10 "the first tick's billing line is written" first_line_written
first_line=$(trigger_lines | head -1)
say "first billing line: $first_line"
check "the first tick was a cold start answered 200" \
  [ "$(jq -r '"\(.code) \(.cold_start) \(.method) \(.path)"' <<<"$first_line")" = "200 true POST /backup" ]
check "its request id names the trigger and the tick" \
  bash -c "[[ $(jq -r .client_request_id <<<"$first_line") =~ ^trigger-$ns-backup-every-minute-[0-9]+$ ]]"
check "its billing line is marked by the trigger" [ "$(jq -r .trigger <<<"$first_line")" = every-minute ]

# Kill the leader between ticks (nothing in flight), after two more.
wait_for 60 "two more ticks answered" succeeded_at_least 3
no_active() { [[ -z $(jp '{.status.triggers[0].activeTick}') ]]; }
wait_for 10 "no tick in flight" no_active
before_kill=$(succeeded)
# The last success must be scraped before the process goes, or Prometheus's
# sum at the end would miss it.
own_successes() { curl -sf "127.0.0.1:${metrics_port[$1]}/metrics" | grep '^zeroscale_trigger_events_total{' | grep 'result="success"' | awk '{s += $NF} END {printf "%d", s}'; }
scraped_successes() { prom_instant "sum(zeroscale_trigger_events_total{instance=\"127.0.0.1:${metrics_port[$1]}\",result=\"success\"})"; }
scraped_all() { [[ $(scraped_successes "$1") == "$(own_successes "$1")" ]]; }
settled_first() { no_active && scraped_all "$first"; }
wait_for 10 "no tick in flight and Prometheus has scraped the leader's last success" settled_first
say "killing the triggers leader $first after $before_kill ticks"
kill -KILL "${pid_of[$first]}"
killed_ms=$(date +%s%3N)
wait_for 20 "$second takes the Lease" bash -c "[[ \$($ZS_KUBECTL --kubeconfig $KUBECONFIG get lease $lease -n $ns -o jsonpath='{.spec.holderIdentity}' 2>/dev/null) == $second ]]"
say "Lease taken over $(($(date +%s%3N) - killed_ms)) ms after the kill"
wait_for 60 "four more ticks answered after the failover" succeeded_at_least $((before_kill + 4))
wait_for 10 "no tick in flight" no_active

second_metrics=$(curl -sf "127.0.0.1:${metrics_port[$second]}/metrics")
say "the new leader's fire delays (scaled seconds): $(grep -E '^zeroscale_trigger_fire_delay_seconds_(sum|count)' <<<"$second_metrics" | awk '{printf "%s=%s ", $1, $2}')"
check "the new leader counts its successes in zeroscale_trigger_events_total" \
  [ "$(grep '^zeroscale_trigger_events_total{' <<<"$second_metrics" | grep 'result="success"' | awk '{s += $NF} END {printf "%d", s}')" -ge 4 ]

# Stop firing, then compare what was billed with what status claims.
# (No tick in flight and the last success scraped, checked together: a tick
# every 6 s could otherwise slip in between.)
settled() { no_active && scraped_all "$second"; }
wait_for 10 "no tick in flight and Prometheus has scraped the second leader's last success" settled
kill -TERM "${pid_of[$second]}"
wait "${pid_of[$second]}" 2>/dev/null || true
status=$(kubectl get function/backup -n "$ns" -o json | jq -c '.status.triggers[0]')
say "status.triggers[0]: $status"
mapfile -t ids < <(trigger_lines | jq -r .client_request_id)
mapfile -t ticks < <(printf '%s\n' "${ids[@]}" | sed 's/.*-//' | sort -n)
say "ticks billed: ${#ticks[@]}"
check "no tick was sent twice" [ "$(printf '%s\n' "${ids[@]}" | sort | uniq -d | wc -l)" -eq 0 ]
gaps=0
for ((i = 1; i < ${#ticks[@]}; i++)); do
  ((ticks[i] - ticks[i - 1] == 60)) || { say "gap between ${ticks[i-1]} and ${ticks[i]}"; gaps=$((gaps + 1)); }
done
check "no tick was lost: the ticks billed are consecutive minutes" [ "$gaps" -eq 0 ]
check "every billed tick answered 200" [ "$(trigger_lines | jq -r .code | sort -u)" = "200" ]
check "status: fired = succeeded = ticks billed, none missed, failed or interrupted" \
  [ "$(jq -r '"\(.fired) \(.succeeded) \(.missed) \(.failed) \(.interrupted)"' <<<"$status")" = "${#ticks[@]} ${#ticks[@]} 0 0 0" ]
check "lastScheduleTime is the last tick billed" \
  [ "$(date -u -d "$(jq -r .lastScheduleTime <<<"$status")" +%s)" = "${ticks[-1]}" ]
invocations=$(curl -sf "127.0.0.1:$am_port/metrics" | grep '^zeroscale_invocations_total{' | grep "namespace=\"$ns\"" \
  | grep 'function="backup"' | grep 'code="200"' | awk '{s += $NF} END {printf "%d", s}')
check "the activator counted each as an invocation ($invocations)" [ "$invocations" -eq "${#ticks[@]}" ]
check "the first leader's log shows fires" grep -q '"msg":"firing"' "$ZS_TEST_TMP/triggers-$first.log"
check "the second leader fired after the failover" grep -q '"msg":"firing"' "$ZS_TEST_TMP/triggers-$second.log"

# The dashboard's schedule panels, from a real Prometheus. Both replicas are
# gone now: their last samples stand for five minutes.
prom_successes() { prom_instant "sum(max_over_time(zeroscale_trigger_events_total{namespace=\"$ns\",result=\"success\"}[10m]))"; }
prom_successes_are() { [[ $(prom_successes) == "$1" ]]; }
wait_for 10 "Prometheus sums the successes" prom_successes_are "${#ticks[@]}" || true
check "Prometheus: successes summed over both replicas ($(prom_successes)) = ticks billed (${#ticks[@]})" \
  prom_successes_are "${#ticks[@]}"
prom_check_dashboard "$ns" '^Trigger outcomes|fire delay' 'zeroscale_trigger_connected'
finish
