#!/usr/bin/env bash
# Least privilege, checked by the apiserver's own RBAC authorizer: the chart's
# ServiceAccounts, roles and bindings are applied for real (in a throw-away
# namespace, cluster roles under a unique prefix), then `kubectl auth can-i
# --as` asks what each component may do. Needs the local cluster.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
export HELM_CACHE_HOME=$ZS_TEST_TMP/helm/cache HELM_CONFIG_HOME=$ZS_TEST_TMP/helm/config HELM_DATA_HOME=$ZS_TEST_TMP/helm/data

ns=zs-install-rbac-$$
prefix=zsrbac$$
cleanup() {
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  kubectl delete clusterrole,clusterrolebinding "$prefix-controller" "$prefix-activator" >/dev/null 2>&1 || true
}
trap cleanup EXIT
kubectl create namespace "$ns" >/dev/null
"$ZS_HELM" template rbac "$ZS_ROOT/charts/zeroscale" --namespace "$ns" --set fullnameOverride="$prefix" \
  --show-only templates/controller-rbac.yaml --show-only templates/activator-rbac.yaml \
  | kubectl apply -f - >/dev/null

controller=system:serviceaccount:$ns:$prefix-controller
activator=system:serviceaccount:$ns:$prefix-activator

# can AS VERB RESOURCE [NS|-A] [SUBRESOURCE]: 0 when `kubectl auth can-i` says
# yes, 1 when it says no, 2 when it says anything else (a typo, an error).
can() {
  local as=$1 verb=$2 resource=$3 where=${4:--A} sub=${5:-}
  local args=("$verb" "$resource" --as "$as")
  if [[ $where == -A ]]; then args+=(--all-namespaces); else args+=(-n "$where"); fi
  [[ -n $sub ]] && args+=(--subresource "$sub")
  local answer
  answer=$(kubectl auth can-i "${args[@]}" 2>&1) || true
  case $answer in
    yes*) return 0 ;;
    no*) return 1 ;;
    *) echo "kubectl auth can-i ${args[*]}: $answer" >&2; return 2 ;; # not an answer: neither allowed nor denied
  esac
}
allowed() { check "${1##*:} may ${*:2}" can "$@"; }
denied() {
  local rc=0
  can "$@" || rc=$?
  if ((rc == 1)); then pass "${1##*:} may not ${*:2}"; else fail "${1##*:} may ${*:2} (can-i status $rc), should not"; fi
}

# The bindings reach the authorizer's cache within moments.
wait_for 30 "RBAC bindings take effect" can "$controller" list functions.zeroscale.dev

for verb in get list watch; do allowed "$controller" "$verb" functions.zeroscale.dev; done
for verb in get update patch; do allowed "$controller" "$verb" functions.zeroscale.dev default status; done
for verb in get list watch create update patch delete; do
  allowed "$controller" "$verb" deployments.apps
  allowed "$controller" "$verb" services
done
for verb in get update patch; do allowed "$controller" "$verb" deployments.apps default scale; done
for verb in create patch; do
  allowed "$controller" "$verb" events default
  allowed "$controller" "$verb" events.events.k8s.io default
done
for verb in get create update; do allowed "$controller" "$verb" leases.coordination.k8s.io "$ns"; done

denied "$controller" get secrets "$ns"
denied "$controller" list secrets
denied "$controller" list pods
denied "$controller" create functions.zeroscale.dev default
denied "$controller" delete functions.zeroscale.dev default
denied "$controller" update functions.zeroscale.dev default
denied "$controller" create leases.coordination.k8s.io default
denied "$controller" delete leases.coordination.k8s.io "$ns"
denied "$controller" create pods default
denied "$controller" create clusterroles.rbac.authorization.k8s.io
denied "$controller" update configmaps "$ns"

for verb in get list watch; do
  allowed "$activator" "$verb" functions.zeroscale.dev
  allowed "$activator" "$verb" endpointslices.discovery.k8s.io
  allowed "$activator" "$verb" leases.coordination.k8s.io "$ns"
done
for verb in create update patch delete; do
  denied "$activator" "$verb" functions.zeroscale.dev default
  denied "$activator" "$verb" leases.coordination.k8s.io "$ns"
  denied "$activator" "$verb" deployments.apps default
done
denied "$activator" patch functions.zeroscale.dev default status
denied "$activator" patch deployments.apps default scale
denied "$activator" get leases.coordination.k8s.io default
denied "$activator" get secrets "$ns"
denied "$activator" list pods
denied "$activator" list services
denied "$activator" create events default
finish
