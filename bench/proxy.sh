#!/usr/bin/env bash
# Proxy overhead on loopback: wrk against (a) fn-echo directly, (b) nginx
# (keepalive upstream) in front of it, (c) HAProxy (http mode, connection
# reuse) in front of it, (d) zeroscale-activator (--static-config, billing
# on) in front of it. Same connections, threads and duration for each, one
# run each; prints RPS, p50/p99 latency, the CPU each proxy spent per
# request (user and system, from /proc/PID/stat) and the ratios of the
# activator to direct, nginx and HAProxy.
#
#   bench/proxy.sh [--connections 50] [--duration 10s] [--wrk-threads 1] [--proxy-threads 1] [--profile]
#
# --profile: afterwards, one more wrk run against the activator alone while
# perf (Debian's linux-perf) counts its syscalls for 3 s and samples its CPU
# (cpu-clock, 2 kHz, 5 s): prints syscalls per request, the share of samples
# per binary (kernel, activator, libc) and the top 15 symbols; then a 3 s wrk
# run while uprobes on libc's malloc, calloc and realloc count the
# activator's heap allocations: prints allocations per request (every C++
# `new` ends in malloc, so this counts the allocator's calls, not bytes).
#
# Needs: wrk, nginx (nginx-light), haproxy, and `ninja fn-echo zeroscale-activator` in
# $ZS_BUILD_DIR (default build/). nginx runs from a generated config in a
# temp dir, not as a service. Everything listens on 127.0.0.1 only.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${ZS_BUILD_DIR:-$root/build}
connections=50
duration=10s
wrk_threads=1
proxy_threads=1
profile=0
while (($#)); do
  case $1 in
    --connections) connections=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --wrk-threads) wrk_threads=$2; shift 2 ;;
    --proxy-threads) proxy_threads=$2; shift 2 ;;
    --profile) profile=1; shift ;;
    *) echo "usage: $0 [--connections N] [--duration D] [--wrk-threads N] [--proxy-threads N] [--profile]" >&2; exit 2 ;;
  esac
done

