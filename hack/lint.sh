#!/usr/bin/env bash
# Static checks over the whole tree; ctest runs them as lint_clang_format and
# lint_clang_tidy (label lint), so CI keeps the tree clean.
#   hack/lint.sh format              clang-format --dry-run --Werror (.clang-format)
#                                    over every tracked *.cc/*.h but generated ones
#   hack/lint.sh tidy [BUILD_DIR]    clang-tidy (.clang-tidy) over every translation
#                                    unit of BUILD_DIR/compile_commands.json that is
#                                    not under a build directory (default: build/,
#                                    configured by zs_cmake_configure and built, so
#                                    that the generated protobuf headers exist) and
#                                    not a test (a tests/ folder): product code only;
#                                    ZS_TIDY_TESTS=1 includes the tests
#   hack/lint.sh [all [BUILD_DIR]]   both
# Exits non-zero on any finding. $CLANG_FORMAT and $CLANG_TIDY pick other
# binaries; the config files are tuned to Debian's 14. Units found clean are
# remembered in $ZS_TIDY_CACHE (default ~/.cache/zeroscale/tidy) and skipped
# until anything they depend on changes; remove it to check everything again.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
CLANG_TIDY=${CLANG_TIDY:-clang-tidy}
jobs=$(nproc)

# Boost 1.74's Asio detects C++20 coroutines under clang only through the
# Coroutines TS header <experimental/coroutine>, which libstdc++ 12 lacks; it
# then leaves out awaitable, co_spawn and use_awaitable, and every file using
# them fails to parse. GCC, which builds the tree, takes the <coroutine>
# branch. Tell clang-tidy's clang what GCC finds by itself (HAS_STD_COROUTINE
# is already set for clang, being a GNUC compiler; it is stated for clarity).
tidy_extra_args=(
  --extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT=1
  --extra-arg=-DBOOST_ASIO_HAS_STD_COROUTINE=1
)

