#!/usr/bin/env bash
# Function pods fit for production (issue 11), against the real apiserver and
# its Pod Security admission:
#   1. `kubectl explain` teaches the pod settings;
#   2. in a namespace labelled pod-security.kubernetes.io/enforce=restricted,
#      a Function with no security settings of its own gets its pods made by
#      its ReplicaSet (no FailedCreate): zeroscale's defaults satisfy
#      "restricted". The stored pod carries the defaults, the pod settings,
#      the preStop sleep and the grace period;
#   3. a Function whose override breaks "restricted" (runAsNonRoot false,
#      privileged) reaches Ready=False with reason FailedCreate and the Pod
#      Security message, in `kubectl get fn`;
#   4. pod settings removed from the Function leave the Deployment.
# Pods need not run (no node is required): admission happens at creation.
# Usage: podspec_test.sh CONTROLLER_BINARY
source "$(dirname "$0")/lib.sh"
controller_bin=${1:-$ZS_BUILD_DIR/controller/zeroscale-controller}
ns=zs-podspec-$$
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl wait --for condition=Established --timeout=60s crd/functions.zeroscale.dev >/dev/null
kubectl create namespace "$ns" >/dev/null
trap 'end_bg; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted \
  pod-security.kubernetes.io/enforce-version=latest >/dev/null

jp() { kubectl get "$1" -n "$ns" -o "jsonpath=$2" 2>/dev/null; }
jp_is() { [[ $(jp "$1" "$2") == "$3" ]]; }
jp_empty() { [[ -z $(jp "$1" "$2") ]]; }

# --- 1. kubectl explain -------------------------------------------------------------
# kubectl wraps descriptions: compare with the lines joined.
explains() {
  local text
  text=$(kubectl explain "function.spec.$1" 2>&1 | tr '\n' ' ' | tr -s ' ')
  [[ $text == *"$2"* ]]
}
check "kubectl explain function.spec.securityContext" explains securityContext 'Pod-level security settings.'
check "kubectl explain function.spec.containerSecurityContext" \
  explains containerSecurityContext "Security settings of the Function's container."
check "kubectl explain function.spec.tolerations" explains tolerations "Taints the Function's pods tolerate"
check "kubectl explain function.spec.podLabels" explains podLabels "Extra labels on the Function's pods"
check "kubectl explain function.spec.affinity.podAntiAffinity" explains affinity.podAntiAffinity \
  'Pods the Function'"'"'s pods should not run near'
check "kubectl explain names the restricted default" explains securityContext 'runAsNonRoot true and seccompProfile'

start_bg controller "$controller_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" --identity "podspec-$$" \
  --metrics-bind-address "127.0.0.1:$(free_port)" --health-probe-bind-address 127.0.0.1:0 \
  --grpc-bind-address "127.0.0.1:$(free_port)" --activator-url http://activator.test

# --- 2. restricted by default ----------------------------------------------------------
kubectl create serviceaccount secure-sa -n "$ns" >/dev/null
kubectl create secret generic secure-tls -n "$ns" --from-literal=tls.crt=x >/dev/null
kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: secure}
spec:
  image: zeroscale/fn-echo:dev
  timeoutSeconds: 20
  scaling: {minReplicas: 1, maxReplicas: 1}
  serviceAccountName: secure-sa
  tolerations: [{key: node.example/dedicated, operator: Exists, effect: NoSchedule}]
  envFrom: [{secretRef: {name: secure-tls}}]
  volumes: [{name: tls, secret: {secretName: secure-tls}}]
  volumeMounts: [{name: tls, mountPath: /etc/tls}]
  podLabels: {team: payments}
  podAnnotations: {prometheus.io/scrape: "true"}
YAML
pods() { kubectl get pods -n "$ns" -l "zeroscale.dev/function=$1" -o name 2>/dev/null; }
has_pods() { [[ -n $(pods "$1") ]]; }
wait_for 60 "the ReplicaSet of secure creates a pod in a namespace enforcing restricted" has_pods secure
failed_creates=$(kubectl get events -n "$ns" --field-selector reason=FailedCreate -o name 2>/dev/null | wc -l)
check "no FailedCreate event in the namespace ($failed_creates)" [ "$failed_creates" -eq 0 ]
check "the Deployment has no ReplicaFailure" \
  jp_empty deployment/secure '{.status.conditions[?(@.type=="ReplicaFailure")].status}'
