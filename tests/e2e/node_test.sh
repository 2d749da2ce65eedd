#!/usr/bin/env bash
# The local cluster's real node (hack/node-up.sh: kubelet, containerd,
# kube-proxy, kube-scheduler, CoreDNS) does what a user's cluster does:
#   - a pod runs from an OCI image with the image's own entrypoint, as the
#     image's non-root user, and is scheduled by kube-scheduler;
#   - a ClusterIP Service routes from the host and from a pod, and the pod
#     resolves <svc>.<ns>.svc.cluster.local through CoreDNS;
#   - a crashing container is restarted (restartCount grows) and
#     `kubectl logs --previous` reads what it printed;
#   - a preStop sleep delays the container's SIGTERM; a container that ignores
#     SIGTERM is killed after terminationGracePeriodSeconds, not before;
#   - Pod Security admission: a namespace enforcing "restricted" refuses a
#     privileged pod and runs one that complies.
# Usage: node_test.sh   (fixture zs_node; images from hack/node-images.sh)
source "$(dirname "$0")/../integration/lib.sh"
ns=zs-node-e2e-$$
image=zeroscale/fn-echo:dev
trap 'kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true; rm -rf "$ZS_TEST_TMP"' EXIT
kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted >/dev/null

# Restricted-compliant pod settings (the image runs as uid 65532).
restricted='securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}'
container_sc='securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}'

# --- a Deployment and its Service ------------------------------------------------
kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      $restricted
      containers:
      - name: echo
        image: $image
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
        $container_sc
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
YAML
t0=$(date +%s%3N)
echo_ready() { [[ $(kubectl -n "$ns" get deploy echo -o jsonpath='{.status.readyReplicas}') == 1 ]]; }
if wait_for 120 "the echo Deployment's pod becomes ready" echo_ready; then
  pass "pod from image $image ready $(($(date +%s%3N) - t0)) ms after apply"
else
  kubectl -n "$ns" get pods -o wide; kubectl -n "$ns" describe pods | tail -30
  finish; exit 1
fi
pod=$(kubectl -n "$ns" get pods -l app=echo -o jsonpath='{.items[0].metadata.name}')
node=$(kubectl -n "$ns" get pod "$pod" -o jsonpath='{.spec.nodeName}')
check "scheduled by kube-scheduler onto $ZS_KUBELET_NODE_NAME (got $node)" test "$node" = "$ZS_KUBELET_NODE_NAME"
check "the container runs the image's entrypoint as uid 65532" \
  test "$(kubectl -n "$ns" exec "$pod" -- bash -c 'id -u; tr "\0" " " </proc/1/cmdline')" = $'65532\n/usr/local/bin/fn-echo '

cluster_ip=$(kubectl -n "$ns" get svc echo -o jsonpath='{.spec.clusterIP}')
svc_ok() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$cluster_ip/echo") == 200 ]]; }
wait_for 30 "the ClusterIP $cluster_ip answers from the host" svc_ok && pass "ClusterIP $cluster_ip:80 routes from the host"

# From inside a pod: DNS through CoreDNS, then HTTP through the ClusterIP
# (bash's /dev/tcp; the image is Debian with getent).
fqdn=echo.$ns.svc.cluster.local
resolved=$(kubectl -n "$ns" exec "$pod" -- getent hosts "$fqdn" | awk '{print $1}' || true)
check "$fqdn resolves in the pod to the ClusterIP (got '$resolved')" test "$resolved" = "$cluster_ip"
short=$(kubectl -n "$ns" exec "$pod" -- getent hosts echo | awk '{print $1}' || true)
check "the short name resolves through the pod's search path (got '$short')" test "$short" = "$cluster_ip"
kapi=$(kubectl -n "$ns" exec "$pod" -- getent hosts kubernetes.default | awk '{print $1}' || true)
check "kubernetes.default resolves to the apiserver's ClusterIP (got '$kapi')" test "$kapi" = "$ZS_SERVICE_IP"
reply=$(kubectl -n "$ns" exec "$pod" -- bash -c \
  "exec 3<>/dev/tcp/$fqdn/80 && printf 'GET /echo?from=pod HTTP/1.0\r\nHost: echo\r\n\r\n' >&3 && timeout 5 cat <&3" || true)
check "pod -> Service by name -> pod (hairpin through its own Service) answers 200" grep -q '^HTTP/1.[01] 200' <<<"$reply"
check "the request arrived as sent" grep -q '"query":"from=pod"' <<<"$reply"
# --- restarts, preStop and the grace period ------------------------------------------
kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  $restricted
  restartPolicy: Always
  containers:
  - name: c
    image: $image
    command: [bash, -c, "echo starting; exit 3"]
    $container_sc
---
apiVersion: v1
kind: Pod
metadata: {name: prestop}
spec:
  $restricted
  terminationGracePeriodSeconds: 30
  containers:
  - name: c
    image: $image
    lifecycle: {preStop: {sleep: {seconds: 3}}}
    $container_sc
---
apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  $restricted
  terminationGracePeriodSeconds: 4
  containers:
  - name: c
    image: $image
    command: [bash, -c, "trap '' TERM; while :; do sleep 0.2; done"]
    $container_sc
YAML
restarted() { (($(kubectl -n "$ns" get pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}' || echo 0) >= 1)); }
wait_for 60 "the crashing container is restarted" restarted && pass "crash loop: restartCount >= 1, exit code $(kubectl -n "$ns" get pod crasher -o jsonpath='{.status.containerStatuses[0].lastState.terminated.exitCode}')"
crash_logged() { kubectl -n "$ns" logs crasher --previous | grep -qx starting; }
wait_for 30 "kubectl logs --previous shows the crashed container's output" crash_logged \
  && pass "kubectl logs reads a container's output (through the kubelet)"
check "its last exit code is 3" test "$(kubectl -n "$ns" get pod crasher -o jsonpath='{.status.containerStatuses[0].lastState.terminated.exitCode}')" = 3
running() { [[ $(kubectl -n "$ns" get pod "$1" -o jsonpath='{.status.phase}') == Running ]]; }
both_running() { running prestop && running stubborn; }
wait_for 60 "prestop and stubborn run" both_running
# Deleting blocks until the pod object is gone, i.e. until the kubelet
# reports the containers stopped.
delete_ms() {
  local t
  t=$(date +%s%3N)
  kubectl -n "$ns" delete pod "$1" --wait=true --timeout=60s >/dev/null
  echo $(($(date +%s%3N) - t))
}
ms=$(delete_ms prestop)
check "preStop sleep 3s: the pod took ${ms} ms to stop (>= 3000, and fn-echo exits at once on SIGTERM after it: < 10000)" \
  test "$ms" -ge 3000 -a "$ms" -lt 10000
ms=$(delete_ms stubborn)
check "SIGTERM ignored, grace 4s: killed after ${ms} ms (>= 4000, < 12000)" test "$ms" -ge 4000 -a "$ms" -lt 12000

# --- Pod Security admission ---------------------------------------------------------------
if out=$(kubectl -n "$ns" run privileged --image "$image" --restart Never \
  --overrides '{"spec":{"containers":[{"name":"privileged","image":"'"$image"'","securityContext":{"privileged":true}}]}}' 2>&1); then
  fail "a privileged pod was admitted in a restricted namespace"
else
  check "a privileged pod is refused by Pod Security (restricted)" grep -q 'violates PodSecurity "restricted' <<<"$out"
fi

finish
