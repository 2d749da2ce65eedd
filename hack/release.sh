#!/usr/bin/env bash
# Builds what a user installs a release from, into one folder:
#
#   hack/release.sh VERSION [--out DIR] [--no-image | --image-from-engine]
#
#   zeroscale-VERSION.tgz            the Helm chart (`helm package`)
#   zeroscale-VERSION.yaml           one all-in-one manifest: namespace, CRD,
#                                    controller, activator, dashboard, user roles
#   zeroscale-image-VERSION.tar      the image zeroscale/zeroscale:VERSION
#                                    (`docker save`; hack/image.sh builds it)
#   SHA256SUMS                       checksums of the above
#
# The version lives in the source: CMakeLists.txt's project(VERSION) (what
# `zeroscale-controller --version` and zeroscale_build_info report) and the
# chart's version and appVersion (the image tag it installs). The script
# refuses a VERSION they do not all carry, so a release is always the tree
# that says it is; bump all three, commit, then release. It checks what it
# built: the chart packages and renders, the manifest names the image
# zeroscale/zeroscale:VERSION, both binaries (the image's, or with
# --no-image this tree's build in $ZS_BUILD_DIR) print VERSION for
# `--version`, and the checksums verify.
#
# --no-image skips the image (a C++ build in a container, ~10+ min on 2
# cores). --image-from-engine builds nothing either: it releases the image
# zeroscale/zeroscale:VERSION the Docker engine already has (hack/node-images.sh
# makes it from this tree's build for the local cluster's real node) and
# checks it as hack/image.sh does (uid 65532, a read-only root). ctest's
# release_artifacts runs both ways on every CI run, so only the Dockerfile's
# own build is left to a release made by hand.
#
# Installing from the folder, on a cluster with no access to this repository
# or to a registry (see README.md, "Installing a release"):
#   docker load -i zeroscale-image-VERSION.tar   # or push it to your registry
#   helm install zeroscale zeroscale-VERSION.tgz -n zeroscale-system --create-namespace
#   # or: kubectl apply -f zeroscale-VERSION.yaml
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

version=
out=
image=1
while (($#)); do
  case $1 in
    --out) out=${2:?--out needs a folder}; shift ;;
    --no-image) image=0 ;;
    --image-from-engine) image=2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) zs_die "unknown option $1 (see --help)" ;;
    *) [[ -z $version ]] || zs_die "one VERSION only"; version=$1 ;;
  esac
  shift
done
[[ -n $version ]] || zs_die "usage: hack/release.sh VERSION [--out DIR] [--no-image | --image-from-engine]"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || zs_die "VERSION must be semver (1.2.3 or 1.2.3-rc.1), not $version"
out=${out:-$ZS_ROOT/dist/$version}
helm=$ZS_BIN_DIR/helm
[[ -x $helm ]] || zs_die "no helm at $helm (run hack/build-k8s.sh)"
chart=$ZS_ROOT/charts/zeroscale

# --- the tree says VERSION everywhere ------------------------------------------
cmake_version=$(sed -n 's/^project(zeroscale VERSION \([^ )]*\).*/\1/p' "$ZS_ROOT/CMakeLists.txt")
chart_version=$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$chart/Chart.yaml")
app_version=$(zs_chart_app_version "$chart")
for pair in "CMakeLists.txt project(VERSION)=$cmake_version" "Chart.yaml version=$chart_version" \
  "Chart.yaml appVersion=$app_version"; do
  [[ ${pair##*=} == "$version" ]] || zs_die "${pair%=*} is ${pair##*=}, not $version: bump it first"
done

rm -rf "$out"
mkdir -p "$out"
zs_log "release $version into $out"

# --- chart ---------------------------------------------------------------------
"$helm" lint "$chart" >/dev/null
"$helm" package "$chart" --destination "$out" >/dev/null
[[ -f $out/zeroscale-$version.tgz ]] || zs_die "helm package did not write zeroscale-$version.tgz"

# --- all-in-one manifest -------------------------------------------------------
# The namespace and the CRD, then what deploy/generate.sh renders from the
# chart with its default values: the same objects `kubectl apply -f deploy/`
# installs, from the same renderer.
manifest=$out/zeroscale-$version.yaml
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
ZS_HELM=$helm "$ZS_ROOT/deploy/generate.sh" "$rendered"
{
  echo "# zeroscale $version: kubectl apply -f zeroscale-$version.yaml"
  echo "# The chart's default install (release \"zeroscale\", namespace zeroscale-system);"
  echo "# the image is zeroscale/zeroscale:$version."
  for f in "$ZS_ROOT"/deploy/00-namespace.yaml "$ZS_ROOT"/deploy/crds/*.yaml "$rendered"/*.yaml; do
    echo "---"
    cat "$f"
  done
} >"$manifest"
images=$(grep -o 'image: *"\{0,1\}[^" ]\+' "$manifest" | sed 's/image: *"\{0,1\}//' | sort -u)
[[ $images == "zeroscale/zeroscale:$version" ]] || zs_die "the manifest names images: $images (want zeroscale/zeroscale:$version only)"

# --- image and the binaries' own version ---------------------------------------
if ((image)); then
  if ((image == 1)); then
    "$ZS_ROOT/hack/image.sh" --tag "zeroscale/zeroscale:$version"
  else
    docker image inspect "zeroscale/zeroscale:$version" >/dev/null 2>&1 ||
      zs_die "the engine has no zeroscale/zeroscale:$version (hack/node-images.sh makes it)"
    user=$(docker image inspect -f '{{.Config.User}}' "zeroscale/zeroscale:$version")
    [[ $user == 65532* ]] || zs_die "zeroscale/zeroscale:$version runs as \"$user\", not uid 65532"
  fi
  docker save -o "$out/zeroscale-image-$version.tar" "zeroscale/zeroscale:$version"
  # As a cluster runs it: its user, a read-only root.
  run_version() { docker run --rm --read-only --network none --entrypoint "$1" "zeroscale/zeroscale:$version" --version; }
else
  build=${ZS_BUILD_DIR:-$ZS_ROOT/build}
  run_version() {
    case $1 in
      zeroscale-controller) "$build/controller/zeroscale-controller" --version ;;
      zeroscale-activator) "$build/activator/zeroscale-activator" --version ;;
    esac
  }
fi
for bin in zeroscale-controller zeroscale-activator; do
  said=$(run_version "$bin")
  [[ $said == "$bin $version "* ]] || zs_die "$bin --version says \"$said\", not $version"
done

# --- checksums -----------------------------------------------------------------
(cd "$out" && sha256sum -- zeroscale-* >SHA256SUMS && sha256sum --quiet -c SHA256SUMS)
zs_log "release $version: $(cd "$out" && ls | tr '\n' ' ')"
