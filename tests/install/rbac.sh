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
  kubectl delete clusterrole,clusterrolebinding "$prefix-controller" "$prefix-activator" "$prefix-triggers" >/dev/null 2>&1 || true
  kubectl delete clusterrole "$prefix-view" "$prefix-edit" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# can-i about functions needs the CRD (unknown resources get a warning, not an answer).
kubectl apply -f "$ZS_ROOT/deploy/crds/" >/dev/null
kubectl create namespace "$ns" >/dev/null
"$ZS_HELM" template rbac "$ZS_ROOT/charts/zeroscale" --namespace "$ns" --set fullnameOverride="$prefix" \
  --show-only templates/controller-rbac.yaml --show-only templates/activator-rbac.yaml \
  --show-only templates/triggers-rbac.yaml \
  --show-only templates/user-rbac.yaml | kubectl apply -f - >/dev/null

controller=system:serviceaccount:$ns:$prefix-controller
activator=system:serviceaccount:$ns:$prefix-activator
triggers=system:serviceaccount:$ns:$prefix-triggers

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

for verb in list watch; do allowed "$controller" "$verb" functions.zeroscale.dev; done
allowed "$controller" patch functions.zeroscale.dev default status
for verb in get list watch create patch; do
  allowed "$controller" "$verb" deployments.apps
  allowed "$controller" "$verb" services
done
allowed "$controller" patch deployments.apps default scale
allowed "$controller" create events default
# A repeated Event bumps the earlier one's count.
allowed "$controller" patch events default
# Function pods, read only, for why they do not start.
allowed "$controller" list pods
allowed "$controller" watch pods
for verb in get watch create update; do allowed "$controller" "$verb" leases.coordination.k8s.io "$ns"; done
allowed "$controller" create tokenreviews.authentication.k8s.io

# Granted once and never used (install_rbac_audit's audit log showed it): gone.
denied "$controller" get functions.zeroscale.dev default
denied "$controller" update functions.zeroscale.dev default status
for verb in update delete; do
  denied "$controller" "$verb" deployments.apps default
  denied "$controller" "$verb" services default
done
denied "$controller" update deployments.apps default scale
denied "$controller" create events.events.k8s.io default
denied "$controller" list leases.coordination.k8s.io "$ns"
denied "$controller" get secrets "$ns"
denied "$controller" list secrets
denied "$controller" get pods default
denied "$controller" delete pods default
denied "$controller" create functions.zeroscale.dev default
denied "$controller" delete functions.zeroscale.dev default
denied "$controller" update functions.zeroscale.dev default
denied "$controller" create leases.coordination.k8s.io default
denied "$controller" delete leases.coordination.k8s.io "$ns"
denied "$controller" create pods default
denied "$controller" create clusterroles.rbac.authorization.k8s.io
denied "$controller" update configmaps "$ns"

for verb in list watch; do
  allowed "$activator" "$verb" functions.zeroscale.dev
  allowed "$activator" "$verb" endpointslices.discovery.k8s.io
done
allowed "$activator" get leases.coordination.k8s.io "$ns"
denied "$activator" get functions.zeroscale.dev default
denied "$activator" watch leases.coordination.k8s.io "$ns"
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
denied "$activator" create tokenreviews.authentication.k8s.io

# Triggers: read Functions, patch their status (claims), their own Lease.
for verb in get list watch; do allowed "$triggers" "$verb" functions.zeroscale.dev; done
allowed "$triggers" patch functions.zeroscale.dev default status
for verb in get watch create update; do allowed "$triggers" "$verb" leases.coordination.k8s.io "$ns"; done
for verb in create update patch delete; do
  denied "$triggers" "$verb" functions.zeroscale.dev default
  denied "$triggers" "$verb" deployments.apps default
done
denied "$triggers" update functions.zeroscale.dev default status
denied "$triggers" patch deployments.apps default scale
denied "$triggers" get leases.coordination.k8s.io default
# Secrets: get by name only, for the credentials a broker trigger names
# (triggers.readSecrets); never list or watch them.
allowed "$triggers" get secrets "$ns"
denied "$triggers" list secrets
denied "$triggers" watch secrets
denied "$triggers" create secrets "$ns"
denied "$triggers" list pods
denied "$triggers" create events default

# Namespace users: bound to the built-in view, edit or admin ClusterRole in
# one namespace, they get Functions there through the chart's aggregated
# ClusterRoles (kube-controller-manager's aggregation controller copies the
# rules in), and nothing elsewhere.
kubectl create rolebinding viewer --clusterrole=view --user=zs-viewer -n "$ns" >/dev/null
kubectl create rolebinding editor --clusterrole=edit --user=zs-editor -n "$ns" >/dev/null
kubectl create rolebinding owner --clusterrole=admin --user=zs-admin -n "$ns" >/dev/null
aggregated() {
  can zs-viewer list functions.zeroscale.dev "$ns" && can zs-editor create functions.zeroscale.dev "$ns" \
    && can zs-admin delete functions.zeroscale.dev "$ns"
}
wait_for 30 "Functions aggregated into view, edit and admin" aggregated || true
for verb in get list watch; do
  allowed zs-viewer "$verb" functions.zeroscale.dev "$ns"
  allowed zs-editor "$verb" functions.zeroscale.dev "$ns"
  allowed zs-admin "$verb" functions.zeroscale.dev "$ns"
done
allowed zs-viewer get functions.zeroscale.dev "$ns" status
for verb in create update patch delete deletecollection; do
  denied zs-viewer "$verb" functions.zeroscale.dev "$ns"
  allowed zs-editor "$verb" functions.zeroscale.dev "$ns"
  allowed zs-admin "$verb" functions.zeroscale.dev "$ns"
done
# Status is the controller's to write; other namespaces are not theirs.
denied zs-editor patch functions.zeroscale.dev "$ns" status
denied zs-admin update functions.zeroscale.dev "$ns" status
denied zs-viewer list functions.zeroscale.dev default
denied zs-editor create functions.zeroscale.dev default
denied zs-editor list functions.zeroscale.dev
finish
