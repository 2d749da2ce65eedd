#!/usr/bin/env bash
# The Function CRD on the real apiserver: it installs, `kubectl explain`
# teaches it, and every row of the table under tests/testdata gets the same
# verdict from the apiserver (`kubectl apply --dry-run=server`) and from the
# C++ validator (the function_verdict binary, $1): the invalid ones refused by
# both, with the messages their "# expect:" (apiserver) and "# cpp:" (C++)
# lines name; the valid ones accepted by both, and created for real with
# their defaults filled in.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
kubectl=("$root/hack/kubectl.sh")
verdict_bin=${1:?usage: crd_apply.sh path/to/function_verdict}
fail=0

"${kubectl[@]}" apply -f "$root/deploy/crds/" >/dev/null
"${kubectl[@]}" wait --for condition=Established --timeout=60s crd/functions.zeroscale.dev >/dev/null

explain=$("${kubectl[@]}" explain function.spec.scaling.targetConcurrency)
if [[ "$explain" != *"In-flight requests per replica the autoscaler aims for."* ]]; then
  echo "FAIL kubectl explain does not show the field's description:"; echo "$explain"; fail=1
fi

ns=zs-crd-test-$$
"${kubectl[@]}" create namespace "$ns" >/dev/null
trap '"${kubectl[@]}" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true' EXIT

# The C++ verdicts, one line per file: "<file>\tok" or "<file>\trefused\t<message>".
declare -A cpp_verdict cpp_message
while IFS=$'\t' read -r file verdict message; do
  cpp_verdict[$file]=$verdict
  cpp_message[$file]=$message
done < <("$verdict_bin" "$root"/tests/testdata/invalid/*.yaml "$root"/tests/testdata/valid/*.yaml)

rows=0
for f in "$root"/tests/testdata/invalid/*.yaml "$root"/tests/testdata/valid/*.yaml; do
  row="$(basename "$(dirname "$f")")/$(basename "$f")"
  want=ok; [[ $row == invalid/* ]] && want=refused
  if out=$("${kubectl[@]}" apply -n "$ns" --dry-run=server -f "$f" 2>&1); then api=ok; else api=refused; fi
  cpp=${cpp_verdict[$f]:-missing}
  rows=$((rows + 1))
  if [[ $api != "$cpp" ]]; then
    echo "FAIL $row: apiserver $api, C++ $cpp (${cpp_message[$f]:-}); apiserver said: $out"; fail=1; continue
  fi
  if [[ $api != "$want" ]]; then
    echo "FAIL $row: both $api it, the table says $want: $out"; fail=1; continue
  fi
  if [[ $want == refused ]]; then
    expected=$(sed -n 's/^# expect: //p' "$f")
    expected_cpp=$(sed -n 's/^# cpp: //p' "$f")
    if [[ -z $expected || $out != *"$expected"* ]]; then
      echo "FAIL $row: apiserver expected \"$expected\", got: $out"; fail=1; continue
    fi
    if [[ -z $expected_cpp || ${cpp_message[$f]} != *"$expected_cpp"* ]]; then
      echo "FAIL $row: C++ expected \"$expected_cpp\", got: ${cpp_message[$f]}"; fail=1; continue
    fi
    echo "ok   $row refused by both: $expected | ${cpp_message[$f]}"
  else
    echo "ok   $row accepted by both"
  fi
done
# A table that lost its rows (a glob that matched nothing) proves nothing.
if ((rows < 40)); then echo "FAIL only $rows rows in tests/testdata"; fail=1; fi

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
if [[ "$columns" != *"READY"*"REASON"*"REPLICAS"*"URL"*"AGE"* ]]; then
  echo "FAIL printer columns: $columns"; fail=1
else
  echo "ok   printer columns: $columns"
fi
exit $fail
