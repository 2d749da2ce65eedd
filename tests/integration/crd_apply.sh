#!/usr/bin/env bash
# The Function CRD on the real apiserver: it installs, `kubectl explain`
# teaches it, every invalid example under tests/testdata/invalid is refused
# with the message its "# expect:" line names, and the valid ones pass with
# their defaults filled in.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
kubectl=("$root/hack/kubectl.sh")
fail=0

"${kubectl[@]}" apply -f "$root/deploy/crds/" >/dev/null
"${kubectl[@]}" wait --for condition=Established --timeout=60s crd/functions.zeroscale.dev >/dev/null

explain=$("${kubectl[@]}" explain function.spec.scaling.targetConcurrency)
if [[ "$explain" != *"In-flight requests per replica the autoscaler aims for."* ]]; then
  echo "FAIL kubectl explain does not show the field's description:"; echo "$explain"; fail=1
fi

for f in "$root"/tests/testdata/invalid/*.yaml; do
  expected=$(sed -n 's/^# expect: //p' "$f")
  if out=$("${kubectl[@]}" apply --dry-run=server -f "$f" 2>&1); then
    echo "FAIL $(basename "$f") was accepted"; fail=1
  elif [[ "$out" != *"$expected"* ]]; then
    echo "FAIL $(basename "$f"): expected \"$expected\", got: $out"; fail=1
  else
    echo "ok   $(basename "$f") refused: $expected"
  fi
done

ns=zs-crd-test-$$
"${kubectl[@]}" create namespace "$ns" >/dev/null
trap '"${kubectl[@]}" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT
for f in "$root"/tests/testdata/valid/*.yaml; do
  "${kubectl[@]}" apply -n "$ns" -f "$f" >/dev/null || { echo "FAIL $(basename "$f") refused"; fail=1; }
done
defaults=$("${kubectl[@]}" get fn minimal -n "$ns" -o jsonpath='{.spec.port} {.spec.timeoutSeconds} {.spec.scaling.minReplicas} {.spec.scaling.maxReplicas} {.spec.scaling.targetConcurrency} {.spec.scaling.maxConcurrency} {.spec.scaling.scaleToZeroAfterSeconds} {.spec.buffer.maxRequests} {.spec.buffer.timeoutSeconds}')
if [[ "$defaults" != "8080 30 0 10 10 0 60 1000 60" ]]; then
  echo "FAIL defaults of minimal.yaml: got \"$defaults\""; fail=1
else
  echo "ok   defaults applied by the apiserver: $defaults"
fi
columns=$("${kubectl[@]}" get fn -n "$ns" 2>&1 | sed -n 1p)
if [[ "$columns" != *"READY"*"REPLICAS"*"URL"*"AGE"* ]]; then
  echo "FAIL printer columns: $columns"; fail=1
else
  echo "ok   printer columns: $columns"
fi
exit $fail
