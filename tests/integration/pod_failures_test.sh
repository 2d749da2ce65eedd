#!/usr/bin/env bash
# Pods that start and then fail (issue 11), on the local cluster's node:
#   1. a request to a Function at zero whose image cannot be pulled wakes it,
#      waits out buffer.timeoutSeconds and answers 504, and meanwhile the
#      Function shows Ready=False with the kubelet's reason (ErrImagePull /
#      ImagePullBackOff) in `kubectl get fn`; once the autoscaler has taken it
#      back to zero it is still not Ready (its image never started) until the
#      spec changes;
#   2. a Function whose process exits at once shows CrashLoopBackOff;
#   3. a working Function at zero stays Ready (ScaledToZero): no false alarm;
#   4. the replica gauges follow the Deployment, and the work queue's metrics
#      are served.
# Usage: pod_failures_test.sh CONTROLLER_BINARY ACTIVATOR_BINARY
source "$(dirname "$0")/lib.sh"
controller_bin=${1:-$ZS_BUILD_DIR/controller/zeroscale-controller}
activator_bin=${2:-$ZS_BUILD_DIR/activator/zeroscale-activator}
ns=zs-podfail-$$
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl wait --for condition=Established --timeout=60s crd/functions.zeroscale.dev >/dev/null
kubectl create namespace "$ns" >/dev/null
trap 'end_bg; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT

# The activator's load reports are the autoscaler's data (without any it
# holds the replica count), and its wake is what a request does.
start_zeroscale "$ns" "$controller_bin" "$activator_bin"
metrics_port=$cm_port

jp() { kubectl get "$1" -n "$ns" -o "jsonpath=$2" 2>/dev/null; }
jp_is() { [[ $(jp "$1" "$2") == "$3" ]]; }
ready() { jp "function/$1" '{.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}'; }
ready_is() { [[ $(ready "$1") == "$2" ]]; }
ready_matches() { [[ $(ready "$1") =~ $2 ]]; }
# `kubectl get fn` as a user reads it: the READY and REASON columns.
columns_match() {
  local row
  row=$(kubectl get fn "$1" -n "$ns" --no-headers)
  [[ $(awk '{print $2"/"$3}' <<<"$row") =~ $2 ]]
}

fn() { # fn NAME IMAGE [COMMAND-JSON]
  kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: $1}
spec:
  image: $2
  ${3:+command: $3}
  scaling: {minReplicas: 0, maxReplicas: 1, scaleToZeroAfterSeconds: 3}
  buffer: {timeoutSeconds: 4}
YAML
}

# --- 1. an image that never starts ---------------------------------------------------
fn nopull zeroscale/no-such-image:1
wait_for 30 "nopull is Ready at zero before anything ran" ready_is nopull True/ScaledToZero
wait_for 20 "the activator routes the Function" bash -c "curl -s -o /dev/null -w '%{http_code}' -m 1 http://127.0.0.1:$proxy_port/fn/$ns/nope/ | grep -q 404"
curl -s -o /dev/null -w '%{http_code}' -m 30 "http://127.0.0.1:$proxy_port/fn/$ns/nopull/" >"$ZS_TEST_TMP/nopull.code" &
request_pid=$!
wait_for 30 "nopull: Ready=False with the kubelet's image-pull reason while the request waits" \
  ready_matches nopull '^False/(ErrImagePull|ImagePullBackOff)$'
wait "$request_pid" || true
check "the request waited out buffer.timeoutSeconds: 504 ($(cat "$ZS_TEST_TMP/nopull.code"))" \
  [ "$(cat "$ZS_TEST_TMP/nopull.code")" = 504 ]
check "kubectl get fn shows False and the pull reason" columns_match nopull '^False/(ErrImagePull|ImagePullBackOff)$'
check "the message names the pod and the container" \
  bash -c "kubectl get fn nopull -n $ns -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].message}' | grep -q 'container function'"
wait_for 60 "the autoscaler takes nopull back to zero" jp_is deployment/nopull '{.spec.replicas}' 0
wait_for 30 "nopull's pod is gone" bash -c "[[ -z \$(kubectl get pods -n $ns -l zeroscale.dev/function=nopull -o name) ]]"
check "at zero, nopull is still not Ready (its image never started)" \
  ready_matches nopull '^False/(ErrImagePull|ImagePullBackOff)$'
check "the message says it is at zero now" \
  bash -c "kubectl get fn nopull -n $ns -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].message}' | grep -q 'scaled to zero since'"
# The fix (a new generation) clears it.
fn nopull zeroscale/fn-echo:dev
wait_for 30 "an edited nopull is Ready at zero again" ready_is nopull True/ScaledToZero

# --- 2. a crash loop --------------------------------------------------------------------
fn crash zeroscale/fn-echo:dev '[/bin/false]'
curl -s -o /dev/null -m 10 "http://127.0.0.1:$proxy_port/fn/$ns/crash/" &
wait_for 40 "crash: Ready=False CrashLoopBackOff" ready_is crash False/CrashLoopBackOff
check "kubectl get fn shows False/CrashLoopBackOff" columns_match crash '^False/CrashLoopBackOff$'

# --- 3. a working Function: Ready when up, Ready at zero ---------------------------------
fn good zeroscale/fn-echo:dev
check "good answers from zero" bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' -m 30 http://127.0.0.1:$proxy_port/fn/$ns/good/) == 200 ]]"
wait_for 40 "good: one ready replica" ready_is good True/AllReplicasReady
wait_for 60 "good is scaled back to zero" jp_is deployment/good '{.spec.replicas}' 0
wait_for 30 "good at zero is Ready/ScaledToZero" ready_is good True/ScaledToZero

# --- 4. metrics ---------------------------------------------------------------------------
check "the desired-replicas gauge reads the Deployment (0 for good)" bash -c "[[ \$(curl -sf 127.0.0.1:$metrics_port/metrics | grep -c '^zeroscale_function_desired_replicas{function=\"good\",namespace=\"$ns\"} 0') == 1 ]]"
scrape=$(curl -sf "127.0.0.1:$metrics_port/metrics")
for m in zeroscale_workqueue_adds_total zeroscale_workqueue_depth zeroscale_workqueue_queue_duration_seconds_count \
  zeroscale_workqueue_work_duration_seconds_count zeroscale_workqueue_retries_total zeroscale_controller_events_total; do
  check "the controller serves $m" grep -q "^$m{" <<<"$scrape"
done
adds=$(awk '/^zeroscale_workqueue_adds_total\{name="function"\}/{print $2}' <<<"$scrape")
check "the work queue counted adds ($adds)" bash -c "(( ${adds%.*} > 3 ))"
created=$(awk '/^zeroscale_controller_events_total\{result="created"\}/{print $2}' <<<"$scrape")
check "Events were created from the recorder's thread ($created)" bash -c "(( ${created%.*} > 0 ))"
finish
