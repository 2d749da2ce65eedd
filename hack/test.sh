#!/usr/bin/env bash
# The README's test command: installs what the build and tests need, builds
# everything with warnings as errors, and runs every test with ctest.
#   hack/test.sh              # all tests
#   hack/test.sh -L unit      # extra arguments go to ctest (one plain ctest run)
#
# Without arguments, clang-tidy (the lint_clang_tidy test, CPU-bound and the
# longest single test on a cold machine) runs beside the other tests at the
# lowest CPU priority: they mostly wait on the cluster, and it takes the idle
# CPU. Likewise the node images' Debian base (debootstrap, mostly network)
# is made in the background while the builds use the CPU, and the images
# themselves while the first tests run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

now() { date +%s; }
start=$(now)
"$root/hack/install-deps.sh"

# shellcheck source=hack/lib.sh
source "$root/hack/lib.sh"
# shellcheck source=hack/lib-docker.sh
source "$root/hack/lib-docker.sh"
base_log=$(mktemp /tmp/zs-test-base.XXXXXX.log)
(zs_docker_base debian:bookworm) >"$base_log" 2>&1 &
base_pid=$!

t=$(now)
"$root/hack/build-k8s.sh"
k8s_s=$(($(now) - t))

build_dir=${ZS_BUILD_DIR:-$root/build}
t=$(now)
zs_cmake_configure "$build_dir"
ninja -C "$build_dir"
compile_s=$(($(now) - t))
# A failed base is made again (and its error shown) by the node fixture.
wait "$base_pid" || { echo "test.sh: making the base image failed; the node fixture retries:"; tail -5 "$base_log"; }
rm -f "$base_log"
echo "test.sh: dependencies and build took $(($(now) - start))s (Kubernetes binaries ${k8s_s}s, compile ${compile_s}s)"

cd "$build_dir"
# A test that can skip (a missing precondition on a developer's machine) must
# not skip here: this is the README's test command and CI's.
export ZS_NO_SKIP=1
if (($# > 0)); then
  exec ctest --output-on-failure --timeout 600 "$@"
fi
# The real node's images (apt inside Docker, mostly network) while the first
# tests run; the node fixture waits for it and then finds every layer cached.
images_log=$(mktemp /tmp/zs-test-images.XXXXXX.log)
"$root/hack/node-images.sh" --build-dir "$build_dir" >"$images_log" 2>&1 &
images_pid=$!
t=$(now)
tidy_log=$(mktemp /tmp/zs-test-tidy.XXXXXX.log)
# The lint_clang_tidy test's own command, outside ctest (two ctest runs
# would share the build dir's Testing/ logs).
nice -n 19 "$root/hack/lint.sh" tidy "$build_dir" >"$tidy_log" 2>&1 &
tidy_pid=$!
rc=0
ctest --output-on-failure --timeout 600 -E '^lint_clang_tidy$' || rc=$?
tests_s=$(($(now) - t))
wait "$images_pid" || { echo "test.sh: building the node images failed:"; tail -20 "$images_log"; }
rm -f "$images_log"
tidy_rc=0
wait "$tidy_pid" || tidy_rc=$?
echo "=== clang-tidy (lint_clang_tidy's command, run beside the tests at nice 19)"
cat "$tidy_log"
rm -f "$tidy_log"
((tidy_rc == 0)) || rc=1
echo "test.sh: tests took ${tests_s}s, clang-tidy finished $(($(now) - t))s after they started; total $(($(now) - start))s"
exit "$rc"
