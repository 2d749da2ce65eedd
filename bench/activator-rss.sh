#!/usr/bin/env bash
# Activator memory: resident set idle, and with N requests held in the
# cold-start buffer (a Function with no endpoint; limits raised so none is
# turned away: one Function may hold at most half of
# --max-buffered-requests, docs/invocation.md, so that is twice N).
#
#   bench/activator-rss.sh [--held 10000] [--sites]
#
# --sites: the activator runs under heaptrack instead (its RSS is then not
# the activator's alone and is not printed); with all N held, prints the
# heap bytes each allocation site holds per held request, most first, with
# the nearest frames of ours (what a held request is made of). Needs
# heaptrack; a few thousand held are enough.
#
# Needs `ninja zeroscale-activator` in $ZS_BUILD_DIR (default build/) and
# python3 (the clients: one connection per held request). Loopback only.
# The time from an endpoint becoming ready to the first forwarded byte is
# measured by the socket test ProxyBurstTest.EndpointReadyToFirstForwardedByte
# (it prints the figure), since a static config cannot add endpoints later.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${ZS_BUILD_DIR:-$root/build}
held=10000
sites=0
while (($#)); do
  case $1 in
    --held) held=$2; shift 2 ;;
    --sites) sites=1; shift ;;
    *) echo "usage: $0 [--held N] [--sites]" >&2; exit 2 ;;
  esac
done
activator=$build/activator/zeroscale-activator
[[ -x $activator ]] || { echo "missing $activator: ninja -C $build zeroscale-activator" >&2; exit 1; }
ulimit -n "$((held * 2 + 1024))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"

source "$root/bench/lib.sh"
bench_tmp rss
act_port=$(free_port)
metrics_port=$(free_port)
health_port=$(free_port)

cat >"$tmp/functions.json" <<EOF
{"functions": [{"metadata": {"namespace": "default", "name": "cold"},
                "spec": {"buffer": {"maxRequests": $((held + 100)), "timeoutSeconds": 600}},
                "endpoints": []}]}
EOF
launcher=()
((sites)) && launcher=(heaptrack -o "$tmp/held")
"${launcher[@]}" "$activator" --static-config="$tmp/functions.json" --bind-address="127.0.0.1:$act_port" \
  --metrics-bind-address="127.0.0.1:$metrics_port" --health-probe-bind-address="127.0.0.1:$health_port" \
  --max-buffered-requests=$((2 * (held + 100))) --header-read-timeout=600s --billing-log="" --log-level=warn --drain-delay=0s \
  2>"$tmp/activator.log" &
act_pid=$!
pids+=("$act_pid")
wait_http "http://127.0.0.1:$health_port/readyz" 30  # heaptrack slows start-up

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
queued() {
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
    awk '/^zeroscale_requests_queued\{/ {sum += $2} END {printf "%d", sum}'
}

idle=$(rss_kib "$act_pid")
# What the idle figure is made of: anonymous memory (heap, stacks: the
# activator's own) against pages of mapped files (its binary and the shared
# libraries it links, gRPC, protobuf, libcurl and its TLS stack among them).
idle_anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$act_pid/status")
idle_file=$(awk '/^RssFile:/ {print $2}' "/proc/$act_pid/status")
idle_maps=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {f = $6} /^Rss:/ {r[f] += $2}
  END {for (k in r) if (k ~ /\//) printf "%d %s\n", r[k], k}' "/proc/$act_pid/smaps" |
  sort -rn | awk 'NR <= 6 {n = split($2, p, "/"); printf "%s%s %d", (NR > 1 ? ", " : ""), p[n], $1} END {print ""}')

# N clients, each sends one request and waits (the activator holds them all).
python3 - "$act_port" "$held" >"$tmp/clients.log" 2>&1 <<'EOF' &
import asyncio, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
async def one(i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /fn/default/cold/r%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
    await w.drain()
    await r.read(1)  # blocks: the request is held
async def main():
    sem = asyncio.Semaphore(500)
    async def gated(i):
        async with sem:
            task = asyncio.ensure_future(one(i))
            await asyncio.sleep(0)
        await task
    await asyncio.gather(*(gated(i) for i in range(n)), return_exceptions=True)
asyncio.run(main())
EOF
clients_pid=$!
pids+=("$clients_pid")

for _ in $(seq 1 1200); do
  [[ $(queued) -ge $held ]] && break
  sleep 0.1
done
q=$(queued)
if ((sites)); then
  # What is live with all held: the activator is killed there (SIGKILL, no
  # cleanup), so heaptrack's "leaked" is exactly that moment's heap. (Its
  # peak would be the ramp, when every connection still had a read buffer.)
  heaptrack_stop KILL "$act_pid"
  heaptrack_print -f "$tmp"/held.* -m 0 --print-allocators 0 --print-peaks 0 --print-leaks 1 \
    --print-temporary 0 -n 30 >"$tmp/sites.txt" 2>/dev/null
  echo "$q requests held; heap bytes per held request, by site (heaptrack; malloc's own"
  echo "per-block overhead not included): bytes, what allocates <- the nearest frames of ours"
  heaptrack_sites live "$q" <"$tmp/sites.txt"
  exit 0
fi
full=$(rss_kib "$act_pid")
echo "activator RSS idle: $((idle / 1024)) MiB ($idle KiB): anonymous $idle_anon KiB, file-backed $idle_file KiB"
echo "  largest file mappings (KiB): $idle_maps"
echo "activator RSS with $q requests held: $((full / 1024)) MiB ($full KiB)"
awk -v a="$full" -v b="$idle" -v n="$q" 'BEGIN { if (n > 0) printf "per held request: %.1f KiB\n", (a - b) / n }'
