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

# "user system" CPU clock ticks used so far by the given processes and their
# children's threads (utime and stime of /proc/PID/stat, which count every
# thread of the process).
cpu_ticks() {
  local pid kids all=()
  for pid in "$@"; do
    mapfile -t kids < <(pgrep -P "$pid" || true)
    all+=("$pid" "${kids[@]}")
  done
  for pid in "${all[@]}"; do cat "/proc/$pid/stat"; done 2>/dev/null |
    sed 's/^.*) //' | awk '{u += $12; s += $13} END {print u + 0, s + 0}'
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

# heaptrack_stop SIGNAL PID: stops the activator that `heaptrack ...` (PID)
# runs, and waits for heaptrack to write its trace. heaptrack's script runs
# the program and its trace reader as children: signal the program alone (its
# name is cut to 15 characters), so that the reader writes the whole trace.
heaptrack_stop() {
  pkill "-$1" -P "$2" -x zeroscale-activ
  wait "$2" 2>/dev/null || true
}

# heaptrack_sites calls|live DIVISOR: reads heaptrack_print's list of
# allocation sites (--print-allocators for calls; --print-leaks for the bytes
# still allocated when the process was killed) on stdin; prints each site's figure divided by DIVISOR (calls per
# request, bytes per held request), what allocates, and the nearest frames of
# ours. The allocator's and the standard library's own frames are skipped to
# name what allocates.
heaptrack_sites() {
  local script
  script=$(cat <<'PY'
import re, sys
kind, divisor = sys.argv[1], float(sys.argv[2])
units = {'': 1, 'B': 1, 'K': 1e3, 'M': 1e6, 'G': 1e9}
head = (re.compile(r'^(\d+) calls to allocation functions with') if kind == 'calls' else
        re.compile(r'^([\d.]+)([KMG]?)B? leaked over'))
blocks, cur = [], None
for line in sys.stdin:
    m = head.match(line)
    if m:
        n = float(m.group(1)) * (units[m.group(2)] if kind == 'live' else 1)
        cur = {'n': n, 'frames': []}
        blocks.append(cur)
    elif cur is not None and line.startswith('    at '):
        if cur['frames']:
            cur['frames'][-1][1] = line[7:].strip()
    elif cur is not None and line.startswith('  ') and not line.startswith(('    ', '  and ')):
        cur['frames'].append([line.strip(), ''])
    elif not line.strip():
        cur = None
skip = re.compile(r'^(std::__new_allocator|std::allocator|std::allocator_traits|void\* boost::asio::detail::'
                  r'thread_info_base|boost::asio::detail::recycling_allocator|(void\* )?operator new|malloc|'
                  r'calloc|realloc|std::__cxx11::basic_string<>::_M_|void std::__cxx11::basic_string<>::_M_|'
                  r'__gnu_cxx|zs::activator::RecyclingAllocator|zs::activator::recycling_detail)')
def short(frame):
    return re.sub(r'\(.*', '', frame)[-70:]
for b in blocks:
    what = next((short(f) for f, _ in b['frames'] if not skip.match(f)), '?')
    ours = [f"{short(f)} ({loc[3:]})" for f, loc in b['frames'] if loc.startswith('../') and
            'Proxy::Impl::Run()' not in f and 'clone3' not in f and 'recycling_allocator.h' not in loc][:2]
    figure = f"{b['n'] / divisor:7.2f}" if kind == 'calls' else f"{b['n'] / divisor:7.0f}"
    print(f"{figure}  {what}  <-  {' <- '.join(ours) or '(only the event loop)'}")
PY
  )
  python3 -c "$script" "$1" "$2"
}
