#!/usr/bin/env bash
# Installs zeroscale the way a user does and uses it: `helm install` of the
# chart, controller and activator running as pods with in-cluster config, a
# Function applied afterwards served end to end through the installed
# activator (cold start from zero), its invocation counted on the activator's
# /metrics, then `helm uninstall` leaves none of the release's objects behind.
#
#   tests/install/helm_install.sh ACTIVATOR_BINARY
#
# Runs as users run it: the local cluster's real node (ctest fixtures
# zs_cluster and zs_node: kubelet, containerd, kube-proxy, CoreDNS), the
# controller, activator and triggers as containers of the image built from
# this tree (hack/node-images.sh), the Function from fn-echo's image, and
# every call through the activator's ClusterIP Service. Exits 77 (ctest:
# skipped) and says why while a piece is missing: no Ready Node, or a node
# without the chart's image (Node.status.images). Under hack/test.sh
# (ZS_NO_SKIP=1, as in CI) a missing piece fails instead.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
activator_bin=${1:-$ZS_BUILD_DIR/activator/zeroscale-activator}
export HELM_CACHE_HOME=$ZS_TEST_TMP/helm/cache HELM_CONFIG_HOME=$ZS_TEST_TMP/helm/config HELM_DATA_HOME=$ZS_TEST_TMP/helm/data
helm() { "$ZS_HELM" "$@"; }
# The image the chart's defaults name: image.tag defaults to its appVersion.
image=zeroscale/zeroscale:$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$ZS_ROOT/charts/zeroscale/Chart.yaml")
fn_image=${ZS_FN_ECHO_IMAGE:-zeroscale/fn-echo:dev}
release=zeroscale
sys_ns=zeroscale-system
ns=zs-install-e2e-$$

# hack/test.sh (CI) sets ZS_NO_SKIP=1: there a missing precondition fails.
skip() {
  if [[ ${ZS_NO_SKIP:-} == 1 ]]; then
    say "FAIL (ZS_NO_SKIP=1, so a missing precondition is a failure): $*"
    rm -rf "$ZS_TEST_TMP"
    exit 1
  fi
  say "SKIP $*"
  rm -rf "$ZS_TEST_TMP"
  exit 77
}
quiet() { "$@" >/dev/null 2>&1; }

# --- preconditions -------------------------------------------------------------
nodes=$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null || true)
grep -q '=True$' <<<"$nodes" || skip "no Ready Node: the node is not running (hack/node-up.sh)"
node_images=$(kubectl get nodes -o jsonpath='{.items[*].status.images[*].names[*]}')
for want in "$image" "$fn_image"; do
  [[ " $node_images " == *" $want "* || " $node_images " == *" docker.io/$want "* ]] ||
    skip "no Node lists image $want in status.images (hack/node-images.sh builds it)"
done
if [[ -x $activator_bin ]]; then
  probe=$(timeout 5 "$activator_bin" --kubeconfig=/nonexistent --bind-address=127.0.0.1:0 \
    --metrics-bind-address=0 --health-probe-bind-address=127.0.0.1:0 2>&1 || true)
  [[ $probe != *"not wired yet"* ]] || skip "zeroscale-activator is not wired yet"
fi
if kubectl get namespace "$sys_ns" >/dev/null 2>&1; then
  skip "namespace $sys_ns exists (an install by hand?); not touching it"
fi

