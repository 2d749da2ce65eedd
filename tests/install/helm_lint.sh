#!/usr/bin/env bash
# `helm lint --strict` of the chart with default and custom values, and the
# values schema refusing bad values with a message that names the field.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if out=$(helm lint --strict "$CHART" 2>&1); then pass "helm lint --strict (default values)"; else
  fail "helm lint --strict (default values)"; echo "$out"; fi
if out=$(helm lint --strict "$CHART" -f "$INSTALL_TESTS/values-custom.yaml" 2>&1); then
  pass "helm lint --strict (values-custom.yaml)"; else fail "helm lint --strict (values-custom.yaml)"; echo "$out"; fi

# refused EXPECTED_SUBSTRING HELM_ARGS...: rendering must fail, naming the problem.
refused() {
  local expected=$1 out
  shift
  if out=$(render_default "$@" 2>&1); then
    fail "accepted: $*"
  elif [[ $out != *"$expected"* ]]; then
    fail "refused $* without \"$expected\": $out"
  else
    pass "refused $* ($expected)"
  fi
}
refused "controller/replicas" --set controller.replicas=0
refused "additional properties 'replica' not allowed" --set activator.replica=3
refused "activator/service/type" --set activator.service.type=Ingress
refused "logLevel" --set logLevel=verbose
refused "leaseDuration" --set controller.leaderElection.leaseDuration=15
refused "drainTimeout" --set activator.drainTimeout=500ms
refused "image/digest" --set image.digest=latest
refused "defaultMemory" --set activator.defaultMemory=lots
refused "serviceMonitor.enabled needs metrics.service.enabled" \
  --set serviceMonitor.enabled=true --set metrics.service.enabled=false
refused "imagePullSecrets/0" --set 'imagePullSecrets[0]=regcred'
refused "podAntiAffinity" --set activator.podAntiAffinity=sometimes
refused "mountPath" --set 'activator.extraVolumeMounts[0].name=billing' \
  --set 'activator.extraVolumeMounts[0].mountPath=relative/path'
refused "minReplicas must not exceed maxReplicas" --set activator.autoscaling.enabled=true \
  --set activator.autoscaling.minReplicas=5 --set activator.autoscaling.maxReplicas=3
refused "ingress.enabled needs ingress.host" --set ingress.enabled=true
refused "httpRoute.enabled needs httpRoute.parentRefs" --set httpRoute.enabled=true
refused "refusedRatio" --set prometheusRule.refusedRatio=2
refused "httpRoute/timeout" --set httpRoute.timeout=30min
finish