fn_echo=$build/hack/fn-echo/fn-echo
activator=$build/activator/zeroscale-activator
for bin in "$fn_echo" "$activator"; do
  [[ -x $bin ]] || { echo "missing $bin: ninja -C $build fn-echo zeroscale-activator" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk not installed (hack/install-deps.sh)" >&2; exit 1; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $nginx_bin ]] || { echo "nginx not installed (hack/install-deps.sh)" >&2; exit 1; }
haproxy_bin=$(command -v haproxy || echo /usr/sbin/haproxy)
[[ -x $haproxy_bin ]] || { echo "haproxy not installed (hack/install-deps.sh)" >&2; exit 1; }

source "$root/bench/lib.sh"
bench_tmp proxy

echo_port=$(free_port)
nginx_port=$(free_port)
haproxy_port=$(free_port)
act_port=$(free_port)
metrics_port=$(free_port)
health_port=$(free_port)

"$fn_echo" --address=127.0.0.1 --port="$echo_port" --threads="$proxy_threads" 2>"$tmp/fn-echo.log" &
echo_pid=$!
pids+=($echo_pid)
wait_http "http://127.0.0.1:$echo_port/"

mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes $proxy_threads;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  upstream fn { server 127.0.0.1:$echo_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://fn;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
EOF
"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx/stderr.log" &
nginx_pid=$!  # the master; its workers are its children
pids+=($nginx_pid)
wait_http "http://127.0.0.1:$nginx_port/"

# HAProxy as a team would put it in front of a service: http mode, idle
# server connections reused, X-Forwarded-For added, no logging.
cat >"$tmp/haproxy.cfg" <<EOF
global
  nbthread $proxy_threads
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  option forwardfor
  http-reuse always
frontend fe
  bind 127.0.0.1:$haproxy_port
  default_backend fn
backend fn
  server echo 127.0.0.1:$echo_port maxconn 1000
EOF
"$haproxy_bin" -db -f "$tmp/haproxy.cfg" 2>"$tmp/haproxy.log" &
haproxy_pid=$!
pids+=($haproxy_pid)
wait_http "http://127.0.0.1:$haproxy_port/"

echo_function_config "$echo_port" "$tmp/functions.json"
"$activator" --static-config="$tmp/functions.json" --bind-address="127.0.0.1:$act_port" \
  --metrics-bind-address="127.0.0.1:$metrics_port" --health-probe-bind-address="127.0.0.1:$health_port" \
  --threads="$proxy_threads" --billing-log="$tmp/billing.log" --log-level=warn 2>"$tmp/activator.log" &
act_pid=$!
pids+=($act_pid)
wait_http "http://127.0.0.1:$act_port/fn/default/echo/"

# wrk's --latency percentiles, normalised to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
    printf "%.3f", n }'
}
run() {  # name url pid... (the processes whose CPU the requests cost)
  local name=$1 url=$2 out="$tmp/wrk-$1.txt"
  shift 2
  local before after
  before=$(cpu_ticks "$@")
  wrk -t"$wrk_threads" -c"$connections" -d"$duration" --latency "$url" >"$out"
  after=$(cpu_ticks "$@")
  local rps p50 p99 requests
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  requests=$(awk '/requests in/ {print $1}' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  if grep -q "Non-2xx" "$out"; then echo "warning: $name had non-2xx answers: $(grep Non-2xx "$out")" >&2; fi
  # CPU microseconds per request, user and system.
  read -r user sys < <(awk -v b="$before" -v a="$after" -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    split(b, x, " "); split(a, y, " ");
    printf "%.1f %.1f", (y[1] - x[1]) * 1e6 / hz / n, (y[2] - x[2]) * 1e6 / hz / n }')
  echo "$name $rps $p50 $p99 $user $sys"
}

echo "wrk -t$wrk_threads -c$connections -d$duration --latency; proxies and fn-echo with $proxy_threads thread(s); $(nproc) cores"
results=()
results+=("$(run direct "http://127.0.0.1:$echo_port/" "$echo_pid")")
results+=("$(run nginx "http://127.0.0.1:$nginx_port/" "$nginx_pid")")
results+=("$(run haproxy "http://127.0.0.1:$haproxy_port/" "$haproxy_pid")")
results+=("$(run activator "http://127.0.0.1:$act_port/fn/default/echo/" "$act_pid")")

# cpu_us: the proxy's CPU per request (fn-echo's for direct), user + system.
printf '\n%-10s %12s %10s %10s %16s\n' target RPS p50_ms p99_ms "cpu_us usr+sys"
for line in "${results[@]}"; do
  read -r name rps p50 p99 user sys <<<"$line"
  printf '%-10s %12.0f %10.3f %10.3f %7.1f+%-7.1f\n' "$name" "$rps" "$p50" "$p99" "$user" "$sys"
done
read -r _ direct_rps direct_p50 direct_p99 <<<"${results[0]}"
read -r _ nginx_rps nginx_p50 nginx_p99 <<<"${results[1]}"
read -r _ haproxy_rps haproxy_p50 haproxy_p99 <<<"${results[2]}"
read -r _ act_rps act_p50 act_p99 <<<"${results[3]}"
awk -v a="$act_rps" -v d="$direct_rps" -v n="$nginx_rps" -v h="$haproxy_rps" \
  -v a50="$act_p50" -v d50="$direct_p50" -v n50="$nginx_p50" -v h50="$haproxy_p50" \
  -v a99="$act_p99" -v d99="$direct_p99" -v n99="$nginx_p99" -v h99="$haproxy_p99" 'BEGIN {
  printf "\nactivator/direct:  RPS %.2f  p50 %.2f  p99 %.2f\n", a / d, a50 / d50, a99 / d99
  printf "activator/nginx:   RPS %.2f  p50 %.2f  p99 %.2f\n", a / n, a50 / n50, a99 / n99
  printf "activator/haproxy: RPS %.2f  p50 %.2f  p99 %.2f\n", a / h, a50 / h50, a99 / h99 }'
lines=$(wc -l <"$tmp/billing.log" 2>/dev/null || echo 0)
echo "activator billing lines written: $lines"

if ((profile)); then
  command -v perf >/dev/null || { echo "perf not installed (hack/install-deps.sh: linux-perf)" >&2; exit 1; }
  echo
  echo "profile of the activator (pid $act_pid) under wrk -c$connections for 10 s:"
  wrk -t"$wrk_threads" -c"$connections" -d10s "http://127.0.0.1:$act_port/fn/default/echo/" >"$tmp/wrk-profile.txt" &
  wrk_pid=$!
  perf stat -x, -e raw_syscalls:sys_enter -p "$act_pid" -- sleep 3 2>"$tmp/perf-stat.txt"
  perf record -q -e cpu-clock -F 2000 -g -p "$act_pid" -o "$tmp/perf.data" -- sleep 5 2>/dev/null
  wait "$wrk_pid"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk-profile.txt")
  syscalls=$(awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$tmp/perf-stat.txt")
  awk -v s="$syscalls" -v r="$rps" 'BEGIN { printf "syscalls per request: %.2f (%d in 3 s at %.0f RPS)\n", s / (r * 3), s, r }'
  echo "samples by binary:"
  # awk, not head: a reader that stops early fails the pipeline (pipefail).
  perf report -i "$tmp/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | awk 'NR <= 6'
  echo "top symbols:"
  perf report -i "$tmp/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9]' | sed 's/  */ /g' | cut -c1-140 | awk 'NR <= 15'

  # Heap allocations per request: uprobes on libc's allocator entry points
  # (added once; perf keeps them until reboot), counted for the activator
  # only while one wrk run of a fixed length lasts.
  libc=$(ldd "$activator" | awk '$1 ~ /^libc\.so/ {print $3}')
  probes=()
  for fn in malloc calloc realloc; do
    perf probe -q -x "$libc" --add "zs_$fn=$fn" 2>/dev/null || true
    probes+=(-e "probe_libc:zs_$fn")
  done
  perf stat -x, "${probes[@]}" -p "$act_pid" -o "$tmp/perf-allocs.txt" -- \
    wrk -t"$wrk_threads" -c"$connections" -d3s "http://127.0.0.1:$act_port/fn/default/echo/" >"$tmp/wrk-allocs.txt"
  requests=$(awk '/requests in/ {print $1}' "$tmp/wrk-allocs.txt")
  awk -F, -v r="$requests" '/probe_libc:zs_/ { split($3, e, ":"); n[e[2]] = $1; total += $1 }
    END { printf "heap allocations per request: %.2f (malloc %.2f, calloc %.2f, realloc %.2f; %d requests)\n",
          total / r, n["zs_malloc"] / r, n["zs_calloc"] / r, n["zs_realloc"] / r, r }' "$tmp/perf-allocs.txt"
fi
