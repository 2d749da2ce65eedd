#!/usr/bin/env bash
# The apiserver accepts what users apply: `kubectl apply --dry-run=server` of
# deploy/ (all of it, CRD included) and of the chart rendered with default and
# custom values, with no PodSecurity "restricted" warning. Needs the local
# cluster (ctest fixture zs_cluster, or hack/cluster-up.sh by hand).
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
INSTALL=$ZS_ROOT/tests/install
export HELM_CACHE_HOME=$ZS_TEST_TMP/helm/cache HELM_CONFIG_HOME=$ZS_TEST_TMP/helm/config HELM_DATA_HOME=$ZS_TEST_TMP/helm/data
helm() { "$ZS_HELM" "$@"; }

# dry_run WHAT ARGS...: `kubectl apply --dry-run=server ARGS`; fails on an
# error or on a PodSecurity warning (the pods must meet "restricted").
dry_run() {
  local what=$1 out
  shift
  if ! out=$(kubectl apply --dry-run=server "$@" 2>&1); then
    fail "$what: $out"
  elif grep -q "would violate PodSecurity" <<<"$out"; then
    fail "$what: PodSecurity warning: $(grep "would violate" <<<"$out")"
  else
    pass "$what ($(grep -c 'server dry run' <<<"$out") objects)"
  fi
}

# Namespaced objects of deploy/ need their namespace to exist for a server
# dry run; create it (with its real manifest) when it is not there.
created_ns=0
if ! kubectl get namespace zeroscale-system >/dev/null 2>&1; then
  kubectl apply -f "$ZS_ROOT/deploy/00-namespace.yaml" >/dev/null
  created_ns=1
fi
ns=zs-install-dry-$$
cleanup() {
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  # Waited for: the helm e2e test installs into this namespace and must not
  # find it terminating.
  ((created_ns == 0)) || kubectl delete namespace zeroscale-system --timeout=120s >/dev/null 2>&1 || true
}
trap cleanup EXIT
kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted \
  pod-security.kubernetes.io/warn=restricted >/dev/null

dry_run "kubectl apply --dry-run=server -R -f deploy/" -R -f "$ZS_ROOT/deploy/"
dry_run "kubectl apply --dry-run=server -f deploy/crds -f deploy/" -f "$ZS_ROOT/deploy/crds" -f "$ZS_ROOT/deploy/"

helm template zeroscale "$ZS_ROOT/charts/zeroscale" --namespace "$ns" >"$ZS_TEST_TMP/default.yaml"
dry_run "chart, default values" -f "$ZS_TEST_TMP/default.yaml"

# The custom values put the dashboard in "monitoring" and ask for a
# ServiceMonitor, a PrometheusRule and an HTTPRoute; keep them checkable on a
# bare cluster (the Ingress, NetworkPolicies and HPA are core APIs: checked).
extra=(--set dashboard.namespace="$ns")
for crd in servicemonitors.monitoring.coreos.com:serviceMonitor prometheusrules.monitoring.coreos.com:prometheusRule \
  httproutes.gateway.networking.k8s.io:httpRoute; do
  if ! kubectl get crd "${crd%%:*}" >/dev/null 2>&1; then
    say "no ${crd%%:*} CRD on this cluster: ${crd#*:} is rendered (golden test) but not dry-run"
    extra+=(--set "${crd#*:}.enabled=false")
  fi
done
helm template fn "$ZS_ROOT/charts/zeroscale" --namespace "$ns" -f "$INSTALL/values-custom.yaml" "${extra[@]}" \
  >"$ZS_TEST_TMP/custom.yaml"
dry_run "chart, values-custom.yaml" -f "$ZS_TEST_TMP/custom.yaml"

# helm's own server-side dry run: the kubeVersion constraint and the CRD
# install path against the real cluster.
if out=$(helm install zeroscale "$ZS_ROOT/charts/zeroscale" --namespace "$ns" --dry-run=server 2>&1); then
  pass "helm install --dry-run=server"
else
  fail "helm install --dry-run=server: $out"
fi
finish
