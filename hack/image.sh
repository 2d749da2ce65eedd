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

# The first archive URI apt is configured with (deb822 .sources files or
# one-line .list files) whose path ends in /SUFFIX: "debian" for the main
# archive, "debian-security" for security updates. Comments are not read.
apt_uri() {
  local suffix=$1 f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    while read -r uri; do
      uri=${uri%/}
      [[ $uri == */"$suffix" ]] && { echo "$uri"; return 0; }
    done < <(awk 'tolower($1)=="uris:" {for(i=2;i<=NF;i++) print $i}' "$f")
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    while read -r uri; do
      uri=${uri%/}
      [[ $uri == */"$suffix" ]] && { echo "$uri"; return 0; }
    done < <(awk '$1=="deb" {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' "$f")
  done
  return 1
}

make_base() {
  local mirror security rootfs
  mirror=${ZS_DEBIAN_MIRROR:-$(apt_uri debian)} || zs_die "no Debian mirror in /etc/apt; set ZS_DEBIAN_MIRROR"
  security=${ZS_DEBIAN_SECURITY_MIRROR:-$(apt_uri debian-security || true)}
  if ! command -v debootstrap >/dev/null; then
    zs_log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
  fi
  rootfs=$(mktemp -d /tmp/zs-rootfs.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$rootfs'" EXIT
  zs_log "debootstrap bookworm (minbase) from $mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; zs_die "debootstrap failed (log: $rootfs.log)"; }
  rm -f "$rootfs.log"
  {
    echo "deb $mirror bookworm main"
    echo "deb $mirror bookworm-updates main"
    [[ -n $security ]] && echo "deb $security bookworm-security main"
  } >"$rootfs/etc/apt/sources.list"
  # As the official image: no apt caches kept, no recommends, no docs or man
  # pages (what debian:bookworm-slim drops) to keep every layer small.
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
  echo 'APT::Install-Recommends "false";' >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* "$rootfs"/tmp/*
  zs_log "docker import -> $base"
  tar --numeric-owner -C "$rootfs" -c . \
    | docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --message "debootstrap --variant=minbase bookworm" - "$base" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
}

if docker image inspect "$base" >/dev/null 2>&1; then
  zs_log "base image $base present; skipping debootstrap"
else
  make_base
fi
t1=$(zs_now_ms)

# --- 2. build ----------------------------------------------------------------

# Can a container on the default bridge reach the mirror that the Dockerfile's
# apt-get uses (the base image's sources.list)?
network=()
probe_url=$(docker run --rm --entrypoint sh "$base" -c "awk '\$1==\"deb\"{print \$2; exit}' /etc/apt/sources.list" 2>/dev/null || true)
if [[ -n $probe_url ]] && ! docker run --rm --entrypoint bash "$base" -c \
  "exec 3<>/dev/tcp/$(sed -E 's#^[a-z]+://([^/:]+).*#\1#' <<<"$probe_url")/80" >/dev/null 2>&1; then
  zs_log "the bridge network cannot reach $probe_url; building with --network host"
  network=(--network host)
fi

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
