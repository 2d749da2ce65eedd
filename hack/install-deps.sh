#!/usr/bin/env bash
# Installs every Debian package that the build, the tests, the benchmarks and
# the demo need. Idempotent: when everything is present it only checks.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates ccache
  clang-format clang-tidy
  # libFuzzer for activator/fuzz (-DZS_FUZZ=ON)
  clang-14 libclang-rt-14-dev
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev libcurl4-openssl-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libboost-dev libboost-system-dev nlohmann-json3-dev
  libssl-dev
  # IANA time zones for cron schedules (reads tzdata from /usr/share/zoneinfo)
  libhowardhinnant-date-dev tzdata
  # local cluster and tests
  openssl iproute2 iptables procps curl util-linux psmisc socat jq yq bc
  # the real node of the local cluster (hack/node-up.sh) and its images (hack/node-images.sh)
  containerd runc containernetworking-plugins debootstrap
  # benchmarks and observability
  wrk nginx-light haproxy linux-perf heaptrack prometheus
  libnats-dev libhiredis-dev nats-server redis-server
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# nginx, haproxy and prometheus come with services that we do not want running.
for svc in nginx haproxy prometheus redis-server nats-server; do
  $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