cleanup() {
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  helm uninstall "$release" -n "$sys_ns" --wait --timeout 2m >/dev/null 2>&1 || true
  kubectl delete namespace "$sys_ns" --timeout=120s >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- install -------------------------------------------------------------------
kubectl apply -f "$ZS_ROOT/deploy/00-namespace.yaml" >/dev/null # restricted Pod Security, as documented
t0=$(date +%s%3N)
if out=$(helm install "$release" "$ZS_ROOT/charts/zeroscale" -n "$sys_ns" --wait --timeout 3m 2>&1); then
  pass "helm install --wait ($(($(date +%s%3N) - t0)) ms)"
else
  fail "helm install: $out"
  kubectl -n "$sys_ns" get pods -o wide || true
  finish
  exit 1
fi
check "NOTES tell how to call a Function" grep -q "curl http://localhost:8080/fn/<namespace>/<name>/" <<<"$out"
check "CRD installed from crds/" quiet kubectl get crd functions.zeroscale.dev
for d in zeroscale-controller zeroscale-activator zeroscale-triggers; do
  check "$d: all replicas ready" quiet kubectl -n "$sys_ns" rollout status "deploy/$d" --timeout=60s
done
lease_holder() { kubectl -n "$sys_ns" get lease zeroscale-controller -o jsonpath='{.spec.holderIdentity}'; }
has_leader() { [[ -n $(lease_holder) ]]; }
wait_for 60 "a controller holds the Lease" has_leader && pass "leader: $(lease_holder)"
triggers_holder() { kubectl -n "$sys_ns" get lease zeroscale-triggers -o jsonpath='{.spec.holderIdentity}'; }
has_triggers_leader() { [[ -n $(triggers_holder) ]]; }
wait_for 60 "a triggers replica holds its Lease" has_triggers_leader && pass "triggers leader: $(triggers_holder)"

# --- a Function, served through the installed activator --------------------------
kubectl create namespace "$ns" >/dev/null
# As a careful platform team would: the Function's namespace enforces Pod
# Security "restricted", which the Function pods' defaults satisfy.
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted >/dev/null
kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: hello}
spec:
  image: $fn_image
  port: 8080
  resources: {requests: {memory: 128Mi}}
  scaling: {minReplicas: 0, maxReplicas: 2, scaleToZeroAfterSeconds: 60}
  # Seen by the installed triggers leader at once (it records startTime
  # through its RBAC); it would only fire on New Year's Day.
  triggers: [{name: yearly, schedule: {cron: "@yearly"}}]
YAML
trigger_seen() { [[ -n $(kubectl -n "$ns" get fn hello -o jsonpath='{.status.triggers[0].startTime}') ]]; }
wait_for 30 "the installed triggers leader records the Function's trigger" trigger_seen \
  && pass "status.triggers written by the installed triggers leader"
wait_for 60 "the controller creates the Function's Deployment" kubectl -n "$ns" get deploy hello \
  && pass "Deployment hello created by the installed controller"
check "it starts at zero replicas" test "$(kubectl -n "$ns" get deploy hello -o jsonpath='{.spec.replicas}')" = 0

