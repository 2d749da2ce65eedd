#!/usr/bin/env bash
# `helm template` with default values and with values-custom.yaml, compared
# with golden/default.yaml and golden/custom.yaml. After an intended change:
#   ZS_UPDATE_GOLDEN=1 tests/install/helm_golden.sh   (then review the diff)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for name in default custom; do
  golden=$INSTALL_TESTS/golden/$name.yaml
  "render_$name" >"$TEST_TMP/$name.yaml"
  if [[ ${ZS_UPDATE_GOLDEN:-0} == 1 ]]; then
    cp "$TEST_TMP/$name.yaml" "$golden"
    pass "updated golden/$name.yaml"
  elif diff -u "$golden" "$TEST_TMP/$name.yaml" >"$TEST_TMP/$name.diff"; then
    pass "helm template ($name) matches golden/$name.yaml"
  else
    fail "helm template ($name) differs from golden/$name.yaml (ZS_UPDATE_GOLDEN=1 rewrites it):"
    cat "$TEST_TMP/$name.diff"
  fi
done
finish