ready_reason() { jp "function/$1" '{.status.conditions[?(@.type=="Ready")].reason}'; }
check "secure is not FailedCreate (Ready reason: $(ready_reason secure))" [ "$(ready_reason secure)" != FailedCreate ]

pod=$(pods secure | head -1)
pod_json=$(kubectl get -n "$ns" "$pod" -o json)
pj() { jq -c "$1" <<<"$pod_json"; }
check "pod securityContext: runAsNonRoot, RuntimeDefault ($(pj .spec.securityContext))" \
  [ "$(pj .spec.securityContext)" = '{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}' ]
check "container securityContext: no escalation, drop ALL ($(pj '.spec.containers[0].securityContext'))" \
  [ "$(pj '.spec.containers[0].securityContext')" = '{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}' ]
check "preStop sleep 5 s ($(pj '.spec.containers[0].lifecycle'))" \
  [ "$(pj '.spec.containers[0].lifecycle.preStop.sleep.seconds')" = 5 ]
check "terminationGracePeriodSeconds = timeoutSeconds 20 + 5 + 5 ($(pj .spec.terminationGracePeriodSeconds))" \
  [ "$(pj .spec.terminationGracePeriodSeconds)" = 30 ]
check "serviceAccountName and its token" \
  [ "$(pj '[.spec.serviceAccountName, .spec.automountServiceAccountToken]')" = '["secure-sa",true]' ]
check "podLabels on the pod, zeroscale's labels kept" \
  [ "$(pj '[.metadata.labels.team, .metadata.labels["zeroscale.dev/function"]]')" = '["payments","secure"]' ]
check "podAnnotations on the pod" [ "$(pj '.metadata.annotations["prometheus.io/scrape"]')" = '"true"' ]
check "tolerations passed (the apiserver adds its own after)" \
  [ "$(pj '.spec.tolerations[0].key')" = '"node.example/dedicated"' ]
check "the secret volume, mounted read-only" \
  [ "$(pj '[(.spec.volumes[] | select(.name == "tls") | .secret.secretName), (.spec.containers[0].volumeMounts[] | select(.name == "tls") | .readOnly)]')" = '["secure-tls",true]' ]
check "envFrom passed" [ "$(pj '.spec.containers[0].envFrom[0].secretRef.name')" = '"secure-tls"' ]
check "team label not on the Deployment itself" jp_empty deployment/secure '{.metadata.labels.team}'

# --- 3. an override that breaks restricted ---------------------------------------------
kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: unsafe}
spec:
  image: zeroscale/fn-echo:dev
  scaling: {minReplicas: 1, maxReplicas: 1}
  securityContext: {runAsNonRoot: false}
  containerSecurityContext: {privileged: true}
YAML
ready_reason_is() { [[ $(ready_reason "$1") == "$2" ]]; }
start_ms=$(date +%s%3N)
wait_for 60 "unsafe reaches Ready=False FailedCreate" ready_reason_is unsafe FailedCreate
say "FailedCreate reached the Function's status $(($(date +%s%3N) - start_ms)) ms after the apply"
message=$(jp function/unsafe '{.status.conditions[?(@.type=="Ready")].message}')
check "the message names Pod Security ($message)" grep -q 'violates PodSecurity "restricted' <<<"$message"
check "and what was violated" grep -q 'privileged' <<<"$message"
check "Ready=False" jp_is function/unsafe '{.status.conditions[?(@.type=="Ready")].status}' False
row=$(kubectl get fn unsafe -n "$ns" --no-headers 2>&1)
check "kubectl get fn shows it ($row)" grep -q 'False *FailedCreate' <<<"$row"
check "no pod of unsafe exists" [ -z "$(pods unsafe)" ]

