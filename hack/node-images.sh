#!/usr/bin/env bash
# Builds the images the local cluster's node runs, with the local Docker
# engine, from this checkout's build (no registry, no C++ build inside Docker):
#   zeroscale/zeroscale:dev  (+ :<chart appVersion>)  controller, activator, triggers
#   zeroscale/fn-echo:dev    (+ :latest)               the sample function
#   zeroscale/example-NAME:dev                         each example of examples/ (ZS_EXAMPLES)
#   zeroscale/pause:1                                  the pod sandbox image
# on a debian:bookworm base made with debootstrap when the engine has none
# (hack/lib-docker.sh). Layers are cached by the engine: when only the
# binaries changed, a rebuild is the last COPY layer (seconds).
#
# Usage: hack/node-images.sh [--build-dir DIR]   (default $ZS_BUILD_DIR or build/)
# Prints nothing on stdout; hack/node-up.sh loads the images into the node.
# An example whose binary is not built is left out (with a note): the tests
# that use them build them.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=hack/lib-docker.sh
source "$ZS_HACK_DIR/lib-docker.sh"

build_dir=${ZS_BUILD_DIR:-$ZS_ROOT/build}
while (($# > 0)); do
  case $1 in
    --build-dir) build_dir=${2:?}; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) zs_die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
export DOCKER_BUILDKIT=0
command -v docker >/dev/null || zs_die "docker is not installed"
docker info >/dev/null 2>&1 || zs_die "the Docker engine is not reachable (is dockerd running?)"

# One build at a time per machine (hack/test.sh starts one in the background
# while the unit tests run; the node fixture then finds every layer cached).
lock=${XDG_CACHE_HOME:-$HOME/.cache}/zeroscale/node-images.lock
mkdir -p "$(dirname "$lock")"
exec 6>"$lock"
flock 6

start_ms=$(zs_now_ms)
base=debian:bookworm
zs_docker_base "$base"
mapfile -t network < <(zs_docker_build_network "$base")

ctx_root=$(mktemp -d /tmp/zs-node-images.XXXXXX)
trap 'rm -rf "$ctx_root"' EXIT

# packages_of BIN...: the Debian packages owning the shared libraries BIN
# links (the build machine runs the base image's release, bookworm).
packages_of() {
  local lib real
  for lib in $(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do
    real=$(readlink -f "$lib")
    dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null \
      || zs_die "no package owns $lib"
  done | cut -d: -f1 | sort -u | grep -v -x -e libc6 -e libgcc-s1 -e libstdc++6 || true
}

# build NAME DOCKERFILE TAG...: docker build of context $ctx_root/NAME, with
# @NAME@ in DOCKERFILE replaced by NAME.
build() {
  local name=$1 dockerfile=$2 log
  shift 2
  local -a tags=()
  local t
  for t in "$@"; do tags+=(-t "$t"); done
  log=$ctx_root/$name.log
  sed "s/@NAME@/$name/g" "$ZS_HACK_DIR/images/$dockerfile" >"$ctx_root/$name/Dockerfile"
  docker build "${network[@]}" "${tags[@]}" "$ctx_root/$name" >"$log" 2>&1 \
    || { tail -30 "$log" >&2; zs_die "docker build of $1 failed"; }
  zs_log "built $* ($(docker image inspect --format '{{.Size}}' "$1" | awk '{printf "%.1f MiB", $1/1048576}'))"
}

# --- pause ---------------------------------------------------------------------
mkdir -p "$ctx_root/pause"
g++ -std=c++20 -O2 -static -s -o "$ctx_root/pause/pause" "$ZS_HACK_DIR/images/pause.cc"
build pause pause.Dockerfile zeroscale/pause:1

# --- fn-echo ---------------------------------------------------------------------
fn_echo=$build_dir/hack/fn-echo/fn-echo
[[ -x $fn_echo ]] || zs_die "no fn-echo at $fn_echo (build it: ninja -C $build_dir fn-echo)"
mkdir -p "$ctx_root/fn-echo/bin"
strip -o "$ctx_root/fn-echo/bin/fn-echo" "$fn_echo"
packages_of "$fn_echo" >"$ctx_root/fn-echo/packages.txt"
build fn-echo fn-echo.Dockerfile zeroscale/fn-echo:dev zeroscale/fn-echo:latest

# --- examples ----------------------------------------------------------------------
for name in "${ZS_EXAMPLES[@]}"; do
  bin=$build_dir/examples/example-$name
  if [[ ! -x $bin ]]; then
    zs_log "note: no $bin; zeroscale/example-$name not built (ninja -C $build_dir example-$name)"
    continue
  fi
  mkdir -p "$ctx_root/$name/bin"
  strip -o "$ctx_root/$name/bin/example-$name" "$bin"
  packages_of "$bin" >"$ctx_root/$name/packages.txt"
  build "$name" example.Dockerfile "zeroscale/example-$name:dev"
done

# --- zeroscale ---------------------------------------------------------------------
bins=()
for b in controller/zeroscale-controller activator/zeroscale-activator triggers/zeroscale-triggers; do
  [[ -x $build_dir/$b ]] || zs_die "no $b in $build_dir (build it: ninja -C $build_dir)"
  bins+=("$build_dir/$b")
done
mkdir -p "$ctx_root/zeroscale/bin"
for b in "${bins[@]}"; do strip -o "$ctx_root/zeroscale/bin/$(basename "$b")" "$b"; done
packages_of "${bins[@]}" >"$ctx_root/zeroscale/packages.txt"
app_version=$(zs_chart_app_version)
build zeroscale zeroscale.Dockerfile zeroscale/zeroscale:dev ${app_version:+zeroscale/zeroscale:$app_version}

zs_log "images built in $(($(zs_now_ms) - start_ms)) ms"
