#!/usr/bin/env bash
# Least privilege, proven by use. install_helm_e2e ran the chart's controller
# and activator as pods under their own ServiceAccounts; the local cluster's
# apiserver logs every request of zeroscale-system's ServiceAccounts at
# Metadata level (hack/cluster-up.sh's audit policy). From that log:
#   - every verb and resource a component used is granted by the chart's
#     roles, and no request was denied for want of a grant (a 403 of a granted
#     verb happens at `helm uninstall`, when the roles go before the pods:
#     the controller's Lease release on SIGTERM, for one; those are listed);
#   - every verb and resource the chart grants was used, or
#     tests/install/rbac-unused.txt gives the reason it is granted anyway.
# Needs the local cluster and a finished install_helm_e2e (ctest orders it).
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
export HELM_CACHE_HOME=$ZS_TEST_TMP/helm/cache HELM_CONFIG_HOME=$ZS_TEST_TMP/helm/config HELM_DATA_HOME=$ZS_TEST_TMP/helm/data
audit=$ZS_LOG_DIR/audit.log
reasons=$ZS_ROOT/tests/install/rbac-unused.txt
sa_prefix=system:serviceaccount:zeroscale-system:zeroscale-

check "the apiserver writes an audit log ($audit)" test -s "$audit"

# "component verb group/resource[/subresource]" for every request by the
# release's ServiceAccounts (rotated files included), and the denied ones.
used=$ZS_TEST_TMP/used
cat "$audit"* 2>/dev/null | jq -r --arg p "$sa_prefix" '
  select(.user.username | startswith($p)) | select(.objectRef.resource != null)
  | "\(.user.username | ltrimstr($p)) \(.verb) \(.objectRef.apiGroup // "")/\(.objectRef.resource)\(if .objectRef.subresource then "/" + .objectRef.subresource else "" end) \(.responseStatus.code // 0)"' |
  sort -u >"$used.raw"
awk '{print $1, $2, $3}' "$used.raw" | sort -u >"$used"
check "the controller's requests are in the audit log" grep -q '^controller ' "$used"
check "the activator's requests are in the audit log" grep -q '^activator ' "$used"
# granted is needed below; the 403 check runs after it is built.

# "component verb group/resource" for every rule of the chart's roles.
granted=$ZS_TEST_TMP/granted
# Every Role and ClusterRole of a component (the aggregated user roles carry
# no component and bind to no one here); a new component's roles count too.
"$ZS_HELM" template zeroscale "$ZS_ROOT/charts/zeroscale" --namespace zeroscale-system |
  yq -r 'select(.kind == "ClusterRole" or .kind == "Role")
    | select(.metadata.labels["app.kubernetes.io/component"] != null)
    | .metadata.labels["app.kubernetes.io/component"] as $c
    | .rules[] | .apiGroups[] as $g | .resources[] as $r | .verbs[] as $v | "\($c) \($v) \($g)/\($r)"' |
  sort -u >"$granted"
check "the chart grants something to each component" bash -c "grep -q '^controller ' '$granted' && grep -q '^activator ' '$granted'"

while read -r component verb resource; do
  grep -qxF "$component $verb $resource" "$granted" ||
    check "$component used $verb $resource, which the chart grants" false
done <"$used"
while read -r component verb resource code; do
  [[ $code == 403 ]] || continue
  if grep -qxF "$component $verb $resource" "$granted"; then
    say "denied although granted (roles removed before the pods at uninstall): $component $verb $resource"
  else
    check "$component was denied $verb $resource: the chart must grant what the component does" false
  fi
done <"$used.raw"

listed=$(grep -v '^#' "$reasons" | awk 'NF {print $1, $2, $3}' | sort -u)
while read -r component verb resource; do
  grep -qxF "$component $verb $resource" "$used" && continue
  grep -qxF "$component $verb $resource" <<<"$listed" ||
    check "$component is granted $verb $resource: used in the e2e run, or its reason in tests/install/rbac-unused.txt" false
done <"$granted"
# A reason for a grant that no longer exists is stale.
while read -r component verb resource; do
  [[ -z $component ]] && continue
  check "rbac-unused.txt: $component $verb $resource is still granted" grep -qxF "$component $verb $resource" "$granted"
  # Used after all in this run (e.g. an apply that the audit log records as
  # create): the reason stays true for runs where it is not; say so.
  if grep -qxF "$component $verb $resource" "$used"; then
    say "note: rbac-unused.txt's $component $verb $resource was used in this run"
  fi
done <<<"$listed"
say "used: $(wc -l <"$used") grants exercised; granted: $(wc -l <"$granted"); with a written reason: $(grep -c . <<<"$listed")"
finish
