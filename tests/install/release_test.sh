#!/usr/bin/env bash
# hack/release.sh as CI can run it (--no-image: the image build is a C++
# build in a container): the artifacts of this tree's version are made and
# checked, the manifest is accepted by the local apiserver's client-side
# validation, the chart installs from its .tgz alone, and a version the tree
# does not carry is refused. Then the image path with --image-from-engine
# (the image hack/node-images.sh made from this tree's build): the archive is
# written, listed in the checksums, carries the release's tag, and both
# binaries in it print the version, run as uid 65532 on a read-only root.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
export HELM_CACHE_HOME=$ZS_TEST_TMP/helm/cache HELM_CONFIG_HOME=$ZS_TEST_TMP/helm/config HELM_DATA_HOME=$ZS_TEST_TMP/helm/data
version=$(sed -n 's/^project(zeroscale VERSION \([^ )]*\).*/\1/p' "$ZS_ROOT/CMakeLists.txt")
out=$ZS_TEST_TMP/dist

check "release.sh $version --no-image succeeds" "$ZS_ROOT/hack/release.sh" "$version" --out "$out" --no-image
for f in "zeroscale-$version.tgz" "zeroscale-$version.yaml" SHA256SUMS; do
  check "artifact $f written" test -s "$out/$f"
done
check "the checksums verify" bash -c "cd '$out' && sha256sum --quiet -c SHA256SUMS"
check "the packaged chart is version $version" \
  bash -c "tar -xzOf '$out/zeroscale-$version.tgz' zeroscale/Chart.yaml | grep -qx 'version: $version'"
check "the chart renders from the .tgz alone (no repository)" \
  bash -c "cd / && '$ZS_HELM' template zeroscale '$out/zeroscale-$version.tgz' -n zeroscale-system >/dev/null"
kinds=$(grep '^kind:' "$out/zeroscale-$version.yaml" | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')
say "manifest kinds: $kinds"
for kind in Namespace CustomResourceDefinition Deployment Service ServiceAccount ClusterRole ClusterRoleBinding; do
  check "the manifest has a $kind" grep -q "^kind: $kind$" "$out/zeroscale-$version.yaml"
done
# Parsed, not grepped: every object the chart installs is a document of its own.
objects() { yq -r 'select(. != null) | "\(.kind)/\(.metadata.name)"' | grep -v '^Namespace/\|^CustomResourceDefinition/' | sort; }
chart_objects=$(cd / && "$ZS_HELM" template zeroscale "$out/zeroscale-$version.tgz" -n zeroscale-system --skip-crds | objects)
check "the manifest holds exactly the chart's objects ($(wc -l <<<"$chart_objects"))" \
  test "$(objects <"$out/zeroscale-$version.yaml")" = "$chart_objects"
check "kubectl accepts the manifest (client dry run against the local apiserver)" \
  kubectl apply --dry-run=client -f "$out/zeroscale-$version.yaml"
images=$(grep -o 'image: *"\{0,1\}[^" ]\+' "$out/zeroscale-$version.yaml" | sed 's/image: *"\{0,1\}//' | sort -u)
check "the manifest names the release's image only ($images)" [ "$images" = "zeroscale/zeroscale:$version" ]

image_out=$ZS_TEST_TMP/dist-image
check "release.sh $version --image-from-engine succeeds" \
  "$ZS_ROOT/hack/release.sh" "$version" --out "$image_out" --image-from-engine
archive=$image_out/zeroscale-image-$version.tar
check "the image archive is written ($(du -h "$archive" 2>/dev/null | cut -f1))" test -s "$archive"
check "the image archive is in SHA256SUMS" grep -q " zeroscale-image-$version.tar\$" "$image_out/SHA256SUMS"
check "the checksums of all four verify" bash -c "cd '$image_out' && [[ \$(wc -l <SHA256SUMS) == 3 ]] && sha256sum --quiet -c SHA256SUMS"
tags=$(tar -xOf "$archive" manifest.json | jq -r '.[].RepoTags[]?')
check "the archive carries zeroscale/zeroscale:$version ($tags)" grep -qx "zeroscale/zeroscale:$version" <<<"$tags"

rc=0
said=$("$ZS_ROOT/hack/release.sh" 9.9.9 --out "$ZS_TEST_TMP/wrong" --no-image 2>&1) || rc=$?
check "a version the tree does not carry is refused" [ "$rc" -ne 0 ]
check "... saying what to bump ($said)" grep -q "bump it first" <<<"$said"
check "... and writing nothing" test ! -e "$ZS_TEST_TMP/wrong"
finish
