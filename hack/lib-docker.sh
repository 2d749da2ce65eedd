# Docker helpers shared by hack/image.sh (the release image, built from
# source) and hack/node-images.sh (the local node's images, from this build's
# binaries). Sourced after lib.sh.

# The first archive URI apt is configured with (deb822 .sources files or
# one-line .list files) whose path ends in /SUFFIX: "debian" for the main
# archive, "debian-security" for security updates. Comments are not read.
zs_apt_uri() {
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

# zs_make_base IMAGE: debootstrap (minbase) bookworm from apt's mirror and
# `docker import` it as IMAGE.
zs_make_base() {
  local base=$1 mirror security rootfs
  mirror=${ZS_DEBIAN_MIRROR:-$(zs_apt_uri debian)} || zs_die "no Debian mirror in /etc/apt; set ZS_DEBIAN_MIRROR"
  security=${ZS_DEBIAN_SECURITY_MIRROR:-$(zs_apt_uri debian-security || true)}
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

# zs_docker_base IMAGE: makes the debian:bookworm base with debootstrap unless
# the engine has it already (pulled or made before).
# One maker at a time (hack/test.sh starts one early, in the background, and
# the node fixture may ask meanwhile; the engine is the machine's, so the lock
# is too): a second caller waits, then reuses.
zs_docker_base() {
  local lock=${XDG_CACHE_HOME:-$HOME/.cache}/zeroscale/docker-base.lock
  mkdir -p "$(dirname "$lock")"
  (
    flock 7
    if docker image inspect "$1" >/dev/null 2>&1; then
      zs_log "base image $1 present; skipping debootstrap"
    else
      zs_make_base "$1"
    fi
  ) 7>"$lock"
}

# zs_docker_build_network IMAGE: prints `--network` and `host` (one a line)
# when a container on the default bridge cannot reach the mirror that the
# base image's apt-get uses, nothing otherwise.
zs_docker_build_network() {
  local base=$1 probe_url
  probe_url=$(docker run --rm --entrypoint sh "$base" -c "awk '\$1==\"deb\"{print \$2; exit}' /etc/apt/sources.list" 2>/dev/null || true)
  if [[ -n $probe_url ]] && ! docker run --rm --entrypoint bash "$base" -c \
    "exec 3<>/dev/tcp/$(sed -E 's#^[a-z]+://([^/:]+).*#\1#' <<<"$probe_url")/80" >/dev/null 2>&1; then
    zs_log "the bridge network cannot reach $probe_url; building with --network host"
    printf '%s\n' --network host
  fi
}
