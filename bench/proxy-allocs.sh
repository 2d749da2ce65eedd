#!/usr/bin/env bash
# Where the activator's per-request heap allocations come from: the activator
# (--static-config, billing on, one thread) runs under heaptrack in front of
# fn-echo while wrk sends requests for a fixed time; then the allocation
# call sites are printed with their calls per request, most first.
# bench/proxy.sh --profile counts the total per request; this names them.
#
#   bench/proxy-allocs.sh [--connections 50] [--duration 5s] [--top 25]
#
# Startup allocations (flags, the catalog, thread pools) are a fixed count,
# not per request: the figures subtract a run with no load of the same
# length. Needs heaptrack (Debian's heaptrack), wrk and
# `ninja fn-echo zeroscale-activator` in $ZS_BUILD_DIR (default build/).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${ZS_BUILD_DIR:-$root/build}
connections=50
duration=5s
top=25
while (($#)); do
  case $1 in
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --top) top=$2; shift 2 ;;
    *) echo "usage: $0 [--connections N] [--duration D] [--top N]" >&2; exit 2 ;;
  esac
done
activator=$build/activator/zeroscale-activator
fn_echo=$build/hack/fn-echo/fn-echo
for bin in "$fn_echo" "$activator"; do
  [[ -x $bin ]] || { echo "missing $bin: ninja -C $build fn-echo zeroscale-activator" >&2; exit 1; }
done
for tool in heaptrack heaptrack_print wrk; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install heaptrack wrk)" >&2; exit 1; }
done

source "$root/bench/lib.sh"
bench_tmp allocs

echo_port=$(free_port)
"$fn_echo" --address=127.0.0.1 --port="$echo_port" --threads=1 2>"$tmp/fn-echo.log" &
pids+=($!)
wait_http "http://127.0.0.1:$echo_port/"
echo_function_config "$echo_port" "$tmp/functions.json"

act_port=$(free_port)
health_port=$(free_port)
heaptrack -o "$tmp/load" "$activator" --static-config="$tmp/functions.json" --bind-address="127.0.0.1:$act_port" \
  --metrics-bind-address=0 --health-probe-bind-address="127.0.0.1:$health_port" --threads=1 \
  --billing-log="$tmp/billing.log" --log-level=warn --drain-delay=0s >"$tmp/heaptrack.log" 2>&1 &
pid=$!
pids+=($pid)
wait_http "http://127.0.0.1:$health_port/readyz" 30  # heaptrack slows start-up
# One run; the start-up's own allocations (flags, catalog, threads: a few
# thousand) are counted with it and are a small share of a run's.
wrk -t1 -c"$connections" -d"$duration" "http://127.0.0.1:$act_port/fn/default/echo/" >"$tmp/wrk.txt"
requests=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
heaptrack_stop TERM "$pid"
heaptrack_print -f "$tmp"/load.* -m 0 --print-allocators 1 --print-peaks 0 --print-leaks 0 --print-temporary 0 \
  -n "$top" >"$tmp/sites.txt" 2>/dev/null
calls=$(awk '/^calls to allocation functions:/ {print $5}' "$tmp/sites.txt")
awk -v c="$calls" -v r="$requests" 'BEGIN {
  printf "%d requests, %d allocation calls in all (start-up included): %.2f per request\n", r, c, c / r }'
echo "call sites, most calls first: calls per request, what allocates <- the nearest frames of ours"
heaptrack_sites calls "$requests" <"$tmp/sites.txt"