lint_format() {
  command -v "$CLANG_FORMAT" >/dev/null || zs_die "$CLANG_FORMAT not found (hack/install-deps.sh)"
  local files
  # Generated sources (protobuf/gRPC output) live in the build directory and
  # are not tracked; the pathspecs keep them out should one ever be added.
  mapfile -t files < <(git -C "$ZS_ROOT" ls-files -- '*.cc' '*.h' ':!:*.pb.cc' ':!:*.pb.h')
  ((${#files[@]} > 0)) || zs_die "no tracked *.cc/*.h under $ZS_ROOT (not a git checkout?)"
  local start
  start=$(zs_now_ms)
  if ! (cd "$ZS_ROOT" && printf '%s\0' "${files[@]}" |
        xargs -0 -n 16 -P "$jobs" "$CLANG_FORMAT" --dry-run --Werror); then
    zs_log "clang-format: findings above; fix with: $CLANG_FORMAT -i FILE..."
    return 1
  fi
  zs_log "clang-format: ${#files[@]} files clean ($(( $(zs_now_ms) - start )) ms)"
}

# Translation units found clean before are not checked again: a stamp per
# unit, named by a hash of everything its result depends on (clang-tidy's
# version, .clang-tidy, the extra args, and the unit's preprocessed text,
# which holds every header it includes), lives in $ZS_TIDY_CACHE. A warm run
# then costs one preprocessor pass per unit (~0.5 s) instead of clang-tidy's
# ~7 s. Units with findings are never stamped.
ZS_TIDY_CACHE=${ZS_TIDY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zeroscale/tidy}

# tidy_key BUILD_DIR FILE: the unit's stamp name ("" when it cannot be made).
tidy_key() {
  local build_dir=$1 file=$2 entry dir cmd
  entry=$(jq -c --arg f "$file" 'first(.[] | select(.file == $f))' "$build_dir/compile_commands.json")
  dir=$(jq -r '.directory' <<<"$entry")
  cmd=$(jq -r '.command // (.arguments | join(" "))' <<<"$entry")
  # Preprocess only (-P: no line markers),
  # comments kept (NOLINT), without the object and dependency-file outputs.
  cmd=$(sed -E 's/ -MT [^ ]+//; s/ -MF [^ ]+//; s/ -MD//; s/ -o [^ ]+//; s/ -c / -E -P -C /' <<<"$cmd")
  local preprocessed
  # (The checkout's path, which __FILE__ puts into test units, is taken out.)
  preprocessed=$( (cd "$dir" && eval "$cmd") 2>/dev/null | sed "s|$ZS_ROOT|.|g" | sha256sum) || return 0
  {
    "$CLANG_TIDY" --version
    cat "$ZS_ROOT/.clang-tidy"
    # The flags too (warning flags decide clang-diagnostic-* findings), the
    # checkout's path left out.
    printf '%s\n' "${tidy_extra_args[@]}" "${file#"$ZS_ROOT"/}" "${cmd//"$ZS_ROOT"/.}" "$preprocessed"
  } | sha256sum | cut -c1-40
}

# One translation unit: its findings on stdout, non-zero when it has any.
# (Run by xargs as `hack/lint.sh _tidy_one BUILD_DIR FILE`.)
tidy_one() {
  local build_dir=$1 file=$2 out status=0 key
  key=$(tidy_key "$build_dir" "$file")
  if [[ -n $key && -f $ZS_TIDY_CACHE/$key ]]; then return 0; fi
  out=$("$CLANG_TIDY" -p "$build_dir" --quiet "${tidy_extra_args[@]}" "$file" 2>&1) || status=$?
  # Drop clang's "N warnings generated." (from headers outside HeaderFilterRegex).
  out=$(grep -Ev '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' <<<"$out" || true)
  if ((status != 0)) || grep -Eq ': (warning|error): ' <<<"$out"; then
    printf '%s\n' "$out"
    return 1
  fi
  if [[ -n $key ]]; then mkdir -p "$ZS_TIDY_CACHE" && touch "$ZS_TIDY_CACHE/$key"; fi
}

lint_tidy() {
  local build_dir=${1:-$ZS_ROOT/build}
  command -v "$CLANG_TIDY" >/dev/null || zs_die "$CLANG_TIDY not found (hack/install-deps.sh)"
  command -v jq >/dev/null || zs_die "jq not found (hack/install-deps.sh)"
  build_dir=$(cd "$build_dir" 2>/dev/null && pwd) || zs_die "no build directory ${1:-$ZS_ROOT/build}"
  local db=$build_dir/compile_commands.json
  [[ -f $db ]] || zs_die "no $db: configure with zs_cmake_configure (hack/lib.sh) and build first"
  local files=() f
  # Our sources only: not the generated ones under this or any other build dir.
  while IFS= read -r f; do
    [[ $f == "$ZS_ROOT"/* ]] || continue
    [[ $f == "$build_dir"/* || $f == "$ZS_ROOT"/build*/* ]] && continue
    # Tests are compiled with every warning as an error like the rest, but
    # clang-tidy over their gtest/gmock-heavy units cost as much as over the
    # whole product (64 of 141 units, 13.7 s each against 5.5 s to parse)
    # and dominated a cold CI run: product code only, unless asked.
    [[ ${ZS_TIDY_TESTS:-0} != 1 && $f == */tests/* ]] && continue
    files+=("$f")
  done < <(jq -r '.[].file' "$db" | sort -u)
  ((${#files[@]} > 0)) || zs_die "no translation units of $ZS_ROOT in $db"
  local start failed=0
  start=$(zs_now_ms)
  # xargs exits 123 when any invocation failed; every TU is still checked.
  printf '%s\0' "${files[@]}" | xargs -0 -n 1 -P "$jobs" "$ZS_HACK_DIR/lint.sh" _tidy_one "$build_dir" ||
    failed=1
  local took=$(( ($(zs_now_ms) - start) / 1000 ))
  if ((failed)); then
    zs_log "clang-tidy: findings above (${#files[@]} translation units, ${took}s)"
    return 1
  fi
  zs_log "clang-tidy: ${#files[@]} translation units clean (${took}s, $jobs jobs)"
}

mode=${1:-all}
case $mode in
  format) lint_format ;;
  tidy) lint_tidy "${2:-}" ;;
  _tidy_one) tidy_one "$2" "$3" ;;
  all)
    rc=0
    lint_format || rc=1
    lint_tidy "${2:-}" || rc=1
    exit "$rc"
    ;;
  *) zs_die "usage: hack/lint.sh format | tidy [BUILD_DIR] | all [BUILD_DIR]" ;;
esac
