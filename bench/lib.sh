# Helpers the bench scripts share; sourced, not run.

# bench_tmp NAME: a fresh temp folder in $tmp and an empty $pids; on exit
# every process in $pids is stopped and the folder removed (kept when
# ZS_KEEP_TMP is set, to look at logs and traces).
bench_tmp() {
  tmp=$(mktemp -d "/tmp/zs-bench-$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n ${ZS_KEEP_TMP:-} ]] || rm -rf "$tmp"
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [SECONDS]: polls URL until it answers 2xx, for up to SECONDS
# (default 10); fails with a message otherwise.
wait_http() {
  local deadline=$((SECONDS + ${2:-10}))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "no answer from $1 within ${2:-10} s" >&2; return 1; }
    sleep 0.05
  done
}

# echo_function_config PORT FILE: the activator's static config with one
# Function, default/echo, served by fn-echo on 127.0.0.1:PORT.
echo_function_config() {
  cat >"$2" <<JSON
{"functions": [{"metadata": {"namespace": "default", "name": "echo"},
                "spec": {"port": $1, "resources": {"requests": {"memory": "128Mi"}}},
                "endpoints": ["127.0.0.1:$1"]}]}
JSON
}
