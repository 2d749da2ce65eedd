# shellcheck shell=bash
# Shared by the shell integration and end-to-end tests: the local cluster's
# environment, a deadline-bounded poll, and process helpers.
#   source tests/integration/lib.sh
set -euo pipefail
ZS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ZS_BUILD_DIR=${ZS_BUILD_DIR:-$ZS_ROOT/build}
# shellcheck source=hack/cluster-env.sh
source "$ZS_ROOT/hack/cluster-env.sh"
ZS_TEST_TMP=$(mktemp -d /tmp/zs-test.XXXXXX)
ZS_TEST_PIDS=()
ZS_TEST_FAILURES=0
ZS_TEST_PASSES=0

kubectl() { "$ZS_KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }

say() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }
pass() { say "PASS $*"; ZS_TEST_PASSES=$((ZS_TEST_PASSES + 1)); }
fail() { say "FAIL $*"; ZS_TEST_FAILURES=$((ZS_TEST_FAILURES + 1)); }

# wait_for SECONDS DESCRIPTION CMD...: runs CMD every 100 ms until it
# succeeds; false (and a FAIL line) when the deadline passes first.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$(($(date +%s%3N) + seconds * 1000))
  while (($(date +%s%3N) < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "$what (not within ${seconds}s)"
  return 1
}

# check DESCRIPTION CMD...: PASS or FAIL on CMD's exit status.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# start_bg NAME CMD...: runs CMD in the background, output to
# $ZS_TEST_TMP/NAME.log; the pid is in $LAST_PID. Stopped at exit.
start_bg() {
  local name=$1
  shift
  "$@" >"$ZS_TEST_TMP/$name.log" 2>&1 &
  LAST_PID=$!
  ZS_TEST_PIDS+=("$LAST_PID")
}

# start_zeroscale NS CONTROLLER ACTIVATOR: the controller and the activator
# on the host, watching NS, on free loopback ports, the activator writing its
# billing log. Sets grpc_port, cm_port (controller metrics), proxy_port,
# am_port (activator metrics) and billing (the log's path).
# ZS_AUTOSCALER_TICK sets the controller's --autoscaler-tick (default 1s).
start_zeroscale() {
  local ns=$1 controller_bin=$2 activator_bin=$3
  grpc_port=$(free_port); cm_port=$(free_port); proxy_port=$(free_port); am_port=$(free_port)
  billing=$ZS_TEST_TMP/billing.jsonl
  ZS_CONTROLLER_ARGS=("$controller_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns"
    --metrics-bind-address "127.0.0.1:$cm_port" --health-probe-bind-address 127.0.0.1:0
    --grpc-bind-address "127.0.0.1:$grpc_port" --autoscaler-tick "${ZS_AUTOSCALER_TICK:-1s}"
    --activator-url "http://127.0.0.1:$proxy_port")
  start_zeroscale_controller controller
  start_bg activator "$activator_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
    --controller-address "127.0.0.1:$grpc_port" --bind-address "127.0.0.1:$proxy_port" \
    --metrics-bind-address "127.0.0.1:$am_port" --health-probe-bind-address 127.0.0.1:0 \
    --billing-log "$billing"
}

# start_zeroscale_controller NAME: (re)starts start_zeroscale's controller,
# same ports, log NAME.log; its pid in $controller_pid.
start_zeroscale_controller() {
  start_bg "$1" "${ZS_CONTROLLER_ARGS[@]}"
  controller_pid=$LAST_PID
}

stop_all_bg() {
  local pid
  for pid in "${ZS_TEST_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${ZS_TEST_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ZS_TEST_PIDS=()
}

# free_port: a TCP port on 127.0.0.1 that no socket uses now and that this
# script has not handed out before. Taken below the kernel's ephemeral range:
# a port in that range can be the local end of some client connection a
# moment later, and a server binding it then fails with EADDRINUSE (which
# once made a controller in controller_test exit at start).
# (Callers use $(free_port), a subshell: the ports given are kept in a file.)
free_port() {
  local port low
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  ((low > 11000)) || low=32768
  touch "$ZS_TEST_TMP/ports.given"
  while :; do
    port=$((10000 + RANDOM % (low - 10000)))
    grep -qx "$port" "$ZS_TEST_TMP/ports.given" && continue
    [[ -n $(ss -tanH "sport = :$port") ]] && continue
    echo "$port" >>"$ZS_TEST_TMP/ports.given"
    echo "$port"
    return
  done
}

# metric_sum HOST:PORT PREFIX: the sum of the samples of HOST:PORT/metrics
# whose line starts with PREFIX (a name, or a name and the start of its labels),
# as an integer; 0 when none.
metric_sum() {
  curl -sf "$1/metrics" | awk -v m="$2" 'index($0, m) == 1 {s += $NF} END {printf "%d", s}'
}

# restart_component NAME: kills one of the cluster's components and starts it
# again with the same command line (an apiserver restart, for watch tests).
restart_component() {
  local name=$1 pid cmd
  pid=$(zs_component_pid "$name") || { fail "$name is not running"; return 1; }
  mapfile -d '' -t cmd <"/proc/$pid/cmdline"
  # A crash, not a graceful stop: harsher for clients, and quick.
  kill -KILL "$pid"
  zs_stop_pids 10 "$pid"
  zs_spawn "$name" netns "${cmd[@]}"
}

# finish: prints the summary line ctest's log readers understand and exits
# non-zero on any failure.
finish() {
  stop_all_bg
  echo "$ZS_TEST_PASSES passed, $ZS_TEST_FAILURES failed"
  ((ZS_TEST_FAILURES == 0)) || dump_logs
  rm -rf "$ZS_TEST_TMP"
  ((ZS_TEST_FAILURES == 0))
}

# dump_logs: the last lines of every background process's log, for CI logs
# (ctest shows a test's output when it fails).
dump_logs() {
  local log
  ZS_LOGS_SHOWN=1
  for log in "$ZS_TEST_TMP"/*.log; do
    [[ -f $log ]] || continue
    echo "---- last lines of $(basename "$log")"
    tail -n 25 "$log"
  done
}

# end_bg: for EXIT traps. Stops the background processes; when the script is
# exiting on an error (a failed wait_for under set -e) shows their logs first.
end_bg() {
  local rc=$?
  if ((rc != 0)) && [[ -z ${ZS_LOGS_SHOWN:-} ]]; then dump_logs; fi
  stop_all_bg
}
