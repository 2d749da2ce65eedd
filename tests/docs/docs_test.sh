#!/usr/bin/env bash
# The docs/ pages stay true to the code and the repository stands alone:
#  1. every relative link in a tracked Markdown file resolves to a file or
#     folder inside the repository (nothing points at ../shared or elsewhere);
#  2. every metric any binary declares is documented in
#     docs/metrics-and-billing.md, and every metric documented there exists;
#  3. every row of the activator's error table (status and message) is in
#     docs/invocation.md;
#  4. every scalar default of the Function CRD is in docs/function-api.md's
#     spec table, on its field's row.
# Reads the tree only; no build, no cluster.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
fail=0
bad() { echo "FAIL $*"; fail=1; }

# 1. Links.
while IFS= read -r md; do
  dir=$(dirname "$md")
  # ](target) — inline links and images, outside code spans and fenced
  # blocks; the target ends at ')' or a space.
  while IFS= read -r target; do
    target=${target#](}
    target=${target%)}
    case "$target" in
      http://* | https://* | mailto:* | '#'* | '') continue ;;
    esac
    path=${target%%#*}
    resolved=$(realpath -m "$dir/$path")
    if [[ "$resolved" != "$root" && "$resolved" != "$root"/* ]]; then
      bad "$md: link leaves the repository: $target"
    elif [[ ! -e "$resolved" ]]; then
      bad "$md: broken link: $target"
    fi
  done < <(awk '/^ *(```|~~~)/ { fenced = !fenced; next } !fenced { gsub(/`[^`]*`/, ""); print }' "$md" |
    grep -o '](\([^) ]*\))')
done < <(git ls-files '*.md')

# 2. Metrics. Declared: .Name("zeroscale_...") in the components, and the
# "zeroscale_..." names of common/http's collectors (zeroscale_build_info).
declared=$( (
  git grep -h -o 'Name("zeroscale_[a-z_]*")' -- activator controller triggers | sed 's/Name("//; s/")//'
  git grep -h -o '"zeroscale_[a-z_]*"' -- 'common/http/*.cc' | tr -d '"'
) | sort -u)
documented=$(grep -o '^| `zeroscale_[a-z_]*`' docs/metrics-and-billing.md | sed 's/^| `//; s/`$//' | sort -u)
[[ -n "$declared" ]] || bad "no metric declarations found under activator/, controller/ and triggers/"
while IFS= read -r m; do
  grep -qx "$m" <<<"$documented" || bad "metric $m is declared but not in docs/metrics-and-billing.md's tables"
done <<<"$declared"
while IFS= read -r m; do
  grep -qx "$m" <<<"$declared" || bad "docs/metrics-and-billing.md documents $m, which no component declares"
done <<<"$documented"

# 3. Errors: rows like {ProxyError::kQueueFull, 503, "queue_full", "request buffer is full", true},
# possibly wrapped onto a second line.
errors_cc=$(git grep -l 'ProxyError::kUnknownFunction, 404' -- activator | head -1)
if [[ -z "$errors_cc" ]]; then
  bad "the activator's error table was not found"
else
  rows=$(tr '\n' ' ' <"$errors_cc" | grep -o '{ProxyError::k[A-Za-z]*, [0-9]*, "[a-z_]*", *"[^"]*"' )
  [[ -n "$rows" ]] || bad "no rows parsed from $errors_cc"
  while IFS= read -r row; do
    status=$(sed 's/^{ProxyError::k[A-Za-z]*, \([0-9]*\),.*/\1/' <<<"$row")
    message=$(sed 's/.*"\([^"]*\)"$/\1/' <<<"$row")
    [[ "$status" == 200 || -z "$message" ]] && continue
    grep -F "\`$message\`" docs/invocation.md | grep -q "| $status" ||
      bad "error $status \"$message\" ($errors_cc) is not a row of docs/invocation.md's error table"
  done <<<"$rows"
fi

# 4. CRD defaults: "path default" for every scalar default, path relative to spec.
defaults=$(awk '
  /^ *[A-Za-z]+:$/ {
    match($0, /^ */); indent = RLENGTH; name = $1; sub(/:$/, "", name)
    while (depth > 0 && indents[depth] >= indent) depth--
    depth++; indents[depth] = indent; names[depth] = name
  }
  /^ *default: [^{]/ {
    path = ""; started = 0
    for (i = 1; i <= depth; i++) {
      if (names[i] == "properties") continue
      if (names[i] == "items") { if (started) path = path "[]"; continue }
      if (started) path = path (path == "" ? "" : ".") names[i]
      if (names[i] == "spec" && names[i-1] == "properties") started = 1
    }
    print path, $2
  }' deploy/crds/zeroscale.dev_functions.yaml)
[[ -n "$defaults" ]] || bad "no defaults parsed from the CRD"
while read -r field value; do
  [[ -n "$field" ]] || continue
  grep -F "| \`$field\` |" docs/function-api.md | grep -qF "\`$value\`" ||
    bad "CRD default spec.$field = $value is not on its row of docs/function-api.md"
done <<<"$defaults"

if ((fail)); then exit 1; fi
echo "ok: links, $(wc -l <<<"$declared") metrics, error table, $(wc -l <<<"$defaults") CRD defaults"
