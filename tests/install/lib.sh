# shellcheck shell=bash
# Shared by the install tests that need no cluster: paths, the pinned helm,
# PASS/FAIL bookkeeping. (The cluster tests source tests/integration/lib.sh.)
set -euo pipefail
ZS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHART=$ZS_ROOT/charts/zeroscale
INSTALL_TESTS=$ZS_ROOT/tests/install
if [[ -z ${ZS_HELM:-} ]]; then
  # shellcheck source=hack/lib.sh
  source "$ZS_ROOT/hack/lib.sh"
  ZS_HELM=$ZS_BIN_DIR/helm
fi
[[ -x $ZS_HELM ]] || { echo "FAIL no helm at $ZS_HELM: run hack/build-k8s.sh"; exit 1; }
# helm keeps its caches and config out of ~.
export HELM_CACHE_HOME=${HELM_CACHE_HOME:-${TMPDIR:-/tmp}/zs-helm-home/cache}
export HELM_CONFIG_HOME=${HELM_CONFIG_HOME:-${TMPDIR:-/tmp}/zs-helm-home/config}
export HELM_DATA_HOME=${HELM_DATA_HOME:-${TMPDIR:-/tmp}/zs-helm-home/data}
helm() { "$ZS_HELM" "$@"; }

TEST_TMP=$(mktemp -d /tmp/zs-install-test.XXXXXX)
trap 'rm -rf "$TEST_TMP"' EXIT
FAILURES=0
PASSES=0
pass() { echo "PASS $*"; PASSES=$((PASSES + 1)); }
fail() { echo "FAIL $*"; FAILURES=$((FAILURES + 1)); }
finish() {
  echo "$PASSES passed, $FAILURES failed"
  ((FAILURES == 0))
}

# The two renderings the golden files pin: default values (release zeroscale
# in zeroscale-system) and values-custom.yaml (release fn in serverless).
render_default() { helm template zeroscale "$CHART" --namespace zeroscale-system "$@"; }
render_custom() { helm template fn "$CHART" --namespace serverless -f "$INSTALL_TESTS/values-custom.yaml" "$@"; }