# Every call goes to the activator's Service, as a client in the cluster (or
# an Ingress) would: kube-proxy picks a ready activator pod.
svc=$(kubectl -n "$sys_ns" get svc zeroscale-activator -o jsonpath='{.spec.clusterIP}:{.spec.ports[?(@.name=="http")].port}')
check "the activator Service has a ClusterIP ($svc)" grep -Eq '^[0-9.]+:[0-9]+$' <<<"$svc"
# The first ready activator pod address, for its metrics (no `| head -1`:
# under pipefail, kubectl killed by SIGPIPE would fail the script).
activator_ip() {
  local ips
  ips=$(kubectl -n "$sys_ns" get endpointslices -l kubernetes.io/service-name=zeroscale-activator \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{"\n"}{end}') || return 1
  echo "${ips%%$'\n'*}"
}
has_activator_ip() { [[ -n $(activator_ip) ]]; }
wait_for 60 "a ready activator endpoint" has_activator_ip || { finish; exit 1; }
ip=$(activator_ip)
t0=$(date +%s%3N)
code=$(curl -s -o "$ZS_TEST_TMP/body" -D "$ZS_TEST_TMP/headers" -w '%{http_code}' --max-time 90 \
  "http://$svc/fn/$ns/hello/echo?x=1" || true)
cold_ms=$(($(date +%s%3N) - t0))
check "cold call through the activator answers 200 (got $code in $cold_ms ms)" test "$code" = 200
check "the function saw /echo?x=1" grep -q '"path":"/echo"' "$ZS_TEST_TMP/body"
fn_pod=$(kubectl -n "$ns" get pods -o jsonpath='{.items[0].metadata.name}')
check "the Function's pod runs under restricted Pod Security as uid 65532 (the image's user)" \
  test "$(kubectl -n "$ns" exec "$fn_pod" -- id -u)" = 65532
check "the call woke the Function from zero" \
  test "$(kubectl -n "$ns" get deploy hello -o jsonpath='{.spec.replicas}')" -ge 1
check "X-Request-Id returned" grep -qi '^x-request-id:' "$ZS_TEST_TMP/headers"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://$svc/fn/$ns/hello/" || true)
check "warm call answers 200" test "$code" = 200
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://$svc/fn/$ns/nope/" || true)
check "unknown function answers 404" test "$code" = 404
# kube-proxy may have sent the calls to any replica: read every one's /metrics.
metrics=""
for a in $(kubectl -n "$sys_ns" get endpointslices -l kubernetes.io/service-name=zeroscale-activator \
  -o jsonpath='{range .items[*].endpoints[*]}{.addresses[0]}{" "}{end}'); do
  metrics+=$(curl -s --max-time 10 "http://$a:9091/metrics" || true)$'\n'
done
check "the invocation is metered" grep -q "zeroscale_invocations_total{.*function=\"hello\"" <<<"$metrics"
check "GB-seconds are billed" grep -q "zeroscale_billable_gb_seconds_total{.*function=\"hello\"" <<<"$metrics"
function_ready() {
  [[ $(kubectl -n "$ns" get fn hello -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}
wait_for 60 "the Function reports Ready" function_ready && pass "Function Ready"

# --- uninstall -----------------------------------------------------------------
kubectl delete namespace "$ns" --wait=true --timeout=120s >/dev/null
if out=$(helm uninstall "$release" -n "$sys_ns" --wait --timeout 2m 2>&1); then pass "helm uninstall"; else
  fail "helm uninstall: $out"; fi
# Pods go once their processes exit: the activator drains first (up to its
# drain timeout), then the kubelet deletes them.
release_pods() { kubectl -n "$sys_ns" get pods -l app.kubernetes.io/instance="$release" -o name; }
t0=$(date +%s%3N)
no_release_pods() { [[ -z $(release_pods) ]]; }
wait_for 90 "the release's pods are gone" no_release_pods \
  && pass "the release's pods are gone ($(($(date +%s%3N) - t0)) ms after uninstall)"
left=$(kubectl -n "$sys_ns" get deploy,rs,pods,svc,sa,role,rolebinding,pdb,cm,endpointslices \
  -l app.kubernetes.io/instance="$release" -o name)
check "no namespaced object of the release is left ($left)" test -z "$left"
left=$(kubectl get clusterrole,clusterrolebinding -l app.kubernetes.io/instance="$release" -o name)
check "no cluster role or binding of the release is left ($left)" test -z "$left"
left=$(kubectl -n "$sys_ns" get all,cm,sa,role,rolebinding,pdb,lease -o name | grep -v -e '^configmap/kube-root-ca.crt$' \
  -e '^serviceaccount/default$' -e '^lease.coordination.k8s.io/zeroscale-controller$' \
  -e '^lease.coordination.k8s.io/zeroscale-triggers$' || true)
check "nothing else is left in $sys_ns ($left)" test -z "$left"
# Left on purpose, as helm documents: the CRD (crds/ is never deleted, so
# Functions survive an uninstall) and the controller's and the triggers' released
# Leases (made by them, not by helm; they go with the namespace).
check "the CRD stays" quiet kubectl get crd functions.zeroscale.dev
finish
