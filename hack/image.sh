#!/usr/bin/env bash
# Builds the zeroscale image (both binaries) with the local Docker engine and
# checks it the way a cluster will run it.
#
#   hack/image.sh                 # image of the committed tree (git HEAD)
#   hack/image.sh --worktree      # image of the working tree, uncommitted edits included
#   hack/image.sh --tag zeroscale/zeroscale:0.1.0
#
# Steps:
#   1. base image debian:bookworm: skipped when `docker image inspect
#      debian:bookworm` succeeds (pulled or made before). Otherwise made with
#      debootstrap (minbase) from the Debian mirror apt on this machine is
#      configured with (read from /etc/apt at run time; ZS_DEBIAN_MIRROR and
#      ZS_DEBIAN_SECURITY_MIRROR override it) and `docker import`ed. No
#      registry is needed.
#   2. `docker build` of the Dockerfile at the repo root (classic builder:
#      this engine has no BuildKit). The build stage runs apt-get and needs the
#      Debian mirror from inside a container: the default bridge network is
#      tried first, `--network host` when the bridge cannot reach the mirror.
#   3. checks: runs as uid 65532, `--help` exits 0 for both binaries, and they
#      run with `docker run --read-only`.
#   4. prints the image size and the time each step took.
#
# Slow (a C++ build inside a container, ~10+ min on 2 cores); not part of
# hack/test.sh. Environment: ZS_IMAGE_JOBS (ninja -j inside the build, default 2).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=hack/lib-docker.sh
source "$ZS_HACK_DIR/lib-docker.sh"

tag=zeroscale/zeroscale:dev
context="head"
while (($#)); do
  case $1 in
    --worktree) context=worktree ;;
    --tag) tag=${2:?--tag needs a value}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) zs_die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

export DOCKER_BUILDKIT=0 # the engine (20.10) here has no buildx; the classic builder is enough
command -v docker >/dev/null || zs_die "docker is not installed"
docker info >/dev/null 2>&1 || zs_die "the Docker engine is not reachable (is dockerd running?)"

base=debian:bookworm
t0=$(zs_now_ms)

# --- 1. base image ----------------------------------------------------------

zs_docker_base "$base"
t1=$(zs_now_ms)

# --- 2. build ----------------------------------------------------------------

mapfile -t network < <(zs_docker_build_network "$base")

revision=$(git -C "$ZS_ROOT" rev-parse --short HEAD)
build_args=(--build-arg "JOBS=${ZS_IMAGE_JOBS:-2}" --build-arg "REVISION=$revision" -t "$tag" "${network[@]}")
log=$(mktemp /tmp/zs-image-build.XXXXXX.log)
zs_log "docker build -t $tag (context: $context, log: $log)"
if [[ $context == head ]]; then
  if ! git -C "$ZS_ROOT" diff --quiet HEAD -- . 2>/dev/null; then
    zs_log "note: uncommitted changes are not in the image (use --worktree to include them)"
  fi
  git -C "$ZS_ROOT" archive --format=tar HEAD | docker build "${build_args[@]}" - >"$log" 2>&1 \
    || { tail -30 "$log" >&2; zs_die "docker build failed (log: $log)"; }
else
  docker build "${build_args[@]}" "$ZS_ROOT" >"$log" 2>&1 \
    || { tail -30 "$log" >&2; zs_die "docker build failed (log: $log)"; }
fi
t2=$(zs_now_ms)

# --- 3. checks ---------------------------------------------------------------

uid=$(docker run --rm --entrypoint id "$tag" -u)
[[ $uid == 65532 ]] || zs_die "the image runs as uid $uid, want 65532"
for bin in zeroscale-controller zeroscale-activator zeroscale-triggers; do
  docker run --rm --read-only --cap-drop ALL --security-opt no-new-privileges \
    --entrypoint "/usr/local/bin/$bin" "$tag" --help >/dev/null \
    || zs_die "$bin --help failed in the image (read-only root, no capabilities)"
done
zs_log "checks passed: uid 65532; controller, activator and triggers start with --read-only, --cap-drop ALL"
t3=$(zs_now_ms)

# --- 4. report ---------------------------------------------------------------

bytes=$(docker image inspect --format '{{.Size}}' "$tag")
base_bytes=$(docker image inspect --format '{{.Size}}' "$base")
printf 'image %s: %s MiB (base %s: %s MiB)\n' "$tag" "$(awk "BEGIN{printf \"%.1f\", $bytes/1048576}")" \
  "$base" "$(awk "BEGIN{printf \"%.1f\", $base_bytes/1048576}")"
printf 'took: base %.1fs, build %.1fs, checks %.1fs, total %.1fs\n' \
  "$(awk "BEGIN{print ($t1-$t0)/1000}")" "$(awk "BEGIN{print ($t2-$t1)/1000}")" \
  "$(awk "BEGIN{print ($t3-$t2)/1000}")" "$(awk "BEGIN{print ($t3-$t0)/1000}")"
rm -f "$log"
