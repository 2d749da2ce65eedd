#!/usr/bin/env bash
# The README's test command: installs what the build and tests need, builds
# everything with warnings as errors, and runs every test with ctest.
#   hack/test.sh              # all tests
#   hack/test.sh -L unit      # extra arguments go to ctest
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

start=$(date +%s)
"$root/hack/install-deps.sh"
if [[ -x "$root/hack/build-k8s.sh" ]]; then
  "$root/hack/build-k8s.sh"
fi

# shellcheck source=hack/lib.sh
source "$root/hack/lib.sh"
build_dir=${ZS_BUILD_DIR:-$root/build}
zs_cmake_configure "$build_dir"
built=$(date +%s)
ninja -C "$build_dir"
echo "test.sh: dependencies and build took $(( $(date +%s) - start ))s (compile $(( $(date +%s) - built ))s)"

cd "$build_dir"
# A test that can skip (a missing precondition on a developer's machine) must
# not skip here: this is the README's test command and CI's.
export ZS_NO_SKIP=1
ctest --output-on-failure --timeout 600 "$@"