# --- 4. removed pod settings leave the Deployment --------------------------------------
kubectl patch function secure -n "$ns" --type json -p '[
  {"op": "remove", "path": "/spec/podLabels"}, {"op": "remove", "path": "/spec/podAnnotations"},
  {"op": "remove", "path": "/spec/volumeMounts"}, {"op": "remove", "path": "/spec/volumes"},
  {"op": "remove", "path": "/spec/envFrom"}, {"op": "remove", "path": "/spec/tolerations"},
  {"op": "remove", "path": "/spec/serviceAccountName"}]' >/dev/null
template='{.spec.template'
wait_for 30 "podLabels removed from the Function are gone from the pod template" \
  jp_empty deployment/secure "$template.metadata.labels.team}"
for path in metadata.annotations spec.volumes 'spec.containers[0].volumeMounts' 'spec.containers[0].envFrom' \
  spec.tolerations; do
  check "$path is gone from the pod template" jp_empty deployment/secure "$template.$path}"
done
check "serviceAccountName back to default (the deprecated serviceAccount alias follows)" \
  jp_is deployment/secure "$template.spec.serviceAccountName}/$template.spec.serviceAccount}" default/default
check "and no token without a named ServiceAccount" \
  jp_is deployment/secure "$template.spec.automountServiceAccountToken}" false
check "the restricted defaults stay" \
  jp_is deployment/secure "$template.spec.securityContext.runAsNonRoot}" true

# --- 5. how long a deleted pod stays a ready endpoint (the preStop sleep's reason) -----
# Only with a node that runs pods (the node agent fixture, or a kubelet): the
# time from a pod's deletion to the EndpointSlice watch event that shows its
# endpoint not ready, which is what each activator waits for. Printed, and
# required to be well inside the 5 s sleep.
if [[ $(kubectl get nodes -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) != *True* ]]; then
  say "SKIP endpoint timing: no Ready node"
  finish
  exit
fi
kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: timing}
spec:
  image: zeroscale/fn-echo:dev
  scaling: {minReplicas: 1, maxReplicas: 1}
YAML
ready_endpoint() {
  kubectl get endpointslices -n "$ns" -l kubernetes.io/service-name=timing \
    -o jsonpath='{.items[*].endpoints[?(@.conditions.ready==true)].targetRef.name}' 2>/dev/null
}
has_ready_endpoint() { [[ -n $(ready_endpoint) ]]; }
if wait_for 60 "timing has a ready endpoint" has_ready_endpoint; then
  victim=$(ready_endpoint | awk '{print $1}')
  events=$ZS_TEST_TMP/slice-events
  # In its own process group, ended as one below. -o json: kubectl's
  # jsonpath output loses watch events. jq stamps each event on arrival.
  setsid bash -c '"$1" --kubeconfig "$2" get endpointslices -n "$3" -l kubernetes.io/service-name=timing \
    --watch -o json 2>/dev/null |
    jq -c --unbuffered "[(now * 1000 | floor), [.endpoints[]? | \"\\(.targetRef.name)=\\(.conditions.ready)\"]]" \
    >"$4" 2>/dev/null' _ "$ZS_KUBECTL" "$KUBECONFIG" "$ns" "$events" </dev/null &
  watcher=$!
  watching() { [[ -s $events ]]; }
  wait_for 10 "the EndpointSlice watch lists the slice first" watching || true
  deleted_ms=$(date +%s%3N)
  kubectl delete pod "$victim" -n "$ns" --wait=false >/dev/null
  # The first event after the delete that lacks "<victim>=true".
  seen_ms() {
    jq -rs --arg v "$victim=true" --argjson t "$deleted_ms" \
      '[.[] | select(.[0] >= $t and (.[1] | index($v) | not))][0][0] // empty' "$events" 2>/dev/null
  }
  seen() { [[ -n $(seen_ms) ]]; }
  wait_for 10 "the EndpointSlice watch shows $victim not ready" seen || true
  at=$(seen_ms)
  if [[ -n $at ]]; then
    delay=$((at - deleted_ms))
    say "a deleted pod's endpoint left the ready set $delay ms after the delete (EndpointSlice watch)"
    check "well inside the 5 s preStop sleep ($delay ms)" [ "$delay" -lt 2500 ]
  fi
  kill -TERM -- "-$watcher" 2>/dev/null || true
fi
finish
