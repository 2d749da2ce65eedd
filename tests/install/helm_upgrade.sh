#!/usr/bin/env bash
# `helm upgrade` under steady traffic loses nothing: the chart installed on
# the real node (image tag of the chart's appVersion), a Function kept warm
# (minReplicas 1), four clients calling it through the activator's ClusterIP
# Service with one connection per request, then `helm upgrade` to another
# image tag (the same binaries under the name :dev, so every Deployment
# rolls) and changed values (activator replicas 2 -> 3, logLevel debug).
# Every request sent before, during and after the rollout answers 200; the
# old activator pods are gone; the release reports revision 2.
#
# Why it holds: a terminating activator keeps accepting for drainDelay while
# kube-proxy drops it from the Service (the EndpointSlice marks it
# terminating at once), then drains what it holds (docs/operations.md).
#   tests/install/helm_upgrade.sh   (fixtures zs_cluster and zs_node)
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
export HELM_CACHE_HOME=$ZS_TEST_TMP/helm/cache HELM_CONFIG_HOME=$ZS_TEST_TMP/helm/config HELM_DATA_HOME=$ZS_TEST_TMP/helm/data
helm() { "$ZS_HELM" "$@"; }
release=zeroscale
sys_ns=zeroscale-system
ns=zs-upgrade-e2e-$$
clients=4
stop=$ZS_TEST_TMP/stop

if kubectl get namespace "$sys_ns" >/dev/null 2>&1; then
  fail "namespace $sys_ns exists (an install by hand?); not touching it"
  finish
  exit 1
fi
cleanup() {
  touch "$stop" 2>/dev/null || true
  stop_all_bg
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  helm uninstall "$release" -n "$sys_ns" --wait --timeout 2m >/dev/null 2>&1 || true
  kubectl delete namespace "$sys_ns" --timeout=120s >/dev/null 2>&1 || true
}
trap cleanup EXIT

kubectl apply -f "$ZS_ROOT/deploy/00-namespace.yaml" >/dev/null
if out=$(helm install "$release" "$ZS_ROOT/charts/zeroscale" -n "$sys_ns" --wait --timeout 3m 2>&1); then
  pass "helm install (image $(kubectl -n "$sys_ns" get deploy zeroscale-activator -o jsonpath='{.spec.template.spec.containers[0].image}'))"
else
  fail "helm install: $out"
  finish
  exit 1
fi
kubectl create namespace "$ns" >/dev/null
kubectl apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: zeroscale.dev/v1alpha1
kind: Function
metadata: {name: hello}
spec:
  image: zeroscale/fn-echo:dev
  port: 8080
  resources: {requests: {memory: 64Mi}}
  scaling: {minReplicas: 1, maxReplicas: 2}
YAML
svc=$(kubectl -n "$sys_ns" get svc zeroscale-activator -o jsonpath='{.spec.clusterIP}:{.spec.ports[?(@.name=="http")].port}')
warm() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$svc/fn/$ns/hello/") == 200 ]]; }
wait_for 120 "the Function answers through the activator Service" warm || { finish; exit 1; }
pass "Function warm behind $svc"
old_pods=$(kubectl -n "$sys_ns" get pods -l app.kubernetes.io/component=activator -o jsonpath='{.items[*].metadata.name}')

# client N: one request at a time, a new connection each, until $stop exists;
# one status code per line (000: no HTTP answer at all).
client() {
  local n=$1 i=0 code
  while [[ ! -e $stop ]]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H 'Connection: close' \
      "http://$svc/fn/$ns/hello/echo?client=$n&i=$i" || true)
    echo "$code" >>"$ZS_TEST_TMP/codes.$n"
    i=$((i + 1))
  done
}
for ((c = 0; c < clients; c++)); do start_bg "client$c" client "$c"; done
count() { cat "$ZS_TEST_TMP"/codes.* 2>/dev/null | wc -l; }
some_sent() { (($(count) >= 50)); }
wait_for 60 "traffic flows before the upgrade" some_sent
before=$(count)

t0=$(date +%s%3N)
if out=$(helm upgrade "$release" "$ZS_ROOT/charts/zeroscale" -n "$sys_ns" --set image.tag=dev \
  --set activator.replicas=3 --set logLevel=debug --wait --timeout 4m 2>&1); then
  pass "helm upgrade --wait to image tag dev, 3 activators, logLevel debug ($(($(date +%s%3N) - t0)) ms)"
else
  fail "helm upgrade: $out"
fi
for d in zeroscale-controller zeroscale-activator zeroscale-triggers; do
  check "$d rolled to zeroscale/zeroscale:dev" \
    test "$(kubectl -n "$sys_ns" get deploy "$d" -o jsonpath='{.spec.template.spec.containers[0].image}')" = zeroscale/zeroscale:dev
  check "$d: rollout complete" kubectl -n "$sys_ns" rollout status "deploy/$d" --timeout=120s
done
old_gone() {
  local p
  for p in $old_pods; do kubectl -n "$sys_ns" get pod "$p" >/dev/null 2>&1 && return 1; done
  return 0
}
wait_for 120 "the old activator pods are gone" old_gone && pass "old activator pods gone: $old_pods"
# Keep the traffic going a little past the last old pod's exit.
during=$(count)
more_sent() { (($(count) >= during + 50)); }
wait_for 60 "traffic after the rollout" more_sent
touch "$stop"
stop_all_bg

total=$(count)
bad=$(cat "$ZS_TEST_TMP"/codes.* | grep -cvx 200 || true)
check "every request answered 200 through the rollout ($total sent, $((total - before)) during and after; not 200: $bad)" \
  test "$bad" -eq 0
if ((bad > 0)); then
  say "status codes other than 200: $(cat "$ZS_TEST_TMP"/codes.* | grep -vx 200 | sort | uniq -c | tr '\n' ' ')"
fi
check "the release is at revision 2" test "$(helm status "$release" -n "$sys_ns" -o json | jq -r .version)" = 2
check "3 activators ready" test "$(kubectl -n "$sys_ns" get deploy zeroscale-activator -o jsonpath='{.status.readyReplicas}')" = 3
finish
